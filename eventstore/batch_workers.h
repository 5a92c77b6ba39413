// BatchWorkers: a bounded queue drained by a few threads, each with its own PostgreSQL connection, that
// hand whole batches of queued items to one function: one transaction or one query serves many callers.
// Used for group commit of commands and for coalescing record lookups.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "eventstore/assert.h"
#include "eventstore/atomic_histogram.h"
#include "eventstore/database_workers.h"

namespace ledger {

struct BatchOptions {
  std::size_t threads = 2;              // each with its own connection; two overlap one's round trips with the next batch
  std::size_t queue_length_max = 4096;  // items waiting; beyond, submit() refuses (callers answer 503)
  std::size_t batch_size_max = 256;     // items handed to one call of the batch function
  int batch_wait_us = 0;                // after the first item, wait this long for more (0: take what is queued)
};

inline constexpr std::size_t kBatchSizeMax = 4096;

template <typename Item, typename Result>
class BatchWorkers {
 public:
  using Completion = std::function<void(Result)>;
  // Runs on a worker thread; returns exactly one result per item, in order. Must not throw (if it does,
  // every item of the batch is completed with `on_exception`'s result so no caller waits forever).
  using BatchFunction = std::function<std::vector<Result>(WorkerConnection&, const std::vector<Item>&)>;

  // Optional: items with the same affinity key are never in two workers' batches at once (a worker skips,
  // and leaves queued, items whose key another worker's batch holds). For commands on one stream this turns
  // what would be version races between workers into one batch that decides them in order.
  using AffinityFunction = std::function<std::string(const Item&)>;

  BatchWorkers(const std::string& database_url, const DatabaseLimits& limits, const BatchOptions& options,
               BatchFunction batch_function, std::function<Result(const std::string&)> on_exception,
               AffinityFunction affinity = nullptr)
      : options_(options),
        batch_function_(std::move(batch_function)),
        on_exception_(std::move(on_exception)),
        affinity_(std::move(affinity)) {
    LEDGER_ASSERT(options.threads > 0 && options.queue_length_max > 0, "BatchWorkers needs threads and a queue");
    LEDGER_ASSERT(options.batch_size_max > 0 && options.batch_size_max <= kBatchSizeMax, "batch_size_max out of range");
    for (std::size_t i = 0; i < options.threads; ++i) {
      connections_.push_back(std::make_unique<WorkerConnection>(database_url, limits));
    }
    for (std::size_t i = 0; i < options.threads; ++i) threads_.emplace_back([this, i] { run(i); });
  }

  ~BatchWorkers() {  // completes everything queued, then joins
    stop();
    for (auto& t : threads_) t.join();
  }

  BatchWorkers(const BatchWorkers&) = delete;
  BatchWorkers& operator=(const BatchWorkers&) = delete;

  // Queues an item; `done` runs on a worker thread once its batch is through. Returns false, without
  // queueing or calling `done`, when the queue is full or the workers are stopping.
  bool submit(Item item, Completion done) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_ || queue_.size() >= options_.queue_length_max) return false;
      queue_.push_back(Pending{std::move(item), std::move(done)});
      queue_length_.store(queue_.size(), std::memory_order_relaxed);
    }
    queue_changed_.notify_one();
    return true;
  }

  // Stops taking items; queued ones are still processed. Idempotent.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    queue_changed_.notify_all();
  }

  // For metrics: cheap, lock-free, any thread.
  std::size_t queue_length() const { return queue_length_.load(std::memory_order_relaxed); }
  std::size_t batches_running() const { return counters_.jobs_running.load(std::memory_order_relaxed); }
  std::uint64_t reconnects() const {
    std::uint64_t total = 0;
    for (const auto& c : connections_) total += c->reconnects();
    return total;
  }
  // Items per batch handed to the batch function, one sample per batch.
  const AtomicHistogram& batch_sizes() const { return batch_sizes_; }

 private:
  struct Pending {
    Item item;
    Completion done;
  };

  void run(std::size_t index) {
    WorkerConnection& connection = *connections_[index];
    std::vector<Pending> batch;
    std::vector<Item> items;
    for (;;) {
      batch.clear();
      {
        std::unique_lock<std::mutex> lock(mutex_);
        queue_changed_.wait(lock, [this] { return (stopping_ && queue_.empty()) || has_eligible_item(); });
        if (queue_.empty()) return;  // stopping and drained
        if (options_.batch_wait_us > 0 && queue_.size() < options_.batch_size_max && !stopping_) {
          const auto deadline =
              std::chrono::steady_clock::now() + std::chrono::microseconds(options_.batch_wait_us);
          queue_changed_.wait_until(lock, deadline,
                                    [this] { return stopping_ || queue_.size() >= options_.batch_size_max; });
        }
        if (!affinity_) {
          while (!queue_.empty() && batch.size() < options_.batch_size_max) {
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
          }
        } else {
          for (auto it = queue_.begin(); it != queue_.end() && batch.size() < options_.batch_size_max;) {
            std::string key = affinity_(it->item);
            const auto held = busy_keys_.find(key);
            if (held != busy_keys_.end() && held->second != index) {
              ++it;  // another worker's batch has this key: it stays queued, in order, for later
              continue;
            }
            busy_keys_.emplace(std::move(key), index);
            batch.push_back(std::move(*it));
            it = queue_.erase(it);
          }
        }
        queue_length_.store(queue_.size(), std::memory_order_relaxed);
        counters_.jobs_running.fetch_add(1, std::memory_order_relaxed);
      }
      if (!batch.empty()) batch_sizes_.observe(static_cast<double>(batch.size()));
      items.clear();
      for (Pending& p : batch) items.push_back(std::move(p.item));
      std::vector<Result> results;
      try {
        results = batch_function_(connection, items);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "batch worker %zu: batch threw: %s\n", index, e.what());
        connection.discard();
        results.assign(batch.size(), on_exception_(e.what()));
      }
      LEDGER_ASSERT(results.size() == batch.size(), "a batch function returns one result per item");
      counters_.jobs_running.fetch_sub(1, std::memory_order_relaxed);
      for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
      if (affinity_) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          for (auto it = busy_keys_.begin(); it != busy_keys_.end();) {
            it = it->second == index ? busy_keys_.erase(it) : std::next(it);
          }
        }
        queue_changed_.notify_all();  // items this batch held back may now be taken
      }
    }
  }

  // Is there an item some worker may take now? Under mutex_.
  bool has_eligible_item() const {
    if (queue_.empty()) return false;
    if (!affinity_ || busy_keys_.empty()) return true;
    for (const Pending& p : queue_) {
      if (busy_keys_.count(affinity_(p.item)) == 0) return true;
    }
    return false;
  }

  const BatchOptions options_;
  const BatchFunction batch_function_;
  const std::function<Result(const std::string&)> on_exception_;
  std::mutex mutex_;
  std::condition_variable queue_changed_;
  std::deque<Pending> queue_;
  const AffinityFunction affinity_;
  std::map<std::string, std::size_t> busy_keys_;  // affinity key -> the worker whose batch holds it
  bool stopping_ = false;
  std::atomic<std::size_t> queue_length_{0};  // queue_.size(), mirrored for lock-free reads
  PoolCounters counters_;
  AtomicHistogram batch_sizes_{batch_size_buckets()};
  std::vector<std::unique_ptr<WorkerConnection>> connections_;
  std::vector<std::thread> threads_;
};

}  // namespace ledger

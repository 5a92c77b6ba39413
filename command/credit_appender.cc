#include "command/credit_appender.h"

#include <cassert>
#include <chrono>
#include <cstdio>

namespace ledger {

CreditAppender::CreditAppender(const std::string& database_url, const DatabaseLimits& limits,
                               const AppenderOptions& options)
    : options_(options) {
  assert(options.threads > 0 && options.queue_length_max > 0);
  assert(options.batch_size_max > 0 && options.batch_size_max <= kAppenderBatchSizeMax);
  for (std::size_t i = 0; i < options.threads; ++i) {
    connections_.push_back(std::make_unique<WorkerConnection>(database_url, limits));
  }
  for (std::size_t i = 0; i < options.threads; ++i) threads_.emplace_back([this, i] { run(i); });
}

CreditAppender::~CreditAppender() {
  stop();
  for (auto& t : threads_) t.join();
}

bool CreditAppender::submit(CreditCommandRequest request, Completion done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() >= options_.queue_length_max) return false;
    queue_.push_back(Pending{std::move(request), std::move(done)});
  }
  queue_changed_.notify_one();
  return true;
}

void CreditAppender::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  queue_changed_.notify_all();
}

void CreditAppender::run(std::size_t index) {
  WorkerConnection& connection = *connections_[index];
  std::vector<Pending> batch;
  std::vector<CreditCommandRequest> requests;
  for (;;) {
    batch.clear();
    {
      std::unique_lock<std::mutex> lock(mutex_);
      queue_changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      if (options_.batch_wait_us > 0 && queue_.size() < options_.batch_size_max && !stopping_) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(options_.batch_wait_us);
        queue_changed_.wait_until(lock, deadline,
                                  [this] { return stopping_ || queue_.size() >= options_.batch_size_max; });
      }
      while (!queue_.empty() && batch.size() < options_.batch_size_max) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    requests.clear();
    for (Pending& p : batch) requests.push_back(std::move(p.request));
    std::vector<CreditCommandResult> results;
    try {
      results = execute_credit_batch(connection, requests);
    } catch (const std::exception& e) {
      // execute_credit_batch converts database errors to results; this is a bug, but every waiter is owed
      // an answer, so none of them hangs.
      std::fprintf(stderr, "appender %zu: batch threw: %s\n", index, e.what());
      connection.discard();
      results.assign(batch.size(), CreditCommandResult{});
      for (auto& r : results) r.detail = e.what();
    }
    assert(results.size() == batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
  }
}

}  // namespace ledger

// DatabaseWorkers: a fixed set of threads, each owning one PostgreSQL connection, that run blocking
// database jobs taken from a bounded queue. libpqxx is synchronous; this keeps it off the Asio threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/database.h"
#include "eventstore/status.h"

namespace ledger {

// One worker's connection, opened lazily and dropped after a connection failure so the next job reconnects.
class WorkerConnection {
 public:
  WorkerConnection(std::string url, DatabaseLimits limits) : url_(std::move(url)), limits_(limits) {}

  // The open connection, connecting first when needed; nullptr with *error set when PostgreSQL cannot be
  // reached. After a failed connect, further attempts within reconnect_interval_ms fail fast.
  pqxx::connection* get(Status* error);

  // Drops the connection (call after a connection failure).
  void discard() { conn_.reset(); }

  // pg_postmaster_start_time() as seen when the current connection opened: tells a server restart apart
  // from a lost session when finding out what happened to an in-doubt commit (backend pids are reused).
  const std::string& server_started_at() const { return server_started_at_; }

  const std::string& url() const { return url_; }
  const DatabaseLimits& limits() const { return limits_; }

  static constexpr int kReconnectIntervalMs = 250;

  // Connections opened after this worker's first (after a lost or discarded one). Any thread may read it.
  std::uint64_t reconnects() const {
    const std::uint64_t opened = opened_.load(std::memory_order_relaxed);
    return opened == 0 ? 0 : opened - 1;
  }

 private:
  std::string url_;
  DatabaseLimits limits_;
  std::unique_ptr<pqxx::connection> conn_;
  std::chrono::steady_clock::time_point last_failure_{};
  std::string last_failure_message_;
  std::string server_started_at_;
  std::atomic<std::uint64_t> opened_{0};  // successful connects so far
};

// What a pool of worker connections is doing, read by the metrics without locking (plain atomics).
struct PoolCounters {
  std::atomic<std::size_t> jobs_running{0};   // connections in use now: jobs (or batches) being run
};

class DatabaseWorkers {
 public:
  using Job = std::function<void(WorkerConnection&)>;

  DatabaseWorkers(const std::string& url, const DatabaseLimits& limits, std::size_t thread_count,
                  std::size_t queue_length_max);
  ~DatabaseWorkers();  // finishes queued jobs, then joins

  DatabaseWorkers(const DatabaseWorkers&) = delete;
  DatabaseWorkers& operator=(const DatabaseWorkers&) = delete;

  // Queues a job. Returns false, without running it, when the queue is full or the workers are stopping:
  // the caller answers "busy" rather than queueing without bound. Jobs must not throw.
  bool submit(Job job);

  // Stops taking jobs; queued ones still run. Idempotent.
  void stop();

  std::size_t queue_length() const;

  // For metrics; cheap, lock-free, any thread.
  std::size_t jobs_running() const { return counters_.jobs_running.load(std::memory_order_relaxed); }
  std::uint64_t reconnects() const;  // summed over the workers' connections

 private:
  void run(std::size_t index);

  const std::size_t queue_length_max_;
  mutable std::mutex mutex_;
  std::condition_variable queue_not_empty_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<WorkerConnection>> connections_;
  std::vector<std::thread> threads_;
  PoolCounters counters_;
};

}  // namespace ledger

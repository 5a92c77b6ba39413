#include "eventstore/database_workers.h"

#include "eventstore/log_line.h"

#include "eventstore/assert.h"

#include <cstdio>

namespace ledger {

pqxx::connection* WorkerConnection::get(Status* error) {
  if (conn_ != nullptr && conn_->is_open()) return conn_.get();
  conn_.reset();
  const auto now = std::chrono::steady_clock::now();
  if (now - last_failure_ < std::chrono::milliseconds(kReconnectIntervalMs)) {
    *error = Status::Unavailable("cannot reach PostgreSQL: " + last_failure_message_);
    return nullptr;
  }
  try {
    conn_ = open_connection(url_, limits_);
    pqxx::nontransaction tx(*conn_);
    server_started_at_ = tx.exec1("SELECT pg_postmaster_start_time()::text")[0].as<std::string>();
    opened_.fetch_add(1, std::memory_order_relaxed);
    return conn_.get();
  } catch (const std::exception& e) {
    conn_.reset();
    last_failure_ = now;
    last_failure_message_ = single_line(e.what());
    *error = Status::Unavailable("cannot reach PostgreSQL: " + last_failure_message_);
    return nullptr;
  }
}

DatabaseWorkers::DatabaseWorkers(const std::string& url, const DatabaseLimits& limits, std::size_t thread_count,
                                 std::size_t queue_length_max)
    : queue_length_max_(queue_length_max) {
  LEDGER_ASSERT(thread_count > 0 && queue_length_max > 0, "DatabaseWorkers needs threads and a queue");
  for (std::size_t i = 0; i < thread_count; ++i) {
    connections_.push_back(std::make_unique<WorkerConnection>(url, limits));
  }
  for (std::size_t i = 0; i < thread_count; ++i) {
    threads_.emplace_back([this, i] { run(i); });
  }
}

DatabaseWorkers::~DatabaseWorkers() {
  stop();
  for (auto& t : threads_) t.join();
}

bool DatabaseWorkers::submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() >= queue_length_max_) return false;
    queue_.push_back(std::move(job));
  }
  queue_not_empty_.notify_one();
  return true;
}

void DatabaseWorkers::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  queue_not_empty_.notify_all();
}

std::size_t DatabaseWorkers::queue_length() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void DatabaseWorkers::run(std::size_t index) {
  WorkerConnection& connection = *connections_[index];
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      queue_not_empty_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    counters_.jobs_running.fetch_add(1, std::memory_order_relaxed);
    try {
      job(connection);
    } catch (const std::exception& e) {
      // Jobs convert their own errors to values; reaching here is a bug, but never kill the worker.
      log_to_stderr("database", LogLevel::kError,
                    "worker " + std::to_string(index) + ": job threw: " + e.what());
      connection.discard();
    }
    counters_.jobs_running.fetch_sub(1, std::memory_order_relaxed);
  }
}

std::uint64_t DatabaseWorkers::reconnects() const {
  std::uint64_t total = 0;
  for (const auto& c : connections_) total += c->reconnects();
  return total;
}

}  // namespace ledger

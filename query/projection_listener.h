// ProjectionListener: tells serve when the projector has committed a batch to the read model, so a GET
// waiting for a record version (read-your-writes, ?min_version=N) re-reads at once instead of polling. On a
// thread and a PostgreSQL session of its own (never an Asio thread), it LISTENs on the projector's channel
// (kRecordsProjectedChannel: one notification per committed batch) and calls `on_projected` once per
// wake-up, for however many notifications arrived together. When its session drops it reconnects with
// backoff and calls `on_projected` too, since notifications may have been missed meanwhile. Optionally the
// same for the log sealer's channel (kLogSealedChannel), waking GET /events long polls and streams.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <pqxx/pqxx>

namespace ledger {

struct ProjectionListenerOptions {
  std::string database_url;
  int reconnect_backoff_min_ms = 100;  // first wait after a lost session; doubles per failure
  int reconnect_backoff_max_ms = 5000;
  int wait_slice_ms = 100;             // longest wait for a notification before checking for stop
};

class ProjectionListener {
 public:
  // `on_projected` runs on the listener's thread: it must be quick and must not block.
  ProjectionListener(ProjectionListenerOptions options, std::function<void()> on_projected);
  // Also LISTENs on the sealer's channel (kLogSealedChannel: one notification per sealing transaction) and
  // calls `on_log_sealed` once per wake-up that brought any, and after each reconnect. Same rules.
  ProjectionListener(ProjectionListenerOptions options, std::function<void()> on_projected,
                     std::function<void()> on_log_sealed);
  ~ProjectionListener();  // stop()
  ProjectionListener(const ProjectionListener&) = delete;
  ProjectionListener& operator=(const ProjectionListener&) = delete;

  void start();
  // Stops the thread (within wait_slice_ms, or a connect attempt's timeout). Idempotent.
  void stop();

  // Wake-ups delivered so far, and reconnects (for metrics and tests).
  std::uint64_t wakeups() const { return wakeups_.load(); }
  std::uint64_t reconnects() const { return reconnects_.load(); }

 private:
  class Receiver;
  void run();
  void sleep_ms(int ms);

  const ProjectionListenerOptions options_;
  const std::function<void()> on_projected_;
  const std::function<void()> on_log_sealed_;  // empty: kLogSealedChannel is not listened to
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mutex_
  std::atomic<std::uint64_t> wakeups_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::thread thread_;
};

}  // namespace ledger

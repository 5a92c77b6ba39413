#include "query/projection_listener.h"

#include <chrono>

#include "command/credit_record.h"
#include "eventstore/database.h"
#include "eventstore/log_line.h"
#include "eventstore/merkle_log.h"

namespace ledger {

class ProjectionListener::Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const char* channel) : pqxx::notification_receiver(conn, channel) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override { notified = true; }
  bool notified = false;
};

ProjectionListener::ProjectionListener(ProjectionListenerOptions options, std::function<void()> on_projected)
    : options_(std::move(options)), on_projected_(std::move(on_projected)) {}

ProjectionListener::ProjectionListener(ProjectionListenerOptions options, std::function<void()> on_projected,
                                       std::function<void()> on_log_sealed)
    : options_(std::move(options)), on_projected_(std::move(on_projected)), on_log_sealed_(std::move(on_log_sealed)) {}

ProjectionListener::~ProjectionListener() { stop(); }

void ProjectionListener::start() { thread_ = std::thread([this] { run(); }); }

void ProjectionListener::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ProjectionListener::sleep_ms(int ms) {
  std::unique_lock lock(mutex_);
  stop_cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

void ProjectionListener::run() {
  int backoff_ms = options_.reconnect_backoff_min_ms;
  bool was_connected = false;
  auto is_stopping = [this] {
    std::lock_guard lock(mutex_);
    return stopping_;
  };
  while (!is_stopping()) {
    std::unique_ptr<pqxx::connection> conn;
    std::unique_ptr<Receiver> receiver;
    std::unique_ptr<Receiver> sealed_receiver;
    try {
      DatabaseLimits limits;
      conn = open_connection(options_.database_url, limits);
      receiver = std::make_unique<Receiver>(*conn, kRecordsProjectedChannel);  // LISTEN
      if (on_log_sealed_) sealed_receiver = std::make_unique<Receiver>(*conn, kLogSealedChannel);
      if (was_connected) {
        ++reconnects_;
        // Batches may have committed (and seals been made) while the session was down: waiters re-read.
        on_projected_();
        if (on_log_sealed_) on_log_sealed_();
      }
      was_connected = true;
      backoff_ms = options_.reconnect_backoff_min_ms;
      while (!is_stopping()) {
        conn->await_notification(0, static_cast<long>(options_.wait_slice_ms) * 1000);
        conn->get_notifs();  // the rest already queued: one wake-up for the lot
        if (receiver->notified) {
          receiver->notified = false;
          ++wakeups_;
          on_projected_();
        }
        if (sealed_receiver != nullptr && sealed_receiver->notified) {
          sealed_receiver->notified = false;
          ++wakeups_;
          on_log_sealed_();
        }
      }
    } catch (const std::exception& e) {
      log_to_stderr("serve", LogLevel::kWarn,
                    std::string("projection listener: ") + (was_connected ? "session lost" : "cannot connect") +
                        ", retrying in " + std::to_string(backoff_ms) + " ms: " + e.what());
      if (conn != nullptr) conn->disconnect();  // so the receiver does not UNLISTEN on a dead session
      receiver.reset();
      sealed_receiver.reset();
      conn.reset();
      sleep_ms(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, options_.reconnect_backoff_max_ms);
      continue;
    }
    if (conn != nullptr) conn->disconnect();
    receiver.reset();
    sealed_receiver.reset();
  }
}

}  // namespace ledger

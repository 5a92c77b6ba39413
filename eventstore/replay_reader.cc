#include "eventstore/replay_reader.h"

#include "eventstore/assert.h"

#include <chrono>
#include <exception>
#include <utility>

namespace ledger {

namespace {

constexpr int kNextWaitMarginMs = 5000;
constexpr int kStopPollMs = 100;

}  // namespace

ReplayReader::ReplayReader(std::string database_url, std::string horizon, const ReplayOptions& options)
    : database_url_(std::move(database_url)), horizon_(std::move(horizon)), options_(options) {
  LEDGER_ASSERT(options_.page_size_max >= 1 && options_.pages_ahead_max >= 1, "replay options are validated by the caller");
  thread_ = std::thread([this] { run(); });
}

ReplayReader::~ReplayReader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    // PQcancel is made to be called from another thread; the connection stays open while we hold the lock.
    if (connection_ != nullptr) {
      try {
        connection_->cancel_query();
      } catch (const std::exception&) {
        // Nothing to cancel, or the session is gone: the thread ends on its own.
      }
    }
  }
  changed_.notify_all();
  thread_.join();
}

ReplayPage ReplayReader::next(const std::atomic<bool>& stop_requested) {
  std::unique_lock<std::mutex> lock(mutex_);
  const int wait_max_ms = options_.page_wait_timeout_ms + kNextWaitMarginMs;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_max_ms);
  while (ready_.empty() && !finished_) {
    if (stop_requested.load()) {
      ReplayPage page;
      page.status = Status::Unavailable("stopped by request while waiting for the replay reader");
      return page;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ReplayPage page;
      page.status = Status::Unavailable("the replay reader produced no page within " +
                                        std::to_string(wait_max_ms) + " ms");
      return page;
    }
    changed_.wait_for(lock, std::chrono::milliseconds(kStopPollMs));
  }
  if (ready_.empty()) {
    ReplayPage page;
    page.status = Status::Internal("the replay reader ended without a last page");
    return page;
  }
  ReplayPage page = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  changed_.notify_all();  // room for the reader's next page
  return page;
}

bool ReplayReader::push(ReplayPage page) {
  std::unique_lock<std::mutex> lock(mutex_);
  // The consumer takes a page within a page's fold-and-write; the destructor wakes this wait to stop.
  changed_.wait(lock, [this] { return stopping_ || ready_.size() < options_.pages_ahead_max; });
  if (stopping_) return false;
  const bool last = page.last || !page.status.ok();
  ready_.push_back(std::move(page));
  if (last) finished_ = true;
  lock.unlock();
  changed_.notify_all();
  return true;
}

void ReplayReader::run() {
  std::unique_ptr<pqxx::connection> conn;
  try {
    DatabaseLimits limits;
    // One COPY reads the whole log, at the consumer's pace: next() bounds each page's wait instead, and
    // the destructor cancels the statement.
    limits.statement_timeout_ms = 0;
    limits.idle_in_transaction_timeout_ms = options_.page_wait_timeout_ms;
    limits.key_lookups_only = false;  // reads the whole log
    conn = open_connection(database_url_, limits);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      connection_ = conn.get();
    }
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn, "replay");
    ReplayPage page;
    bool stopped = false;
    stream_events_in_stream_order(tx, horizon_, [&](RecordedEvent&& e) {
      page.events.push_back(std::move(e));
      if (page.events.size() < options_.page_size_max) return true;
      if (!push(std::move(page))) {
        stopped = true;
        return false;
      }
      page = ReplayPage();
      return true;
    });
    if (!stopped) {
      page.last = true;  // possibly empty: the log may end exactly at a page boundary
      push(std::move(page));
    }
  } catch (const std::exception& e) {
    // When stopping (the destructor cancelled the COPY, say), push() drops the page: nobody waits for it.
    ReplayPage page;
    page.status = is_connection_failure(e)
                      ? Status::Unavailable("the replay reader lost its PostgreSQL session: " + single_line(e.what()))
                      : Status::Unavailable("the replay reader failed: " + single_line(e.what()));
    push(std::move(page));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  connection_ = nullptr;
  finished_ = true;
}

}  // namespace ledger

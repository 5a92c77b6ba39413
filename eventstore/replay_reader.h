// ReplayReader: reads every event below a transaction horizon, stream by stream (each stream in version
// order), on a thread and PostgreSQL session of its own, one page ahead of its consumer. PostgreSQL
// produces and the reader decodes the next page while the consumer folds the last one, so a replay uses
// both cores instead of taking turns with the database. Knows nothing of what the events mean.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/database.h"
#include "eventstore/event_store.h"
#include "eventstore/status.h"

namespace ledger {

struct ReplayPage {
  Status status;                      // not ok: the read failed; no further pages come
  std::vector<RecordedEvent> events;  // at most page_size_max, continuing the previous page
  bool last = false;                  // the log below the horizon ends with this page
};

struct ReplayOptions {
  std::size_t page_size_max = 20000;  // events per page
  std::size_t pages_ahead_max = 1;    // decoded pages waiting for the consumer; bounds memory
  // Bounds every wait in next(). The log is read by one COPY statement that may rightly run for as long
  // as the consumer takes, so the bound is per page; the first page waits for PostgreSQL to sort the whole
  // log, which takes seconds per million events.
  int page_wait_timeout_ms = 600'000;
};

class ReplayReader {
 public:
  // `horizon` must come from read_horizon(): every transaction below it has ended, so this session's
  // snapshot, taken later, sees exactly the events below it that the caller's does.
  ReplayReader(std::string database_url, std::string horizon, const ReplayOptions& options);
  ReplayReader(const ReplayReader&) = delete;
  ReplayReader& operator=(const ReplayReader&) = delete;
  // Cancels a statement in flight and joins the thread.
  ~ReplayReader();

  // The next page in order. Waits at most page_wait_timeout_ms plus a margin, and returns early once
  // *stop_requested is set (checked every 100 ms); both come back as an Unavailable page. Call no more
  // after a page with `last` or a failed status.
  ReplayPage next(const std::atomic<bool>& stop_requested);

 private:
  void run();
  bool push(ReplayPage page);  // false when stopping

  const std::string database_url_;
  const std::string horizon_;
  const ReplayOptions options_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<ReplayPage> ready_;
  bool stopping_ = false;
  bool finished_ = false;                // the thread pushed its last page (or failed)
  pqxx::connection* connection_ = nullptr;  // while open, for cancel_query() from the destructor
  std::thread thread_;
};

}  // namespace ledger

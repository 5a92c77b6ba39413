// The live projector (`carbon-ledger project`): keeps the credit_records read model up to date from the
// events log. Each batch of events and the projection checkpoint commit in one transaction, so a crash at
// any point neither loses nor double-applies an event. Wakes on NOTIFY events_appended and also polls, so a
// lost notification only delays.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ledger {

// The transaction-level advisory lock that serializes writers of the credit_records projection: live
// projectors (try-lock, per batch) and rebuilds (blocking, for the whole rebuild). "LedgerCR".
inline constexpr std::int64_t kCreditRecordsLockKey = 0x4c65646765724352;

struct ProjectorOptions {
  std::string database_url;
  int poll_interval_ms = 500;             // longest wait for a notification before polling anyway
  std::size_t batch_size_max = 1000;      // events per transaction
  int lag_log_threshold_ms = 1000;        // log when the last applied event is older than this
  int reconnect_backoff_max_ms = 2000;    // reconnect and retry delays double from 100 ms up to this
};

// Upper bounds on the options (run_projector refuses larger values).
inline constexpr int kProjectorPollIntervalMsMax = 60'000;
inline constexpr std::size_t kProjectorBatchSizeMax = 100'000;
inline constexpr int kProjectorBackoffMsMax = 60'000;

// Runs until *stop_requested becomes true (set from a signal handler; checked at least every poll interval),
// then returns 0. Returns non-zero (after logging why to stderr) only on an invariant violation (an event
// that cannot follow the read model, e.g. a stream version out of order) or invalid options - never on a
// lost connection, which it survives by reconnecting with bounded backoff. Throws nothing.
int run_projector(const ProjectorOptions& options, const std::atomic<bool>& stop_requested);

}  // namespace ledger

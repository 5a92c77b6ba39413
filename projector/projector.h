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

// Serializes the writers of the credit_records projection, live projectors (per batch, skipping when
// taken) and rebuilds (waiting, for the whole rebuild): a row lock on the projection's checkpoint row, held
// until the transaction ends. Taking it needs UPDATE on projection_checkpoints, which only ledger_project
// and the owner have, so no other login (an auditor, serve) can take it and stop the projector, as anyone
// could with an advisory lock. $1 is the projection name; no row means another transaction holds it.
inline constexpr const char* kLockCheckpointSkipLockedSql =
    "SELECT 1 FROM projection_checkpoints WHERE projection_name = $1 FOR UPDATE SKIP LOCKED";
inline constexpr const char* kLockCheckpointWaitSql =
    "SELECT 1 FROM projection_checkpoints WHERE projection_name = $1 FOR UPDATE";

struct ProjectorOptions {
  std::string database_url;
  int poll_interval_ms = 500;             // longest wait for a notification before polling anyway
  std::size_t batch_size_max = 1000;      // events per transaction
  int lag_log_threshold_ms = 1000;        // log when the last applied event is older than this
  int reconnect_backoff_max_ms = 2000;    // reconnect and retry delays double from 100 ms up to this
  // When committed events wait behind the same open transaction (the snapshot horizon), or the projection
  // lock stays taken, for this long, log who holds it (from pg_stat_activity); again every 10 s after.
  int held_log_threshold_ms = 3000;
};

// Upper bounds on the options (run_projector refuses larger values).
inline constexpr int kProjectorPollIntervalMsMax = 60'000;
inline constexpr std::size_t kProjectorBatchSizeMax = 100'000;
inline constexpr int kProjectorBackoffMsMax = 60'000;

// An event the projector cannot apply halts it: the reason (naming the event's position, stream, version
// and what is wrong) is logged and written to projection_checkpoints.halted_reason (with halted_at), where
// /healthz reads it; the next committed batch after a restart, or a successful rebuild, clears it.
// Runs until *stop_requested becomes true (set from a signal handler; checked at least every poll interval),
// then returns 0. Returns non-zero (after logging why to stderr) only on an invariant violation (an event
// that cannot follow the read model, e.g. a stream version out of order) or invalid options - never on a
// lost connection, which it survives by reconnecting with bounded backoff. Throws nothing.
int run_projector(const ProjectorOptions& options, const std::atomic<bool>& stop_requested);

}  // namespace ledger

// The live projector (`carbon-ledger project`): keeps the credit_records read model up to date from the
// events log. Each batch of events and the projection checkpoint commit in one transaction, so a crash at
// any point neither loses nor double-applies an event. Wakes on NOTIFY events_appended and also polls, so a
// lost notification only delays.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "command/credit_record.h"
#include "eventstore/atomic_histogram.h"

namespace ledger {

// Notified in each batch's transaction, right after the checkpoint advances, with the new checkpoint position
// (decimal text): serve wakes requests waiting to read their own writes. Delivered on commit only. The name
// is the read model's (command/credit_record.h), where serve's listener takes it from too.
inline constexpr const char* kProjectedChannel = kRecordsProjectedChannel;

// What the projector is doing, as plain atomics any thread may read (projector/projector_metrics.h turns them
// into Prometheus metrics at scrape time). Written only by the projector's thread.
struct ProjectorStats {
  std::atomic<std::int64_t> position{0};           // checkpoint position of the read model
  std::atomic<std::uint64_t> events_applied{0};    // since this process started
  std::atomic<std::uint64_t> batches{0};           // committed batches that applied events
  std::atomic<double> last_batch_duration_s{0};    // of the last such batch, its transaction begin to commit
  AtomicHistogram batch_duration_s{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
  // now - recorded_at of the last applied event, set after each batch that applies events; 0 once a batch
  // finds nothing new (caught up).
  std::atomic<double> lag_s{0};
  std::atomic<bool> connected{false};              // has a session to PostgreSQL
  std::atomic<bool> held_by_horizon{false};        // committed events wait behind an open transaction
  std::atomic<bool> held_by_lock{false};           // the projection lock is taken (a rebuild, another projector)
  std::atomic<bool> halted{false};                 // stopped on an event it cannot apply (the process exits)
};

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
  ProjectorStats* stats = nullptr;        // optional, outlives run_projector; updated as it goes
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

// `carbon-ledger rebuild`: replays the whole events log into a fresh credit_records read model and swaps it
// in atomically. Readers keep seeing the old model until the commit; on any failure nothing changes.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

namespace ledger {

struct RebuildOptions {
  std::string database_url;
  std::size_t batch_size_max = 20000;  // events per page read; the records they finish go out in one COPY
};

// Upper bound on RebuildOptions::batch_size_max (run_rebuild refuses larger values).
inline constexpr std::size_t kRebuildBatchSizeMax = 100'000;

// Waits up to 30 s for the projection lock (a live projector pauses while a rebuild holds it). Reports
// progress on stderr about once a second and a summary line at the end. Returns 0 on success; non-zero with
// a message on stderr on an invariant violation, a connection failure, a lock timeout or *stop_requested
// (the transaction is rolled back and the old read model stays). Throws nothing.
int run_rebuild(const RebuildOptions& options, const std::atomic<bool>& stop_requested);

}  // namespace ledger

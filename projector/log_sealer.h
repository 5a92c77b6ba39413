// The sealer (run inside `carbon-ledger project`, on a thread and session of its own): turns every event into
// a leaf of the verifiable log (eventstore/merkle_log.h), in the projector's gap-safe order, and at most every
// checkpoint interval, while new events exist, appends their leaves, the tree nodes they complete and a signed
// checkpoint in one transaction, after checking the new tree is consistent with the last checkpoint. One
// sealer at a time: a row lock on its projection_checkpoints row, as the projector's.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "eventstore/signed_note.h"

namespace ledger {

struct LogSealerStats {
  std::atomic<std::int64_t> tree_size{0};
  std::atomic<std::uint64_t> checkpoints{0};  // signed by this process
};

struct LogSealerOptions {
  std::string database_url;
  NoteSigner signer;                    // its name is the checkpoints' origin
  int checkpoint_interval_ms = 1000;    // longest time a committed event waits to be sealed
  // Leaves per sealing transaction (more: several checkpoints). Bounds the sealer's memory: a batch holds its
  // events, their leaf data and the insert's parameter at once (20,000 took project's peak RSS to 82 MiB).
  std::size_t batch_size_max = 5000;
  int reconnect_backoff_max_ms = 2000;
  LogSealerStats* stats = nullptr;      // optional, outlives run_log_sealer
};

inline constexpr int kCheckpointIntervalMsMin = 10;
inline constexpr int kCheckpointIntervalMsMax = 3'600'000;
inline constexpr std::size_t kSealBatchSizeMax = 100'000;

// Runs until *stop_requested; returns 0 then. Returns 1 (after logging why and recording it in the merkle_log
// row's halted_reason, where /healthz sees it) when the stored log disagrees with its last checkpoint or an
// event cannot be made a leaf: a log that might have been tampered with is not extended. 2 on bad options.
// Survives lost connections (reconnects with bounded backoff). Throws nothing.
int run_log_sealer(const LogSealerOptions& options, const std::atomic<bool>& stop_requested);

}  // namespace ledger

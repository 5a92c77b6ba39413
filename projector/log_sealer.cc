#include "projector/log_sealer.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/database.h"
#include "eventstore/event_store.h"
#include "eventstore/log_line.h"
#include "eventstore/merkle_log.h"
#include "projector/projector.h"

namespace ledger {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kBackoffMinMs = 100;
constexpr std::size_t kHaltReasonMaxBytes = 2000;

void log_line(LogLevel level, const std::string& message) { log_to_stderr("sealer", level, message); }



struct SealResult {
  enum class Kind { kNothingNew, kLockBusy, kSealed, kHalt };
  Kind kind = Kind::kNothingNew;
  std::size_t leaves = 0;
  bool full = false;
  std::string halt_reason;
};

class Sealer {
 public:
  Sealer(const LogSealerOptions& options, const std::atomic<bool>& stop_requested)
      : options_(options),
        stop_requested_(stop_requested),
        stats_(options.stats != nullptr ? *options.stats : own_stats_),
        verifier_key_(format_verifier_key(options.signer.verifier)) {}

  int run() {
    log_line(LogLevel::kInfo, "sealing the log as " + verifier_key_ + " every " +
             std::to_string(options_.checkpoint_interval_ms) + " ms while new events exist");
    int backoff_ms = 0;
    bool busy_logged = false;
    while (!stop_requested_.load()) {
      try {
        if (conn_ == nullptr) connect();
        const SealResult result = seal_once();
        backoff_ms = 0;
        switch (result.kind) {
          case SealResult::Kind::kHalt:
            log_line(LogLevel::kError, "FATAL: not extending the log: " + result.halt_reason);
            record_halt(result.halt_reason);
            return 1;
          case SealResult::Kind::kLockBusy:
            if (!busy_logged) log_line(LogLevel::kWarn, "another sealer holds the log's lock; waiting");
            busy_logged = true;
            break;
          case SealResult::Kind::kSealed:
            busy_logged = false;
            if (result.full) continue;  // more are waiting: seal them now
            break;
          case SealResult::Kind::kNothingNew:
            busy_logged = false;
            break;
        }
        sleep_unless_stopped(options_.checkpoint_interval_ms, stop_requested_);
      } catch (const std::exception& e) {
        backoff_ms = backoff_ms == 0 ? kBackoffMinMs : std::min(backoff_ms * 2, options_.reconnect_backoff_max_ms);
        if (is_session_lost(e)) {
          conn_.reset();
          frontier_.reset();
        }
        log_line(LogLevel::kWarn, "sealing failed, retrying in " + std::to_string(backoff_ms) + " ms: " + single_line(e.what()));
        sleep_unless_stopped(backoff_ms, stop_requested_);
      }
    }
    log_line(LogLevel::kInfo, "stopped at tree size " + std::to_string(stats_.tree_size.load()));
    return 0;
  }

 private:
  void connect() {
    conn_ = open_connection(options_.database_url, DatabaseLimits{});
    // Leaves derive deterministically from the durable log and Ed25519 signatures are deterministic, so a seal
    // lost in a crash is remade identical: no need to wait for its WAL flush.
    pqxx::nontransaction(*conn_).exec("SET synchronous_commit = off");
    frontier_.reset();
  }

  // Two transactions, so the one that writes is short: every write transaction holds the snapshot horizon
  // (the projector and this sealer read only below it) from its first write, a row lock included, to its
  // commit. Reading the events, making the leaves and nodes, checking consistency and signing happen first,
  // in a read-only snapshot that takes no transaction id; the write transaction then locks, checks nobody
  // sealed meanwhile, and inserts what was made.
  SealResult seal_once() {
    SealResult result;
    Prepared prepared;
    {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn_, "log_sealer_read");
      const std::string horizon = read_horizon(tx);
      prepared.after = read_checkpoint(tx, kMerkleLogProjection);
      const std::vector<RecordedEvent> events = read_events_after(tx, prepared.after, horizon, options_.batch_size_max);
      if (events.empty()) {
        tx.commit();
        if (!halt_cleared_) clear_halt();
        return result;
      }
      std::string why;
      if (!prepare(tx, events, &prepared, &why)) return halt(std::move(why));
      tx.commit();
    }

    pqxx::work tx(*conn_, "log_sealer");
    if (tx.exec_params(kLockCheckpointSkipLockedSql, std::string(kMerkleLogProjection)).empty()) {
      result.kind = SealResult::Kind::kLockBusy;
      return result;
    }
    const Checkpoint now = read_checkpoint(tx, kMerkleLogProjection);
    if (now.transaction_id != prepared.after.transaction_id || now.position != prepared.after.position) {
      frontier_.reset();  // another sealer sealed meanwhile: start again from what it stored
      return result;
    }
    write_log_leaves(tx, prepared.leaves, prepared.nodes);
    write_log_checkpoint(tx, prepared.checkpoint);
    write_checkpoint(tx, kMerkleLogProjection, prepared.checkpoint.last_event,
                     static_cast<std::int64_t>(prepared.leaves.size()));
    clear_halt_once(tx);
    tx.commit();
    halt_cleared_ = true;

    frontier_ = std::move(prepared.grown);
    stats_.tree_size.store(prepared.checkpoint.tree_size);
    stats_.checkpoints.fetch_add(1);
    result.kind = SealResult::Kind::kSealed;
    result.leaves = prepared.leaves.size();
    result.full = prepared.leaves.size() == options_.batch_size_max;
    return result;
  }

  // What one seal writes, made before its write transaction begins.
  struct Prepared {
    Checkpoint after;  // the sealer's place the events were read after
    std::vector<LogLeaf> leaves;
    std::vector<std::pair<MerkleNodeId, MerkleHash>> nodes;
    MerkleFrontier grown;
    StoredCheckpoint checkpoint;
  };

  // Makes the leaves, nodes and signed checkpoint of `events`, after checking the stored tree against its last
  // checkpoint and the new tree's consistency with it. False (with *why) when the log must not be extended.
  bool prepare(pqxx::transaction_base& tx, const std::vector<RecordedEvent>& events, Prepared* out, std::string* why) {
    const std::int64_t size = read_log_size(tx);
    const std::optional<StoredCheckpoint> last = read_latest_log_checkpoint(tx);
    if ((last ? last->tree_size : 0) != size) {
      *why = "the log holds " + std::to_string(size) + " leaves but its last checkpoint covers " +
             std::to_string(last ? last->tree_size : 0);
      return false;
    }
    if (!frontier_ || frontier_->size() != static_cast<std::uint64_t>(size)) {
      MerkleFrontier loaded;
      Status s = read_log_frontier(tx, static_cast<std::uint64_t>(size), &loaded);
      if (!s.ok()) {
        *why = "cannot read the tree's right edge: " + s.ToString();
        return false;
      }
      frontier_ = std::move(loaded);
    }
    if (last && frontier_->root() != last->root_hash) {
      *why = "the stored tree of " + std::to_string(size) + " leaves has root " + merkle_hex(frontier_->root()) +
             ", its signed checkpoint says " + merkle_hex(last->root_hash);
      return false;
    }
    out->grown = *frontier_;
    out->leaves.reserve(events.size());
    out->nodes.reserve(events.size());
    UnstoredLogNodes fresh;  // this seal's leaves and nodes
    for (const RecordedEvent& e : events) {
      LogLeaf leaf;
      leaf.leaf_index = static_cast<std::int64_t>(out->grown.size());
      leaf.position = e.position;
      Status s = log_leaf_data(e, &leaf.leaf_data);
      if (!s.ok()) {
        *why = "event at position " + std::to_string(e.position) + " (stream " + e.stream_id + " version " +
               std::to_string(e.stream_version) + ") cannot be a leaf: " + s.message();
        return false;
      }
      leaf.leaf_hash = merkle_leaf_hash(leaf.leaf_data);
      fresh[{0, static_cast<std::uint64_t>(leaf.leaf_index)}] = leaf.leaf_hash;
      out->grown.append(leaf.leaf_hash, [out, &fresh](const MerkleNodeId& id, const MerkleHash& hash) {
        out->nodes.emplace_back(id, hash);
        fresh[{id.level, id.index}] = hash;
      });
      out->leaves.push_back(std::move(leaf));
    }
    // The new tree must extend the last signed one: a consistency proof made from the stored nodes (the old
    // part) and this seal's (the new), verified against the signed root, as an auditor would.
    const MerkleHash root = out->grown.root();
    if (last) {
      const std::uint64_t m = static_cast<std::uint64_t>(last->tree_size);
      std::vector<MerkleHash> proof;
      Status s = log_consistency_proof(tx, m, out->grown.size(), fresh, &proof);
      if (!s.ok()) {
        *why = "cannot prove the new tree consistent: " + s.ToString();
        return false;
      }
      if (!merkle_verify_consistency(m, out->grown.size(), last->root_hash, root, proof)) {
        *why = "the tree of " + std::to_string(out->grown.size()) + " leaves is not consistent with the checkpoint of " +
               std::to_string(last->tree_size);
        return false;
      }
    }
    StoredCheckpoint& checkpoint = out->checkpoint;
    checkpoint.tree_size = static_cast<std::int64_t>(out->grown.size());
    checkpoint.root_hash = root;
    checkpoint.note = sign_note(options_.signer, format_checkpoint_body({options_.signer.verifier.name, out->grown.size(), root}));
    checkpoint.verifier_key = verifier_key_;
    checkpoint.last_event = Checkpoint{events.back().transaction_id, events.back().position};
    return true;
  }

  // Clears a recorded halt in a transaction of its own (when there was nothing to seal).
  void clear_halt() {
    pqxx::work tx(*conn_, "log_sealer_clear_halt");
    clear_halt_once(tx);
    tx.commit();
    halt_cleared_ = true;
  }

  // A halt an earlier run recorded ends with this process's first committed seal (the log checked out).
  void clear_halt_once(pqxx::work& tx) {
    if (halt_cleared_) return;
    tx.exec_params("UPDATE projection_checkpoints SET halted_reason = NULL, halted_at = NULL"
                   " WHERE projection_name = $1 AND halted_reason IS NOT NULL",
                   std::string(kMerkleLogProjection));
  }

  SealResult halt(std::string reason) {
    SealResult r;
    r.kind = SealResult::Kind::kHalt;
    r.halt_reason = std::move(reason);
    return r;  // the caller's transaction rolls back: nothing of this seal is written
  }

  void record_halt(const std::string& reason) {
    try {
      pqxx::work tx(*conn_, "log_sealer_halt");
      tx.exec_params("UPDATE projection_checkpoints SET halted_reason = $2, halted_at = clock_timestamp()"
                     " WHERE projection_name = $1",
                     std::string(kMerkleLogProjection), "sealer: " + reason.substr(0, kHaltReasonMaxBytes));
      tx.commit();
    } catch (const std::exception& e) {
      log_line(LogLevel::kError, "could not record the halt: " + single_line(e.what()));
    }
  }

  const LogSealerOptions options_;
  const std::atomic<bool>& stop_requested_;
  LogSealerStats own_stats_;
  LogSealerStats& stats_;
  const std::string verifier_key_;
  std::unique_ptr<pqxx::connection> conn_;
  std::optional<MerkleFrontier> frontier_;  // of the tree as last committed, to append without reading it
  bool halt_cleared_ = false;
};

}  // namespace

int run_log_sealer(const LogSealerOptions& options, const std::atomic<bool>& stop_requested) {
  if (options.database_url.empty() || options.checkpoint_interval_ms < kCheckpointIntervalMsMin ||
      options.checkpoint_interval_ms > kCheckpointIntervalMsMax || options.batch_size_max < 1 ||
      options.batch_size_max > kSealBatchSizeMax || !valid_note_key_name(options.signer.verifier.name)) {
    log_line(LogLevel::kError, "invalid sealer options");
    return 2;
  }
  try {
    Sealer sealer(options, stop_requested);
    return sealer.run();
  } catch (const std::exception& e) {
    log_line(LogLevel::kError, std::string("FATAL: unexpected error: ") + single_line(e.what()));
    return 1;
  }
}

}  // namespace ledger

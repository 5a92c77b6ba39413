// The verifiable log over the events table, in PostgreSQL (migrations/0011_merkle_log.sql): what a leaf is
// (an event's RFC 8785 canonical JSON), reading leaves, stored nodes, signed checkpoints and the proofs they
// answer, and the writes the sealer makes. Knows nothing of what the events mean; docs/audit.md is the
// outsider's description of the same formats.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/event_store.h"
#include "eventstore/merkle.h"
#include "eventstore/status.h"

namespace ledger {

// The sealer's row in projection_checkpoints (its place in the log and its single-leader lock).
inline constexpr const char* kMerkleLogProjection = "merkle_log";
// Notified in each sealing transaction with the new tree size (decimal text): serve wakes /events readers.
inline constexpr const char* kLogSealedChannel = "log_sealed";
// Most leaves one read returns (GET /log/leaves, GET /events pages).
inline constexpr std::size_t kLogLeavesPageMax = 1000;

// The leaf data of an event: the RFC 8785 canonical JSON of {"data", "event_id", "event_type", "metadata",
// "recorded_at", "stream_id", "stream_version"}. Invalid when data or metadata is not canonicalizable JSON.
Status log_leaf_data(const RecordedEvent& event, std::string* out);

// The same from the event's fields as views (verify's fast pass reads them so, without a RecordedEvent).
struct LogLeafFields {
  std::string_view data_json, event_id, event_type, metadata_json, recorded_at, stream_id;
  std::int64_t stream_version = 0;
};
Status log_leaf_data(const LogLeafFields& event, std::string* out);

struct LogLeaf {
  std::int64_t leaf_index = 0;
  std::int64_t position = 0;  // events.position of the event
  std::string leaf_data;
  MerkleHash leaf_hash{};
};

struct StoredCheckpoint {
  std::int64_t tree_size = 0;
  MerkleHash root_hash{};
  std::string note;          // the signed note, as served
  std::string verifier_key;  // of the key that signed it
  Checkpoint last_event;     // (transaction_id, position) of the last leaf's event
  std::string created_at;    // RFC 3339 UTC
};

// The number of leaves in the log (sealed ones; every one is in a checkpoint).
std::int64_t read_log_size(pqxx::transaction_base& tx);
std::optional<StoredCheckpoint> read_latest_log_checkpoint(pqxx::transaction_base& tx);
// Every stored checkpoint, smallest tree first.
std::vector<StoredCheckpoint> read_log_checkpoints(pqxx::transaction_base& tx);

// Leaves [start, end) in index order (the caller bounds end - start).
std::vector<LogLeaf> read_log_leaves(pqxx::transaction_base& tx, std::int64_t start, std::int64_t end);
// The leaves of these event positions (those that are in the log), in index order.
std::vector<LogLeaf> read_log_leaves_at_positions(pqxx::transaction_base& tx, const std::vector<std::int64_t>& positions);

// The stored hashes of these complete subtrees, in the same order; one round trip. Internal when one is missing
// (the tree is not that large, or rows are gone).
Status read_log_nodes(pqxx::transaction_base& tx, const std::vector<MerkleNodeId>& ids, std::vector<MerkleHash>* out);
// PATH(index, D[tree_size]) and PROOF(first, D[second]) from stored nodes; tree sizes must not exceed the log's.
Status log_inclusion_proof(pqxx::transaction_base& tx, std::uint64_t index, std::uint64_t tree_size,
                           std::vector<MerkleHash>* proof);
Status log_consistency_proof(pqxx::transaction_base& tx, std::uint64_t first, std::uint64_t second,
                             std::vector<MerkleHash>* proof);
// Nodes (level, index; level 0 a leaf) not written yet, taking the place of stored ones: a seal proves its new
// tree consistent before its write transaction, from the stored old part and its own new part.
using UnstoredLogNodes = std::map<std::pair<int, std::uint64_t>, MerkleHash>;
Status log_consistency_proof(pqxx::transaction_base& tx, std::uint64_t first, std::uint64_t second,
                             const UnstoredLogNodes& unstored, std::vector<MerkleHash>* proof);
// MTH of the first `tree_size` leaves.
Status log_root(pqxx::transaction_base& tx, std::uint64_t tree_size, MerkleHash* root);
// The frontier (right edge) of the tree of the first `tree_size` leaves, to append after it.
Status read_log_frontier(pqxx::transaction_base& tx, std::uint64_t tree_size, MerkleFrontier* frontier);

// Writes leaves (consecutive indexes) and the complete nodes they made, one statement each.
void write_log_leaves(pqxx::transaction_base& tx, const std::vector<LogLeaf>& leaves,
                      const std::vector<std::pair<MerkleNodeId, MerkleHash>>& nodes);
// Stores a checkpoint and notifies kLogSealedChannel with its tree size.
void write_log_checkpoint(pqxx::transaction_base& tx, const StoredCheckpoint& checkpoint);

}  // namespace ledger

#include "eventstore/merkle_log.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "eventstore/assert.h"
#include "eventstore/canonical_json.h"
#include "eventstore/database.h"

namespace ledger {
namespace {

MerkleHash hash_from_hex_field(const pqxx::field& field) {
  MerkleHash hash{};
  LEDGER_ASSERT(merkle_from_hex(field.c_str(), &hash), "stored hashes are 32 bytes (the schema checks)");
  return hash;
}

const std::string kCheckpointColumns = "tree_size, encode(root_hash, 'hex'), note, verifier_key, transaction_id::text, position, " +
                                       rfc3339_utc_sql("created_at");

StoredCheckpoint checkpoint_from_row(const pqxx::row& row) {
  StoredCheckpoint c;
  c.tree_size = row[0].as<std::int64_t>();
  c.root_hash = hash_from_hex_field(row[1]);
  c.note = row[2].as<std::string>();
  c.verifier_key = row[3].as<std::string>();
  c.last_event.transaction_id = row[4].as<std::string>();
  c.last_event.position = row[5].as<std::int64_t>();
  c.created_at = row[6].as<std::string>();
  return c;
}

std::vector<LogLeaf> leaves_from_result(const pqxx::result& result) {
  std::vector<LogLeaf> leaves;
  leaves.reserve(result.size());
  for (const pqxx::row& row : result) {
    LogLeaf leaf;
    leaf.leaf_index = row[0].as<std::int64_t>();
    leaf.position = row[1].as<std::int64_t>();
    leaf.leaf_data = row[2].as<std::string>();
    leaf.leaf_hash = hash_from_hex_field(row[3]);
    leaves.push_back(std::move(leaf));
  }
  return leaves;
}

// The hashes of the ranges' subtrees, each range folded: the proof those ranges make.
Status hashes_of_ranges(pqxx::transaction_base& tx, const std::vector<MerkleRange>& ranges,
                        const UnstoredLogNodes& unstored, std::vector<MerkleHash>* out) {
  std::vector<MerkleNodeId> ids;
  std::vector<std::size_t> counts;
  for (const MerkleRange& r : ranges) {
    const std::vector<MerkleNodeId> nodes = merkle_range_nodes(r);
    counts.push_back(nodes.size());
    ids.insert(ids.end(), nodes.begin(), nodes.end());
  }
  // Only what `unstored` does not hold is read, in one round trip.
  std::vector<MerkleNodeId> stored_ids;
  for (const MerkleNodeId& id : ids) {
    if (!unstored.contains({id.level, id.index})) stored_ids.push_back(id);
  }
  std::vector<MerkleHash> stored;
  Status s = read_log_nodes(tx, stored_ids, &stored);
  if (!s.ok()) return s;
  std::vector<MerkleHash> hashes;
  hashes.reserve(ids.size());
  std::size_t next_stored = 0;
  for (const MerkleNodeId& id : ids) {
    const auto it = unstored.find({id.level, id.index});
    hashes.push_back(it != unstored.end() ? it->second : stored[next_stored++]);
  }
  out->clear();
  std::size_t at = 0;
  for (const std::size_t n : counts) {
    out->push_back(merkle_fold_range(std::span<const MerkleHash>(hashes).subspan(at, n)));
    at += n;
  }
  return Status::Ok();
}

std::string bigint_array(const std::vector<std::int64_t>& values) {
  std::string a = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) a += ',';
    a += std::to_string(values[i]);
  }
  return a + "}";
}

}  // namespace

Status log_leaf_data(const RecordedEvent& e, std::string* out) {
  return log_leaf_data(LogLeafFields{e.data_json, e.event_id, e.event_type, e.metadata_json, e.recorded_at, e.stream_id,
                                     e.stream_version},
                       out);
}

Status log_leaf_data(const LogLeafFields& e, std::string* out) {
  out->clear();
  out->reserve(e.data_json.size() + e.metadata_json.size() + 256);
  // The members in JCS order (all ASCII names, so byte order).
  out->append("{\"data\":");
  Status s = canonicalize_json(e.data_json, out);
  if (!s.ok()) return Status::Invalid("data: " + s.message());
  out->append(",\"event_id\":");
  append_canonical_json_string(e.event_id, out);
  out->append(",\"event_type\":");
  append_canonical_json_string(e.event_type, out);
  out->append(",\"metadata\":");
  s = canonicalize_json(e.metadata_json.empty() ? std::string_view("{}") : e.metadata_json, out);
  if (!s.ok()) return Status::Invalid("metadata: " + s.message());
  out->append(",\"recorded_at\":");
  append_canonical_json_string(e.recorded_at, out);
  out->append(",\"stream_id\":");
  append_canonical_json_string(e.stream_id, out);
  out->append(",\"stream_version\":");
  if (e.stream_version >= -(std::int64_t{1} << 53) && e.stream_version <= (std::int64_t{1} << 53)) {
    char digits[24];  // an integer a double holds exactly: JCS writes its digits
    out->append(digits, std::to_chars(digits, digits + sizeof digits, e.stream_version).ptr);
  } else {
    append_canonical_json_number(static_cast<double>(e.stream_version), out);
  }
  out->push_back('}');
  return Status::Ok();
}

std::int64_t read_log_size(pqxx::transaction_base& tx) {
  return tx.exec("SELECT coalesce(max(leaf_index) + 1, 0) FROM log_leaves")[0][0].as<std::int64_t>();
}

std::optional<StoredCheckpoint> read_latest_log_checkpoint(pqxx::transaction_base& tx) {
  const pqxx::result r = tx.exec("SELECT " + kCheckpointColumns + " FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1");
  if (r.empty()) return std::nullopt;
  return checkpoint_from_row(r[0]);
}

std::vector<StoredCheckpoint> read_log_checkpoints(pqxx::transaction_base& tx) {
  std::vector<StoredCheckpoint> out;
  for (const pqxx::row& row : tx.exec("SELECT " + kCheckpointColumns + " FROM log_checkpoints ORDER BY tree_size")) {
    out.push_back(checkpoint_from_row(row));
  }
  return out;
}

std::vector<LogLeaf> read_log_leaves(pqxx::transaction_base& tx, std::int64_t start, std::int64_t end) {
  return leaves_from_result(tx.exec_params(
      "SELECT leaf_index, position, leaf_data, encode(leaf_hash, 'hex') FROM log_leaves"
      " WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index",
      start, end));
}

std::vector<LogLeaf> read_log_leaves_at_positions(pqxx::transaction_base& tx, const std::vector<std::int64_t>& positions) {
  return leaves_from_result(tx.exec_params(
      "SELECT leaf_index, position, leaf_data, encode(leaf_hash, 'hex') FROM log_leaves"
      " WHERE position = ANY($1::bigint[]) ORDER BY leaf_index",
      bigint_array(positions)));
}

Status read_log_nodes(pqxx::transaction_base& tx, const std::vector<MerkleNodeId>& ids, std::vector<MerkleHash>* out) {
  out->assign(ids.size(), MerkleHash{});
  if (ids.empty()) return Status::Ok();
  std::vector<std::int64_t> leaf_indexes, levels, node_indexes;
  for (const MerkleNodeId& id : ids) {
    if (id.level == 0) {
      leaf_indexes.push_back(static_cast<std::int64_t>(id.index));
    } else {
      levels.push_back(id.level);
      node_indexes.push_back(static_cast<std::int64_t>(id.index));
    }
  }
  std::map<std::pair<int, std::uint64_t>, MerkleHash> found;
  const pqxx::result r = tx.exec_params(
      "SELECT 0, leaf_index, encode(leaf_hash, 'hex') FROM log_leaves WHERE leaf_index = ANY($1::bigint[])"
      " UNION ALL"
      " SELECT n.level, n.node_index, encode(n.hash, 'hex')"
      "   FROM unnest($2::smallint[], $3::bigint[]) AS wanted(level, node_index)"
      "   JOIN log_nodes n ON n.level = wanted.level AND n.node_index = wanted.node_index",
      bigint_array(leaf_indexes), bigint_array(levels), bigint_array(node_indexes));
  for (const pqxx::row& row : r) {
    found[{row[0].as<int>(), row[1].as<std::uint64_t>()}] = hash_from_hex_field(row[2]);
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto it = found.find({ids[i].level, ids[i].index});
    if (it == found.end()) {
      return Status::Internal("the log has no node at level " + std::to_string(ids[i].level) + " index " +
                              std::to_string(ids[i].index));
    }
    (*out)[i] = it->second;
  }
  return Status::Ok();
}

Status log_inclusion_proof(pqxx::transaction_base& tx, std::uint64_t index, std::uint64_t tree_size,
                           std::vector<MerkleHash>* proof) {
  if (index >= tree_size) return Status::Invalid("leaf index " + std::to_string(index) + " is not below tree size " + std::to_string(tree_size));
  return hashes_of_ranges(tx, merkle_inclusion_ranges(index, tree_size), {}, proof);
}

Status log_consistency_proof(pqxx::transaction_base& tx, std::uint64_t first, std::uint64_t second,
                             std::vector<MerkleHash>* proof) {
  return log_consistency_proof(tx, first, second, {}, proof);
}

Status log_consistency_proof(pqxx::transaction_base& tx, std::uint64_t first, std::uint64_t second,
                             const UnstoredLogNodes& unstored, std::vector<MerkleHash>* proof) {
  if (first > second) return Status::Invalid("first tree size is larger than the second");
  return hashes_of_ranges(tx, merkle_consistency_ranges(first, second), unstored, proof);
}

Status log_root(pqxx::transaction_base& tx, std::uint64_t tree_size, MerkleHash* root) {
  std::vector<MerkleHash> hashes;
  Status s = read_log_nodes(tx, merkle_range_nodes({0, tree_size}), &hashes);
  if (!s.ok()) return s;
  *root = merkle_fold_range(hashes);
  return Status::Ok();
}

Status read_log_frontier(pqxx::transaction_base& tx, std::uint64_t tree_size, MerkleFrontier* frontier) {
  std::vector<MerkleHash> hashes;
  Status s = read_log_nodes(tx, merkle_range_nodes({0, tree_size}), &hashes);
  if (!s.ok()) return s;
  LEDGER_ASSERT(frontier->reset(tree_size, std::move(hashes)), "frontier nodes match the tree size");
  return Status::Ok();
}

void write_log_leaves(pqxx::transaction_base& tx, const std::vector<LogLeaf>& leaves,
                      const std::vector<std::pair<MerkleNodeId, MerkleHash>>& nodes) {
  if (!leaves.empty()) {
    // One JSON array parameter: one statement whatever the batch size (as the event appends do).
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.StartArray();
    for (const LogLeaf& leaf : leaves) {
      writer.StartArray();
      writer.Int64(leaf.leaf_index);
      writer.Int64(leaf.position);
      writer.String(leaf.leaf_data.data(), static_cast<rapidjson::SizeType>(leaf.leaf_data.size()));
      const std::string hex = merkle_hex(leaf.leaf_hash);
      writer.String(hex.data(), static_cast<rapidjson::SizeType>(hex.size()));
      writer.EndArray();
    }
    writer.EndArray();
    const pqxx::result r = tx.exec_params(
        "INSERT INTO log_leaves (leaf_index, position, leaf_data, leaf_hash)"
        " SELECT (x->>0)::bigint, (x->>1)::bigint, x->>2, decode(x->>3, 'hex') FROM json_array_elements($1::json) AS x",
        std::string(buffer.GetString(), buffer.GetSize()));
    LEDGER_ASSERT(r.affected_rows() == leaves.size(), "every leaf inserted");
  }
  if (!nodes.empty()) {
    std::string levels = "{", indexes = "{", hashes = "{";
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (i > 0) {
        levels += ',';
        indexes += ',';
        hashes += ',';
      }
      levels += std::to_string(nodes[i].first.level);
      indexes += std::to_string(nodes[i].first.index);
      hashes += merkle_hex(nodes[i].second);
    }
    const pqxx::result r = tx.exec_params(
        "INSERT INTO log_nodes (level, node_index, hash)"
        " SELECT l, i, decode(h, 'hex') FROM unnest($1::smallint[], $2::bigint[], $3::text[]) AS n(l, i, h)",
        levels + "}", indexes + "}", hashes + "}");
    LEDGER_ASSERT(r.affected_rows() == nodes.size(), "every node inserted");
  }
}

void write_log_checkpoint(pqxx::transaction_base& tx, const StoredCheckpoint& c) {
  tx.exec_params(
      "INSERT INTO log_checkpoints (tree_size, root_hash, note, verifier_key, transaction_id, position)"
      " VALUES ($1, decode($2, 'hex'), $3, $4, $5::xid8, $6)",
      c.tree_size, merkle_hex(c.root_hash), c.note, c.verifier_key, c.last_event.transaction_id, c.last_event.position);
  tx.exec_params("SELECT pg_notify($1, $2)", std::string(kLogSealedChannel), std::to_string(c.tree_size));
}

}  // namespace ledger

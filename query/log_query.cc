#include "query/log_query.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>


namespace ledger {
namespace {

void write_string(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace

Status read_record_proof(pqxx::transaction_base& tx, const std::string& record_id, RecordProof* out) {
  RecordProof proof;
  proof.record_id = record_id;
  const pqxx::result rows = tx.exec_params(
      "SELECT e.stream_version, e.event_type, l.leaf_index, e.position, l.leaf_data, encode(l.leaf_hash, 'hex')"
      "  FROM events e LEFT JOIN log_leaves l ON l.position = e.position"
      " WHERE e.stream_id = $1::uuid ORDER BY e.stream_version",
      record_id);
  if (rows.empty()) return Status::NotFound("no record with id " + record_id);
  const std::optional<StoredCheckpoint> checkpoint = read_latest_log_checkpoint(tx);
  if (!checkpoint) return Status::Unavailable("the log has no checkpoint yet");
  proof.checkpoint = *checkpoint;
  for (const pqxx::row& row : rows) {
    if (row[2].is_null() || row[2].as<std::int64_t>() >= checkpoint->tree_size) {
      ++proof.pending_events;
      continue;
    }
    RecordProof::Event event;
    event.stream_version = row[0].as<std::int64_t>();
    event.event_type = row[1].as<std::string>();
    event.leaf.leaf_index = row[2].as<std::int64_t>();
    event.leaf.position = row[3].as<std::int64_t>();
    event.leaf.leaf_data = row[4].as<std::string>();
    if (!merkle_from_hex(row[5].c_str(), &event.leaf.leaf_hash)) return Status::Internal("stored leaf hash is not 32 bytes");
    Status s = log_inclusion_proof(tx, static_cast<std::uint64_t>(event.leaf.leaf_index),
                                   static_cast<std::uint64_t>(checkpoint->tree_size), &event.inclusion_proof);
    if (!s.ok()) return s;
    proof.events.push_back(std::move(event));
  }
  *out = std::move(proof);
  return Status::Ok();
}

std::string record_proof_json(const RecordProof& proof, std::string_view extra_members) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("record_id");
  write_string(w, proof.record_id);
  w.Key("checkpoint");
  write_string(w, proof.checkpoint.note);
  w.Key("tree_size");
  w.Int64(proof.checkpoint.tree_size);
  w.Key("root_hash");
  write_string(w, merkle_base64(proof.checkpoint.root_hash));
  w.Key("verifier_key");
  write_string(w, proof.checkpoint.verifier_key);
  w.Key("events");
  w.StartArray();
  for (const RecordProof::Event& e : proof.events) {
    w.StartObject();
    w.Key("stream_version");
    w.Int64(e.stream_version);
    w.Key("event_type");
    write_string(w, e.event_type);
    w.Key("leaf_index");
    w.Int64(e.leaf.leaf_index);
    w.Key("leaf_data");
    write_string(w, e.leaf.leaf_data);
    w.Key("leaf_hash");
    write_string(w, merkle_base64(e.leaf.leaf_hash));
    w.Key("inclusion_proof");
    w.StartArray();
    for (const MerkleHash& h : e.inclusion_proof) write_string(w, merkle_base64(h));
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("pending_events");
  w.Int64(proof.pending_events);
  w.EndObject();
  std::string json(buffer.GetString(), buffer.GetSize());
  if (!extra_members.empty()) {
    json.pop_back();  // the closing brace
    json += ',';
    json += extra_members;
    json += '}';
  }
  return json;
}

}  // namespace ledger

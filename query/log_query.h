// Reading the verifiable log for its HTTP endpoints (GET /records/{id}/proof, the certificates): a record's
// events with their leaves and inclusion proofs against the latest checkpoint, and the JSON bundle that
// tools/verify.py checks (docs/audit.md, "Proof bundles"). Never appends. Blocking (libpqxx): run on a
// database thread, in one read-only REPEATABLE READ transaction so the checkpoint and the leaves agree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/merkle_log.h"
#include "eventstore/status.h"

namespace ledger {

struct RecordProof {
  struct Event {
    std::int64_t stream_version = 0;
    std::string event_type;
    LogLeaf leaf;
    std::vector<MerkleHash> inclusion_proof;  // against `checkpoint`
  };
  std::string record_id;
  StoredCheckpoint checkpoint;  // the latest
  std::vector<Event> events;    // the stream's events in the checkpoint, in version order
  std::int64_t pending_events = 0;  // the stream's events not yet in a checkpoint (not listed)
};

// NotFound when the stream has no events, Unavailable (slug-worthy "no checkpoint yet") when the log has no
// checkpoint; Internal when the stored tree cannot answer a proof.
Status read_record_proof(pqxx::transaction_base& tx, const std::string& record_id, RecordProof* out);

// The bundle as a JSON object: record_id, checkpoint, tree_size, root_hash, verifier_key, events (each with
// stream_version, event_type, leaf_index, leaf_data, leaf_hash, inclusion_proof), pending_events; then
// `extra_members` (raw JSON members such as "certificate":{...}, without braces) when not empty.
std::string record_proof_json(const RecordProof& proof, std::string_view extra_members = {});

}  // namespace ledger

#include "command/credit_batch.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "auth/access_events.h"
#include "eventstore/assert.h"
#include "command/serial_numbers.h"

namespace ledger {
namespace {

using Kind = CreditCommandResult::Kind;

CreditCommandResult make_result(Kind kind, std::string record_id, CreditState state, std::string detail) {
  CreditCommandResult result;
  result.kind = kind;
  result.record_id = std::move(record_id);
  result.state = std::move(state);
  result.detail = std::move(detail);
  return result;
}

CreditCommandResult refusal(std::string record_id, CreditState state, DecideError error) {
  const Kind kind = error.kind == DecideError::Kind::kNotFound ? Kind::kNotFound
                    : (error.kind == DecideError::Kind::kForbidden ||
                       error.kind == DecideError::Kind::kRegistryNotBound)
                        ? Kind::kForbidden
                        : Kind::kRejected;
  CreditCommandResult result = make_result(kind, std::move(record_id), std::move(state), error.detail);
  result.error = std::move(error);
  return result;
}

std::string event_metadata(const CreditCommandRequest& request) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("request_id");
  writer.String(request.request_id.c_str(), static_cast<rapidjson::SizeType>(request.request_id.size()));
  writer.Key("command");
  writer.String(command_name(request.command));
  writer.Key("account");
  writer.String(request.actor.account.c_str(), static_cast<rapidjson::SizeType>(request.actor.account.size()));
  writer.Key("role");
  writer.String(role_name(request.actor.role));
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// Appends `events` to `stream`, evolving its state.
void append_to(const std::string& stream_id, StreamState* stream, const std::vector<CreditEvent>& events,
               const std::string& metadata, std::vector<NewEvent>* out) {
  // load_states() leaves the access stream at version 0, where every command but a registration is "not
  // found", and no registration or carve computes its id (a v4, not a v5, UUID).
  LEDGER_ASSERT(!is_access_stream(stream_id), "no credit event is ever appended to the access stream");
  for (const CreditEvent& event : events) {
    NewEvent e;
    e.stream_id = stream_id;
    e.stream_version = stream->state.version + 1;
    e.event_id = new_event_id();
    e.event_type = event_type_name(event);
    e.data_json = encode_event_data(event);
    e.metadata_json = metadata;
    out->push_back(std::move(e));
    stream->state = evolve(std::move(stream->state), event);
  }
}

// The first unit claim held by another stream that overlaps [low, high] under `numbering`.
const StreamRangeClaim* overlapping_claim(const std::vector<StreamRangeClaim>& held, const std::string& numbering,
                                          std::int64_t low, std::int64_t high, const std::string& self) {
  for (const StreamRangeClaim& claim : held) {
    if (claim.key == numbering && claim.stream_id != self && claim.low <= high && low <= claim.high) return &claim;
  }
  return nullptr;
}

}  // namespace

std::string ascii_lowercase(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

std::map<std::string, StreamState> load_states(const StreamsFromSnapshots& read) {
  std::map<std::string, StreamState> states;
  // The access stream (auth/access_events.h) holds key and binding changes, no credit: like an id with no
  // events, it stays at version 0 ("not found"), never an undecodable stream (a 500).
  for (const StreamSnapshot& snapshot : read.snapshots) {
    if (is_access_stream(snapshot.stream_id)) continue;
    StreamState& stream = states[snapshot.stream_id];
    CreditState state;
    Status decoded = decode_state(snapshot.state_json, &state);
    if (!decoded.ok() || state.version != snapshot.stream_version) {
      stream.status = Status::Internal("snapshot of stream " + snapshot.stream_id + " at version " +
                                       std::to_string(snapshot.stream_version) + " cannot be used: " +
                                       (decoded.ok() ? std::string("its state has another version") : decoded.message()));
      continue;
    }
    stream.state = std::move(state);
  }
  for (const RecordedEvent& recorded : read.events) {
    if (is_access_stream(recorded.stream_id)) continue;
    StreamState& stream = states[recorded.stream_id];
    if (!stream.status.ok()) continue;
    if (recorded.stream_version != stream.state.version + 1) {
      stream.status = Status::Internal("stream " + recorded.stream_id + " jumps from version " +
                                       std::to_string(stream.state.version) + " to " +
                                       std::to_string(recorded.stream_version));
      continue;
    }
    CreditEvent event;
    Status decoded = decode_event(recorded.event_type, recorded.data_json, &event);
    if (!decoded.ok()) {
      stream.status = Status::Internal("event " + recorded.event_id + " of stream " + recorded.stream_id +
                                       " cannot be decoded: " + decoded.message());
      continue;
    }
    Status follows = check_event_follows(stream.state, event);
    if (!follows.ok()) {
      stream.status = Status::Internal("event " + recorded.event_id + " of stream " + recorded.stream_id + ": " +
                                       follows.message());
      continue;
    }
    stream.state = evolve(std::move(stream.state), event);
  }
  return states;
}

std::optional<std::string> unit_numbering(const RegisterCredit& command) {
  if (!command.range_stated) return std::nullopt;
  const CreditAttributes& a = command.attributes;
  switch (registry_kind(a.registry)) {
    case RegistryKind::kVerra:
      return std::string("verra");
    case RegistryKind::kGoldStandard: {
      const std::optional<SerialRange> stated = parse_serial_range(RegistryKind::kGoldStandard, a.serial_number);
      return "gold standard:" + (stated.has_value() ? stated->numbering_prefix : a.serial_number);
    }
    case RegistryKind::kOther:
      break;
  }
  return std::nullopt;
}

DecidedBatch decide_batch(const std::vector<CreditCommandRequest>& requests, const std::vector<std::string>& keys,
                          std::map<std::string, StreamState> states, const BatchFacts& facts) {
  LEDGER_ASSERT(keys.size() == requests.size(), "one confusable key (or \"\") per request");
  DecidedBatch batch;
  batch.results.reserve(requests.size());
  std::map<std::string, std::string> confusable_holders = facts.confusable_holders;
  std::vector<StreamRangeClaim> units_taken;  // by this batch so far
  std::map<std::string, std::int64_t> version_before;  // streams this batch writes, at their read version
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const CreditCommandRequest& request = requests[i];
    const Actor& actor = request.actor;
    if (request.idempotency.has_value()) {
      const auto stored = facts.idempotency.find({actor.account, request.idempotency->key});
      if (stored != facts.idempotency.end()) {
        if (stored->second.request_sha256 != request.idempotency->request_sha256) {
          batch.results.push_back(make_result(Kind::kIdempotencyKeyReused, request.credit_id, CreditState(),
                                              "this Idempotency-Key was used for a different request (another "
                                              "method, path or body); use a new key for a new request"));
        } else {
          CreditCommandResult replay = make_result(Kind::kReplayed, request.credit_id, CreditState(), "");
          replay.replayed = stored->second.response;
          batch.results.push_back(std::move(replay));
        }
        continue;
      }
    }
    StreamState& stream = states[request.credit_id];
    const CreditState& state = stream.state;
    CreditCommandResult result;
    if (!stream.status.ok()) {
      result = make_result(Kind::kInternal, request.credit_id, state, stream.status.message());
    } else if (request.if_match.has_value() && !request.if_match->matches(state.version)) {
      result = make_result(Kind::kPreconditionFailed, request.credit_id, state,
                           state.version == 0 ? std::string("the credit does not exist, so If-Match cannot match")
                                              : "the credit is at version " + std::to_string(state.version) +
                                                    ", which If-Match does not name");
    } else {
      DecideFacts decide_facts;
      decide_facts.credit_id = request.credit_id;
      if (const auto* reg = std::get_if<RegisterCredit>(&request.command)) {
        decide_facts.registry_bound =
            facts.bindings.count({actor.account, ascii_lowercase(reg->attributes.registry)}) > 0;
      }
      if (const auto* sell = std::get_if<SellCredit>(&request.command)) {
        decide_facts.buyer_known = facts.known_accounts.count(sell->buyer) > 0;
      }
      Decision decision = decide(request.command, state, actor, decide_facts);
      const auto* reg = std::get_if<RegisterCredit>(&request.command);
      const bool created = reg != nullptr && state.version == 0 && !decision.error.has_value();
      std::optional<StreamRangeClaim> units_claim;
      std::optional<StreamClaim> confusable_claim;
      if (created) {
        // A new credit must not look like one that exists (or one registered earlier in this batch).
        const auto holder = confusable_holders.find(keys[i]);
        if (holder != confusable_holders.end() && holder->second != request.credit_id) {
          DecideError error;
          error.kind = DecideError::Kind::kConfusable;
          error.confusable_with = holder->second;
          error.detail = "credit " + holder->second +
                         " is already registered with a registry and serial number that look the same as these "
                         "(Unicode confusables or a difference only in case); registering this one as well "
                         "would issue the same units twice";
          decision.error = std::move(error);
        } else {
          confusable_claim = StreamClaim{kConfusableClaimKind, keys[i], request.credit_id};
        }
        // Nor may its units overlap a block issued before, under any serial number of its numbering.
        if (const std::optional<std::string> numbering = unit_numbering(*reg); numbering && !decision.error) {
          const CreditAttributes& a = reg->attributes;
          const StreamRangeClaim* held = overlapping_claim(facts.units_held, *numbering, a.block_start, a.block_end,
                                                           request.credit_id);
          if (held == nullptr) {
            held = overlapping_claim(units_taken, *numbering, a.block_start, a.block_end, request.credit_id);
          }
          if (held != nullptr) {
            DecideError error;
            error.kind = DecideError::Kind::kUnitsIssued;
            error.overlapping_id = held->stream_id;
            error.overlapping_start = held->low;
            error.overlapping_end = held->high;
            if (const auto it = facts.units_holders.find(held->stream_id); it != facts.units_holders.end()) {
              error.overlapping_serial_number = it->second.attributes.serial_number;
            } else {
              for (const CreditCommandRequest& earlier : requests) {
                const auto* r = std::get_if<RegisterCredit>(&earlier.command);
                if (r != nullptr && earlier.credit_id == held->stream_id) {
                  error.overlapping_serial_number = r->attributes.serial_number;
                }
              }
            }
            error.detail = "units " + std::to_string(held->low) + ".." + std::to_string(held->high) +
                           " of this numbering were issued before as block " + held->stream_id +
                           (error.overlapping_serial_number.empty() ? std::string()
                                                                    : " (" + error.overlapping_serial_number + ")") +
                           "; no unit may be issued twice";
            decision.error = std::move(error);
          } else {
            units_claim = StreamRangeClaim{kUnitsClaimKind, *numbering, a.block_start, a.block_end, request.credit_id};
          }
        }
      }
      if (decision.error.has_value()) {
        result = refusal(request.credit_id, state, std::move(*decision.error));
      } else if (decision.events.empty()) {  // an identical registration: nothing to append
        result = make_result(Kind::kApplied, request.credit_id, state, "");
      } else {
        if (confusable_claim) {
          confusable_holders[confusable_claim->key] = request.credit_id;
          batch.extras.claims.push_back(std::move(*confusable_claim));
        }
        if (units_claim) {
          units_taken.push_back(*units_claim);
          batch.extras.range_claims.push_back(std::move(*units_claim));
        }
        const std::string metadata = event_metadata(request);
        version_before.try_emplace(request.credit_id, state.version);
        append_to(request.credit_id, &stream, decision.events, metadata, &batch.events);
        if (decision.child.has_value()) {
          // A new stream: later commands in the batch (on its computed id) see it.
          StreamState& child = states[decision.child->id];
          version_before.try_emplace(decision.child->id, child.state.version);
          append_to(decision.child->id, &child, decision.child->events, metadata, &batch.events);
          result = make_result(Kind::kApplied, decision.child->id, child.state, "");
          result.remainder_id = request.credit_id;
          result.remainder = stream.state;
        } else {
          result = make_result(created ? Kind::kCreated : Kind::kApplied, request.credit_id, stream.state, "");
        }
      }
    }
    if (request.idempotency.has_value() && request.idempotency->render) {
      if (std::optional<StoredResponse> response = request.idempotency->render(result)) {
        batch.idempotency.push_back(
            IdempotencyRow{actor.account, request.idempotency->key, request.idempotency->request_sha256, *response});
      }
    }
    batch.results.push_back(std::move(result));
  }
  // A snapshot whenever a stream passes a multiple of the interval, so no read folds more events than that.
  for (const auto& [stream_id, before] : version_before) {
    const CreditState& after = states.at(stream_id).state;
    if (after.version / kSnapshotIntervalEvents > before / kSnapshotIntervalEvents) {
      batch.extras.snapshots.push_back(StreamSnapshot{stream_id, after.version, encode_state(after)});
    }
  }
  return batch;
}

}  // namespace ledger

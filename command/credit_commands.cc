#include "command/credit_commands.h"

#include <chrono>
#include <map>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "command/text_rules.h"
#include "eventstore/event_store.h"

namespace ledger {
namespace {

using Kind = CreditCommandResult::Kind;

CreditCommandResult make_result(Kind kind, CreditState state, std::string detail) {
  CreditCommandResult result;
  result.kind = kind;
  result.state = std::move(state);
  result.detail = std::move(detail);
  return result;
}

std::vector<CreditCommandResult> all_results(std::size_t n, Kind kind, const std::string& detail) {
  return std::vector<CreditCommandResult>(n, make_result(kind, CreditState(), detail));
}

const char* command_name(const CreditCommand& command) {
  if (std::holds_alternative<RegisterCredit>(command)) return "register";
  if (std::holds_alternative<SellCredit>(command)) return "sell";
  return "retire";
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

// A stream's state as the decider sees it, or why it cannot be read (a broken invariant).
struct StreamState {
  CreditState state;
  Status status;
};

// Folds the events of several streams (ordered by stream, then version) into decider states.
std::map<std::string, StreamState> load_states(const std::vector<RecordedEvent>& events) {
  std::map<std::string, StreamState> states;
  for (const RecordedEvent& recorded : events) {
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
    stream.state = evolve(std::move(stream.state), event);
  }
  return states;
}

// The batch decided against one snapshot of its streams: the results to give if the events commit.
struct DecidedBatch {
  std::vector<CreditCommandResult> results;
  std::vector<NewEvent> events;
  std::vector<StreamClaim> claims;  // the confusable keys the batch's new credits take
};

// The confusable key (command/text_rules.h) each registration would claim, "" for other commands: the
// claim a new credit takes, so that no lookalike of it can be registered. Derived, never recorded.
std::vector<std::string> confusable_keys(const std::vector<CreditCommandRequest>& requests) {
  std::vector<std::string> keys;
  keys.reserve(requests.size());
  for (const CreditCommandRequest& r : requests) {
    const auto* reg = std::get_if<RegisterCredit>(&r.command);
    keys.push_back(reg == nullptr ? std::string()
                                  : confusable_key(reg->attributes.registry, reg->attributes.serial_number));
  }
  return keys;
}

// `keys`: confusable_keys(requests). `claimed`: confusable key -> the credit holding it, as read in this
// transaction.
DecidedBatch decide_batch(const std::vector<CreditCommandRequest>& requests, const std::vector<std::string>& keys,
                          std::map<std::string, StreamState> states, std::map<std::string, std::string> claimed) {
  DecidedBatch batch;
  batch.results.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const CreditCommandRequest& request = requests[i];
    StreamState& stream = states[request.credit_id];
    const CreditState& state = stream.state;
    if (!stream.status.ok()) {
      batch.results.push_back(make_result(Kind::kInternal, state, stream.status.message()));
      continue;
    }
    if (request.if_match.has_value() && !request.if_match->matches(state.version)) {
      batch.results.push_back(make_result(
          Kind::kPreconditionFailed, state,
          state.version == 0 ? std::string("the credit does not exist, so If-Match cannot match")
                             : "the credit is at version " + std::to_string(state.version) +
                                   ", which If-Match does not name"));
      continue;
    }
    Decision decision = decide(request.command, state, request.actor);
    if (decision.error.has_value()) {
      const DecideError::Kind why = decision.error->kind;
      const Kind kind = why == DecideError::Kind::kNotFound    ? Kind::kNotFound
                        : why == DecideError::Kind::kForbidden ? Kind::kForbidden
                                                               : Kind::kRejected;
      CreditCommandResult result = make_result(kind, state, decision.error->detail);
      result.error = std::move(decision.error);
      batch.results.push_back(std::move(result));
      continue;
    }
    if (decision.events.empty()) {  // an identical registration: nothing to append
      batch.results.push_back(make_result(Kind::kApplied, state, ""));
      continue;
    }
    const bool created = std::holds_alternative<RegisterCredit>(request.command) && state.version == 0;
    if (created) {
      // A new credit must not look like one that exists (or one registered earlier in this batch).
      const std::string& key = keys[i];
      const auto holder = claimed.find(key);
      if (holder != claimed.end() && holder->second != request.credit_id) {
        DecideError error;
        error.kind = DecideError::Kind::kConfusable;
        error.confusable_with = holder->second;
        error.detail = "credit " + holder->second +
                       " is already registered with a registry and serial number that look the same as these "
                       "(Unicode confusables or a difference only in case); registering this one as well "
                       "would issue the same units twice";
        CreditCommandResult result = make_result(Kind::kRejected, state, error.detail);
        result.error = std::move(error);
        batch.results.push_back(std::move(result));
        continue;
      }
      claimed[key] = request.credit_id;
      batch.claims.push_back(StreamClaim{kConfusableClaimKind, key, request.credit_id});
    }
    const std::string metadata = event_metadata(request);
    CreditState next = state;
    for (const CreditEvent& event : decision.events) {
      NewEvent e;
      e.stream_id = request.credit_id;
      e.stream_version = next.version + 1;
      e.event_id = new_event_id();
      e.event_type = event_type_name(event);
      e.data_json = encode_event_data(event);
      e.metadata_json = metadata;
      batch.events.push_back(std::move(e));
      next = evolve(std::move(next), event);
    }
    stream.state = next;  // later commands on this stream in the batch see this one's effect
    batch.results.push_back(make_result(created ? Kind::kCreated : Kind::kApplied, std::move(next), ""));
  }
  return batch;
}

// Is the session that sent an in-doubt COMMIT gone for good (so its transaction has committed or rolled
// back), and if so did it commit? nullopt while the old backend still runs.
std::optional<bool> committed_if_settled(pqxx::transaction_base& tx, const InDoubtCommit& doubt) {
  // After a server restart the old backend is gone for sure, even if a new one got its pid.
  const bool old_backend_alive = tx.exec_params1("SELECT pg_postmaster_start_time()::text = $2 AND"
                                                 " EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
                                                 doubt.backend_pid, doubt.server_started_at)[0]
                                     .as<bool>();
  if (old_backend_alive) return std::nullopt;
  return event_exists(tx, doubt.event_id);
}

constexpr int kInDoubtPollIntervalMs = 100;

}  // namespace

bool VersionPrecondition::matches(std::int64_t current_version) const {
  if (any) return current_version > 0;
  for (std::int64_t v : versions) {
    if (v == current_version) return true;
  }
  return false;
}

std::vector<CreditCommandResult> execute_credit_batch(WorkerConnection& connection,
                                                      const std::vector<CreditCommandRequest>& requests) {
  const std::size_t n = requests.size();
  if (n == 0) return {};
  bool reconnected = false;  // a pooled session found dead before COMMIT is replaced once, not reported
  const std::vector<std::string> keys = confusable_keys(requests);
  std::vector<std::string> wanted_keys;
  for (const std::string& key : keys) {
    if (!key.empty()) wanted_keys.push_back(key);
  }
  // Claims are not read before the first attempt: a new credit's lookalike is rare, and the claims' primary
  // key refuses it anyway (a Conflict). After any conflict the batch is decided again once with the claims
  // read, so a lookalike gets its 409 without splitting the batch into a transaction per command.
  bool read_claims_first = false;
  for (int attempt = 1; attempt <= kCommandAttemptsMax; ++attempt) {
    Status error;
    pqxx::connection* conn = connection.get(&error);
    if (conn == nullptr) return all_results(n, Kind::kUnavailable, error.message());

    DecidedBatch batch;
    int backend_pid = 0;
    const std::string server_started_at = connection.server_started_at();
    try {
      pqxx::work tx(*conn);
      // Reads first: the event INSERT must be this transaction's first write (see event_store.h).
      std::vector<std::string> stream_ids;
      for (const CreditCommandRequest& r : requests) stream_ids.push_back(r.credit_id);
      std::map<std::string, std::string> claimed;
      if (read_claims_first && !wanted_keys.empty()) {
        for (StreamClaim& claim : read_claims(tx, kConfusableClaimKind, wanted_keys)) {
          claimed.emplace(std::move(claim.key), std::move(claim.stream_id));
        }
      }
      batch = decide_batch(requests, keys, load_states(read_streams(tx, stream_ids)), std::move(claimed));
      if (batch.events.empty()) return batch.results;  // nothing to write: refusals and no-ops only

      Status appended = append_events(tx, batch.events, batch.claims);
      if (appended.IsConflict()) {
        tx.abort();
        if (!read_claims_first && !wanted_keys.empty()) {
          read_claims_first = true;
          continue;  // a claim may be what was taken: decide again knowing the claims
        }
        if (n > 1) break;  // isolate: let each command meet the conflict on its own
        continue;          // decide again against fresh state
      }
      if (!appended.ok()) return all_results(n, Kind::kInternal, appended.message());
      backend_pid = conn->backendpid();
      tx.commit();
      return batch.results;
    } catch (const std::exception& e) {
      const bool commit_sent = backend_pid != 0;
      const bool in_doubt = dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr;
      if (!in_doubt && !(commit_sent && is_connection_failure(e))) {
        if (is_connection_failure(e)) {
          connection.discard();
          if (!reconnected) {  // PostgreSQL ended an idle session (restart, terminate, proxy): try a fresh one
            reconnected = true;
            --attempt;
            continue;
          }
          return all_results(n, Kind::kUnavailable, "lost the connection to PostgreSQL: " + single_line(e.what()));
        }
        if (is_timeout(e)) {
          return all_results(n, Kind::kUnavailable, "PostgreSQL timed out: " + single_line(e.what()));
        }
        if (n == 1) return all_results(n, Kind::kInternal, e.what());
        break;  // one command may be at fault: isolate so the others still get their own answer
      }
      // COMMIT was sent and the connection died: the outcome is unknown until we find out.
      connection.discard();
      InDoubtCommit doubt;
      doubt.backend_pid = backend_pid;
      doubt.server_started_at = server_started_at;
      doubt.event_id = batch.events.front().event_id;
      doubt.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kInDoubtResolveTimeoutMs);
      for (CreditCommandResult& result : batch.results) {
        if (result.kind != Kind::kCreated && result.kind != Kind::kApplied) continue;  // refusals stand
        doubt.kind_if_committed = static_cast<int>(result.kind);
        result.kind = Kind::kInDoubt;
        result.in_doubt = doubt;
      }
      return batch.results;
    }
  }
  if (n == 1) {
    return all_results(1, Kind::kContended,
                       "the credit was changed concurrently " + std::to_string(kCommandAttemptsMax) +
                           " times while this command was being decided; retry");
  }
  std::vector<CreditCommandResult> results;
  results.reserve(n);
  for (const CreditCommandRequest& request : requests) {
    results.push_back(execute_credit_batch(connection, std::vector<CreditCommandRequest>{request}).front());
  }
  return results;
}

void resolve_in_doubt_commits(WorkerConnection& connection, std::vector<CreditCommandResult>* results) {
  // One question per in-doubt batch (keyed by its event id), asked until answered or out of time.
  struct Question {
    InDoubtCommit doubt;
    std::optional<bool> committed;  // nullopt while the old session may still be running
  };
  std::map<std::string, Question> questions;
  for (const CreditCommandResult& r : *results) {
    if (r.kind == Kind::kInDoubt) questions.try_emplace(r.in_doubt->event_id, Question{*r.in_doubt, std::nullopt});
  }
  for (;;) {
    Status error;
    pqxx::connection* conn = connection.get(&error);
    if (conn != nullptr) {
      try {
        pqxx::read_transaction tx(*conn);
        for (auto& [event_id, question] : questions) {
          if (!question.committed.has_value()) question.committed = committed_if_settled(tx, question.doubt);
        }
      } catch (const std::exception&) {
        connection.discard();
      }
    }
    bool pending = false;
    for (CreditCommandResult& r : *results) {
      if (r.kind != Kind::kInDoubt) continue;
      const Question& question = questions.at(r.in_doubt->event_id);
      if (question.committed.has_value() && *question.committed) {
        r.kind = static_cast<Kind>(r.in_doubt->kind_if_committed);
        r.in_doubt.reset();
      } else if (question.committed.has_value()) {
        r = make_result(Kind::kUnavailable, CreditState(),
                        "the connection to PostgreSQL was lost during commit; the command was not applied");
      } else if (std::chrono::steady_clock::now() >= question.doubt.deadline) {
        r = make_result(Kind::kOutcomeUnknown, CreditState(),
                        "the connection to PostgreSQL was lost during commit and the outcome could not be "
                        "confirmed in time; re-send the command: it cannot apply twice (a command that did "
                        "land answers as already done: 200 for a registration, 409 for a sell or retire)");
      } else {
        pending = true;
      }
    }
    if (!pending) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(kInDoubtPollIntervalMs));
  }
}

CreditCommandResult execute_credit_command(WorkerConnection& connection, const CreditCommandRequest& request) {
  std::vector<CreditCommandResult> results =
      execute_credit_batch(connection, std::vector<CreditCommandRequest>{request});
  resolve_in_doubt_commits(connection, &results);
  return results.front();
}

}  // namespace ledger

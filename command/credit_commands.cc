#include "command/credit_commands.h"

#include <chrono>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

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
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// Folds a stream into the decider's state. A stream the decider cannot read is a broken invariant.
Status load_state(const std::vector<RecordedEvent>& events, CreditState* state) {
  for (const RecordedEvent& recorded : events) {
    if (recorded.stream_version != state->version + 1) {
      return Status::Internal("stream " + recorded.stream_id + " jumps from version " +
                              std::to_string(state->version) + " to " + std::to_string(recorded.stream_version));
    }
    CreditEvent event;
    Status status = decode_event(recorded.event_type, recorded.data_json, &event);
    if (!status.ok()) {
      return Status::Internal("event " + recorded.event_id + " of stream " + recorded.stream_id +
                              " cannot be decoded: " + status.message());
    }
    *state = evolve(std::move(*state), event);
  }
  return Status::Ok();
}

// After a connection died during COMMIT: wait until the old backend is gone (so its transaction has
// either committed or rolled back for good), then look for our own event id. Bounded by deadline.
enum class CommitOutcome { kCommitted, kNotCommitted, kUnknown };

CommitOutcome resolve_in_doubt_commit(WorkerConnection& connection, int old_backend_pid,
                                      const std::string& event_id) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    Status error;
    pqxx::connection* conn = connection.get(&error);
    if (conn != nullptr) {
      try {
        pqxx::read_transaction tx(*conn);
        const bool old_backend_alive =
            tx.exec_params1("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", old_backend_pid)[0]
                .as<bool>();
        if (!old_backend_alive) {
          return event_exists(tx, event_id) ? CommitOutcome::kCommitted : CommitOutcome::kNotCommitted;
        }
      } catch (const std::exception& e) {
        connection.discard();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return CommitOutcome::kUnknown;
}

}  // namespace

bool VersionPrecondition::matches(std::int64_t current_version) const {
  if (any) return current_version > 0;
  for (std::int64_t v : versions) {
    if (v == current_version) return true;
  }
  return false;
}

CreditCommandResult execute_credit_command(WorkerConnection& connection, const CreditCommandRequest& request) {
  const bool is_register = std::holds_alternative<RegisterCredit>(request.command);
  for (int attempt = 1; attempt <= kCommandAttemptsMax; ++attempt) {
    Status error;
    pqxx::connection* conn = connection.get(&error);
    if (conn == nullptr) return make_result(Kind::kUnavailable, CreditState(), error.message());

    CreditState state;
    std::vector<NewEvent> new_events;
    int backend_pid = 0;
    try {
      pqxx::work tx(*conn);
      // Reads first: the event INSERT must be this transaction's first write (see event_store.h).
      Status loaded = load_state(read_stream(tx, request.credit_id), &state);
      if (!loaded.ok()) return make_result(Kind::kInternal, state, loaded.message());

      if (request.if_match.has_value() && !request.if_match->matches(state.version)) {
        return make_result(Kind::kPreconditionFailed, state,
                           state.version == 0
                               ? std::string("the credit does not exist, so If-Match cannot match")
                               : "the credit is at version " + std::to_string(state.version) +
                                     ", which If-Match does not name");
      }

      Decision decision = decide(request.command, state);
      if (decision.error.has_value()) {
        const bool not_found = decision.error->kind == DecideError::Kind::kNotFound;
        CreditCommandResult result =
            make_result(not_found ? Kind::kNotFound : Kind::kRejected, state, decision.error->detail);
        result.error = std::move(decision.error);
        return result;
      }
      if (decision.events.empty()) return make_result(Kind::kApplied, state, "");  // identical registration

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
        new_events.push_back(std::move(e));
        next = evolve(std::move(next), event);
      }
      Status appended = append_events(tx, new_events);
      if (appended.IsConflict()) {
        tx.abort();
        continue;  // a concurrent writer won this version: decide again against fresh state
      }
      if (!appended.ok()) return make_result(Kind::kInternal, state, appended.message());
      backend_pid = conn->backendpid();
      tx.commit();
      return make_result(is_register && state.version == 0 ? Kind::kCreated : Kind::kApplied, next, "");
    } catch (const pqxx::in_doubt_error& e) {
      connection.discard();
      switch (resolve_in_doubt_commit(connection, backend_pid, new_events.front().event_id)) {
        case CommitOutcome::kCommitted: {
          CreditState next = state;
          for (const NewEvent& e2 : new_events) {
            CreditEvent event;
            if (decode_event(e2.event_type, e2.data_json, &event).ok()) next = evolve(std::move(next), event);
          }
          return make_result(is_register && state.version == 0 ? Kind::kCreated : Kind::kApplied, next, "");
        }
        case CommitOutcome::kNotCommitted:
          return make_result(Kind::kUnavailable, state,
                             "the connection to PostgreSQL was lost during commit; the command was not applied");
        case CommitOutcome::kUnknown:
          return make_result(Kind::kUnavailable, state,
                             "the connection to PostgreSQL was lost during commit and the outcome could not be "
                             "confirmed in time; re-send the command: it cannot apply twice");
      }
    } catch (const std::exception& e) {
      if (is_connection_failure(e)) {
        connection.discard();
        return make_result(Kind::kUnavailable, state, std::string("lost the connection to PostgreSQL: ") + e.what());
      }
      if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
        // statement_timeout, lock_timeout, idle timeout: nothing committed, and worth retrying later.
        if (sql->sqlstate() == "57014" || sql->sqlstate() == "55P03" || sql->sqlstate() == "25P03") {
          return make_result(Kind::kUnavailable, state, std::string("PostgreSQL timed out: ") + e.what());
        }
      }
      return make_result(Kind::kInternal, state, e.what());
    }
  }
  return make_result(Kind::kContended, CreditState(),
                     "the credit was changed concurrently " + std::to_string(kCommandAttemptsMax) +
                         " times while this command was being decided; retry");
}

}  // namespace ledger

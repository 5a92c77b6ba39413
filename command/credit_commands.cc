#include "command/credit_commands.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "auth/access_events.h"
#include "command/credit_batch.h"
#include "command/text_rules.h"
#include "eventstore/database.h"
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

std::atomic<std::int64_t> idempotency_ttl_s{kIdempotencyTtlDefaultS};

// `items` sorted, each once: the parameter of an `= ANY($1::text[])` lookup.
std::vector<std::string> sorted_unique(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  return items;
}

// Reads what decide_batch needs besides the streams: which buyers are known accounts, which registries are
// bound to registering issuers, and the stored answers of idempotency keys. Claims only when asked
// (`with_claims`): after a conflict.
BatchFacts read_facts(pqxx::transaction_base& tx, const std::vector<CreditCommandRequest>& requests,
                      const std::vector<std::string>& keys, bool with_claims) {
  BatchFacts facts;
  std::vector<std::string> buyers, issuers, idempotency_accounts, idempotency_keys;
  for (const CreditCommandRequest& r : requests) {
    if (const auto* sell = std::get_if<SellCredit>(&r.command)) buyers.push_back(sell->buyer);
    if (std::holds_alternative<RegisterCredit>(r.command) && r.actor.role == Role::kIssuer) {
      issuers.push_back(r.actor.account);
    }
    if (r.idempotency.has_value()) {
      idempotency_accounts.push_back(r.actor.account);
      idempotency_keys.push_back(r.idempotency->key);
    }
  }
  if (!buyers.empty()) {
    for (const auto& row : tx.exec_params("SELECT DISTINCT account FROM api_key_changes"
                                          " WHERE change = 'created' AND account = ANY($1::text[])",
                                          text_array_literal(sorted_unique(buyers)))) {
      facts.known_accounts.insert(row[0].as<std::string>());
    }
  }
  if (!issuers.empty()) {
    for (const auto& row : tx.exec_params("SELECT account, registry FROM registry_bindings"
                                          " WHERE account = ANY($1::text[])",
                                          text_array_literal(sorted_unique(issuers)))) {
      facts.bindings.emplace(row[0].as<std::string>(), ascii_lowercase(row[1].as<std::string>()));
    }
  }
  if (!idempotency_keys.empty()) {
    for (const auto& row : tx.exec_params(
             "SELECT k.account, k.idempotency_key, k.request_sha256, k.response_status, k.response_body,"
             " k.location, k.etag FROM unnest($1::text[], $2::text[]) AS w(account, idempotency_key)"
             " JOIN idempotency_keys k USING (account, idempotency_key)"
             " WHERE k.created_at > now() - make_interval(secs => $3)",
             text_array_literal(idempotency_accounts), text_array_literal(idempotency_keys),
             static_cast<double>(idempotency_ttl_s.load()))) {
      StoredIdempotency stored;
      stored.request_sha256 = row[2].as<std::string>();
      stored.response.status = row[3].as<int>();
      stored.response.body = row[4].as<std::string>();
      stored.response.location = row[5].as<std::string>();
      stored.response.etag = row[6].as<std::string>();
      facts.idempotency.emplace(std::make_pair(row[0].as<std::string>(), row[1].as<std::string>()), std::move(stored));
    }
  }
  if (with_claims) {
    std::vector<std::string> wanted_keys;
    std::vector<StreamRangeClaim> wanted_units;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const auto* reg = std::get_if<RegisterCredit>(&requests[i].command);
      if (reg == nullptr) continue;
      wanted_keys.push_back(keys[i]);
      if (std::optional<std::string> numbering = unit_numbering(*reg)) {
        wanted_units.push_back(StreamRangeClaim{kUnitsClaimKind, *numbering, reg->attributes.block_start,
                                                reg->attributes.block_end, requests[i].credit_id});
      }
    }
    for (StreamClaim& claim : read_claims(tx, kConfusableClaimKind, wanted_keys)) {
      facts.confusable_holders.emplace(std::move(claim.key), std::move(claim.stream_id));
    }
    facts.units_held = read_overlapping_range_claims(tx, kUnitsClaimKind, wanted_units);
    if (!facts.units_held.empty()) {
      std::vector<std::string> holders;
      for (const StreamRangeClaim& claim : facts.units_held) holders.push_back(claim.stream_id);
      for (auto& [id, stream] : load_states(read_streams_from_snapshots(tx, sorted_unique(holders)))) {
        facts.units_holders.emplace(id, std::move(stream.state));
      }
    }
  }
  return facts;
}

// Stores the batch's idempotency answers; an unexpired answer already stored under a key (a concurrent
// request with it won) is a Conflict.
Status store_idempotency(pqxx::transaction_base& tx, const std::vector<IdempotencyRow>& rows) {
  if (rows.empty()) return Status::Ok();
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  auto field = [&writer](const char* name, const std::string& value) {
    writer.Key(name);
    writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  writer.StartArray();
  for (const IdempotencyRow& row : rows) {
    writer.StartObject();
    field("account", row.account);
    field("key", row.key);
    field("sha", row.request_sha256);
    writer.Key("status");
    writer.Int(row.response.status);
    field("body", row.response.body);
    field("location", row.response.location);
    field("etag", row.response.etag);
    writer.EndObject();
  }
  writer.EndArray();
  const pqxx::result written = tx.exec_params(
      "INSERT INTO idempotency_keys AS k (account, idempotency_key, request_sha256, response_status, response_body,"
      " location, etag)"
      " SELECT x->>'account', x->>'key', x->>'sha', (x->>'status')::integer, x->>'body', x->>'location', x->>'etag'"
      " FROM jsonb_array_elements($1::jsonb) AS rows(x)"
      " ON CONFLICT (account, idempotency_key) DO UPDATE SET request_sha256 = EXCLUDED.request_sha256,"
      " response_status = EXCLUDED.response_status, response_body = EXCLUDED.response_body,"
      " location = EXCLUDED.location, etag = EXCLUDED.etag, created_at = now()"
      " WHERE k.created_at <= now() - make_interval(secs => $2)",
      std::string(buffer.GetString(), buffer.GetSize()), static_cast<double>(idempotency_ttl_s.load()));
  if (written.affected_rows() != rows.size()) return Status::Conflict("an idempotency key was stored concurrently");
  return Status::Ok();
}

// At most once a minute per process: deletes answers older than the TTL.
void sweep_idempotency_keys(WorkerConnection& connection) {
  static std::atomic<std::int64_t> last_sweep_s{0};
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_sweep_s.load();
  if (now_s - last < 60 || !last_sweep_s.compare_exchange_strong(last, now_s)) return;
  Status error;
  pqxx::connection* conn = connection.get(&error);
  if (conn == nullptr) return;
  try {
    pqxx::nontransaction tx(*conn);
    tx.exec_params("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
                   static_cast<double>(idempotency_ttl_s.load()));
  } catch (const std::exception&) {
    connection.discard();  // the next batch reconnects; the sweep is retried a minute later
  }
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

void set_idempotency_ttl_s(std::int64_t ttl_s) { idempotency_ttl_s.store(ttl_s); }

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
  sweep_idempotency_keys(connection);
  bool reconnected = false;  // a pooled session found dead before COMMIT is replaced once, not reported
  const std::vector<std::string> keys = confusable_keys(requests);
  const bool any_registration = std::any_of(requests.begin(), requests.end(), [](const CreditCommandRequest& r) {
    return std::holds_alternative<RegisterCredit>(r.command);
  });
  // Claims are not read before the first attempt: a new credit's lookalike or overlap is rare, and the
  // claims' constraints refuse it anyway (a Conflict). After any conflict the batch is decided again once
  // with the claims read, so such a credit gets its 409 without splitting the batch into a transaction per
  // command.
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
      // The access stream is no credit (load_states skips it): not worth reading its every key change.
      for (const CreditCommandRequest& r : requests) {
        if (!is_access_stream(r.credit_id)) stream_ids.push_back(r.credit_id);
      }
      const BatchFacts facts = read_facts(tx, requests, keys, read_claims_first);
      batch = decide_batch(requests, keys, load_states(read_streams_from_snapshots(tx, stream_ids)), facts);
      if (batch.events.empty() && batch.idempotency.empty()) return batch.results;  // refusals and no-ops only

      Status appended = append_events(tx, batch.events, batch.extras);
      if (appended.ok()) appended = store_idempotency(tx, batch.idempotency);
      if (appended.IsConflict()) {
        tx.abort();
        if (!read_claims_first && any_registration) {
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
      if (batch.events.empty()) {
        // Only idempotency answers were being stored: nothing executed either way, so a retry is safe.
        for (CreditCommandResult& result : batch.results) {
          if (result.kind == Kind::kReplayed || result.kind == Kind::kIdempotencyKeyReused) continue;
          result = make_result(Kind::kUnavailable, CreditState(),
                               "the connection to PostgreSQL was lost during commit; retry");
        }
        return batch.results;
      }
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
                        "confirmed in time; re-send the command with the same Idempotency-Key to learn the truth "
                        "(without one, a registration that did land answers 200, but a sell, retire or cancel "
                        "could apply again)");
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

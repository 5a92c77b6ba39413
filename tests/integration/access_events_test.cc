// Key changes and registry bindings as events (migration 0010, auth/access_events.h): every row of
// api_key_changes and registry_binding_changes appends one event to the access stream in its own transaction
// (right type and data, no secret, contiguous versions, also under concurrent changes), only those triggers
// can write the stream, the credit side passes over it (the projector does not halt, a rebuild gives the same
// read model, commands and reads on its id answer 404), and migrating a database with earlier changes gives
// them their events.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "auth/access_events.h"
#include "eventstore/migrator.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

using namespace std::chrono_literals;

const std::string kAccessStream(kAccessStreamId);

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

// Checks on the access stream, against whichever database `conninfo` names (the fixture's, or one a test
// migrates itself).
class AccessStream {
 public:
  explicit AccessStream(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  std::int64_t version() const {
    return query_int(conninfo_, "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = '" +
                                    kAccessStream + "'");
  }
  std::int64_t count() const {
    return query_int(conninfo_, "SELECT count(*) FROM events WHERE stream_id = '" + kAccessStream + "'");
  }
  // Versions are exactly 1..count(): no gap, no duplicate.
  bool contiguous() const {
    return query_scalar(conninfo_, "SELECT (count(*) = coalesce(max(stream_version), 0) AND"
                                   " count(DISTINCT stream_version) = count(*))::text FROM events"
                                   " WHERE stream_id = '" + kAccessStream + "'") == "true";
  }
  // The event at `version` has this type, exactly this data, and metadata naming its change row of `source`.
  ::testing::AssertionResult EventIs(std::int64_t version, const std::string& type, const std::string& data_json,
                                     const std::string& source) const {
    const std::string where = " FROM events WHERE stream_id = '" + kAccessStream +
                              "' AND stream_version = " + std::to_string(version);
    if (query_int(conninfo_, "SELECT count(*)" + where) != 1) {
      return ::testing::AssertionFailure() << "no access event at version " << version;
    }
    const std::string table = source == "api_key_changes" ? "api_key_changes" : "registry_binding_changes";
    const std::string ok = query_scalar(
        conninfo_, "SELECT (event_type = '" + type + "' AND data = '" + data_json +
                       "'::jsonb AND metadata ->> 'source' = '" + source +
                       "' AND jsonb_typeof(metadata -> 'change_id') = 'number'"
                       " AND metadata - ARRAY['change_id', 'source'] = '{}'::jsonb"
                       " AND EXISTS (SELECT 1 FROM " + table +
                       " c WHERE c.change_id = (metadata ->> 'change_id')::bigint))::text" + where);
    if (ok == "true") return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "version " << version << " is "
           << query_scalar(conninfo_, "SELECT event_type || ' ' || data::text || ' ' || metadata::text" + where)
           << ", expected " << type << " " << data_json << " from " << source;
  }

 private:
  std::string conninfo_;
};

class AccessEvents : public LedgerFixture {
 protected:
  AccessEvents() { start_services_in_setup_ = false; }

  AccessStream stream() const { return AccessStream(database_url()); }
  static std::string key_id(const std::string& key) { return key.substr(4, 16); }

  // `keys create` with an explicit --actor; the key it prints.
  std::string CreateKeyAs(const std::string& account, const std::string& role, const std::string& actor) {
    const RunResult created = run_ledger({"keys", "create", "--account", account, "--role", role, "--actor", actor});
    EXPECT_TRUE(created.ok()) << created.describe();
    std::string key = created.out;
    if (!key.empty() && key.back() == '\n') key.pop_back();
    return key;
  }
};

class AccessEventsWithServices : public AccessEvents {
 protected:
  AccessEventsWithServices() { start_services_in_setup_ = true; }

  std::string ReadModel() {
    return query_scalar("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY id), '') FROM credit_records t") +
           "\n--\n" +
           query_scalar("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY credit_id, version), '')"
                        " FROM credit_history t");
  }
  std::int64_t checkpoint_position() {
    return query_int("SELECT position FROM projection_checkpoints WHERE projection_name = 'credit_records'");
  }
  std::int64_t last_position() { return query_int("SELECT max(position) FROM events"); }
};

TEST_F(AccessEvents, EachKeyAndBindingChangeAppendsItsEventInItsOwnTransaction) {
  // SetUp's admin key is already there, as version 1.
  ASSERT_EQ(stream().count(), 1);
  ASSERT_TRUE(stream().EventIs(1, "API_KEY_CREATED",
                               R"({"key_id":")" + key_id(admin_key_) +
                                   R"(","account":"test-admin","role":"admin","changed_by":"ledger_owner","actor":)" +
                                   query_scalar("SELECT to_jsonb(actor)::text FROM api_key_changes WHERE key_id = '" +
                                                key_id(admin_key_) + "'") + "}",
                               "api_key_changes"));

  const std::string key = CreateKeyAs("Alice", "issuer", "alice-ops");
  ASSERT_FALSE(key.empty());
  EXPECT_TRUE(stream().EventIs(2, "API_KEY_CREATED",
                               R"({"key_id":")" + key_id(key) +
                                   R"(","account":"Alice","role":"issuer","changed_by":"ledger_owner","actor":"alice-ops"})",
                               "api_key_changes"));
  // No secret, no hash: neither the key's secret part nor its SHA-256 appears anywhere in the event.
  EXPECT_EQ(query_int("SELECT count(*) FROM events e, api_key_changes c WHERE e.stream_id = '" + kAccessStream +
                      "' AND c.key_id = '" + key_id(key) + "' AND c.change = 'created' AND (position(encode("
                      "c.secret_sha256, 'hex') IN e.data::text || e.metadata::text) > 0 OR position('" +
                      key.substr(20) + "' IN e.data::text || e.metadata::text) > 0)"),
            0);
  // The event committed with its change: the same transaction wrote both.
  EXPECT_EQ(query_scalar("SELECT ((e.transaction_id::text::numeric % 4294967296)::bigint = c.xmin::text::bigint)::text"
                         " FROM events e JOIN api_key_changes c ON c.change_id = (e.metadata ->> 'change_id')::bigint"
                         " WHERE e.stream_id = '" + kAccessStream + "' AND e.stream_version = 2"),
            "true");

  const RunResult revoked = run_ledger({"keys", "revoke", key_id(key), "--actor", "bob-ops"});
  ASSERT_TRUE(revoked.ok()) << revoked.describe();
  EXPECT_TRUE(stream().EventIs(3, "API_KEY_REVOKED",
                               R"({"key_id":")" + key_id(key) + R"(","changed_by":"ledger_owner","actor":"bob-ops"})",
                               "api_key_changes"));
  // Revoking again changes nothing, and revoking an unknown key fails: neither appends.
  ASSERT_TRUE(run_ledger({"keys", "revoke", key_id(key)}).ok());
  EXPECT_FALSE(run_ledger({"keys", "revoke", "00000000000000ff"}).ok());
  EXPECT_EQ(stream().count(), 3);

  const RunResult bound = run_ledger({"registries", "bind", "--account", "Alice", "--registry", "Verra", "--actor", "carol"});
  ASSERT_TRUE(bound.ok()) << bound.describe();
  EXPECT_TRUE(stream().EventIs(4, "REGISTRY_BOUND",
                               R"({"account":"Alice","registry":"Verra","changed_by":"ledger_owner","actor":"carol"})",
                               "registry_binding_changes"));
  ASSERT_TRUE(run_ledger({"registries", "bind", "--account", "Alice", "--registry", "verra"}).ok());
  EXPECT_EQ(stream().count(), 4) << "a binding already in force is no change";
  const RunResult unbound = run_ledger({"registries", "unbind", "--account", "Alice", "--registry", "Verra", "--actor", "carol"});
  ASSERT_TRUE(unbound.ok()) << unbound.describe();
  EXPECT_TRUE(stream().EventIs(5, "REGISTRY_UNBOUND",
                               R"({"account":"Alice","registry":"Verra","changed_by":"ledger_owner","actor":"carol"})",
                               "registry_binding_changes"));

  // A change without --actor (straight SQL) has a null actor; one that rolls back leaves no event.
  exec_sql("INSERT INTO registry_binding_changes (account, registry, change) VALUES ('Dave', 'Gold', 'bound')");
  EXPECT_TRUE(stream().EventIs(6, "REGISTRY_BOUND",
                               R"({"account":"Dave","registry":"Gold","changed_by":")" +
                                   query_scalar("SELECT session_user") + R"(","actor":null})",
                               "registry_binding_changes"));
  {
    pqxx::connection conn(role_url(kOwnerRole));
    pqxx::work tx(conn);
    tx.exec("INSERT INTO api_key_changes (key_id, change, account, role, secret_sha256)"
            " VALUES ('00000000000000ee', 'created', 'Gone', 'holder', sha256('s'))");
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM events WHERE stream_id = '" + kAccessStream + "'")[0].as<int>(), 7)
        << "appended in the change's transaction";
    tx.abort();
  }
  EXPECT_EQ(stream().count(), 6);
  EXPECT_TRUE(stream().contiguous());
  EXPECT_EQ(stream().count(), query_int("SELECT (SELECT count(*) FROM api_key_changes) +"
                                        " (SELECT count(*) FROM registry_binding_changes)"))
      << "one event per change row";
  EXPECT_EQ(count_events(), 0) << "no credit event";
}

// Eight `keys create` processes at once: all succeed, versions 1..n without gap or duplicate.
TEST_F(AccessEvents, ConcurrentKeyCreatesAllSucceedWithContiguousVersions) {
  const std::int64_t before = stream().version();
  constexpr int kProcesses = 8;
  std::vector<std::unique_ptr<Process>> processes;
  Environment env{{"DATABASE_URL", role_url(kOwnerRole)}};
  for (int i = 0; i < kProcesses; ++i) {
    const std::string base = work_dir() + "/keys-create-" + std::to_string(i);
    processes.push_back(Process::start(ledger_binary(),
                                       {"keys", "create", "--account", "Concurrent " + std::to_string(i), "--role",
                                        "holder"},
                                       env, base + ".out", base + ".err"));
  }
  for (int i = 0; i < kProcesses; ++i) {
    const std::optional<int> status = processes[i]->wait_for(60s);
    ASSERT_TRUE(status.has_value()) << "keys create " << i << " still running";
    EXPECT_TRUE(exited_zero(*status)) << "keys create " << i << ": " << describe_wait_status(*status) << "\n"
                                      << processes[i]->stderr_text();
  }
  EXPECT_EQ(stream().version(), before + kProcesses);
  EXPECT_TRUE(stream().contiguous());
  EXPECT_EQ(query_int("SELECT count(DISTINCT data ->> 'account') FROM events WHERE stream_id = '" + kAccessStream +
                      "' AND data ->> 'account' LIKE 'Concurrent %'"),
            kProcesses);
}

// Eight sessions that each hold their change open a while, all at once: they queue, each gets the next
// version, and the transaction ids (the projector's order) agree with the versions.
TEST_F(AccessEvents, ConcurrentChangesOnTheirOwnConnectionsQueueInVersionOrder) {
  const std::int64_t before = stream().version();
  constexpr int kSessions = 8;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kSessions);
  std::atomic<int> ready{0};
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      try {
        pqxx::connection conn(role_url(kOwnerRole));
        ++ready;
        while (ready.load() < kSessions) std::this_thread::yield();
        pqxx::work tx(conn);
        if (i % 2 == 0) {
          tx.exec("INSERT INTO api_key_changes (key_id, change, account, role, secret_sha256) VALUES"
                  " (substr(md5(random()::text), 1, 16), 'created', 'Session " + std::to_string(i) +
                  "', 'holder', sha256(random()::text::bytea))");
        } else {
          tx.exec("INSERT INTO registry_binding_changes (account, registry, change) VALUES ('Session " +
                  std::to_string(i) + "', 'Verra', 'bound')");
        }
        tx.exec("SELECT pg_sleep(0.05)");
        tx.commit();
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kSessions; ++i) EXPECT_EQ(errors[i], "") << "session " << i;
  EXPECT_EQ(stream().version(), before + kSessions);
  EXPECT_TRUE(stream().contiguous());
  // Later versions have later transaction ids and positions.
  EXPECT_EQ(query_int("SELECT count(*) FROM events a JOIN events b ON b.stream_id = a.stream_id"
                      " AND b.stream_version = a.stream_version + 1 WHERE a.stream_id = '" + kAccessStream +
                      "' AND (b.transaction_id <= a.transaction_id OR b.position <= a.position)"),
            0);
}

// Nobody but the change triggers writes the stream: not serve (which may append credit events), not an
// auditor; the functions and the lock are closed to them; the data shapes hold even for the owner.
TEST_F(AccessEvents, OnlyTheChangeTriggersWriteTheAccessStream) {
  const std::string forged = "INSERT INTO events (stream_id, stream_version, event_id, event_type, data) VALUES ('" +
                             kAccessStream + "', " + std::to_string(stream().version() + 1) +
                             ", gen_random_uuid(), 'API_KEY_CREATED', '{\"key_id\":\"00000000000000aa\","
                             "\"account\":\"Mallory\",\"role\":\"admin\",\"changed_by\":\"x\",\"actor\":null}')";
  const std::string auditor = LoginIn("ledger_auditor");
  for (const std::string& role : {std::string(kServeRole), std::string(kProjectRole), auditor}) {
    SCOPED_TRACE(role);
    EXPECT_TRUE(contains(ErrorAs(role, forged), "permission denied") || contains(ErrorAs(role, forged), "access stream"))
        << ErrorAs(role, forged);
    EXPECT_TRUE(contains(ErrorAs(role, "SELECT public.access_stream_append('API_KEY_REVOKED', "
                                       "'{\"key_id\":\"00000000000000aa\",\"changed_by\":\"x\",\"actor\":null}', '{}')"),
                         "permission denied"));
    EXPECT_TRUE(contains(ErrorAs(role, "SELECT public.access_stream_take_lock()"), "permission denied"));
    EXPECT_TRUE(contains(ErrorAs(role, "LOCK TABLE public.access_stream_lock IN EXCLUSIVE MODE"), "permission denied"));
    EXPECT_TRUE(contains(ErrorAs(role, "SELECT * FROM public.access_stream_lock FOR UPDATE"), "permission denied"));
  }
  EXPECT_TRUE(contains(ErrorAs(kServeRole, forged), "access stream")) << "serve's INSERT grant is not enough";
  // Even the owner cannot put a secret into an event, or mix credit and access events.
  const std::string next = std::to_string(stream().version() + 1);
  EXPECT_TRUE(contains(ErrorAs("", "INSERT INTO events (stream_id, stream_version, event_id, event_type, data) VALUES ('" +
                                       kAccessStream + "', " + next + ", gen_random_uuid(), 'API_KEY_CREATED',"
                                       " '{\"key_id\":\"k\",\"account\":\"a\",\"role\":\"admin\",\"changed_by\":\"x\","
                                       "\"actor\":null,\"secret_sha256\":\"00\"}')"),
                       "events_api_key_created_data_shape"));
  EXPECT_TRUE(contains(ErrorAs("", "INSERT INTO events (stream_id, stream_version, event_id, event_type, data) VALUES ('" +
                                       kAccessStream + "', " + next + ", gen_random_uuid(), 'SOLD', '{\"buyer\":\"b\"}')"),
                       "events_access_stream_holds_access_events"));
  EXPECT_TRUE(contains(ErrorAs("", "INSERT INTO events (stream_id, stream_version, event_id, event_type, data) VALUES ("
                                   "gen_random_uuid(), 1, gen_random_uuid(), 'REGISTRY_BOUND', '{\"account\":\"a\","
                                   "\"registry\":\"r\",\"changed_by\":\"x\",\"actor\":null}')"),
                       "events_access_stream_holds_access_events"));
  EXPECT_TRUE(stream().contiguous());
}

// The projector passes over key and binding events wherever they fall in the log, and a rebuild gives the
// read model the projector built.
TEST_F(AccessEventsWithServices, TheProjectorPassesOverAccessEventsAndARebuildAgrees) {
  const std::string issuer = create_issuer_key("Issuer A", {"Verra"});
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(register_new("ACCESS-" + std::to_string(i)));
    create_key("Between " + std::to_string(i), "holder");  // key events between the credit events
  }
  ASSERT_EQ(sell(ids[0], "Buyer 0").status, 200);  // the buyer's account is a key change too
  ASSERT_EQ(sell(ids[1], "Buyer 1").status, 200);
  ASSERT_EQ(retire(ids[1], R"({"beneficiary":"B","reason":"offset"})").status, 200);
  ASSERT_TRUE(run_ledger({"keys", "revoke", key_id(issuer)}).ok());
  ASSERT_GT(stream().count(), 5);

  ASSERT_TRUE(wait_until_projected()) << "events_applied " << events_applied() << " of " << count_events() << "\n"
                                      << projector_->stderr_text();
  // The log ends with access events: the checkpoint still reaches its end.
  EXPECT_TRUE(wait_until([&] { return checkpoint_position() == last_position(); }, kProjectionTimeout))
      << "checkpoint at " << checkpoint_position() << ", log ends at " << last_position();
  EXPECT_EQ(events_applied(), count_events()) << "events_applied counts credit events only";
  EXPECT_TRUE(projector_->running()) << projector_->stderr_text();
  EXPECT_EQ(query_scalar("SELECT coalesce(halted_reason, '') FROM projection_checkpoints"), "");
  EXPECT_EQ(http("GET", "/healthz").status, 200);
  EXPECT_EQ(divergent_streams(), 0);
  EXPECT_EQ(query_int("SELECT count(*) FROM credit_records WHERE id = '" + kAccessStream + "'") +
                query_int("SELECT count(*) FROM credit_history WHERE credit_id = '" + kAccessStream + "'"),
            0);
  const HttpResponse sold = get_record_eventually(ids[0], 2);
  ASSERT_EQ(sold.status, 200) << sold.body;
  EXPECT_EQ(string_member(parse_json(sold.body), "status"), "SOLD");
  // Credits registered after key events still project.
  create_key("Late", "holder");
  const std::string late = register_new("ACCESS-LATE");
  EXPECT_EQ(get_record_eventually(late, 1).status, 200);
  ASSERT_TRUE(wait_until_projected());
  ASSERT_TRUE(wait_until([&] { return checkpoint_position() == last_position(); }, kProjectionTimeout));

  const std::string projected = ReadModel();
  const std::int64_t applied = events_applied();
  ASSERT_TRUE(exited_zero(stop_projector()));
  const RunResult rebuilt = run_ledger({"rebuild"}, 120s);
  ASSERT_TRUE(rebuilt.ok()) << "carbon-ledger rebuild " << rebuilt.describe();
  EXPECT_TRUE(contains(rebuilt.err, "replayed " + std::to_string(applied) + " events into")) << rebuilt.err;
  EXPECT_TRUE(contains(rebuilt.err, "(and passed over " + std::to_string(stream().count()) + " of the access stream)"))
      << rebuilt.err;
  EXPECT_EQ(ReadModel(), projected) << "the rebuilt read model differs from the projected one";
  EXPECT_EQ(events_applied(), applied);
  EXPECT_EQ(checkpoint_position(), last_position());

  start_projector();
  create_key("After Rebuild", "holder");
  const std::string after = register_new("ACCESS-AFTER");
  EXPECT_EQ(get_record_eventually(after, 1).status, 200);
  ASSERT_TRUE(wait_until_projected());
  EXPECT_EQ(divergent_streams(), 0);
}

// The access stream's id is no credit: every command and read on it is "not found", and nothing is appended.
TEST_F(AccessEventsWithServices, CommandsAndReadsOnTheAccessStreamIdAreNotFound) {
  ensure_account("Buyer");
  ASSERT_GT(stream().count(), 1);
  const std::int64_t events_before = query_int("SELECT count(*) FROM events");
  const std::string path = "/records/" + kAccessStream;
  const HttpResponse sold = http("POST", path + "/sell", R"({"buyer":"Buyer"})");
  EXPECT_TRUE(IsProblem(sold, 404)) << sold.status << " " << sold.body;
  const HttpResponse retired = http("POST", path + "/retire", R"({"beneficiary":"B","reason":"offset"})");
  EXPECT_TRUE(IsProblem(retired, 404)) << retired.status << " " << retired.body;
  const HttpResponse cancelled = http("POST", path + "/cancel", R"({"reason":"r"})");
  EXPECT_TRUE(IsProblem(cancelled, 404)) << cancelled.status << " " << cancelled.body;
  const HttpResponse got = http("GET", path);
  EXPECT_TRUE(IsProblem(got, 404)) << got.status << " " << got.body;
  const HttpResponse upper = http("POST", "/records/6B657973-0000-4000-8000-000000000000/sell", R"({"buyer":"Buyer"})");
  EXPECT_TRUE(IsProblem(upper, 404)) << upper.status << " " << upper.body;
  EXPECT_EQ(query_int("SELECT count(*) FROM events"), events_before);
  EXPECT_EQ(http("GET", "/healthz").status, 200);
}

// A database migrated up to 0009, with key and binding changes made then, gets their events from 0010:
// keys first, then bindings, each in change_id order; new changes continue the stream.
TEST_F(AccessEvents, MigratingAnEarlierDatabaseAppendsItsChangesAsEvents) {
  TestDatabase older(*admin_);
  std::vector<Migration> up_to_0009;
  for (const Migration& m : embedded_migrations()) {
    if (m.name < "0010") up_to_0009.push_back(m);
  }
  ASSERT_EQ(up_to_0009.size(), 9u);
  std::vector<std::string> log;
  const Status migrated = ledger::migrate(older.conninfo_as(kOwnerRole), up_to_0009, &log);
  ASSERT_TRUE(migrated.ok()) << migrated.ToString();
  const std::string owner_url = older.conninfo_as(kOwnerRole);
  ledger::test::exec_sql(owner_url,
           "INSERT INTO api_key_changes (key_id, change, account, role, secret_sha256, actor) VALUES"
           " ('00000000000000a1', 'created', 'Old One', 'issuer', sha256('one'), 'ops');"
           "INSERT INTO registry_binding_changes (account, registry, change, actor) VALUES ('Old One', 'Verra', 'bound', 'ops');"
           "INSERT INTO api_key_changes (key_id, change, account, role, secret_sha256) VALUES"
           " ('00000000000000a2', 'created', 'Old Two', 'holder', sha256('two'));"
           "INSERT INTO api_key_changes (key_id, change, actor) VALUES ('00000000000000a1', 'revoked', 'ops');"
           "INSERT INTO registry_binding_changes (account, registry, change) VALUES ('Old One', 'Verra', 'unbound');");
  ASSERT_EQ(ledger::test::query_int(older.conninfo(), "SELECT count(*) FROM events"), 0);

  const RunResult applied = older.migrate(work_dir());
  ASSERT_TRUE(applied.ok()) << applied.describe();
  const AccessStream backfilled(older.conninfo());
  ASSERT_EQ(backfilled.count(), 5);
  EXPECT_TRUE(backfilled.contiguous());
  EXPECT_TRUE(backfilled.EventIs(1, "API_KEY_CREATED",
                                 R"({"key_id":"00000000000000a1","account":"Old One","role":"issuer",)"
                                 R"("changed_by":"ledger_owner","actor":"ops"})",
                                 "api_key_changes"));
  EXPECT_TRUE(backfilled.EventIs(2, "API_KEY_CREATED",
                                 R"({"key_id":"00000000000000a2","account":"Old Two","role":"holder",)"
                                 R"("changed_by":"ledger_owner","actor":null})",
                                 "api_key_changes"));
  EXPECT_TRUE(backfilled.EventIs(3, "API_KEY_REVOKED",
                                 R"({"key_id":"00000000000000a1","changed_by":"ledger_owner","actor":"ops"})",
                                 "api_key_changes"));
  EXPECT_TRUE(backfilled.EventIs(4, "REGISTRY_BOUND",
                                 R"({"account":"Old One","registry":"Verra","changed_by":"ledger_owner","actor":"ops"})",
                                 "registry_binding_changes"));
  EXPECT_TRUE(backfilled.EventIs(5, "REGISTRY_UNBOUND",
                                 R"({"account":"Old One","registry":"Verra","changed_by":"ledger_owner","actor":null})",
                                 "registry_binding_changes"));
  EXPECT_EQ(ledger::test::query_scalar(older.conninfo(), "SELECT string_agg(metadata ->> 'change_id', ',' ORDER BY stream_version)"
                                           " FROM events"),
            ledger::test::query_scalar(older.conninfo(), "SELECT (SELECT string_agg(change_id::text, ',' ORDER BY change_id) FROM"
                                           " api_key_changes) || ',' || (SELECT string_agg(change_id::text, ','"
                                           " ORDER BY change_id) FROM registry_binding_changes)"));

  // Migrating again appends nothing; the next change continues at version 6.
  ASSERT_TRUE(older.migrate(work_dir()).ok());
  EXPECT_EQ(backfilled.count(), 5);
  create_key_with_cli(owner_url, work_dir(), "New", "holder");
  EXPECT_EQ(backfilled.version(), 6);
  EXPECT_TRUE(backfilled.contiguous());
}

}  // namespace
}  // namespace ledger::test

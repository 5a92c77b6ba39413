// The database roles hold whatever SQL their logins type (README, "Database roles"): serve appends events on
// named columns and reads, and cannot write the read model or its checkpoint; project writes the read model
// and cannot append; an auditor reads and changes nothing, and cannot stop the projector; functions cannot be
// fooled by a session's own objects; the event log refuses rows the projector could not decode.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The checkout this test was built from (scripts/bootstrap.sql lives there).
fs::path repo_root() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }

std::string psql_binary() {
  for (const char* candidate : {"/usr/lib/postgresql/15/bin/psql", "/usr/bin/psql"}) {
    if (fs::exists(candidate)) return candidate;
  }
  return "psql";
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

constexpr const char* kStream = "5d6c7b8a-9e0f-4a1b-8c2d-3e4f5a6b7c8d";
constexpr const char* kCreatedData =
    R"({"project_name": "P", "registry": "R", "vintage": 2021, "quantity": 5, "serial_number": "S"})";

std::string insert_event(const std::string& extra_columns, const std::string& extra_values, int version,
                         const std::string& type, const std::string& data) {
  return "INSERT INTO events (stream_id, stream_version, event_id, event_type, data" + extra_columns +
         ") VALUES ('" + kStream + "', " + std::to_string(version) + ", gen_random_uuid(), '" + type + "', '" +
         data + "'" + extra_values + ")";
}

class DatabaseRoles : public LedgerFixture {
 protected:
  DatabaseRoles() { start_services_in_setup_ = false; }

  std::string Error(const std::string& sql) { return ErrorAs(admin_->user, sql); }
};

TEST_F(DatabaseRoles, NoProcessRoleIsASuperuserAndTheOwnerOwnsTheSchema) {
  EXPECT_EQ(query_int("SELECT count(*) FROM pg_roles WHERE rolname IN ('ledger_owner', 'ledger_serve', "
                      "'ledger_project') AND rolcanlogin AND NOT rolsuper AND NOT rolcreaterole AND NOT rolcreatedb"
                      " AND NOT rolbypassrls"),
            3);
  EXPECT_EQ(query_int("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> 'ledger_owner'"), 0);
  EXPECT_EQ(query_scalar("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"),
            "ledger_owner");
}

TEST_F(DatabaseRoles, ServeMayAppendAndReadButNeverChangeEvents) {
  EXPECT_EQ(ErrorAs(kServeRole, insert_event("", "", 1, "CREATED", kCreatedData)), "");
  EXPECT_EQ(ErrorAs(kServeRole, "SELECT count(*) FROM events"), "");
  EXPECT_EQ(ErrorAs(kServeRole, "SELECT count(*) FROM credit_records"), "");
  EXPECT_TRUE(contains(ErrorAs(kServeRole, "UPDATE events SET data = '{}'"), "permission denied"));
  EXPECT_TRUE(contains(ErrorAs(kServeRole, "DELETE FROM events"), "permission denied"));
  EXPECT_TRUE(contains(ErrorAs(kServeRole, "TRUNCATE events"), "permission denied"));
  EXPECT_EQ(count_events(), 1);
}

// Found: serve could choose position (OVERRIDING SYSTEM VALUE), transaction_id and recorded_at itself.
TEST_F(DatabaseRoles, ServeCannotSetPositionTransactionIdOrRecordedAt) {
  const std::string position =
      "INSERT INTO events (position, stream_id, stream_version, event_id, event_type, data) OVERRIDING SYSTEM VALUE"
      " VALUES (1000000, '" + std::string(kStream) + "', 1, gen_random_uuid(), 'CREATED', '" + kCreatedData + "')";
  EXPECT_TRUE(contains(ErrorAs(kServeRole, position), "permission denied")) << ErrorAs(kServeRole, position);
  const std::string xid = insert_event(", transaction_id", ", '5'::xid8", 1, "CREATED", kCreatedData);
  EXPECT_TRUE(contains(ErrorAs(kServeRole, xid), "permission denied")) << ErrorAs(kServeRole, xid);
  const std::string at = insert_event(", recorded_at", ", '2001-01-01'", 1, "CREATED", kCreatedData);
  EXPECT_TRUE(contains(ErrorAs(kServeRole, at), "permission denied")) << ErrorAs(kServeRole, at);
  EXPECT_EQ(count_events(), 0);
}

TEST_F(DatabaseRoles, ServeCannotWriteTheReadModelOrTheCheckpoint) {
  for (const char* sql : {"UPDATE credit_records SET status = 'RETIRED'", "DELETE FROM credit_records",
                          "INSERT INTO credit_records (id, project_name, registry, vintage, quantity, serial_number,"
                          " status, version, last_position, holder, issuer, block_start, block_end, children_count)"
                          " VALUES (gen_random_uuid(), 'p', 'r', 2021, 1, 's', 'CREATED', 1, 1, '', '', 1, 1, 0)",
                          "INSERT INTO credit_history (credit_id, version, event_type, recorded_at, data)"
                          " VALUES (gen_random_uuid(), 1, 'CREATED', 'now', '{}')",
                          "UPDATE projection_checkpoints SET position = 0",
                          "UPDATE projection_checkpoints SET halted_reason = 'x'",
                          "SELECT 1 FROM projection_checkpoints FOR UPDATE"}) {
    EXPECT_TRUE(contains(ErrorAs(kServeRole, sql), "permission denied")) << sql;
  }
}

TEST_F(DatabaseRoles, ProjectWritesTheReadModelButCannotAppendOrChangeEvents) {
  EXPECT_TRUE(contains(ErrorAs(kProjectRole, insert_event("", "", 1, "CREATED", kCreatedData)), "permission denied"));
  EXPECT_TRUE(contains(ErrorAs(kProjectRole, "UPDATE events SET data = '{}'"), "permission denied"));
  EXPECT_TRUE(contains(ErrorAs(kProjectRole, "SELECT * FROM api_keys"), "permission denied"));
  EXPECT_EQ(ErrorAs(kProjectRole, "UPDATE projection_checkpoints SET updated_at = now()"), "");
  EXPECT_EQ(ErrorAs(kProjectRole, "SELECT count(*) FROM events"), "");
}

TEST_F(DatabaseRoles, AuditorReadsEverythingAndChangesNothing) {
  exec_sql(insert_event("", "", 1, "CREATED", kCreatedData));
  const std::string auditor = LoginIn("ledger_auditor");
  for (const char* table : {"events", "credit_records", "projection_checkpoints", "schema_migrations"}) {
    EXPECT_EQ(ErrorAs(auditor, std::string("SELECT count(*) FROM ") + table), "") << table;
  }
  EXPECT_TRUE(contains(ErrorAs(auditor, insert_event("", "", 2, "SOLD", R"({"buyer": "b"})")), "permission denied"));
  EXPECT_TRUE(contains(ErrorAs(auditor, "UPDATE credit_records SET status = 'RETIRED'"), "permission denied"));
  EXPECT_TRUE(contains(ErrorAs(auditor, "DELETE FROM projection_checkpoints"), "permission denied"));
  // No row lock of any strength on the checkpoint: the projector's lock is out of reach.
  for (const char* strength : {"UPDATE", "NO KEY UPDATE", "SHARE", "KEY SHARE"}) {
    EXPECT_TRUE(contains(ErrorAs(auditor, std::string("SELECT 1 FROM projection_checkpoints FOR ") + strength),
                         "permission denied"))
        << strength;
  }
  EXPECT_EQ(count_events(), 1);
}

TEST_F(DatabaseRoles, AuditorSessionsAreBoundedByRoleSettings) {
  const std::string settings = query_scalar(
      "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setdatabase = 0 AND setrole = "
      "'ledger_auditor'::regrole");
  EXPECT_TRUE(contains(settings, "idle_in_transaction_session_timeout=")) << settings;
  EXPECT_TRUE(contains(settings, "statement_timeout=")) << settings;
}

// Found: the gap trigger read `events` through the session's search_path, so a session's TEMP TABLE events
// holding version 41 let it append version 42 to an empty stream.
TEST_F(DatabaseRoles, ATemporaryTableCannotStandInForTheLogInTheGapTrigger) {
  // As the superuser, who may still create temporary tables: the function itself must not be fooled.
  pqxx::connection conn(database_url());
  pqxx::work tx(conn);
  tx.exec("CREATE TEMP TABLE events (stream_id uuid, stream_version bigint)");
  tx.exec("INSERT INTO pg_temp.events VALUES ('" + std::string(kStream) + "', 41)");
  EXPECT_THROW(tx.exec("INSERT INTO public.events (stream_id, stream_version, event_id, event_type, data) VALUES ('" +
                       std::string(kStream) + "', 42, gen_random_uuid(), 'SOLD', '{\"buyer\": \"b\"}')"),
               pqxx::sql_error);
  tx.abort();
  EXPECT_EQ(count_events(), 0);
  // And the service roles get no temporary tables at all.
  EXPECT_TRUE(contains(ErrorAs(kServeRole, "CREATE TEMP TABLE events (stream_id uuid, stream_version bigint)"),
                       "permission denied"));
  EXPECT_TRUE(contains(ErrorAs(kProjectRole, "CREATE TEMP TABLE t (x int)"), "permission denied"));
  // Every function of the schema (any migration's) runs with a pinned search_path, pg_temp last.
  EXPECT_EQ(query_scalar("SELECT coalesce(string_agg(proname, ', '), '') FROM pg_proc p WHERE pronamespace = "
                         "'public'::regnamespace"
                         // Functions of an extension (btree_gist's C support functions) read no tables.
                         " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass"
                         " AND d.objid = p.oid AND d.deptype = 'e')"
                         " AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c "
                         "WHERE c LIKE 'search\\_path=%pg\\_temp' AND c NOT LIKE 'search\\_path=pg\\_temp%')"),
            "")
      << "functions without SET search_path = pg_catalog, public, pg_temp";
}

// The event types and data shapes the projector and the command side decode; anything else is refused by
// the table, for every role.
TEST_F(DatabaseRoles, TheLogRefusesEventsThatCouldNotBeDecoded) {
  struct Case {
    int version;
    const char* type;
    const char* data;
  };
  const Case bad[] = {
      {1, "BURNED", "{}"},
      {1, "created", kCreatedData},
      {1, "CREATED", R"({"registry": "R", "vintage": 2021, "quantity": 5, "serial_number": "S"})"},
      {1, "CREATED", R"({"project_name": 7, "registry": "R", "vintage": 2021, "quantity": 5, "serial_number": "S"})"},
      {1, "CREATED", R"({"project_name": "P", "registry": "R", "vintage": "2021", "quantity": 5, "serial_number": "S"})"},
      {1, "CREATED", R"({"project_name": "P", "registry": "R", "vintage": 2021.0, "quantity": 5, "serial_number": "S"})"},
      {1, "CREATED", R"({"project_name": "P", "registry": "R", "vintage": 2021.5, "quantity": 5, "serial_number": "S"})"},
      {1, "CREATED", R"({"project_name": "P", "registry": "R", "vintage": 3000000000, "quantity": 5, "serial_number": "S"})"},
      {1, "CREATED", R"({"project_name": "P", "registry": "R", "vintage": 2021, "quantity": 1e30, "serial_number": "S"})"},
      {1, "CREATED", R"({"project_name": "P", "registry": "R", "vintage": 2021, "quantity": null, "serial_number": "S"})"},
      {1, "CREATED", R"({"project_name": "P", "registry": "R", "vintage": 2021, "quantity": 5, "serial_number": "S", "issuer": 1})"},
      {1, "SOLD", R"({"buyer": "b"})"},
  };
  for (const Case& c : bad) {
    const std::string error = Error(insert_event("", "", c.version, c.type, c.data));
    EXPECT_TRUE(contains(error, "check constraint")) << c.type << " " << c.data << ": '" << error << "'";
  }
  EXPECT_EQ(count_events(), 0);
  ASSERT_EQ(Error(insert_event("", "", 1, "CREATED", kCreatedData)), "");
  const Case bad_later[] = {
      {2, "CREATED", kCreatedData},
      {2, "SOLD", "{}"},
      {2, "SOLD", R"({"buyer": 5})"},
      {2, "SOLD", R"({"buyer": "b", "seller": ["x"]})"},
      {2, "RETIRED", R"({"reason": 1})"},
      {2, "RETIRED", R"({"beneficiary": {}})"},
  };
  for (const Case& c : bad_later) {
    const std::string error = Error(insert_event("", "", c.version, c.type, c.data));
    EXPECT_TRUE(contains(error, "check constraint")) << c.type << " " << c.data << ": '" << error << "'";
  }
  EXPECT_EQ(count_events(), 1);
  EXPECT_EQ(Error(insert_event("", "", 2, "SOLD", R"({"buyer": "b", "seller": null})")), "");
  EXPECT_EQ(Error(insert_event("", "", 3, "RETIRED", R"({"beneficiary": null})")), "");
  EXPECT_EQ(count_events(), 3);
}

// 0003 was edited (its roles are created only when missing, so ledger_owner can run it): a database that
// applied the original still migrates and serves, and any other difference is still refused.
TEST_F(DatabaseRoles, MigrateAcceptsTheOriginalChecksumOf0003AndNothingElse) {
  exec_sql("UPDATE schema_migrations SET checksum = "
           "'10b1af40b3d506fad39427330c07b400a150427cfdd7c4d3dab8f4d24221f8b6' WHERE name = '0003_database_roles.sql'");
  const RunResult again = run_ledger({"migrate"});
  EXPECT_TRUE(again.ok()) << again.describe();
  start_serve();  // serve checks the schema too
  EXPECT_EQ(http("GET", "/healthz").status, 200);
  stop_serve();
  exec_sql("UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE name = '0003_database_roles.sql'");
  const RunResult refused = run_ledger({"migrate"});
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(contains(refused.err, "edited")) << refused.describe();
}

// The bootstrap is idempotent, makes auditor logins with bounded sessions, and hands a database migrated by
// a superuser before the roles existed to ledger_owner, after which migrate runs as ledger_owner.
TEST_F(DatabaseRoles, BootstrapIsIdempotentAndAdoptsAnOlderSuperuserDatabase) {
  const std::string dbname = db_->name() + "_old";
  const std::string auditor = db_->name() + "_aud";
  login_roles_.push_back(auditor);
  db_->exec_admin("DROP DATABASE IF EXISTS " + dbname + " WITH (FORCE)");
  db_->exec_admin("CREATE DATABASE " + dbname);  // owned by the superuser, as `make run` made them before
  struct DropDb {
    const TestDatabase& db;
    std::string name;
    ~DropDb() {
      try {
        db.exec_admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
      } catch (const std::exception&) {
      }
    }
  } drop{*db_, dbname};
  const std::string superuser_url = admin_->conninfo(dbname);
  const RunResult migrated = run_to_completion(ledger_binary(), {"migrate"}, {{"DATABASE_URL", superuser_url}},
                                               work_dir(), 60s);
  ASSERT_TRUE(migrated.ok()) << migrated.describe();
  ASSERT_EQ(ledger::test::query_scalar(superuser_url, "SELECT tableowner FROM pg_tables WHERE tablename = 'events'"), admin_->user);

  const std::string bootstrap = (repo_root() / "scripts" / "bootstrap.sql").string();
  for (int run = 0; run < 2; ++run) {
    const RunResult boot = run_to_completion(
        psql_binary(),
        {"-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "dbname=" + dbname, "-v", "auditor=" + auditor, "-f", bootstrap,
         admin_->conninfo("postgres")},
        {}, work_dir(), 60s);
    ASSERT_TRUE(boot.ok()) << "bootstrap run " << run << ": " << boot.describe();
  }
  EXPECT_EQ(ledger::test::query_int(superuser_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> "
                                     "'ledger_owner'"),
            0);
  EXPECT_EQ(ledger::test::query_int(superuser_url, "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND "
                                     "proowner <> 'ledger_owner'::regrole"),
            0);
  EXPECT_EQ(ledger::test::query_scalar(superuser_url, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"),
            "ledger_owner");
  const std::string settings = ledger::test::query_scalar(
      superuser_url, "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setdatabase = 0 AND "
                     "setrole = '" + auditor + "'::regrole");
  EXPECT_TRUE(contains(settings, "idle_in_transaction_session_timeout=30s")) << settings;
  EXPECT_TRUE(contains(settings, "statement_timeout=60s")) << settings;
  // The owner's commands work on the adopted database.
  const RunResult as_owner = run_to_completion(ledger_binary(), {"migrate"},
                                               {{"DATABASE_URL", conninfo_as(superuser_url, kOwnerRole)}}, work_dir(), 60s);
  EXPECT_TRUE(as_owner.ok()) << as_owner.describe();
  EXPECT_NO_THROW(create_key_with_cli(conninfo_as(superuser_url, kOwnerRole), work_dir(), "a", "admin"));
}

// ---------------------------------------------------------------------------------------------------------
// The projector, as ledger_project, against rows that got in anyway and logins that try to stop it.

class ProjectorRoles : public DatabaseRoles {
 protected:
  ProjectorRoles() { start_services_in_setup_ = true; }
};

// Found: a row the projector cannot decode stopped it for good, with nothing but a log line.
TEST_F(ProjectorRoles, ARowThatBypassedTheConstraintsHaltsTheProjectorNamingIt) {
  const std::string id = register_new("HALT-1");
  ASSERT_EQ(get_record_eventually(id, 1).status, 200);
  // A superuser drops the constraint (and turns triggers off), as one always can.
  exec_sql("ALTER TABLE events DROP CONSTRAINT events_sold_data_shape");
  {
    pqxx::connection conn(database_url());
    pqxx::work tx(conn);
    tx.exec("SET LOCAL session_replication_role = replica");
    tx.exec("INSERT INTO events (stream_id, stream_version, event_id, event_type, data) VALUES ('" + id +
            "', 2, gen_random_uuid(), 'SOLD', '{\"buyer\": 42}')");
    tx.commit();
  }
  const std::string position = query_scalar("SELECT position FROM events WHERE stream_id = '" + id +
                                            "' AND stream_version = 2");
  const auto status = projector_->wait_for(15s);
  ASSERT_TRUE(status.has_value()) << "the projector kept running past an event it cannot apply";
  EXPECT_FALSE(exited_zero(*status)) << describe_wait_status(*status);
  const std::string log = projector_->stderr_text();
  projector_.reset();  // it was meant to stop
  const std::string reason = query_scalar(
      "SELECT coalesce(halted_reason, '') FROM projection_checkpoints WHERE projection_name = 'credit_records'");
  for (const std::string& text : {log, reason}) {
    EXPECT_TRUE(contains(text, "position " + position)) << text;
    EXPECT_TRUE(contains(text, id)) << text;
    EXPECT_TRUE(contains(text, "version 2")) << text;
    EXPECT_TRUE(contains(text, "buyer")) << text;
  }
  EXPECT_EQ(query_int("SELECT count(*) FROM projection_checkpoints WHERE halted_at IS NOT NULL"), 1);
  // /healthz says so (from serve's background probe), naming the row.
  HttpResponse health;
  EXPECT_TRUE(wait_until([&] {
    health = http("GET", "/healthz");
    return health.status == 503;
  }, 5s)) << health.status << " " << health.body;
  EXPECT_EQ(string_member(parse_json(health.body), "type"), "/problems/projector-halted") << health.body;
  EXPECT_TRUE(contains(health.body, "position " + position)) << health.body;

  // The operator's way out (README): remove the row as a superuser, restart the projector: halt cleared.
  exec_sql("SET LOCAL session_replication_role = replica; DELETE FROM events WHERE position = " + position);
  start_projector();
  EXPECT_TRUE(wait_until([&] {
    return query_scalar("SELECT coalesce(halted_reason, '') FROM projection_checkpoints") .empty();
  }, 10s)) << projector_->stderr_text();
  EXPECT_EQ(sell(id, "Buyer").status, 200);
  EXPECT_EQ(get_record_eventually(id, 2).status, 200);
  EXPECT_TRUE(wait_until([&] { return http("GET", "/healthz").status == 200; }, 5s));
}

// Found: any login could take the projector's advisory lock and freeze the read model.
TEST_F(ProjectorRoles, AnAuditorCannotTakeTheProjectorsLock) {
  const std::string auditor = LoginIn("ledger_auditor");
  pqxx::connection conn(role_url(auditor));
  pqxx::work tx(conn);
  // The old advisory lock key, for the whole test: it no longer means anything to the projector.
  tx.exec("SELECT pg_advisory_lock(" + std::to_string(0x4c65646765724352LL) + ")");
  tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(0x4c65646765724352LL) + ")");
  EXPECT_THROW(tx.exec("SELECT 1 FROM projection_checkpoints FOR KEY SHARE"), pqxx::sql_error);
  tx.abort();
  pqxx::work again(conn);
  again.exec("SELECT count(*) FROM credit_records");  // an auditor's ordinary read stays open meanwhile
  for (int i = 0; i < 3; ++i) {
    const std::string id = register_new("AUD-" + std::to_string(i));
    EXPECT_EQ(get_record_eventually(id, 1).status, 200) << "the projector stopped while an auditor tried";
  }
  again.abort();
}

// Found: `BEGIN; SELECT pg_current_xact_id();` left open by any login froze the read model without a trace.
TEST_F(ProjectorRoles, ALongOpenTransactionIsNamedInTheProjectorsLog) {
  const std::string auditor = LoginIn("ledger_auditor");
  pqxx::connection conn(role_url(auditor) + " application_name=freeze-probe");
  const int pid = conn.backendpid();
  auto tx = std::make_unique<pqxx::work>(conn);
  tx->exec("SELECT pg_current_xact_id()");
  const std::string id = register_new("HELD-1");  // commits after the auditor's xid: behind the horizon
  const bool named = wait_until([&] {
    const std::string log = projector_->stderr_text();
    return contains(log, "held back") && contains(log, "pid " + std::to_string(pid)) && contains(log, auditor) &&
           contains(log, "freeze-probe");
  }, 15s);
  EXPECT_TRUE(named) << "within 15 s the projector log did not name pid " << pid << ", role " << auditor
                     << " and application freeze-probe:\n" << projector_->stderr_text();
  tx->abort();
  tx.reset();
  EXPECT_EQ(get_record_eventually(id, 1).status, 200);
}

}  // namespace
}  // namespace ledger::test

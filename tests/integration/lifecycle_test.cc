// The binary as an operator meets it: --help, migrate, refusing a stale schema, and clean shutdown.
#include <signal.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class Lifecycle : public LedgerFixture {};

class LifecycleNoServices : public LedgerFixture {
 protected:
  LifecycleNoServices() { start_services_in_setup_ = false; }
};

TEST_F(LifecycleNoServices, HelpOfEachCommandPrintsUsageAndExitsZero) {
  for (const std::string command : {"migrate", "serve", "project", "rebuild", "keys"}) {
    SCOPED_TRACE(command);
    // No DATABASE_URL: help must not need a database.
    const RunResult r = run_to_completion(ledger_binary(), {command, "--help"}, {}, work_dir(),
                                          std::chrono::seconds(10));
    EXPECT_TRUE(r.ok()) << r.describe();
    EXPECT_TRUE(contains(r.out + r.err, command)) << "the usage names the command: " << r.describe();
  }
  const RunResult top = run_to_completion(ledger_binary(), {"--help"}, {}, work_dir(), std::chrono::seconds(10));
  EXPECT_TRUE(top.ok()) << top.describe();
}

TEST_F(LifecycleNoServices, UnknownCommandExitsNonZero) {
  const RunResult r = run_to_completion(ledger_binary(), {"frobnicate"}, {{"DATABASE_URL", role_url(kOwnerRole)}},
                                        work_dir(), std::chrono::seconds(10));
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(exited_zero(r.wait_status)) << r.describe();
}

TEST_F(LifecycleNoServices, MigrateIsIdempotent) {
  // SetUp migrated once already.
  const RunResult again = run_ledger({"migrate"});
  EXPECT_TRUE(again.ok()) << again.describe();
  EXPECT_EQ(query_int("SELECT count(*) FROM information_schema.tables WHERE table_name IN "
                      "('events', 'credit_records', 'projection_checkpoints')"),
            3);
  EXPECT_EQ(query_int("SELECT count(*) FROM projection_checkpoints WHERE projection_name = 'credit_records'"), 1);
}

TEST_F(LifecycleNoServices, ServeRefusesToStartOnAnUnmigratedDatabase) {
  TestDatabase blank(*admin_);
  auto serve = Process::start(ledger_binary(), {"serve"},
                              {{"DATABASE_URL", blank.conninfo_as(kServeRole)}, {"LEDGER_HTTP_PORT", "0"}},
                              work_dir() + "/blank.out", work_dir() + "/blank.err");
  const auto status = serve->wait_for(kStartTimeout);
  ASSERT_TRUE(status.has_value()) << "serve kept running on a database without the schema; stderr:\n"
                                  << serve->stderr_text();
  EXPECT_FALSE(exited_zero(*status)) << describe_wait_status(*status);
  EXPECT_TRUE(contains(serve->stderr_text(), "migrate")) << "the message says to migrate: " << serve->stderr_text();
  EXPECT_FALSE(contains(serve->stderr_text(), "listening on")) << serve->stderr_text();
}

TEST_F(LifecycleNoServices, ServeRefusesToStartWhenTheSchemaIsBehind) {
  // A database migrated by an older binary: the last migration is missing.
  TestDatabase older(*admin_);
  ASSERT_TRUE(older.migrate(work_dir()).ok());
  // schema_migrations' columns are the migrator's business: remove its newest row by physical position.
  ledger::test::exec_sql(older.conninfo(), "DELETE FROM schema_migrations WHERE ctid = (SELECT max(ctid) FROM schema_migrations)");
  auto serve = Process::start(ledger_binary(), {"serve"},
                              {{"DATABASE_URL", older.conninfo_as(kServeRole)}, {"LEDGER_HTTP_PORT", "0"}},
                              work_dir() + "/older.out", work_dir() + "/older.err");
  const auto status = serve->wait_for(kStartTimeout);
  ASSERT_TRUE(status.has_value()) << "serve kept running on a schema that is behind; stderr:\n"
                                  << serve->stderr_text();
  EXPECT_FALSE(exited_zero(*status)) << describe_wait_status(*status);
  EXPECT_TRUE(contains(serve->stderr_text(), "migrate")) << serve->stderr_text();
}

TEST_F(Lifecycle, SigtermStopsServeCleanlyEvenWithAnIdleKeepAliveConnection) {
  const std::string id = register_new("SHUTDOWN-1");
  ASSERT_EQ(get_record_eventually(id, 1).status, 200);

  HttpConnection idle(port());
  ASSERT_EQ(idle.request("GET", "/healthz").status, 200);  // now idle, kept open

  const auto started = std::chrono::steady_clock::now();
  const int status = stop_serve();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  EXPECT_TRUE(exited_zero(status)) << "serve " << describe_wait_status(status) << " after SIGTERM ("
                                   << took.count() << " ms)";
  EXPECT_FALSE(can_connect(port())) << "the port is closed after shutdown";
}

TEST_F(Lifecycle, SigintStopsServeCleanly) {
  serve_->send_signal(SIGINT);
  const auto status = serve_->wait_for(kStopTimeout);
  ASSERT_TRUE(status.has_value()) << "serve still running " << kStopTimeout.count() << " ms after SIGINT";
  EXPECT_TRUE(exited_zero(*status)) << describe_wait_status(*status);
  serve_.reset();
}

TEST_F(Lifecycle, SigtermStopsProjectorCleanly) {
  const std::string id = register_new("SHUTDOWN-2");
  ASSERT_EQ(get_record_eventually(id, 1).status, 200);
  const int status = stop_projector();
  EXPECT_TRUE(exited_zero(status)) << "project " << describe_wait_status(status) << " after SIGTERM";
}

TEST_F(Lifecycle, ProjectorStoppedWhileIdleAndRestartedCatchesUp) {
  ASSERT_TRUE(exited_zero(stop_projector()));
  const std::string id = register_new("WHILE-STOPPED");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(http("GET", "/records/" + id).status, 404) << "nothing projects while the projector is stopped";
  start_projector();
  EXPECT_EQ(get_record_eventually(id, 1).status, 200);
}

}  // namespace
}  // namespace ledger::test

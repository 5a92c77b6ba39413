// The database roles the migrations create: the service may append and read events but never change them,
// and an auditor reads everything and changes nothing, whatever SQL they type.
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class DatabaseRoles : public LedgerFixture {
 protected:
  DatabaseRoles() { start_services_in_setup_ = false; }

  // A login role in `group`, unique to this test database, dropped afterwards.
  std::string LoginIn(const std::string& group) {
    const std::string role = db_->name() + "_" + group;
    db_->exec_admin("CREATE ROLE " + role + " LOGIN IN ROLE " + group);
    roles_.push_back(role);
    return role;
  }
  void TearDown() override {
    // Before the fixture drops the database (and its handle): the roles own nothing, so they can go first.
    for (const std::string& role : roles_) {
      try {
        if (db_ != nullptr) db_->exec_admin("DROP ROLE IF EXISTS " + role);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "could not drop role " << role << ": " << e.what();
      }
    }
    LedgerFixture::TearDown();
  }

  std::string ErrorAs(const std::string& role, const std::string& sql) {
    pqxx::connection conn(db_->admin().conninfo(db_->name()) + " user=" + role);
    pqxx::work tx(conn);
    try {
      tx.exec(sql);
      tx.commit();
      return "";
    } catch (const pqxx::sql_error& e) {
      return e.what();
    }
  }

  std::vector<std::string> roles_;
};

constexpr const char* kInsert =
    "INSERT INTO events (stream_id, stream_version, event_id, event_type, data)"
    " VALUES ('5d6c7b8a-9e0f-4a1b-8c2d-3e4f5a6b7c8d', 1, gen_random_uuid(), 'CREATED', '{}')";

TEST_F(DatabaseRoles, ServiceMayAppendAndReadButNeverChangeEvents) {
  const std::string service = LoginIn("ledger_service");
  EXPECT_EQ(ErrorAs(service, kInsert), "");
  EXPECT_EQ(ErrorAs(service, "SELECT count(*) FROM events"), "");
  EXPECT_NE(ErrorAs(service, "UPDATE events SET data = '{}'").find("permission denied"), std::string::npos);
  EXPECT_NE(ErrorAs(service, "DELETE FROM events").find("permission denied"), std::string::npos);
  EXPECT_NE(ErrorAs(service, "TRUNCATE events").find("permission denied"), std::string::npos);
  EXPECT_EQ(count_events(), 1);
}

TEST_F(DatabaseRoles, AuditorReadsEverythingAndChangesNothing) {
  exec_sql(kInsert);
  const std::string auditor = LoginIn("ledger_auditor");
  for (const char* table : {"events", "credit_records", "projection_checkpoints", "schema_migrations"}) {
    EXPECT_EQ(ErrorAs(auditor, std::string("SELECT count(*) FROM ") + table), "") << table;
  }
  EXPECT_NE(ErrorAs(auditor, kInsert).find("permission denied"), std::string::npos);
  EXPECT_NE(ErrorAs(auditor, "UPDATE credit_records SET status = 'RETIRED'").find("permission denied"),
            std::string::npos);
  EXPECT_NE(ErrorAs(auditor, "DELETE FROM projection_checkpoints").find("permission denied"), std::string::npos);
  EXPECT_EQ(count_events(), 1);
}

}  // namespace
}  // namespace ledger::test

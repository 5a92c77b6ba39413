// The events table is the audit trail: the database itself must refuse to change or remove rows, even for a
// superuser (the tests connect as one), and must keep each stream's versions contiguous and unique.
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

// A CREATED event's data as migration 0005's CHECK constraints want it, plus a field the tests change.
constexpr const char* kCreatedData =
    R"({"project_name": "P", "registry": "R", "vintage": 2021, "quantity": 1, "serial_number": "S", "k": "original"})";

class EventLog : public LedgerFixture {
 protected:
  EventLog() { start_services_in_setup_ = false; }

  void InsertEvent(const std::string& stream_id, int version) {
    exec_sql("INSERT INTO events (stream_id, stream_version, event_id, event_type, data) VALUES ('" + stream_id +
             "', " + std::to_string(version) + ", gen_random_uuid(), 'CREATED', '" + kCreatedData + "')");
  }

  // Runs `sql` in its own transaction and returns the error message ("" when it succeeded).
  std::string ErrorOf(const std::string& sql) { return ErrorAs("", sql); }
};

constexpr const char* kStream = "0b6c6a64-1d8a-4d0c-9f33-5f8b7b0c2a11";

TEST_F(EventLog, ConnectedRoleIsASuperuser) {
  // The append-only checks below are only meaningful if privileges are not what stops the change.
  EXPECT_EQ(query_scalar("SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"), "true");
}

TEST_F(EventLog, UpdateIsRejected) {
  InsertEvent(kStream, 1);
  const std::string error = ErrorOf("UPDATE events SET data = '{\"k\": \"rewritten\"}'");
  EXPECT_TRUE(contains(error, "append-only")) << "UPDATE must raise; got: '" << error << "'";
  EXPECT_EQ(query_scalar("SELECT data->>'k' FROM events WHERE " + kCreditEventsOnly), "original");
}

TEST_F(EventLog, DeleteIsRejected) {
  InsertEvent(kStream, 1);
  const std::string error = ErrorOf("DELETE FROM events");
  EXPECT_TRUE(contains(error, "append-only")) << "DELETE must raise; got: '" << error << "'";
  EXPECT_EQ(count_events(), 1);
}

TEST_F(EventLog, TruncateIsRejected) {
  InsertEvent(kStream, 1);
  const std::string error = ErrorOf("TRUNCATE events");
  EXPECT_TRUE(contains(error, "append-only")) << "TRUNCATE must raise; got: '" << error << "'";
  EXPECT_EQ(count_events(), 1);
  const std::string cascade = ErrorOf("TRUNCATE events CASCADE");
  EXPECT_TRUE(contains(cascade, "append-only")) << "TRUNCATE CASCADE must raise; got: '" << cascade << "'";
  EXPECT_EQ(count_events(), 1);
}

TEST_F(EventLog, StreamVersionsMustBeContiguousAndUnique) {
  InsertEvent(kStream, 1);
  EXPECT_FALSE(ErrorOf("INSERT INTO events (stream_id, stream_version, event_id, event_type, data) VALUES ('" +
                       std::string(kStream) + "', 3, gen_random_uuid(), 'SOLD', '{\"buyer\": \"B\"}')")
                   .empty())
      << "version 3 without version 2 must be refused";
  EXPECT_FALSE(ErrorOf("INSERT INTO events (stream_id, stream_version, event_id, event_type, data) VALUES ('" +
                       std::string(kStream) + "', 1, gen_random_uuid(), 'CREATED', '" + kCreatedData + "')")
                   .empty())
      << "a second version 1 must be refused";
  EXPECT_EQ(count_events(), 1);
}

}  // namespace
}  // namespace ledger::test

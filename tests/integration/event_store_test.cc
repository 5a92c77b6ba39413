// The event store's gap-safe catch-up read against a real PostgreSQL: it orders by transaction id as a
// number (xid8), never as text, and only returns what lies below the transaction horizon.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "eventstore/database.h"
#include "eventstore/event_store.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

// Events the log's CHECK constraints (migration 0005) admit: a CREATED at version 1, a SOLD after it.
constexpr const char* kCreatedData =
    R"({"project_name": "P", "registry": "R", "vintage": 2021, "quantity": 1, "serial_number": "S"})";
NewEvent test_event(const std::string& stream_id, std::int64_t version) {
  return NewEvent{stream_id, version, new_event_id(), version == 1 ? "CREATED" : "SOLD",
                  version == 1 ? kCreatedData : R"({"buyer": "B"})", "{}"};
}

class EventStore : public LedgerFixture {
 protected:
  EventStore() { start_services_in_setup_ = false; }

  // Appends one event in its own transaction and returns that transaction's id.
  std::int64_t AppendCommitted(pqxx::connection& conn, const std::string& stream_id, std::int64_t version) {
    pqxx::work tx(conn);
    NewEvent e = test_event(stream_id, version);
    EXPECT_TRUE(append_events(tx, {e}).ok());
    const auto xid = tx.exec1("SELECT pg_current_xact_id()::text::bigint")[0].as<std::int64_t>();
    tx.commit();
    return xid;
  }

  // Where the log ends before the test appends anything: SetUp's API key is already an event (of the access
  // stream, auth/access_events.h), so the test's own events are the ones after this checkpoint.
  Checkpoint LogEnd() {
    if (query_int("SELECT count(*) FROM events") == 0) return Checkpoint();
    return Checkpoint{query_scalar("SELECT transaction_id::text FROM events ORDER BY transaction_id DESC,"
                                   " position DESC LIMIT 1"),
                      query_int("SELECT position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1")};
  }
};

// The next transaction id the cluster will assign (consumes none).
std::int64_t next_xid(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  return tx.exec1("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")[0].as<std::int64_t>();
}

// Consumes transaction ids until the next one to be assigned is `target` (or past it, if other sessions
// race). Subtransactions that write each take an id, so one round trip burns thousands.
void burn_xids_until(pqxx::connection& conn, std::int64_t target) {
  for (std::int64_t next = next_xid(conn); next < target; next = next_xid(conn)) {
    const std::int64_t gap = target - next;
    pqxx::work tx(conn);
    if (gap >= 3) {
      // The top-level transaction takes one id, each of the gap - 1 writing subtransactions one more.
      tx.exec("CREATE TEMP TABLE IF NOT EXISTS xid_burn (x int) ON COMMIT DROP");
      tx.exec("DO $$ BEGIN FOR i IN 1.." + std::to_string(std::min<std::int64_t>(gap - 2, 200000)) +
              " LOOP BEGIN INSERT INTO xid_burn VALUES (i); EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$");
    } else {
      tx.exec("SELECT pg_current_xact_id()");
    }
    tx.commit();
  }
}

// Transaction ids 9999 and 10000 sort the other way round as text; a reader that sorted by the text
// would hand the projector a stream's version 2 before its version 1.
TEST_F(EventStore, CatchUpReadOrdersTransactionIdsNumericallyAcrossADigitBoundary) {
  pqxx::connection conn(database_url());
  const Checkpoint start = LogEnd();
  const std::string stream = "3f1c2a9e-8d7b-4c6a-9e5f-1a2b3c4d5e6f";
  std::int64_t first = 0;
  std::int64_t second = 0;
  std::int64_t boundary = 10;
  // Another test running in parallel may take the id meant for us; then try at the next boundary.
  for (int attempt = 0; attempt < 3; ++attempt) {
    while (boundary <= next_xid(conn) + 1) boundary *= 10;
    ASSERT_LE(boundary, 100000000) << "the cluster's transaction ids are too far on for this test";
    burn_xids_until(conn, boundary - 1);
    pqxx::work tx(conn);
    NewEvent e = test_event(stream, 1);
    ASSERT_TRUE(append_events(tx, {e}).ok());
    first = tx.exec1("SELECT pg_current_xact_id()::text::bigint")[0].as<std::int64_t>();
    if (first < boundary) {
      tx.commit();
      break;
    }
    tx.abort();
  }
  ASSERT_LT(first, boundary);
  second = AppendCommitted(conn, stream, 2);
  ASSERT_GE(second, boundary);

  pqxx::work tx(conn);
  const std::vector<RecordedEvent> events = read_events_after(tx, start, read_horizon(tx), 10);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].stream_version, 1);
  EXPECT_EQ(events[1].stream_version, 2);
  EXPECT_EQ(events[0].transaction_id, std::to_string(first));
  EXPECT_EQ(events[1].transaction_id, std::to_string(second));
  // Resuming from the first event's checkpoint returns only the second.
  const std::vector<RecordedEvent> rest =
      read_events_after(tx, Checkpoint{events[0].transaction_id, events[0].position}, read_horizon(tx), 10);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].stream_version, 2);
}

// An open transaction holds the horizon: its event, and every later commit, wait until it ends.
TEST_F(EventStore, CatchUpReadStopsAtTheHorizonOfAnOpenTransaction) {
  pqxx::connection holder_conn(database_url());
  pqxx::connection writer_conn(database_url());
  const Checkpoint start = LogEnd();
  pqxx::work held(holder_conn);
  NewEvent early = test_event("11111111-2222-4333-8444-555555555555", 1);
  ASSERT_TRUE(append_events(held, {early}).ok());  // assigned a position first, commits last
  AppendCommitted(writer_conn, "66666666-7777-4888-9999-aaaaaaaaaaaa", 1);

  {
    pqxx::work reader(writer_conn);
    EXPECT_TRUE(read_events_after(reader, start, read_horizon(reader), 10).empty());
  }
  held.commit();
  // Other tests' open transactions share the cluster's horizon: poll, bounded, until both are below it.
  std::vector<RecordedEvent> events;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (events.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    pqxx::work reader(writer_conn);
    events = read_events_after(reader, start, read_horizon(reader), 10);
    if (events.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].stream_id, early.stream_id);  // the earlier transaction first, though it committed later
}

// Service sessions plan each prepared statement once. The plan must stay an index lookup even when made
// right after the events table was analyzed while tiny (a fresh database): there a generic plan is a
// sequential scan, which then grows with the log for as long as the session lives.
TEST_F(EventStore, ServiceSessionsPlanKeyLookupsAsIndexScansOnATinyAnalyzedLog) {
  pqxx::connection setup(database_url());
  const Checkpoint start = LogEnd();
  const std::string stream = "5b0c7d1e-2f3a-4b5c-8d6e-7f8091a2b3c4";
  for (int version = 1; version <= 3; ++version) AppendCommitted(setup, stream, version);
  pqxx::nontransaction(setup).exec("ANALYZE events");

  const auto explain = [](pqxx::connection& conn, const std::string& execute) {
    std::string plan;
    pqxx::nontransaction tx(conn);
    for (const pqxx::row& row : tx.exec("EXPLAIN " + execute)) plan += row[0].as<std::string>() + "\n";
    return plan;
  };
  const auto run_lookups = [&](pqxx::connection& conn) {
    for (int i = 0; i < 8; ++i) {  // past the five custom plans PostgreSQL makes before it may go generic
      pqxx::work tx(conn);
      EXPECT_EQ(read_streams(tx, {stream}).size(), 3u);
      EXPECT_EQ(read_events_after(tx, start, read_horizon(tx), 100).size(), 3u);
      tx.commit();
    }
  };
  const std::string read_streams_sql = "EXECUTE event_store_read_streams('{" + stream + "}')";
  const std::string read_after_sql = "EXECUTE event_store_read_events_after('0', 0, '1000000000', 100)";

  std::unique_ptr<pqxx::connection> service = open_connection(database_url(), DatabaseLimits{});
  run_lookups(*service);
  EXPECT_EQ(explain(*service, read_streams_sql).find("Seq Scan"), std::string::npos)
      << explain(*service, read_streams_sql);
  EXPECT_EQ(explain(*service, read_after_sql).find("Seq Scan"), std::string::npos)
      << explain(*service, read_after_sql);

  // The hazard is real: the same statements, planned once without ruling scans out, scan the table.
  DatabaseLimits whole_table;
  whole_table.key_lookups_only = false;
  std::unique_ptr<pqxx::connection> scanning = open_connection(database_url(), whole_table);
  pqxx::nontransaction(*scanning).exec("SET plan_cache_mode = force_generic_plan");
  run_lookups(*scanning);
  EXPECT_NE(explain(*scanning, read_streams_sql).find("Seq Scan"), std::string::npos)
      << explain(*scanning, read_streams_sql);
}

}  // namespace
}  // namespace ledger::test

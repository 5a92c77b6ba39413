// The event store's gap-safe catch-up read against a real PostgreSQL: it orders by transaction id as a
// number (xid8), never as text, and only returns what lies below the transaction horizon.
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "eventstore/event_store.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class EventStore : public LedgerFixture {
 protected:
  EventStore() { start_services_in_setup_ = false; }

  // Appends one event in its own transaction and returns that transaction's id.
  std::int64_t AppendCommitted(pqxx::connection& conn, const std::string& stream_id, std::int64_t version) {
    pqxx::work tx(conn);
    NewEvent e{stream_id, version, new_event_id(), "CREATED", "{}", "{}"};
    EXPECT_TRUE(append_events(tx, {e}).ok());
    const auto xid = tx.exec1("SELECT pg_current_xact_id()::text::bigint")[0].as<std::int64_t>();
    tx.commit();
    return xid;
  }
};

// Transaction ids 9999 and 10000 sort the other way round as text; a reader that sorted by the text
// would hand the projector a stream's version 2 before its version 1.
TEST_F(EventStore, CatchUpReadOrdersTransactionIdsNumericallyAcrossADigitBoundary) {
  pqxx::connection conn(database_url());
  std::int64_t xid = 0;
  {
    pqxx::nontransaction tx(conn);
    xid = tx.exec1("SELECT pg_current_xact_id()::text::bigint")[0].as<std::int64_t>();
  }
  std::int64_t boundary = 10;
  while (boundary <= xid + 1) boundary *= 10;
  ASSERT_LT(boundary - xid, 200000) << "the cluster's xid is too far from a digit boundary for this test";
  // Burn transaction ids until the next one is just below the boundary.
  while (xid < boundary - 2) {
    pqxx::nontransaction tx(conn);
    xid = tx.exec1("SELECT pg_current_xact_id()::text::bigint")[0].as<std::int64_t>();
  }
  const std::string stream = "3f1c2a9e-8d7b-4c6a-9e5f-1a2b3c4d5e6f";
  const std::int64_t first = AppendCommitted(conn, stream, 1);
  const std::int64_t second = AppendCommitted(conn, stream, 2);
  ASSERT_LT(first, boundary);
  ASSERT_GE(second, boundary);

  pqxx::work tx(conn);
  const std::vector<RecordedEvent> events = read_events_after(tx, Checkpoint(), read_horizon(tx), 10);
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
  pqxx::work held(holder_conn);
  NewEvent early{"11111111-2222-4333-8444-555555555555", 1, new_event_id(), "CREATED", "{}", "{}"};
  ASSERT_TRUE(append_events(held, {early}).ok());  // assigned a position first, commits last
  AppendCommitted(writer_conn, "66666666-7777-4888-9999-aaaaaaaaaaaa", 1);

  {
    pqxx::work reader(writer_conn);
    EXPECT_TRUE(read_events_after(reader, Checkpoint(), read_horizon(reader), 10).empty());
  }
  held.commit();
  pqxx::work reader(writer_conn);
  const std::vector<RecordedEvent> events = read_events_after(reader, Checkpoint(), read_horizon(reader), 10);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].stream_id, early.stream_id);  // the earlier transaction first, though it committed later
}

}  // namespace
}  // namespace ledger::test

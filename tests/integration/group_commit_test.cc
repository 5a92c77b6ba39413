// Group commit against a real PostgreSQL: a batch decides its commands in order (each sees the effect of
// the ones before it), a version conflict with another writer fails only the commands it touches, and
// nothing is acknowledged unless its transaction committed.
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "command/credit_commands.h"
#include "command/credit_id.h"
#include "eventstore/event_store.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

using Kind = CreditCommandResult::Kind;

class GroupCommit : public LedgerFixture {
 protected:
  GroupCommit() { start_services_in_setup_ = false; }

  // Permissions are the decider's (unit-tested); here an admin acts, so only batching is under test.
  inline static const Actor kOperator{"test-operator", Role::kAdmin};

  static CreditCommandRequest Register(const std::string& serial, std::int64_t quantity = 100,
                                       const std::string& project = "Mangrove") {
    CreditCommandRequest request;
    RegisterCredit command;
    command.attributes = {project, "Verra", serial, 2021, quantity, /*block_start=*/1, /*block_end=*/quantity};
    request.credit_id = credit_id("Verra", serial);
    request.command = command;
    request.request_id = "test-" + serial;
    request.actor = kOperator;
    return request;
  }
  static CreditCommandRequest Sell(const std::string& serial, const std::string& buyer) {
    CreditCommandRequest request;
    request.credit_id = credit_id("Verra", serial);
    request.command = SellCredit{buyer};
    request.request_id = "test-sell";
    request.actor = kOperator;
    return request;
  }
  static CreditCommandRequest Retire(const std::string& serial) {
    CreditCommandRequest request;
    request.credit_id = credit_id("Verra", serial);
    request.command = RetireCredit{};
    request.request_id = "test-retire";
    request.actor = kOperator;
    return request;
  }

  std::int64_t EventCount(const std::string& serial) {
    return query_int("SELECT count(*) FROM events WHERE stream_id = '" +
                                         credit_id("Verra", serial) + "'");
  }
};

TEST_F(GroupCommit, CommandsOnOneStreamInOneBatchAreDecidedInOrder) {
  ensure_account("Alice");
  ensure_account("Bob");
  WorkerConnection connection(database_url(), DatabaseLimits());
  const std::vector<CreditCommandRequest> batch = {
      Register("GC-1"),        Sell("GC-1", "Alice"), Sell("GC-1", "Bob"),     Retire("GC-1"),
      Retire("GC-1"),          Register("GC-1", 999), Retire("GC-UNKNOWN"),    Register("GC-1"),
      Register("GC-2"),
  };
  const std::vector<CreditCommandResult> results = execute_credit_batch(connection, batch);
  ASSERT_EQ(results.size(), batch.size());
  // The second sell is a resale (the admin may sell on a SOLD block): Bob holds it, then it is retired.
  const Kind expected[] = {Kind::kCreated,  Kind::kApplied,  Kind::kApplied, Kind::kApplied, Kind::kRejected,
                           Kind::kRejected, Kind::kNotFound, Kind::kApplied, Kind::kCreated};
  const std::int64_t expected_version[] = {1, 2, 3, 4, 4, 4, 0, 4, 1};
  for (std::size_t i = 0; i < batch.size(); ++i) {
    SCOPED_TRACE("command " + std::to_string(i));
    EXPECT_EQ(results[i].kind, expected[i]) << results[i].detail;
    EXPECT_EQ(results[i].state.version, expected_version[i]);
  }
  EXPECT_EQ(results[2].state.status, CreditStatus::kSold);  // the second sell saw the first
  EXPECT_EQ(results[2].state.holder, "Bob");
  EXPECT_EQ(results[4].detail, "credit is already retired");
  ASSERT_TRUE(results[5].error.has_value());
  // 999 units instead of 100: the block 1..999 instead of 1..100.
  EXPECT_EQ(results[5].error->differing_fields, (std::vector<std::string>{"quantity", "block_end"}));

  EXPECT_EQ(EventCount("GC-1"), 4);
  EXPECT_EQ(EventCount("GC-2"), 1);
  EXPECT_EQ(query_scalar("SELECT string_agg(data->>'buyer', ',' ORDER BY stream_version) FROM events"
                         " WHERE event_type = 'SOLD'"),
            "Alice,Bob");
  // One transaction for the whole batch: one commit, one fsync.
  EXPECT_EQ(query_int("SELECT count(DISTINCT transaction_id) FROM events WHERE " + kCreditEventsOnly), 1);
}

TEST_F(GroupCommit, ConflictWithAnotherWriterFailsOnlyTheCommandsItTouches) {
  ensure_account("Ours");
  WorkerConnection connection(database_url(), DatabaseLimits());
  ASSERT_EQ(execute_credit_command(connection, Register("GC-3")).kind, Kind::kCreated);

  // Another writer sells GC-3 and holds its transaction open while our batch decides against version 1.
  pqxx::connection other(database_url());
  pqxx::work held(other);
  NewEvent sold{credit_id("Verra", "GC-3"), 2, new_event_id(), "SOLD", R"({"buyer": "Other"})", "{}"};
  ASSERT_TRUE(append_events(held, {sold}).ok());

  auto batch = std::async(std::launch::async, [&] {
    return execute_credit_batch(connection, {Sell("GC-3", "Ours"), Register("GC-4"), Register("GC-5")});
  });
  // The batch's INSERT of GC-3 version 2 now waits on the unique index for the held transaction.
  ASSERT_EQ(batch.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  held.commit();
  ASSERT_EQ(batch.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const std::vector<CreditCommandResult> results = batch.get();

  ASSERT_EQ(results.size(), 3u);
  // Decided again against version 2: the block is SOLD to Other now, and ours is a resale after it.
  EXPECT_EQ(results[0].kind, Kind::kApplied) << results[0].detail;
  EXPECT_EQ(results[0].state.version, 3);
  EXPECT_EQ(results[0].state.holder, "Ours");
  EXPECT_EQ(results[1].kind, Kind::kCreated) << results[1].detail;
  EXPECT_EQ(results[2].kind, Kind::kCreated) << results[2].detail;
  EXPECT_EQ(EventCount("GC-3"), 3);
  EXPECT_EQ(query_scalar("SELECT string_agg(data->>'buyer', ',' ORDER BY stream_version) FROM events"
                         " WHERE event_type = 'SOLD'"),
            "Other,Ours");
  EXPECT_EQ(EventCount("GC-4"), 1);
  EXPECT_EQ(EventCount("GC-5"), 1);
}

// A deferred constraint trigger fails COMMIT itself for one poisoned credit: the batch it was in must not
// acknowledge anything it did not commit, and the innocent commands still get their own answer.
TEST_F(GroupCommit, NothingIsAcknowledgedWhenTheCommitFails) {
  exec_sql(R"sql(
    CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.data->>'project_name' = 'FAIL-AT-COMMIT' THEN RAISE EXCEPTION 'commit refused for the test'; END IF;
      RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON events
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit();
  )sql");
  WorkerConnection connection(database_url(), DatabaseLimits());
  const std::vector<CreditCommandResult> results = execute_credit_batch(
      connection, {Register("GC-6"), Register("GC-7", 100, "FAIL-AT-COMMIT"), Register("GC-8")});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].kind, Kind::kCreated) << results[0].detail;
  EXPECT_EQ(results[1].kind, Kind::kInternal) << results[1].detail;
  EXPECT_EQ(results[2].kind, Kind::kCreated) << results[2].detail;
  EXPECT_EQ(EventCount("GC-6"), 1);
  EXPECT_EQ(EventCount("GC-7"), 0);
  EXPECT_EQ(EventCount("GC-8"), 1);
}

// The connection dies during COMMIT (the backend terminates itself from a deferred trigger), so the client
// cannot know the outcome from the reply: it must find out, and here the transaction did not commit.
TEST_F(GroupCommit, ConnectionLostDuringCommitIsResolvedNotGuessed) {
  install_die_at_commit_trigger("DIE-AT-COMMIT");
  WorkerConnection connection(database_url(), DatabaseLimits());
  const CreditCommandResult result = execute_credit_command(connection, Register("GC-9", 100, "DIE-AT-COMMIT"));
  EXPECT_EQ(result.kind, Kind::kUnavailable) << result.detail;
  EXPECT_NE(result.detail.find("not applied"), std::string::npos) << result.detail;
  EXPECT_EQ(EventCount("GC-9"), 0);
  // The same connection object recovers for the next command.
  EXPECT_EQ(execute_credit_command(connection, Register("GC-10")).kind, Kind::kCreated);
}

}  // namespace
}  // namespace ledger::test

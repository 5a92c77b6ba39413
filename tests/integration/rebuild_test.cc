// `carbon-ledger rebuild` replays the log into a fresh read model: the result must equal what the projector
// built incrementally (even after the read model was damaged), and projection must carry on afterwards.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class Rebuild : public LedgerFixture {
 protected:
  std::string Snapshot() {
    return query_scalar("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY id), '') FROM credit_records t");
  }
};

TEST_F(Rebuild, ReplayReproducesTheReadModelAndProjectionContinues) {
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(register_new("REBUILD-" + std::to_string(i)));
  for (int i = 0; i < 12; ++i) ASSERT_EQ(sell(ids[i], "Buyer " + std::to_string(i)).status, 200);
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(retire(ids[i], R"({"beneficiary":"B)" + std::to_string(i) + R"(","reason":"offset"})").status, 200);
  }
  const std::int64_t total = 20 + 12 + 6;
  ASSERT_EQ(count_events(), total);
  ASSERT_TRUE(wait_until_projected()) << "events_applied " << events_applied() << " of " << total;
  ASSERT_EQ(get_record_eventually(ids[0], 3).status, 200);
  const std::string before = Snapshot();
  ASSERT_EQ(query_int("SELECT count(*) FROM credit_records"), 20);

  ASSERT_TRUE(exited_zero(stop_projector()));
  // Damage the read model: a rebuild must not depend on what is there.
  exec_sql("UPDATE credit_records SET quantity = 0, status = 'CREATED' WHERE id = '" + ids[3] + "'");
  exec_sql("DELETE FROM credit_records WHERE id = '" + ids[7] + "'");
  ASSERT_NE(Snapshot(), before);

  const RunResult rebuilt = run_ledger({"rebuild"}, std::chrono::seconds(120));
  ASSERT_TRUE(rebuilt.ok()) << "carbon-ledger rebuild " << rebuilt.describe();
  EXPECT_FALSE(rebuilt.err.empty()) << "rebuild reports progress and a summary on stderr";
  EXPECT_TRUE(contains(rebuilt.err, std::to_string(total))) << "the summary states the events replayed ("
                                                            << total << "):\n" << rebuilt.err;

  EXPECT_EQ(Snapshot(), before) << "rebuilt read model differs from the incrementally projected one";
  EXPECT_EQ(events_applied(), total) << "the checkpoint matches the replayed log";

  // Projection carries on from where the rebuild left off: new commands show up, old ones are not re-applied.
  start_projector();
  const std::string fresh = register_new("REBUILD-AFTER");
  ASSERT_EQ(sell(ids[15], "Late Buyer").status, 200);
  EXPECT_EQ(get_record_eventually(fresh, 1).status, 200);
  const HttpResponse sold = get_record_eventually(ids[15], 2);
  ASSERT_EQ(sold.status, 200) << sold.body;
  EXPECT_EQ(string_member(parse_json(sold.body), "status"), "SOLD");
  ASSERT_TRUE(wait_until_projected());
  EXPECT_EQ(events_applied(), total + 2);
  EXPECT_EQ(divergent_streams(), 0);
}

TEST_F(Rebuild, RebuildWhileProjectorAndWritersRunConverges) {
  // The projector keeps running: it must wait for the rebuild and continue from its checkpoint.
  for (int i = 0; i < 30; ++i) register_new("LIVE-" + std::to_string(i));
  ASSERT_TRUE(wait_until_projected());

  std::atomic<bool> writer_ok{true};
  std::string writer_error;
  std::thread writer([&] {
    try {
      HttpConnection connection(port());
      for (int i = 30; i < 70; ++i) {
        CreditSpec spec;
        spec.serial_number = "LIVE-" + std::to_string(i);
        const HttpResponse r = connection.request("POST", "/register", spec.to_json());
        if (r.status != 201) throw std::runtime_error(spec.serial_number + ": " + std::to_string(r.status) + " " + r.body);
      }
    } catch (const std::exception& e) {
      writer_error = e.what();
      writer_ok = false;
    }
  });
  const RunResult rebuilt = run_ledger({"rebuild"}, std::chrono::seconds(120));
  writer.join();
  ASSERT_TRUE(writer_ok.load()) << writer_error;
  ASSERT_TRUE(rebuilt.ok()) << "carbon-ledger rebuild " << rebuilt.describe();

  EXPECT_TRUE(wait_until_projected(std::chrono::seconds(20)))
      << "events_applied " << events_applied() << " of " << count_events();
  EXPECT_EQ(count_events(), 70);
  EXPECT_EQ(events_applied(), 70) << "each event applied exactly once across rebuild and projector";
  EXPECT_EQ(query_int("SELECT count(*) FROM credit_records"), 70);
  EXPECT_EQ(divergent_streams(), 0);
}

// The log is read on a session of its own, a page ahead, and streams straddle pages: whatever the page
// size, the rebuilt model must be the projected one.
TEST_F(Rebuild, PageSizeDoesNotChangeTheResult) {
  std::vector<std::string> ids;
  for (int i = 0; i < 15; ++i) ids.push_back(register_new("PAGES-" + std::to_string(i)));
  // The log is read in PostgreSQL's COPY text format: text that needs escaping there (and in JSON) must
  // come back byte for byte. (The API refuses control characters; the unit test covers their escapes.)
  CreditSpec awkward;
  awkward.serial_number = "PAGES-AWKWARD";
  awkward.project_name = "Back\\slash, \"quotes\", caf\u00e9 \u2603, \\N and \\t as text";
  const HttpResponse registered = register_credit(awkward);
  ASSERT_EQ(registered.status, 201) << registered.body;
  for (int i = 0; i < 10; ++i) ASSERT_EQ(sell(ids[i], "Buyer " + std::to_string(i)).status, 200);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(retire(ids[i], R"({"beneficiary":"B","reason":"offset"})").status, 200);
  ASSERT_TRUE(wait_until_projected());
  ASSERT_TRUE(exited_zero(stop_projector()));
  const std::string projected = Snapshot();
  ASSERT_EQ(query_int("SELECT count(*) FROM credit_records"), 16);
  ASSERT_EQ(query_scalar("SELECT data->>'project_name' FROM events WHERE data->>'serial_number' = 'PAGES-AWKWARD'"),
            "Back\\slash, \"quotes\", caf\u00e9 \u2603, \\N and \\t as text");

  for (const char* page_size : {"1", "2", "4", "30", "31", "32", "100000"}) {
    exec_sql("UPDATE credit_records SET quantity = 0");  // damage, so each rebuild must rewrite every row
    const RunResult rebuilt =
        run_ledger({"rebuild"}, std::chrono::seconds(120), {{"LEDGER_REBUILD_BATCH_SIZE", page_size}});
    ASSERT_TRUE(rebuilt.ok()) << "rebuild with pages of " << page_size << ": " << rebuilt.describe();
    EXPECT_TRUE(contains(rebuilt.err, "replayed 31 events into 16 records")) << rebuilt.err;
    EXPECT_EQ(Snapshot(), projected) << "pages of " << page_size;
    EXPECT_EQ(events_applied(), 31);
  }
}

TEST_F(Rebuild, RebuildOfAnEmptyLogSucceeds) {
  ASSERT_TRUE(exited_zero(stop_projector()));
  const RunResult rebuilt = run_ledger({"rebuild"});
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.describe();
  EXPECT_EQ(query_int("SELECT count(*) FROM credit_records"), 0);
  start_projector();
  const std::string id = register_new("AFTER-EMPTY-REBUILD");
  EXPECT_EQ(get_record_eventually(id, 1).status, 200);
}

}  // namespace
}  // namespace ledger::test

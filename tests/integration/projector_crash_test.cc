// The projector is killed (SIGKILL, no chance to clean up) while commands pour in, then restarted: the read
// model must converge to exactly the log, with nothing lost and nothing applied twice.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

constexpr int kRegistrations = 200;
constexpr int kWriters = 8;

class ProjectorCrash : public LedgerFixture {};

TEST_F(ProjectorCrash, ReadModelConvergesAfterKillDuringConcurrentWrites) {
  std::atomic<int> done{0};
  std::atomic<int> writers_finished{0};
  std::atomic<int> sells{0};
  std::vector<std::string> failures[kWriters];
  ensure_account("B");
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      try {
        HttpConnection connection(port(), std::chrono::seconds(30));
        for (int i = w; i < kRegistrations; i += kWriters) {
          CreditSpec spec;
          spec.serial_number = "CRASH-" + std::to_string(i);
          spec.quantity = std::to_string(i + 1);
          const HttpResponse r = connection.request("POST", "/register", spec.to_json());
          if (r.status != 201) {
            failures[w].push_back(spec.serial_number + ": " + std::to_string(r.status) + " " + r.body);
          } else if (i % 4 == 0) {
            // Some streams get a second event, so a double apply would show as a wrong version too.
            const std::string id = string_member(parse_json(r.body), "id");
            const HttpResponse s = connection.request("POST", "/records/" + id + "/sell", R"({"buyer":"B"})");
            if (s.status != 200) failures[w].push_back("sell " + id + ": " + std::to_string(s.status));
            else sells++;
          }
          done++;
        }
      } catch (const std::exception& e) {
        failures[w].push_back(e.what());
      }
      writers_finished++;
    });
  }

  // Two crashes while the writers run, each followed by a restart.
  for (int threshold : {kRegistrations / 4, kRegistrations / 2}) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (done.load() < threshold && writers_finished.load() < kWriters &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    kill_projector();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    start_projector();
  }
  for (auto& t : writers) t.join();
  for (const auto& list : failures) {
    for (const auto& failure : list) ADD_FAILURE() << failure;
  }
  ASSERT_EQ(done.load(), kRegistrations);

  const std::int64_t total = kRegistrations + sells.load();
  ASSERT_EQ(count_events(), total);
  EXPECT_TRUE(wait_until_projected(std::chrono::seconds(30)))
      << "events_applied " << events_applied() << " of " << total;
  EXPECT_EQ(events_applied(), total) << "each event applied exactly once";
  EXPECT_EQ(query_int("SELECT count(*) FROM credit_records"), kRegistrations);
  EXPECT_EQ(divergent_streams(), 0);
  EXPECT_EQ(query_int("SELECT count(*) FROM credit_records WHERE status = 'SOLD'"), sells.load());
  EXPECT_EQ(query_int("SELECT max(last_position) FROM credit_records"), query_int("SELECT max(position) FROM events"));
}

}  // namespace
}  // namespace ledger::test

// Read-your-writes: GET /records/{id}?min_version=N waits until the read model holds version N of the
// record, woken by the projector's notification after each batch (LISTEN credit_records_projected), at most
// LEDGER_MIN_VERSION_WAIT_MS; then 504 version-not-reached naming the version it holds.
#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

using Clock = std::chrono::steady_clock;

class ReadYourWrites : public LedgerFixture {
 protected:
  void RestartServeWithWaitMs(int wait_ms) {
    stop_serve();
    extra_env_.push_back({"LEDGER_MIN_VERSION_WAIT_MS", std::to_string(wait_ms)});
    start_serve();
  }
  static std::int64_t VersionOf(const HttpResponse& r) {
    const auto doc = parse_json(r.body);
    return doc.IsObject() && has_int_member(doc, "version") ? int_member(doc, "version") : -1;
  }
  static long ElapsedMs(Clock::time_point since) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
  }
};

// The README's flow: the version of a command's answer, read back at once, is there: never a 404 or an
// older version, however fast the client is.
TEST_F(ReadYourWrites, AReadWithTheCommandsVersionRightAfterItNeverSeesLess) {
  create_key("ryw-buyer", "holder");
  for (int i = 0; i < 15; ++i) {
    const HttpResponse reg = register_credit(CreditSpec{.serial_number = "RYW-" + std::to_string(i)});
    ASSERT_EQ(reg.status, 201) << reg.body;
    const std::string id = string_member(parse_json(reg.body), "id");
    const HttpResponse got = http("GET", "/records/" + id + "?min_version=" + std::to_string(VersionOf(reg)));
    ASSERT_EQ(got.status, 200) << got.body;
    EXPECT_GE(VersionOf(got), 1);
    const HttpResponse sold = http("POST", "/records/" + id + "/sell", R"({"buyer":"ryw-buyer"})");
    ASSERT_EQ(sold.status, 200) << sold.body;
    ASSERT_EQ(VersionOf(sold), 2);
    const HttpResponse after = http("GET", "/records/" + id + "?min_version=2");
    ASSERT_EQ(after.status, 200) << after.body;
    EXPECT_EQ(VersionOf(after), 2);
    EXPECT_EQ(string_member(parse_json(after.body), "status"), "SOLD");
  }
}

// A GET already waiting for version 2 is answered when the sale's batch is projected, long before its
// bound: the projector's notification wakes it.
TEST_F(ReadYourWrites, AWaitingReadIsAnsweredWhenTheProjectorCommitsTheVersion) {
  RestartServeWithWaitMs(20000);
  create_key("ryw-buyer", "holder");
  const std::string id = register_new("RYW-WAIT");
  ASSERT_EQ(get_record_eventually(id, 1).status, 200);
  const auto started = Clock::now();
  auto waiting = std::async(std::launch::async, [&] {
    return http_request(port(), "GET", "/records/" + id + "?min_version=2", {},
                        {{"Authorization", "Bearer " + admin_key_}}, std::chrono::seconds(30));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(waiting.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout) << "answered before the sale";
  const HttpResponse sold = http("POST", "/records/" + id + "/sell", R"({"buyer":"ryw-buyer"})");
  ASSERT_EQ(sold.status, 200) << sold.body;
  const HttpResponse got = waiting.get();
  const long elapsed_ms = ElapsedMs(started);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(VersionOf(got), 2);
  EXPECT_LT(elapsed_ms, 5000) << "woken by the projection, not by the 20 s bound";
}

// With the projector stopped the version never comes: 504 after LEDGER_MIN_VERSION_WAIT_MS, naming the
// version the read model holds (0 for a record it does not hold at all), with Retry-After.
TEST_F(ReadYourWrites, WithTheProjectorStoppedTheWaitEndsIn504NamingTheVersionHeld) {
  RestartServeWithWaitMs(400);
  const std::string id = register_new("RYW-STOPPED");
  ASSERT_EQ(get_record_eventually(id, 1).status, 200);
  stop_projector();
  auto started = Clock::now();
  const HttpResponse beyond = http("GET", "/records/" + id + "?min_version=2");
  long elapsed_ms = ElapsedMs(started);
  ASSERT_TRUE(IsProblemOf(beyond, 504, "version-not-reached")) << beyond.body;
  const auto doc = parse_json(beyond.body);
  EXPECT_EQ(int_member(doc, "min_version"), 2);
  EXPECT_EQ(int_member(doc, "version"), 1);
  EXPECT_TRUE(beyond.has_header("Retry-After"));
  EXPECT_GE(elapsed_ms, 380);
  EXPECT_LT(elapsed_ms, 5000);

  const HttpResponse registered = register_credit(CreditSpec{.serial_number = "RYW-NOT-PROJECTED"});
  ASSERT_EQ(registered.status, 201) << registered.body;
  const std::string unprojected = string_member(parse_json(registered.body), "id");
  started = Clock::now();
  const HttpResponse absent = http("GET", "/records/" + unprojected + "?min_version=1");
  elapsed_ms = ElapsedMs(started);
  ASSERT_TRUE(IsProblemOf(absent, 504, "version-not-reached")) << absent.body;
  EXPECT_EQ(int_member(parse_json(absent.body), "version"), 0);
  EXPECT_GE(elapsed_ms, 380);

  // Once the projector runs again, the same read is answered.
  start_projector();
  const HttpResponse now_there = http("GET", "/records/" + unprojected + "?min_version=1");
  EXPECT_EQ(now_there.status, 200) << now_there.body;
}

TEST_F(ReadYourWrites, ABadMinVersionIs400NamingIt) {
  const std::string id = register_new("RYW-BAD");
  for (const char* bad : {"0", "-1", "abc", "1.5", "", "99999999999999999999", "1e3", "%201"}) {
    SCOPED_TRACE(bad);
    const HttpResponse r = http("GET", "/records/" + id + "?min_version=" + bad);
    EXPECT_TRUE(IsProblemNaming(r, 400, "min_version")) << r.body;
  }
}

}  // namespace
}  // namespace ledger::test

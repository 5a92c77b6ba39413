// Issue 10: Idempotency-Key on every POST. A repeat with the same key and request replays the first answer
// (Idempotency-Replayed: true) without executing, also after a serve restart; a different request with the
// key is 422; keys are per account; 16 concurrent requests with one key execute once; only 200/201/403/404/409
// answers are kept (a 422 or 412 is not, so a retry executes); malformed keys are 400.
#include <chrono>
#include <cstdint>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class Idempotency : public LedgerFixture {
 protected:
  HttpResponse Register(const std::string& serial, const std::string& key, const Headers& extra = {},
                        const std::string& quantity = "100") {
    CreditSpec spec;
    spec.registry = "Registry1";
    spec.serial_number = serial;
    spec.quantity = quantity;
    Headers headers = extra;
    headers.emplace_back("Idempotency-Key", key);
    return http("POST", "/register", spec.to_json(), headers);
  }
  std::string RetireBody(std::int64_t quantity) { return "{\"quantity\":" + std::to_string(quantity) + "}"; }
  HttpResponse RetireWithKey(const std::string& id, std::int64_t quantity, const std::string& key) {
    return http("POST", "/records/" + id + "/retire", RetireBody(quantity), {{"Idempotency-Key", key}});
  }
  // Registry1/<serial> with 100 units, sold whole to a known account (so it can be retired).
  std::string SoldBlock(const std::string& serial) {
    const std::string id = register_new(serial);
    create_key("idem-buyer-" + serial, "holder");
    const HttpResponse sold = sell(id, "idem-buyer-" + serial);
    if (sold.status != 200) throw std::runtime_error("sell answered " + sold.body);
    return id;
  }
  std::int64_t QuantityNow(const std::string& id, std::int64_t min_version) {
    const HttpResponse r = get_record_eventually(id, min_version);
    const auto doc = parse_json(r.body);
    return has_int_member(doc, "quantity") ? int_member(doc, "quantity") : -1;
  }
};

bool Replayed(const HttpResponse& r) { return lower(r.header("Idempotency-Replayed").value_or("")) == "true"; }

// `again` is a replay of `first`: same status and body, marked Idempotency-Replayed: true.
void ExpectReplayOf(const HttpResponse& again, const HttpResponse& first) {
  EXPECT_EQ(again.status, first.status) << again.body;
  EXPECT_EQ(again.body, first.body);
  EXPECT_TRUE(Replayed(again)) << "Idempotency-Replayed: " << again.header("Idempotency-Replayed").value_or("<none>");
}

TEST_F(Idempotency, SameKeyAndRequestReplaysWithoutANewEvent) {
  const HttpResponse first = Register("IDEM-1", "key-register-1");
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_FALSE(Replayed(first)) << "the first answer is not a replay";
  const std::int64_t events = count_events();

  const HttpResponse again = Register("IDEM-1", "key-register-1");
  ExpectReplayOf(again, first);
  EXPECT_EQ(count_events(), events) << "a replay executes nothing";

  // A command too: the replay is the first answer, even though the block has changed since.
  const std::string id = string_member(parse_json(first.body), "id");
  create_key("idem-buyer", "holder");
  const std::string body = R"({"buyer":"idem-buyer","quantity":10})";
  const HttpResponse sold = http("POST", "/records/" + id + "/sell", body, {{"Idempotency-Key", "key-sell-1"}});
  ASSERT_EQ(sold.status, 200) << sold.body;
  const std::int64_t after_sell = count_events();
  const HttpResponse resold = http("POST", "/records/" + id + "/sell", body, {{"Idempotency-Key", "key-sell-1"}});
  ExpectReplayOf(resold, sold);
  EXPECT_EQ(count_events(), after_sell);
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE event_type = 'SPLIT'"), 1);
  EXPECT_GE(query_int("SELECT count(*) FROM idempotency_keys"), 2);
}

TEST_F(Idempotency, SameKeyWithADifferentRequestIs422IdempotencyKeyReused) {
  ASSERT_EQ(Register("IDEM-REUSE-1", "key-reuse").status, 201);
  const std::int64_t events = count_events();
  EXPECT_TRUE(IsProblemOf(Register("IDEM-REUSE-2", "key-reuse"), 422, "idempotency-key-reused"));
  EXPECT_TRUE(IsProblemOf(Register("IDEM-REUSE-1", "key-reuse", {}, "99"), 422, "idempotency-key-reused"));
  // Another path with the same key.
  const std::string id = string_member(parse_json(Register("IDEM-REUSE-1", "key-reuse").body), "id");
  EXPECT_TRUE(IsProblemOf(http("POST", "/records/" + id + "/cancel", R"({"reason":"x"})",
                               {{"Idempotency-Key", "key-reuse"}}),
                          422, "idempotency-key-reused"));
  EXPECT_EQ(count_events(), events);
}

TEST_F(Idempotency, KeysAreScopedToTheAccount) {
  const std::string other_admin = create_key("second-admin", "admin");
  const HttpResponse mine = Register("IDEM-SCOPE-1", "shared-key-string");
  ASSERT_EQ(mine.status, 201) << mine.body;
  // The other account's first use of the same key string executes its own request.
  const HttpResponse theirs = Register("IDEM-SCOPE-2", "shared-key-string", bearer(other_admin));
  ASSERT_EQ(theirs.status, 201) << theirs.body;
  EXPECT_FALSE(Replayed(theirs));
  EXPECT_EQ(count_events(), 2);
  // And each account's repeat replays its own answer.
  ExpectReplayOf(Register("IDEM-SCOPE-2", "shared-key-string", bearer(other_admin)), theirs);
  ExpectReplayOf(Register("IDEM-SCOPE-1", "shared-key-string"), mine);
  // Another key of the same account shares the account's keys.
  const std::string my_second_key = create_key("test-admin", "admin");
  ExpectReplayOf(Register("IDEM-SCOPE-1", "shared-key-string", bearer(my_second_key)), mine);
  EXPECT_EQ(count_events(), 2);
}

TEST_F(Idempotency, ReplayAfterAServeRestart) {
  const HttpResponse first = Register("IDEM-RESTART", "key-restart");
  ASSERT_EQ(first.status, 201) << first.body;
  const std::int64_t events = count_events();
  stop_serve();
  start_serve();
  ExpectReplayOf(Register("IDEM-RESTART", "key-restart"), first);
  EXPECT_TRUE(IsProblemOf(Register("IDEM-RESTART-2", "key-restart"), 422, "idempotency-key-reused"));
  EXPECT_EQ(count_events(), events);
}

TEST_F(Idempotency, SixteenConcurrentRequestsWithOneKeyExecuteOnce) {
  constexpr int kClients = 16;
  const std::string id = SoldBlock("IDEM-RACE");
  const std::int64_t events = count_events();
  const std::string target = "/records/" + id + "/retire";
  const std::string body = RetireBody(1);

  std::vector<HttpResponse> responses(kClients);
  std::vector<std::string> errors(kClients);
  std::latch connected(kClients);
  std::latch go(1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      std::unique_ptr<HttpConnection> connection;
      try {
        connection = std::make_unique<HttpConnection>(port(), std::chrono::seconds(30));
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
      connected.count_down();
      go.wait();
      if (!connection) return;
      try {
        responses[i] = connection->request("POST", target, body, {{"Idempotency-Key", "key-race"}});
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  connected.wait();
  go.count_down();
  for (auto& t : threads) t.join();

  for (int i = 0; i < kClients; ++i) ASSERT_TRUE(errors[i].empty()) << "client " << i << ": " << errors[i];
  EXPECT_EQ(count_events(), events + 3) << "one partial retirement: SPLIT, CARVED, RETIRED";
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE event_type = 'RETIRED'"), 1);

  int executed = 0, replayed = 0, in_use = 0;
  const HttpResponse* original = nullptr;
  for (const HttpResponse& r : responses) {
    if (r.status == 200 && !Replayed(r)) {
      ++executed;
      original = &r;
    }
  }
  ASSERT_EQ(executed, 1) << "exactly one request executes";
  for (const HttpResponse& r : responses) {
    if (&r == original) continue;
    if (r.status == 409 && problem_type(r) == "/problems/idempotency-key-in-use") {
      ++in_use;
      EXPECT_TRUE(r.has_header("Retry-After")) << "a 409 idempotency-key-in-use says when to retry";
    } else {
      SCOPED_TRACE("a request that did not execute");
      ExpectReplayOf(r, *original);
      ++replayed;
    }
  }
  EXPECT_EQ(replayed + in_use, kClients - 1) << replayed << " replays, " << in_use << " in use";
  EXPECT_EQ(QuantityNow(id, 3), 99);
}

TEST_F(Idempotency, ARetriedPartialRetirementRetiresOnce) {
  const std::string id = SoldBlock("IDEM-RETRY");
  const HttpResponse first = RetireWithKey(id, 10, "key-retire-10");
  ASSERT_EQ(first.status, 200) << first.body;
  const HttpResponse again = RetireWithKey(id, 10, "key-retire-10");
  ExpectReplayOf(again, first);
  EXPECT_EQ(query_int("SELECT coalesce(sum((data->>'quantity')::bigint), 0) FROM events WHERE event_type = 'CARVED'"),
            10)
      << "10 retired in total, not 20";
  EXPECT_EQ(QuantityNow(id, 3), 90);
  // A new key is a new retirement.
  ASSERT_EQ(RetireWithKey(id, 10, "key-retire-10b").status, 200);
  EXPECT_EQ(QuantityNow(id, 4), 80);
}

TEST_F(Idempotency, InvalidKeysAre400) {
  const std::string too_long(256, 'k');
  for (const std::string& key : {std::string(""), too_long, std::string("tab\tinside"), std::string("caf\xc3\xa9")}) {
    SCOPED_TRACE("key '" + key.substr(0, 16) + (key.size() > 16 ? "...'" : "'") + " (" + std::to_string(key.size()) +
                 " bytes)");
    const HttpResponse r = Register("IDEM-BAD", key);
    EXPECT_TRUE(IsProblemOf(r, 400, "invalid-idempotency-key"));
    EXPECT_TRUE(has_item(error_fields(r), "Idempotency-Key")) << r.body;
  }
  // Control characters, sent as raw bytes (a client library may refuse to send them). The HTTP parser may
  // already refuse the header; either way it is a 400 and nothing is appended.
  for (const std::string& control : {std::string("\x01"), std::string("\x7f"), std::string("\x1b")}) {
    SCOPED_TRACE("control character " + std::to_string(static_cast<int>(control[0])));
    const std::string body = R"({"project_name":"P","registry":"Registry1","vintage":2023,"quantity":1,)"
                             R"("serial_number":"IDEM-CTRL"})";
    const std::string request = "POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + admin_key_ +
                                "\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\nIdempotency-Key: ab" + control + "cd\r\n\r\n" + body;
    const RawResult raw = send_raw(port(), request);
    ASSERT_TRUE(raw.response.has_value()) << raw.error;
    EXPECT_EQ(raw.response->status, 400) << raw.response->body;
    if (problem_type(*raw.response) == "/problems/invalid-idempotency-key") {
      EXPECT_TRUE(has_item(error_fields(*raw.response), "Idempotency-Key")) << raw.response->body;
    }
  }
  // Sent twice.
  const HttpResponse twice = Register("IDEM-BAD", "one", {{"Idempotency-Key", "two"}});
  EXPECT_TRUE(IsProblemOf(twice, 400, "repeated-header"));
  EXPECT_EQ(count_events(), 0);

  // The edges of the valid range: 1 and 255 characters, spaces inside, every printable character.
  EXPECT_EQ(Register("IDEM-OK-1", "k").status, 201);
  EXPECT_EQ(Register("IDEM-OK-2", std::string(255, 'k')).status, 201);
  EXPECT_EQ(Register("IDEM-OK-3", "order 42 / retry #1").status, 201);
  std::string printable;
  for (char c = 0x21; c <= 0x7e; ++c) printable += c;
  EXPECT_EQ(Register("IDEM-OK-4", printable).status, 201);
  EXPECT_EQ(count_events(), 4);
}

TEST_F(Idempotency, RefusalsAreReplayed) {
  // A 409 (retire a CREATED block) is kept: the repeat is the same 409 even once the block could be retired.
  const std::string id = register_new("IDEM-REFUSAL");
  const HttpResponse refused = RetireWithKey(id, 10, "key-refused");
  ASSERT_TRUE(IsProblemOf(refused, 409, "invalid-status"));
  create_key("idem-refusal-buyer", "holder");
  ASSERT_EQ(sell(id, "idem-refusal-buyer").status, 200);
  const std::int64_t events = count_events();
  ExpectReplayOf(RetireWithKey(id, 10, "key-refused"), refused);
  EXPECT_EQ(count_events(), events) << "the replayed refusal retired nothing";

  // A 404 is kept too.
  const std::string unknown = "6f1c2a8e-3b4d-5e6f-8a9b-0c1d2e3f4a5b";
  const HttpResponse missing = RetireWithKey(unknown, 1, "key-missing");
  ASSERT_TRUE(IsProblem(missing, 404));
  ExpectReplayOf(RetireWithKey(unknown, 1, "key-missing"), missing);

  // A 403 too.
  const std::string stranger = create_key("idem-stranger", "holder");
  const HttpResponse forbidden = http("POST", "/records/" + id + "/retire", RetireBody(1),
                                      {{"Authorization", "Bearer " + stranger}, {"Idempotency-Key", "key-403"}});
  ASSERT_TRUE(IsProblem(forbidden, 403));
  ExpectReplayOf(http("POST", "/records/" + id + "/retire", RetireBody(1),
                      {{"Authorization", "Bearer " + stranger}, {"Idempotency-Key", "key-403"}}),
                 forbidden);
  EXPECT_EQ(count_events(), events);
}

TEST_F(Idempotency, ValidationFailuresAndFailedPreconditionsAreNotKept) {
  // 422: not kept, so the same key then works for the corrected request.
  const HttpResponse invalid = Register("IDEM-422", "key-422", {}, "0");
  ASSERT_TRUE(IsProblem(invalid, 422));
  EXPECT_FALSE(Replayed(invalid));
  const HttpResponse fixed = Register("IDEM-422", "key-422");
  EXPECT_EQ(fixed.status, 201) << fixed.body;
  EXPECT_FALSE(Replayed(fixed));

  // 412: not kept, so the same request with a current If-Match executes.
  const std::string id = string_member(parse_json(fixed.body), "id");
  create_key("idem-412-buyer", "holder");
  const std::string body = R"({"buyer":"idem-412-buyer","quantity":10})";
  const HttpResponse stale =
      http("POST", "/records/" + id + "/sell", body, {{"Idempotency-Key", "key-412"}, {"If-Match", "\"7\""}});
  ASSERT_TRUE(IsProblem(stale, 412));
  const HttpResponse current =
      http("POST", "/records/" + id + "/sell", body, {{"Idempotency-Key", "key-412"}, {"If-Match", "\"1\""}});
  EXPECT_EQ(current.status, 200) << current.body;
  EXPECT_FALSE(Replayed(current));
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE event_type = 'SPLIT'"), 1);
}

}  // namespace
}  // namespace ledger::test

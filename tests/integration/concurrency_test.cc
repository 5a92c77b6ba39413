// Real concurrent clients (a thread and a TCP connection each, released together) racing on one credit:
// exactly one may win, the others get the answer the rules give, and the log holds exactly one event.
#include <functional>
#include <latch>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "command/credit_id.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

constexpr int kClients = 32;

struct Outcome {
  HttpResponse response;
  std::string error;  // set when the request itself failed (timeout, reset)
};

// Opens kClients connections, then sends request(i) on all of them at once.
std::vector<Outcome> race(std::uint16_t port,
                          const std::function<std::tuple<std::string, std::string, std::string>(int)>& request,
                          const Headers& headers = {}) {
  std::vector<Outcome> outcomes(kClients);
  std::latch connected(kClients);
  std::latch go(1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      std::unique_ptr<HttpConnection> connection;
      try {
        connection = std::make_unique<HttpConnection>(port, std::chrono::seconds(30));
      } catch (const std::exception& e) {
        outcomes[i].error = e.what();
      }
      connected.count_down();
      go.wait();
      if (!connection) return;
      try {
        const auto [method, target, body] = request(i);
        outcomes[i].response = connection->request(method, target, body, headers);
      } catch (const std::exception& e) {
        outcomes[i].error = e.what();
      }
    });
  }
  connected.wait();
  go.count_down();
  for (auto& t : threads) t.join();
  return outcomes;
}

std::map<int, int> status_counts(const std::vector<Outcome>& outcomes) {
  std::map<int, int> counts;
  for (const auto& o : outcomes) counts[o.error.empty() ? o.response.status : -1]++;
  return counts;
}

std::string describe(const std::vector<Outcome>& outcomes) {
  std::string text;
  for (const auto& [status, n] : status_counts(outcomes)) {
    text += std::to_string(n) + " x " + (status == -1 ? std::string("failed request") : std::to_string(status)) + "; ";
  }
  for (const auto& o : outcomes) {
    if (!o.error.empty()) return text + "e.g. " + o.error;
  }
  for (const auto& o : outcomes) {
    if (o.response.status != 200 && o.response.status != 201 && o.response.status != 409) {
      return text + "e.g. " + o.response.body;
    }
  }
  return text;
}

class Concurrency : public LedgerFixture {};

TEST_F(Concurrency, ThirtyTwoRetiresOfOneSoldCreditRetireItOnce) {
  const std::string id = register_new("RACE-RETIRE");
  ASSERT_EQ(sell(id, "Acme").status, 200);

  const auto outcomes = race(port(), [&](int i) {
    return std::make_tuple(std::string("POST"), "/records/" + id + "/retire",
                           R"({"beneficiary":"client )" + std::to_string(i) + "\"}");
  });
  const auto counts = status_counts(outcomes);
  EXPECT_EQ(counts.count(200) ? counts.at(200) : 0, 1) << describe(outcomes);
  EXPECT_EQ(counts.count(409) ? counts.at(409) : 0, kClients - 1) << describe(outcomes);
  for (const auto& o : outcomes) {
    if (o.response.status == 409) {
      EXPECT_TRUE(IsProblem(o.response, 409));
      EXPECT_TRUE(contains(problem_detail(o.response), "already retired")) << o.response.body;
      break;
    }
  }
  EXPECT_EQ(count_events(id, "RETIRED"), 1);
  EXPECT_EQ(count_events(), 3);
  const HttpResponse got = get_record_eventually(id, 3);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(string_member(parse_json(got.body), "status"), "RETIRED");
  EXPECT_EQ(int_member(parse_json(got.body), "version"), 3);
}

TEST_F(Concurrency, ThirtyTwoIdenticalRegistrationsCreateOneCredit) {
  CreditSpec spec;
  spec.serial_number = "RACE-REGISTER";
  const std::string body = spec.to_json();
  const auto outcomes =
      race(port(), [&](int) { return std::make_tuple(std::string("POST"), std::string("/register"), body); });
  const auto counts = status_counts(outcomes);
  EXPECT_EQ(counts.count(201) ? counts.at(201) : 0, 1) << describe(outcomes);
  EXPECT_EQ(counts.count(200) ? counts.at(200) : 0, kClients - 1) << describe(outcomes);
  const std::string expected_id = ledger::credit_id(spec.registry, spec.serial_number);
  for (const auto& o : outcomes) {
    if (o.error.empty() && (o.response.status == 200 || o.response.status == 201)) {
      EXPECT_EQ(string_member(parse_json(o.response.body), "id"), expected_id);
    }
  }
  EXPECT_EQ(count_events(expected_id, "CREATED"), 1);
  EXPECT_EQ(count_events(), 1);
}

// The issuer holds the block and sells it to 32 buyers at once: exactly one sale happens. Once it has, the
// issuer no longer holds the block, so every other sale is refused (403: a block is resold only by its
// holder).
TEST_F(Concurrency, ThirtyTwoSellsWithDifferentBuyersSellOnce) {
  const std::string issuer = create_issuer_key("Race Issuer");
  CreditSpec spec;
  spec.serial_number = "RACE-SELL";
  const HttpResponse registered = http("POST", "/register", spec.to_json(), bearer(issuer));
  ASSERT_EQ(registered.status, 201) << registered.body;
  const std::string id = string_member(parse_json(registered.body), "id");
  for (int i = 0; i < kClients; ++i) ensure_account("Buyer " + std::to_string(i));
  const auto outcomes = race(
      port(),
      [&](int i) {
        return std::make_tuple(std::string("POST"), "/records/" + id + "/sell",
                               R"({"buyer":"Buyer )" + std::to_string(i) + "\"}");
      },
      bearer(issuer));
  const auto counts = status_counts(outcomes);
  EXPECT_EQ(counts.count(200) ? counts.at(200) : 0, 1) << describe(outcomes);
  EXPECT_EQ(counts.count(403) ? counts.at(403) : 0, kClients - 1) << describe(outcomes);
  EXPECT_EQ(count_events(id, "SOLD"), 1);
  EXPECT_EQ(count_events(), 2);

  // The buyer in the log is the one whose request won.
  int winner = -1;
  for (int i = 0; i < kClients; ++i) {
    if (outcomes[i].error.empty() && outcomes[i].response.status == 200) winner = i;
  }
  ASSERT_GE(winner, 0);
  EXPECT_EQ(query_scalar("SELECT data->>'buyer' FROM events WHERE stream_id = '" + id + "' AND event_type = 'SOLD'"),
            "Buyer " + std::to_string(winner));
  const HttpResponse got = get_record_eventually(id, 2);
  ASSERT_EQ(got.status, 200) << got.body;
  const auto doc = parse_json(got.body);
  ASSERT_TRUE(doc.HasMember("history") && doc["history"].IsArray() && doc["history"].Size() == 2) << got.body;
  EXPECT_EQ(string_member(doc["history"][1]["data"], "buyer"), "Buyer " + std::to_string(winner));
}

}  // namespace
}  // namespace ledger::test

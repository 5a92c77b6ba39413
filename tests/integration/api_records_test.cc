// POST /records/{id}/sell, POST /records/{id}/retire, GET /records/{id} (and /record/{id}), If-Match, health,
// and the server's behaviour on unknown routes and malformed HTTP.
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "command/credit_id.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class RecordsApi : public LedgerFixture {};

constexpr const char* kUnknownId = "6f1c2a8e-3b4d-5e6f-8a9b-0c1d2e3f4a5b";

void ExpectState(const HttpResponse& r, const std::string& id, const std::string& state, std::int64_t version) {
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(contains(lower(r.header("Content-Type").value_or("")), "application/json"))
      << "Content-Type: " << r.header("Content-Type").value_or("<none>");
  EXPECT_EQ(r.header("ETag").value_or("<none>"), "\"" + std::to_string(version) + "\"");
  const auto doc = parse_json(r.body);
  EXPECT_EQ(string_member(doc, "id"), id);
  EXPECT_EQ(string_member(doc, "status"), state);
  ASSERT_TRUE(has_int_member(doc, "version")) << r.body;
  EXPECT_EQ(int_member(doc, "version"), version);
  EXPECT_EQ(string_member(doc, "project_name"), "Mangrove Restoration");
  EXPECT_EQ(string_member(doc, "registry"), "Verra");
  EXPECT_TRUE(has_int_member(doc, "vintage") && int_member(doc, "vintage") == 2023) << r.body;
  EXPECT_TRUE(has_int_member(doc, "quantity") && int_member(doc, "quantity") == 100) << r.body;
}

// A 409 for a credit in the wrong state says which state it is in (in the detail or "current_status").
bool SaysCurrentStatus(const HttpResponse& r, const std::string& state) {
  return contains(problem_detail(r), state) || string_member(parse_json(r.body), "current_status") == state;
}

// ---- sell ----

TEST_F(RecordsApi, SellCreatedCreditAnswers200Sold) {
  const std::string id = register_new("SELL-1");
  ExpectState(sell(id, "Acme Corp"), id, "SOLD", 2);
  EXPECT_EQ(count_events(id, "SOLD"), 1);
  EXPECT_EQ(query_int("SELECT max(stream_version) FROM events WHERE stream_id = '" + id + "'"), 2);
}

TEST_F(RecordsApi, SellWithTrailingSlashWorks) {
  const std::string id = register_new("SELL-SLASH");
  ensure_account("Acme");
  ExpectState(http("POST", "/records/" + id + "/sell/", R"({"buyer":"Acme"})"), id, "SOLD", 2);
}

TEST_F(RecordsApi, SellUnknownIdAnswers404) {
  EXPECT_TRUE(IsProblem(sell(kUnknownId, "Acme"), 404));
  EXPECT_EQ(count_events(), 0);
}

TEST_F(RecordsApi, SellWithoutBuyerAnswers422) {
  const std::string id = register_new("SELL-NOBUYER");
  for (const std::string body : {"{}", R"({"buyer":"   "})", R"({"buyer":""})", R"({"buyer":5})",
                                 R"({"buyer":null})", R"({"purchaser":"Acme"})"}) {
    SCOPED_TRACE("body: " + body);
    const HttpResponse r = http("POST", "/records/" + id + "/sell", body);
    EXPECT_TRUE(IsProblem(r, 422));
    EXPECT_TRUE(has_item(error_fields(r), "buyer")) << r.body;
  }
  const HttpResponse too_long = sell(id, std::string(201, 'b'));
  EXPECT_TRUE(IsProblem(too_long, 422));
  EXPECT_EQ(count_events(), 1) << "no invalid sale may append";
}

TEST_F(RecordsApi, CommandOnNonUuidIdAnswers400) {
  EXPECT_TRUE(IsProblem(sell("not-a-uuid", "Acme"), 400));
  EXPECT_TRUE(IsProblem(retire("12345"), 400));
  EXPECT_EQ(count_events(), 0);
}

TEST_F(RecordsApi, SellWithMalformedJsonAnswers400) {
  const std::string id = register_new("SELL-BADJSON");
  EXPECT_TRUE(IsProblem(http("POST", "/records/" + id + "/sell", R"({"buyer": )"), 400));
  EXPECT_EQ(count_events(), 1);
}

// A SOLD block is sold on by its holder (here the admin): it stays SOLD, the history shows each sale.
TEST_F(RecordsApi, SellTwiceResellsAndEachSaleIsRecorded) {
  const std::string id = register_new("SELL-TWICE");
  ASSERT_EQ(sell(id, "First Buyer").status, 200);
  const HttpResponse r = sell(id, "Second Buyer");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(string_member(parse_json(r.body), "status"), "SOLD");
  EXPECT_EQ(string_member(parse_json(r.body), "holder"), "Second Buyer");
  EXPECT_EQ(count_events(id, "SOLD"), 2);
  EXPECT_EQ(query_scalar("SELECT data->>'seller' FROM events WHERE stream_id = '" + id +
                         "' AND stream_version = 3"),
            "First Buyer");
}

TEST_F(RecordsApi, SellRetiredCreditAnswers409WithCurrentStatus) {
  const std::string id = register_new("SELL-RETIRED");
  ASSERT_EQ(sell(id, "Acme").status, 200);
  ASSERT_EQ(retire(id).status, 200);
  const HttpResponse r = sell(id, "Late Buyer");
  EXPECT_TRUE(IsProblem(r, 409));
  EXPECT_TRUE(SaysCurrentStatus(r, "RETIRED")) << r.body;
  EXPECT_EQ(count_events(), 3);
}

// ---- retire ----

TEST_F(RecordsApi, RetireUnsoldCreditAnswers409MustBeSold) {
  const std::string id = register_new("RETIRE-UNSOLD");
  const HttpResponse r = retire(id);
  EXPECT_TRUE(IsProblem(r, 409));
  EXPECT_TRUE(contains(problem_detail(r), "must be sold before retiring")) << "detail: " << problem_detail(r);
  EXPECT_EQ(count_events(), 1);
}

TEST_F(RecordsApi, RetireSoldCreditWithEmptyBodyAnswers200Retired) {
  const std::string id = register_new("RETIRE-EMPTY");
  ASSERT_EQ(sell(id, "Acme").status, 200);
  ExpectState(retire(id), id, "RETIRED", 3);
  EXPECT_EQ(count_events(id, "RETIRED"), 1);
}

TEST_F(RecordsApi, RetireWithBeneficiaryAndReasonAnswers200) {
  const std::string id = register_new("RETIRE-BODY");
  ASSERT_EQ(sell(id, "Acme").status, 200);
  ExpectState(retire(id, R"({"beneficiary":"City of Oslo","reason":"2024 emissions"})"), id, "RETIRED", 3);
}

TEST_F(RecordsApi, RetireWithTrailingSlashWorks) {
  const std::string id = register_new("RETIRE-SLASH");
  ASSERT_EQ(sell(id, "Acme").status, 200);
  ExpectState(http("POST", "/records/" + id + "/retire/"), id, "RETIRED", 3);
}

TEST_F(RecordsApi, RetireTwiceAnswers409AlreadyRetired) {
  const std::string id = register_new("RETIRE-TWICE");
  ASSERT_EQ(sell(id, "Acme").status, 200);
  ASSERT_EQ(retire(id).status, 200);
  const HttpResponse r = retire(id);
  EXPECT_TRUE(IsProblem(r, 409));
  EXPECT_TRUE(contains(problem_detail(r), "already retired")) << "detail: " << problem_detail(r);
  EXPECT_EQ(count_events(id, "RETIRED"), 1);
}

TEST_F(RecordsApi, RetireUnknownIdAnswers404) {
  EXPECT_TRUE(IsProblem(retire(kUnknownId), 404));
  EXPECT_EQ(count_events(), 0);
}

// ---- If-Match ----

TEST_F(RecordsApi, StaleIfMatchAnswers412AndAppendsNothing) {
  const std::string id = register_new("IFMATCH-1");

  EXPECT_TRUE(IsProblem(sell(id, "Acme", {{"If-Match", "\"2\""}}), 412));
  EXPECT_TRUE(IsProblem(sell(id, "Acme", {{"If-Match", "\"0\""}}), 412));
  EXPECT_EQ(count_events(), 1) << "a failed precondition must not append";

  const HttpResponse sold = sell(id, "Acme", {{"If-Match", "\"1\""}});
  ExpectState(sold, id, "SOLD", 2);

  EXPECT_TRUE(IsProblem(retire(id, "", {{"If-Match", "\"1\""}}), 412)) << "the ETag of version 1 is stale now";
  EXPECT_EQ(count_events(id, "RETIRED"), 0);

  ExpectState(retire(id, "", {{"If-Match", sold.header("ETag").value_or("")}}), id, "RETIRED", 3);
  EXPECT_EQ(count_events(), 3);
}

// ---- GET ----

TEST_F(RecordsApi, GetShowsRecordWithFullHistoryOldestFirst) {
  const std::string id = register_new("GET-HISTORY");
  ASSERT_EQ(sell(id, "Acme Corp").status, 200);
  ASSERT_EQ(retire(id, R"({"beneficiary":"City of Oslo","reason":"2024 emissions"})").status, 200);

  const HttpResponse r = get_record_eventually(id, 3);
  ExpectState(r, id, "RETIRED", 3);
  const auto doc = parse_json(r.body);
  EXPECT_EQ(string_member(doc, "serial_number"), "GET-HISTORY");
  ASSERT_TRUE(doc.HasMember("history") && doc["history"].IsArray()) << r.body;
  const auto& history = doc["history"];
  ASSERT_EQ(history.Size(), 3u) << r.body;
  const std::regex rfc3339_utc(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$)");
  const char* types[] = {"CREATED", "SOLD", "RETIRED"};
  std::string previous_recorded_at;
  for (rapidjson::SizeType i = 0; i < history.Size(); ++i) {
    SCOPED_TRACE("history[" + std::to_string(i) + "]");
    const auto& entry = history[i];
    EXPECT_TRUE(has_int_member(entry, "version") && int_member(entry, "version") == i + 1) << r.body;
    EXPECT_EQ(string_member(entry, "type"), types[i]);
    const std::string recorded_at = string_member(entry, "recorded_at");
    EXPECT_TRUE(std::regex_match(recorded_at, rfc3339_utc)) << "recorded_at: " << recorded_at;
    EXPECT_GE(recorded_at.substr(0, 19), previous_recorded_at.substr(0, std::min<std::size_t>(19, previous_recorded_at.size())));
    previous_recorded_at = recorded_at;
    EXPECT_TRUE(entry.HasMember("data") && entry["data"].IsObject()) << r.body;
  }
  EXPECT_EQ(string_member(history[1]["data"], "buyer"), "Acme Corp") << r.body;
  EXPECT_EQ(string_member(history[2]["data"], "beneficiary"), "City of Oslo") << r.body;
  EXPECT_EQ(string_member(history[2]["data"], "reason"), "2024 emissions") << r.body;
  EXPECT_EQ(string_member(history[0]["data"], "serial_number"), "GET-HISTORY") << r.body;
}

TEST_F(RecordsApi, GetWorksAtRecordAliasAndTrailingSlash) {
  const std::string id = register_new("GET-ALIAS");
  const HttpResponse canonical = get_record_eventually(id, 1);
  ASSERT_EQ(canonical.status, 200) << canonical.body;
  for (const std::string& target : {"/records/" + id + "/", "/record/" + id, "/record/" + id + "/"}) {
    SCOPED_TRACE(target);
    const HttpResponse r = http("GET", target);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, canonical.body);
    EXPECT_EQ(r.header("ETag").value_or("<none>"), "\"1\"");
  }
}

TEST_F(RecordsApi, GetUnknownIdAnswers404) {
  EXPECT_TRUE(IsProblem(http("GET", std::string("/records/") + kUnknownId), 404));
  EXPECT_TRUE(IsProblem(http("GET", std::string("/record/") + kUnknownId), 404));
}

TEST_F(RecordsApi, GetNonUuidIdAnswers400) {
  for (const std::string id : {"not-a-uuid", "1234", "800d4116-9d79-5774-bcc1-b5c8a8b69bcz",
                               "800d4116-9d79-5774-bcc1-b5c8a8b69bcc0"}) {
    SCOPED_TRACE(id);
    EXPECT_TRUE(IsProblem(http("GET", "/records/" + id), 400));
  }
}

TEST_F(RecordsApi, GetReflectsEachCommandEventually) {
  const std::string id = register_new("GET-PROGRESS");
  EXPECT_EQ(string_member(parse_json(get_record_eventually(id, 1).body), "status"), "CREATED");
  ASSERT_EQ(sell(id, "Acme").status, 200);
  EXPECT_EQ(string_member(parse_json(get_record_eventually(id, 2).body), "status"), "SOLD");
  ASSERT_EQ(retire(id).status, 200);
  EXPECT_EQ(string_member(parse_json(get_record_eventually(id, 3).body), "status"), "RETIRED");
}

// ---- health ----

TEST_F(RecordsApi, HealthzAnswers200WhenDatabaseIsReachable) {
  EXPECT_EQ(http("GET", "/healthz").status, 200);
  EXPECT_EQ(http("GET", "/healthz/").status, 200);
}

TEST_F(RecordsApi, HealthzAnswers503WhileDatabaseIsUnreachableAndRecovers) {
  // Only this test's database is closed to connections; the cluster and other tests are untouched.
  // The projector is stopped first: how it rides out an outage is not what this test is about.
  ASSERT_TRUE(exited_zero(stop_projector()));
  db_->exec_admin("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS false");
  db_->exec_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db_->name() +
                  "' AND pid <> pg_backend_pid()");

  HttpResponse health;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  do {
    health = http("GET", "/healthz");
    if (health.status == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(IsProblem(health, 503));

  CreditSpec spec;
  spec.serial_number = "DURING-OUTAGE";
  const HttpResponse refused = register_credit(spec);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_TRUE(IsProblem(refused, refused.status));
  EXPECT_TRUE(refused.has_header("Retry-After")) << "a 503 says when to retry";

  db_->exec_admin("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS true");
  const auto recovery_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  do {
    health = http("GET", "/healthz");
    if (health.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < recovery_deadline);
  EXPECT_EQ(health.status, 200) << "serve reconnects once the database is back: " << health.body;
  // Each database thread retries a failed connect at most every 250 ms, so a command may still meet a
  // 503 (with Retry-After) right after /healthz recovers; within a second it must go through.
  HttpResponse registered;
  const auto command_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  do {
    registered = register_credit(spec);
    if (registered.status != 503) break;
    EXPECT_TRUE(registered.has_header("Retry-After"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < command_deadline);
  EXPECT_EQ(registered.status, 201) << registered.body;
}

// ---- routing and HTTP robustness ----

TEST_F(RecordsApi, UnknownRouteAnswers404Problem) {
  EXPECT_TRUE(IsProblem(http("GET", "/no/such/route"), 404));
  EXPECT_TRUE(IsProblem(http("POST", std::string("/records/") + kUnknownId + "/destroy"), 404));
}

TEST_F(RecordsApi, WrongMethodIsRejectedWithProblem) {
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/register"}, {"DELETE", std::string("/records/") + kReadmeCreditId},
           {"PUT", std::string("/records/") + kReadmeCreditId + "/sell"}}) {
    SCOPED_TRACE(method + " " + target);
    const HttpResponse r = http(method, target);
    EXPECT_TRUE(r.status == 404 || r.status == 405) << r.status;
    EXPECT_TRUE(IsProblem(r, r.status));
  }
  EXPECT_EQ(count_events(), 0);
}

TEST_F(RecordsApi, MalformedHttpGetsA400OrACloseAndTheServerSurvives) {
  for (const std::string& garbage : {std::string("GARBAGE\r\n\r\n"),
                                    std::string("POST /register HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
                                    std::string(5000, '\x01')}) {
    const RawResult raw = send_raw(port(), garbage, std::chrono::seconds(5));
    if (raw.response) {
      EXPECT_EQ(raw.response->status, 400) << raw.response->body;
    }
  }
  EXPECT_EQ(http("GET", "/healthz").status, 200);
}

// HTTP/1.1 pipelining: requests written back to back on one connection are answered one by one, in order,
// each on its own merits (the unauthenticated one in the middle is refused, the others are not).
TEST_F(RecordsApi, PipelinedRequestsAreAnsweredInOrder) {
  const std::string body = kReadmeRegisterBody;
  const std::string auth = "Authorization: Bearer " + admin_key_ + "\r\n";
  const std::string sell = R"({"buyer":"Pipelined Buyer"})";
  ensure_account("Pipelined Buyer");
  const std::string requests =
      "POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body +
      "POST /records/" + std::string(kReadmeCreditId) + "/sell HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(sell.size()) + "\r\n\r\n" + sell +
      "POST /records/" + std::string(kReadmeCreditId) + "/sell HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(sell.size()) + "\r\n\r\n" + sell +
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const PipelinedResult result = send_raw_pipelined(port(), requests, 4);
  ASSERT_EQ(result.responses.size(), 4u) << result.error;
  EXPECT_EQ(result.responses[0].status, 201) << result.responses[0].body;
  EXPECT_TRUE(IsProblem(result.responses[1], 401));
  EXPECT_EQ(result.responses[2].status, 200) << result.responses[2].body;
  EXPECT_TRUE(contains(result.responses[2].body, "SOLD")) << result.responses[2].body;
  EXPECT_EQ(result.responses[3].status, 200) << result.responses[3].body;
  EXPECT_EQ(count_events(), 2);
}

TEST_F(RecordsApi, KeepAliveConnectionServesSeveralRequests) {
  HttpConnection connection(port());
  const std::string id = string_member(parse_json(connection.request("POST", "/register", kReadmeRegisterBody).body), "id");
  EXPECT_EQ(id, kReadmeCreditId);
  ensure_account("A");
  EXPECT_EQ(connection.request("POST", "/records/" + id + "/sell", R"({"buyer":"A"})").status, 200);
  EXPECT_EQ(connection.request("GET", "/healthz").status, 200);
  EXPECT_EQ(connection.request("POST", "/records/" + id + "/retire").status, 200);
}

TEST_F(RecordsApi, EachRequestIsLogged) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(http("GET", "/healthz").status, 200);
  ASSERT_EQ(http("GET", std::string("/records/") + kUnknownId).status, 404);
  std::size_t lines = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  do {
    lines = 0;
    const std::string log = serve_->stderr_text();
    for (std::size_t at = log.find("/healthz"); at != std::string::npos; at = log.find("/healthz", at + 1)) {
      ++lines;
    }
    if (lines >= 3 && contains(log, kUnknownId)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_GE(lines, 3u) << serve_->stderr_text();
  EXPECT_TRUE(contains(serve_->stderr_text(), kUnknownId)) << serve_->stderr_text();
}

}  // namespace
}  // namespace ledger::test

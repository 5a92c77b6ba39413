// Accounts, keys and roles: every endpoint but /healthz takes "Authorization: Bearer <key>"; the issuer ->
// sell -> retire flow with three keys; 401/403 answers that append nothing; revocation; event metadata; the
// `keys` subcommand.
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "command/credit_id.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class AuthApi : public LedgerFixture {};

const Headers kNoKey = {{"Authorization", ""}};

void ExpectUnauthorized(const HttpResponse& r, bool token_presented) {
  EXPECT_TRUE(IsProblem(r, 401));
  const std::string challenge = r.header("WWW-Authenticate").value_or("<none>");
  EXPECT_EQ(challenge.rfind("Bearer", 0), 0u) << challenge;
  EXPECT_EQ(contains(challenge, "error=\"invalid_token\""), token_presented) << challenge;
}

TEST_F(AuthApi, WithoutAKeyEveryEndpointButHealthIs401AndNothingIsAppended) {
  const std::string id = credit_id("Verra", "VCS-0001");
  ExpectUnauthorized(http("POST", "/register", CreditSpec().to_json(), kNoKey), false);
  ExpectUnauthorized(http("POST", "/records/" + id + "/sell", R"({"buyer":"x"})", kNoKey), false);
  ExpectUnauthorized(http("POST", "/records/" + id + "/retire", "", kNoKey), false);
  ExpectUnauthorized(http("GET", "/records/" + id, "", kNoKey), false);
  ExpectUnauthorized(http("GET", "/record/" + id, "", kNoKey), false);
  EXPECT_EQ(http("GET", "/healthz", "", kNoKey).status, 200);
  EXPECT_EQ(count_events(), 0);
}

TEST_F(AuthApi, MalformedUnknownAndWrongSecretKeysAre401) {
  const std::string real = create_issuer_key("issuer-a");
  std::string wrong_secret = real;
  wrong_secret.back() = wrong_secret.back() == '0' ? '1' : '0';
  std::string unknown_id = real;
  unknown_id[5] = unknown_id[5] == '0' ? '1' : '0';
  for (const std::string& header :
       {std::string("Bearer nonsense"), std::string("Basic dXNlcjpwYXNz"), "Bearer " + wrong_secret,
        "Bearer " + unknown_id, "Bearer " + real.substr(0, real.size() - 1), std::string("Bearer")}) {
    SCOPED_TRACE(header);
    const HttpResponse r = http("POST", "/register", CreditSpec().to_json(), {{"Authorization", header}});
    ExpectUnauthorized(r, true);
  }
  EXPECT_EQ(count_events(), 0);
  EXPECT_EQ(register_credit(CreditSpec()).status, 201) << "the default admin key works";
}

TEST_F(AuthApi, IssuerSellsToABuyerWhoRetiresAndOnlyTheHolderMayAct) {
  const std::string issuer = create_issuer_key("Verra Issuance Desk");
  const std::string buyer = create_key("Acme Airlines", "holder");
  const std::string auditor = create_key("Audit Co", "auditor");
  const std::string stranger = create_key("Mallory", "holder");

  // Only issuers (and admins) register; the registering account becomes the holder.
  EXPECT_TRUE(IsProblem(http("POST", "/register", CreditSpec().to_json(), bearer(buyer)), 403));
  EXPECT_TRUE(IsProblem(http("POST", "/register", CreditSpec().to_json(), bearer(auditor)), 403));
  EXPECT_EQ(count_events(), 0);
  HttpResponse r = http("POST", "/register", CreditSpec().to_json(), bearer(issuer));
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = string_member(parse_json(r.body), "id");
  EXPECT_EQ(string_member(parse_json(r.body), "holder"), "Verra Issuance Desk");

  // Another issuer registering the same credit is a second issuance: 409, even with identical attributes.
  const std::string other_issuer = create_issuer_key("Other Registry");
  r = http("POST", "/register", CreditSpec().to_json(), bearer(other_issuer));
  EXPECT_TRUE(IsProblem(r, 409)) << r.body;
  // The issuer's own retry is still the idempotent 200.
  EXPECT_EQ(http("POST", "/register", CreditSpec().to_json(), bearer(issuer)).status, 200);

  // Only the holder sells.
  const std::string sell_body = R"({"buyer":"Acme Airlines"})";
  r = http("POST", "/records/" + id + "/sell", sell_body, bearer(stranger));
  EXPECT_TRUE(IsProblem(r, 403)) << r.body;
  EXPECT_TRUE(contains(problem_detail(r), "Verra Issuance Desk")) << "names the holder: " << r.body;
  EXPECT_TRUE(IsProblem(http("POST", "/records/" + id + "/sell", sell_body, bearer(auditor)), 403));
  EXPECT_TRUE(IsProblem(http("POST", "/records/" + id + "/sell", sell_body, bearer(buyer)), 403));
  r = http("POST", "/records/" + id + "/sell", sell_body, bearer(issuer));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(string_member(parse_json(r.body), "holder"), "Acme Airlines");

  // Now only the buyer retires: not the seller, not a stranger, not the auditor.
  EXPECT_TRUE(IsProblem(http("POST", "/records/" + id + "/retire", "", bearer(issuer)), 403));
  EXPECT_TRUE(IsProblem(http("POST", "/records/" + id + "/retire", "", bearer(stranger)), 403));
  EXPECT_TRUE(IsProblem(http("POST", "/records/" + id + "/retire", "", bearer(auditor)), 403));
  EXPECT_EQ(count_events(id, "RETIRED"), 0);
  r = http("POST", "/records/" + id + "/retire", R"({"beneficiary":"Acme Airlines","reason":"2025 flights"})",
           bearer(buyer));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(count_events(), 3) << "refused commands appended nothing";

  // Everyone with a key reads; the record shows its holder.
  r = get_record_eventually(id, 3);
  ASSERT_EQ(r.status, 200) << r.body;
  for (const std::string& key : {auditor, stranger, buyer, issuer}) {
    r = http("GET", "/records/" + id, "", bearer(key));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(string_member(parse_json(r.body), "holder"), "Acme Airlines");
    EXPECT_EQ(string_member(parse_json(r.body), "status"), "RETIRED");
  }

  // Each event's metadata names the acting account, its role and the request id.
  EXPECT_EQ(query_scalar("SELECT string_agg(metadata->>'account' || '/' || (metadata->>'role') || '/' || "
                         "(metadata->>'command'), ',' ORDER BY stream_version) FROM events WHERE " + kCreditEventsOnly),
            "Verra Issuance Desk/issuer/register,Verra Issuance Desk/issuer/sell,Acme Airlines/holder/retire");
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE coalesce(metadata->>'request_id', '') = '' AND " +
                      kCreditEventsOnly),
            0);
  EXPECT_EQ(query_scalar("SELECT data->>'seller' FROM events WHERE event_type = 'SOLD'"), "Verra Issuance Desk");
  EXPECT_EQ(query_scalar("SELECT holder FROM credit_records"), "Acme Airlines");
}

TEST_F(AuthApi, RequestIdFromTheClientIsRecorded) {
  const HttpResponse r =
      http("POST", "/register", CreditSpec().to_json(), {{"X-Request-Id", "req-auth-7"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(query_scalar("SELECT metadata->>'request_id' || ' ' || (metadata->>'account') FROM events WHERE " +
                         kCreditEventsOnly),
            "req-auth-7 test-admin");
}

TEST_F(AuthApi, ARevokedKeyStopsWorkingWithinTheCacheTime) {
  const std::string key = create_issuer_key("Short Lived");
  ASSERT_EQ(http("GET", "/records/" + credit_id("Verra", "none"), "", bearer(key)).status, 404);
  const std::string key_id = key.substr(4, 16);
  const RunResult listed = run_ledger({"keys", "list"});
  ASSERT_TRUE(listed.ok()) << listed.describe();
  EXPECT_TRUE(contains(listed.out, key_id + "\tShort Lived\tissuer\t")) << listed.out;
  EXPECT_FALSE(contains(listed.out, key.substr(21))) << "keys list never shows a secret";

  const RunResult revoked = run_ledger({"keys", "revoke", key_id});
  ASSERT_TRUE(revoked.ok()) << revoked.describe();
  const auto revoked_at = std::chrono::steady_clock::now();
  int status = 0;
  while (std::chrono::steady_clock::now() - revoked_at < std::chrono::seconds(8)) {
    status = http("GET", "/records/" + credit_id("Verra", "none"), "", bearer(key)).status;
    if (status == 401) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(status, 401) << "still accepted 8 s after revocation";
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - revoked_at).count();
  EXPECT_LE(ms, 6000) << "the revoked key was accepted for " << ms << " ms";
  EXPECT_EQ(http("POST", "/register", CreditSpec().to_json(), bearer(key)).status, 401);
  EXPECT_EQ(count_events(), 0);

  const RunResult again = run_ledger({"keys", "list"});
  EXPECT_TRUE(contains(again.out, key_id + "\tShort Lived\tissuer\t")) << again.out;
  EXPECT_FALSE(contains(again.out, key_id + "\tShort Lived\tissuer\t" + "-")) << "shows when it was revoked";
  EXPECT_EQ(run_ledger({"keys", "revoke", "0000000000000000"}).wait_status >> 8, 3) << "unknown key id";
}

TEST_F(AuthApi, KeysCreateRefusesBadArgumentsAndPrintsNothingOnStdout) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"keys", "create", "--account", "x", "--role", "root"},
        std::vector<std::string>{"keys", "create", "--role", "admin"},
        std::vector<std::string>{"keys", "create", "--account", "", "--role", "admin"},
        std::vector<std::string>{"keys", "create", "--account", "tab\tinside", "--role", "admin"},
        std::vector<std::string>{"keys", "frobnicate"}, std::vector<std::string>{"keys"}}) {
    const RunResult r = run_ledger(args);
    EXPECT_FALSE(r.ok()) << r.describe();
    EXPECT_EQ(r.out, "") << "stdout carries only a created key";
  }
  EXPECT_EQ(query_int("SELECT count(*) FROM api_keys"), 1) << "only the fixture's admin key";
  EXPECT_EQ(query_int("SELECT count(*) FROM api_keys WHERE length(secret_sha256) = 32"), 1);
}

}  // namespace
}  // namespace ledger::test

// Hostile input over HTTP against a real serve + PostgreSQL: number texts that crashed RapidJSON 1.1.0
// (CVE-2024-38517) in every field of every body, invisible characters that would give the same real
// block a second id, and lookalike registrations (alone and concurrently).
#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "command/credit_id.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class HostileInput : public LedgerFixture {
 protected:
  // serve is still up and answering: a crash would have taken it down.
  void ExpectServeAlive() {
    ASSERT_TRUE(serve_->running()) << "serve died; stderr:\n" << serve_->stderr_text();
    const HttpResponse r = http("GET", "/healthz");
    EXPECT_EQ(r.status, 200) << r.body;
  }

  std::string register_body(const std::string& registry, const std::string& serial) {
    CreditSpec spec;
    spec.registry = registry;
    spec.serial_number = serial;
    return spec.to_json();
  }
};

// The body of the report and its relatives: huge negative and positive exponents with long fractions.
std::vector<std::string> crash_numbers() {
  return {"1.0000000000e-2147483639",
          "1.0000000000e-2147483648",
          "-1.0000000000e-2147483639",
          "1." + std::string(40, '0') + "e-2147483630",
          "0.0000000001e-2147483647",
          "9.9999999999999999999999e-2147483640",
          "1E-2147483639",
          "1.0000000000e+2147483639",
          "123456789012345678901234567890e-2147483640"};
}

TEST_F(HostileInput, NumbersThatCrashedRapidJsonAreRefusedInEveryField) {
  const std::string id = register_new("HOSTILE-NUM-1");
  const HttpResponse sold = sell(id, "Acme Corp");
  ASSERT_EQ(sold.status, 200) << sold.body;
  const std::string unsold = register_new("HOSTILE-NUM-2");
  const std::int64_t events_before = count_events();
  const char* const register_fields[] = {"project_name", "registry", "vintage", "quantity", "serial_number"};
  for (const std::string& number : crash_numbers()) {
    SCOPED_TRACE(number);
    // retire: the reported crash, and every field of the body.
    for (const char* field : {"reason", "beneficiary"}) {
      const HttpResponse r = retire(id, std::string("{\"") + field + "\": " + number + "}");
      EXPECT_TRUE(r.status == 400 || r.status == 422) << r.status << " " << r.body;
      EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json");
      if (r.status == 422) {
        EXPECT_TRUE(has_item(error_fields(r), field)) << r.body;
      }
    }
    // A valid body is still answered (409: a sold block cannot be cancelled).
    const HttpResponse cancel_r = http("POST", "/records/" + id + "/cancel", R"({"reason": "r"})");
    EXPECT_EQ(cancel_r.status, 409) << cancel_r.body;
    const HttpResponse bad_sell = http("POST", "/records/" + id + "/sell", "{\"buyer\": " + number + "}");
    EXPECT_TRUE(bad_sell.status == 400 || bad_sell.status == 422) << bad_sell.body;
    // register: each field in turn holds the number.
    for (const char* field : register_fields) {
      std::ostringstream body;
      body << "{";
      for (const char* f : register_fields) {
        if (f != register_fields[0]) body << ",";
        body << "\"" << f << "\":";
        if (f == field) {
          body << number;
        } else if (std::string(f) == "vintage") {
          body << "2023";
        } else if (std::string(f) == "quantity") {
          body << "100";
        } else {
          body << "\"HOSTILE-NUM-REG\"";
        }
      }
      body << "}";
      const HttpResponse r = http("POST", "/register", body.str());
      EXPECT_TRUE(r.status == 400 || r.status == 422) << body.str() << " -> " << r.status << " " << r.body;
    }
    // Nested and unknown fields hold it too (on a credit not yet sold, so the valid retire is refused 409).
    const HttpResponse nested = retire(unsold, "{\"reason\": \"ok\", \"extra\": [{\"deep\": " + number +
                                                   "}], \"more\": " + number + "}");
    EXPECT_TRUE(nested.status == 409 || nested.status == 400) << nested.body;
    ExpectServeAlive();
  }
  EXPECT_EQ(count_events(), events_before) << "no refused body may append";
}

// Invisible characters may not give a real block a second id: each is refused (422 naming the field) or
// trimmed into the very same credit.
TEST_F(HostileInput, InvisibleCharactersCannotMakeATwin) {
  const HttpResponse first = register_credit([] {
    CreditSpec s;
    s.serial_number = "VCS-TWIN-1";
    return s;
  }());
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string id = string_member(parse_json(first.body), "id");

  struct Variant {
    const char* name;
    std::string registry, serial;
    const char* field;  // "" when it must be the same credit (200)
  };
  const Variant variants[] = {
      {"zero-width space after the registry", "Verra\xE2\x80\x8B", "VCS-TWIN-1", "registry"},
      {"zero-width space inside the serial", "Verra", "VCS-\xE2\x80\x8BTWIN-1", "serial_number"},
      {"right-to-left override in the serial", "Verra", "VCS-TWIN-\xE2\x80\xAE" "1", "serial_number"},
      {"byte order mark before the registry", "\xEF\xBB\xBFVerra", "VCS-TWIN-1", "registry"},
      {"soft hyphen", "Verra", "VCS\xC2\xAD-TWIN-1", "serial_number"},
      {"word joiner", "Ve\xE2\x81\xA0rra", "VCS-TWIN-1", "registry"},
      {"line separator", "Verra", "VCS-TWIN-1\xE2\x80\xA8x", "serial_number"},
      {"private use", "Verra", "VCS-TWIN-1\xEE\x80\x80", "serial_number"},
      {"noncharacter", "Verra", "VCS-TWIN-1\xEF\xBF\xBF", "serial_number"},
      {"variation selector", "Verra", "VCS-TWIN-1\xEF\xB8\x8F", "serial_number"},
      {"trailing no-break space", "Verra\xC2\xA0", "VCS-TWIN-1", ""},
      {"ideographic spaces around", "\xE3\x80\x80Verra", "VCS-TWIN-1\xE3\x80\x80", ""},
      {"trailing newline", "Verra\n", "VCS-TWIN-1", ""},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    const HttpResponse r = http("POST", "/register", register_body(v.registry, v.serial));
    if (std::string(v.field).empty()) {
      EXPECT_EQ(r.status, 200) << r.body;
      EXPECT_EQ(string_member(parse_json(r.body), "id"), id) << r.body;
    } else {
      EXPECT_TRUE(IsProblem(r, 422));
      EXPECT_EQ(error_fields(r), std::vector<std::string>{v.field}) << r.body;
    }
  }
  EXPECT_EQ(count_events(), 1) << "not one twin may be appended";

  // The other text fields follow the same rules.
  const HttpResponse sold = sell(id, "Acme\xE2\x80\x8B Corp");
  EXPECT_TRUE(IsProblem(sold, 422));
  EXPECT_TRUE(has_item(error_fields(sold), "buyer")) << sold.body;
  const HttpResponse retired = retire(id, "{\"reason\": \"offset\xE2\x80\xAE\"}");
  EXPECT_TRUE(IsProblem(retired, 422));
  EXPECT_TRUE(has_item(error_fields(retired), "reason")) << retired.body;
}

TEST_F(HostileInput, LookalikeOfARegisteredCreditIs409ConfusableWith) {
  const HttpResponse first = http("POST", "/register", register_body("Verra", "VCS-O001"));
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string id = string_member(parse_json(first.body), "id");
  const std::vector<std::pair<std::string, std::string>> lookalikes = {
      {"Verr\xD0\xB0", "VCS-O001"},          // Cyrillic а
      {"Verra", "VCS-0001"},                 // digit zero for letter O
      {"Verra", "V\xD0\xA1S-O001"},          // Cyrillic С
      {"Verra", "vcs-o001"},                 // case
      {"VERRA", "VCS-\xCE\x9F" "001"},       // Greek Omicron
      {"Verra", "\xEF\xBC\xB6" "CS-O001"},   // fullwidth V
  };
  for (const auto& [registry, serial] : lookalikes) {
    SCOPED_TRACE(registry + " / " + serial);
    const HttpResponse r = http("POST", "/register", register_body(registry, serial));
    EXPECT_TRUE(IsProblem(r, 409));
    const auto doc = parse_json(r.body);
    EXPECT_EQ(string_member(doc, "confusable_with"), id) << r.body;
    EXPECT_EQ(string_member(doc, "type"), "/problems/confusable-credit") << r.body;
  }
  // The credit itself is still an idempotent re-registration, and an honest neighbour is fine.
  EXPECT_EQ(http("POST", "/register", register_body("Verra", "VCS-O001")).status, 200);
  EXPECT_EQ(http("POST", "/register", register_body("Verra", "VCS-O002")).status, 201);
  EXPECT_EQ(count_events(), 2);
  EXPECT_EQ(query_int("SELECT count(*) FROM stream_claims"), 2);
}

// Concurrent lookalike registrations from real concurrent clients: the database's unique index lets
// exactly one win, whatever the batching.
TEST_F(HostileInput, ConcurrentLookalikesCannotBothWin) {
  const std::vector<std::pair<std::string, std::string>> spellings = {
      {"Verra", "SN-RACE-O1"}, {"Verr\xD0\xB0", "SN-RACE-O1"}, {"Verra", "SN-RACE-01"}, {"verra", "sn-race-o1"},
      {"Verra", "SN-RACE-0l"}, {"VERRA", "SN-RACE-OI"},         {"Verra", "\xD0\x85N-RACE-O1"}, {"Verra", "SN-RACE-Ol"},
  };
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    const std::string suffix = "-" + std::to_string(round);
    std::vector<int> statuses(spellings.size() * 2, 0);
    std::atomic<int> ready{0};
    std::vector<std::thread> clients;
    for (std::size_t i = 0; i < statuses.size(); ++i) {
      clients.emplace_back([&, i] {
        const auto& [registry, serial] = spellings[i % spellings.size()];
        const std::string body = register_body(registry, serial + suffix);
        ready.fetch_add(1);
        while (ready.load() < static_cast<int>(statuses.size())) std::this_thread::yield();
        statuses[i] = http_request(port(), "POST", "/register", body,
                                   {{"Authorization", "Bearer " + admin_key_}, {"Content-Type", "application/json"}})
                          .status;
      });
    }
    for (auto& t : clients) t.join();
    int created = 0;
    for (std::size_t i = 0; i < statuses.size(); ++i) {
      if (statuses[i] == 201) ++created;
      EXPECT_TRUE(statuses[i] == 201 || statuses[i] == 200 || statuses[i] == 409) << i << ": " << statuses[i];
    }
    EXPECT_EQ(created, 1) << "round " << round;
  }
  EXPECT_EQ(count_events(), kRounds);
  EXPECT_EQ(query_int("SELECT count(*) FROM stream_claims"), kRounds);
}

// The claims table is append-only and takes no claim twice, whatever a client of the database tries.
TEST_F(HostileInput, ClaimsAreAppendOnlyAndUnique) {
  register_new("CLAIM-1");
  EXPECT_ANY_THROW(exec_sql("UPDATE stream_claims SET claim_key = 'x'"));
  EXPECT_ANY_THROW(exec_sql("DELETE FROM stream_claims"));
  EXPECT_ANY_THROW(exec_sql("TRUNCATE stream_claims"));
  EXPECT_ANY_THROW(exec_sql("INSERT INTO stream_claims (claim_kind, claim_key, stream_id) SELECT claim_kind, claim_key,"
                            " gen_random_uuid() FROM stream_claims"));
  EXPECT_EQ(query_int("SELECT count(*) FROM stream_claims"), 1);
}

// A credit appended before claims existed (no stream_claims row) gets its claim from the next migrate, and
// its lookalikes are refused from then on.
TEST_F(HostileInput, MigrateBackfillsClaimsOfEarlierCredits) {
  const std::string id = credit_id("Verra", "OLD-O1");
  exec_sql("INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata) VALUES ('" + id +
           "', 1, gen_random_uuid(), 'CREATED', '{\"project_name\":\"Old\",\"registry\":\"Verra\",\"vintage\":2020,"
           "\"quantity\":5,\"serial_number\":\"OLD-O1\",\"issuer\":\"test-admin\"}', '{}')");
  EXPECT_EQ(query_int("SELECT count(*) FROM stream_claims"), 0);
  EXPECT_EQ(http("POST", "/register", register_body("Verra", "OLD-01")).status, 201)
      << "without its claim the old credit cannot be recognised";
  const RunResult migrated = run_ledger({"migrate"});
  ASSERT_TRUE(migrated.ok()) << migrated.describe();
  // OLD-01 claimed its key first, so the older credit is reported as its twin and left alone.
  EXPECT_EQ(query_int("SELECT count(*) FROM stream_claims WHERE stream_id = '" + id + "'"), 0);
  EXPECT_NE(migrated.err.find("looks like"), std::string::npos) << migrated.describe();

  const std::string id2 = credit_id("Verra", "OLD-X2");
  exec_sql("INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata) VALUES ('" + id2 +
           "', 1, gen_random_uuid(), 'CREATED', '{\"project_name\":\"Old\",\"registry\":\"Verra\",\"vintage\":2020,"
           "\"quantity\":5,\"serial_number\":\"OLD-X2\",\"issuer\":\"test-admin\"}', '{}')");
  ASSERT_TRUE(run_ledger({"migrate"}).ok());
  EXPECT_EQ(query_int("SELECT count(*) FROM stream_claims WHERE stream_id = '" + id2 + "'"), 1);
  const HttpResponse twin = http("POST", "/register", register_body("Verr\xD0\xB0", "OLD-X2"));
  EXPECT_TRUE(IsProblem(twin, 409));
  EXPECT_EQ(string_member(parse_json(twin.body), "confusable_with"), id2) << twin.body;
  ASSERT_TRUE(run_ledger({"migrate"}).ok()) << "idempotent";
}

// Real serials from Verra's and Gold Standard's exports (tests/data): none is refused or mistaken for a
// lookalike of another, and each states its own units. The export lists two Gold Standard issuances after
// blocks already retired out of them (GS...-30256-110-5463 inside GS...-30256-1-5485, GS...-30255-485-12623
// inside GS...-30255-1-24247): registering the whole issuance then would issue those units twice, so those
// two are the 409 units-already-issued naming the retired block, and only they.
TEST_F(HostileInput, RealRegistrySerialsAreAllAccepted) {
  std::ifstream file(std::string(LEDGER_SOURCE_DIR) + "/tests/data/registry-serials.tsv");
  ASSERT_TRUE(file.is_open());
  std::string line;
  std::getline(file, line);  // header
  int rows = 0;
  std::vector<std::string> overlapping;  // serials answered 409 units-already-issued
  while (std::getline(file, line)) {
    std::vector<std::string> cols;
    std::stringstream split(line);
    std::string col;
    while (std::getline(split, col, '\t')) cols.push_back(col);
    ASSERT_GE(cols.size(), 5u) << line;
    CreditSpec spec;
    spec.registry = cols[0];
    spec.serial_number = cols[1];
    spec.quantity = cols[2];
    spec.vintage = cols[4];
    const HttpResponse r = register_credit(spec);
    ++rows;
    if (r.status == 409) {
      overlapping.push_back(cols[1]);
      const auto doc = parse_json(r.body);
      ASSERT_TRUE(doc.HasMember("overlapping") && doc["overlapping"].IsObject()) << r.body;
      EXPECT_EQ(string_member(doc, "type"), "/problems/units-already-issued") << r.body;
      continue;
    }
    EXPECT_EQ(r.status, 201) << line << " -> " << r.body;
  }
  EXPECT_EQ(rows, 400);
  EXPECT_EQ(overlapping, (std::vector<std::string>{"GS1-1-KE-GS11603-16-2025-30256-1-5485",
                                                   "GS1-1-KE-GS11603-16-2024-30255-1-24247"}));
  EXPECT_EQ(query_int("SELECT count(*) FROM stream_claims"), 398);
}

}  // namespace
}  // namespace ledger::test

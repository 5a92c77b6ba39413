// Issue 10: registering unit blocks. block_start/block_end with or without quantity, their bounds, ranges
// taken from Verra and Gold Standard serial numbers, overlap across registrations in the same numbering
// (409 units-already-issued, also under concurrent registrations), the old prototype request (block
// 1..quantity), and the registry bindings that let an issuer key register (`carbon-ledger registries`).
#include <chrono>
#include <cstdint>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "command/credit_id.h"
#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

class Blocks : public LedgerFixture {};

// A real Verra serial (tests/data/registry-serials.tsv): batch 19385, units 941467007..941467431 (425).
constexpr const char* kVerraSerial = "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1";
constexpr std::int64_t kVerraFirst = 941467007;
constexpr std::int64_t kVerraLast = 941467431;
// An older Verra serial (no "VCS" field): units 6186523..6188522 (2,000).
constexpr const char* kOldVerraSerial = "8046-6186523-6188522-VCU-004-MER-CN-1-1310-01012013-31122013-0";
// A Gold Standard serial: prefix GS1-1-KE-GS11603-16-2025-30256, units 110..5463 (5,354).
constexpr const char* kGoldSerial = "GS1-1-KE-GS11603-16-2025-30256-110-5463";

// A register request with optional quantity and block fields, all raw JSON (so tests can send wrong types).
struct Block {
  std::string registry = "Registry1";
  std::string serial_number = "BLOCK-1";
  std::string project_name = "Mangrove Restoration";
  std::string vintage = "2023";
  std::optional<std::string> quantity;
  std::optional<std::string> block_start;
  std::optional<std::string> block_end;

  std::string to_json() const {
    std::vector<std::pair<std::string, std::string>> members = {{"project_name", json_string(project_name)},
                                                                {"registry", json_string(registry)},
                                                                {"vintage", vintage},
                                                                {"serial_number", json_string(serial_number)}};
    if (quantity) members.emplace_back("quantity", *quantity);
    if (block_start) members.emplace_back("block_start", *block_start);
    if (block_end) members.emplace_back("block_end", *block_end);
    return json_object(members);
  }
};

Block Range(const std::string& serial, std::int64_t start, std::int64_t end) {
  Block b;
  b.serial_number = serial;
  b.block_start = std::to_string(start);
  b.block_end = std::to_string(end);
  return b;
}

Block Serial(const std::string& registry, const std::string& serial) {
  Block b;
  b.registry = registry;
  b.serial_number = serial;
  return b;
}

// A Verra serial in the current format for units first..last (the other fields are plausible constants).
std::string VerraSerial(int batch, std::int64_t first, std::int64_t last) {
  return std::to_string(batch) + "-" + std::to_string(first) + "-" + std::to_string(last) +
         "-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1";
}

const rapidjson::Value* Member(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(name);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

// The integer member, or INT64_MIN (shows up plainly in a failed EXPECT_EQ) when absent / not an integer.
std::int64_t Int(const rapidjson::Value& v, const char* name) {
  return has_int_member(v, name) ? int_member(v, name) : INT64_MIN;
}

// The record in `r` (201/200) is the block start..end with quantity end - start + 1.
void ExpectBlock(const HttpResponse& r, std::int64_t start, std::int64_t end) {
  ASSERT_TRUE(r.status == 200 || r.status == 201) << "status " << r.status << ": " << r.body;
  const auto doc = parse_json(r.body);
  EXPECT_EQ(Int(doc, "block_start"), start) << r.body;
  EXPECT_EQ(Int(doc, "block_end"), end) << r.body;
  EXPECT_EQ(Int(doc, "quantity"), end - start + 1) << r.body;
}

std::string IdOf(const HttpResponse& r) { return string_member(parse_json(r.body), "id"); }

// 409 units-already-issued whose "overlapping" names the earlier registration and its issued range.
void ExpectUnitsAlreadyIssued(const HttpResponse& r, const std::string& earlier_id, const std::string& earlier_serial,
                              std::int64_t earlier_start, std::int64_t earlier_end) {
  ASSERT_TRUE(IsProblemOf(r, 409, "units-already-issued"));
  const auto doc = parse_json(r.body);
  const rapidjson::Value* overlapping = Member(doc, "overlapping");
  ASSERT_TRUE(overlapping != nullptr && overlapping->IsObject()) << "no \"overlapping\" object: " << r.body;
  EXPECT_EQ(string_member(*overlapping, "id"), earlier_id) << r.body;
  EXPECT_EQ(string_member(*overlapping, "serial_number"), earlier_serial) << r.body;
  EXPECT_EQ(Int(*overlapping, "block_start"), earlier_start) << r.body;
  EXPECT_EQ(Int(*overlapping, "block_end"), earlier_end) << r.body;
}

struct Outcome {
  HttpResponse response;
  std::string error;  // set when the request itself failed (timeout, reset)
};

// n threads, one connection each (opened first), then request(i) sent by all of them at once.
std::vector<Outcome> Race(std::uint16_t port, int n, const std::function<std::string(int)>& body_of) {
  std::vector<Outcome> outcomes(n);
  std::latch connected(n);
  std::latch go(1);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
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
        outcomes[i].response = connection->request("POST", "/register", body_of(i));
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

std::string Describe(const std::vector<Outcome>& outcomes) {
  std::map<std::string, int> counts;
  for (const auto& o : outcomes) {
    counts[o.error.empty() ? std::to_string(o.response.status) + " " + problem_type(o.response) : "error: " + o.error]++;
  }
  std::string text;
  for (const auto& [what, n] : counts) text += std::to_string(n) + " x " + what + "; ";
  return text;
}

// Registers with `key` until the binding made just before shows in serve (403 registry-not-bound while it
// does not yet, 8 s at most), and returns the last answer.
HttpResponse RegisterOnceBound(const std::string& body, const std::string& key,
                               const std::function<HttpResponse(const std::string&, const Headers&)>& post) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (true) {
    HttpResponse r = post(body, bearer(key));
    if (r.status != 403 || std::chrono::steady_clock::now() >= deadline) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// ---- block fields ----

TEST_F(Blocks, BlockFieldsWithoutQuantityRegisterThatBlock) {
  const HttpResponse r = http("POST", "/register", Range("SN-RANGE", 1001, 1500).to_json());
  ASSERT_EQ(r.status, 201) << r.body;
  ExpectBlock(r, 1001, 1500);
  const auto doc = parse_json(r.body);
  EXPECT_TRUE(Member(doc, "parent") != nullptr && Member(doc, "parent")->IsNull()) << "a registration has no parent: "
                                                                                   << r.body;
  EXPECT_EQ(Int(doc, "children_count"), 0) << r.body;
  EXPECT_EQ(string_member(doc, "status"), "CREATED");
  const std::string id = IdOf(r);
  EXPECT_EQ(query_int("SELECT (data->>'block_start')::bigint FROM events WHERE stream_id = '" + id +
                      "' AND event_type = 'CREATED'"),
            1001);
  EXPECT_EQ(query_int("SELECT (data->>'block_end')::bigint FROM events WHERE stream_id = '" + id +
                      "' AND event_type = 'CREATED'"),
            1500);
  ExpectBlock(get_record_eventually(id, 1), 1001, 1500);
}

TEST_F(Blocks, QuantityEqualToTheBlockIsAccepted) {
  Block b = Range("SN-EQUAL", 0, 99);
  b.quantity = "100";
  const HttpResponse r = http("POST", "/register", b.to_json());
  ASSERT_EQ(r.status, 201) << r.body;
  ExpectBlock(r, 0, 99);
}

TEST_F(Blocks, QuantityDifferentFromTheBlockIs422NamingQuantity) {
  for (const std::string quantity : {"99", "101", "1"}) {
    SCOPED_TRACE("quantity " + quantity);
    Block b = Range("SN-DIFF", 1, 100);
    b.quantity = quantity;
    EXPECT_TRUE(IsProblemNaming(http("POST", "/register", b.to_json()), 422, "quantity"));
  }
  EXPECT_EQ(count_events(), 0);
}

TEST_F(Blocks, OnlyOneBlockFieldIs422NamingTheMissingOne) {
  Block only_start;
  only_start.serial_number = "SN-HALF";
  only_start.block_start = "1";
  only_start.quantity = "10";
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", only_start.to_json()), 422, "block_end"));
  Block only_end;
  only_end.serial_number = "SN-HALF";
  only_end.block_end = "10";
  only_end.quantity = "10";
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", only_end.to_json()), 422, "block_start"));
  only_end.quantity.reset();
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", only_end.to_json()), 422, "block_start"));
  EXPECT_EQ(count_events(), 0);
}

TEST_F(Blocks, StartAfterEndIs422NamingBlockEnd) {
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", Range("SN-BACKWARDS", 11, 10).to_json()), 422, "block_end"));
  EXPECT_EQ(count_events(), 0);
}

TEST_F(Blocks, BlockBoundsAreZeroToBelowTenToTheFifteen) {
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", Range("SN-NEG", -1, 10).to_json()), 422, "block_start"));
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", Range("SN-NEG2", -10, -1).to_json()), 422, "block_start"));
  EXPECT_TRUE(IsProblemNaming(
      http("POST", "/register", Range("SN-HUGE", 999999999999990, 1000000000000000).to_json()), 422, "block_end"));
  EXPECT_TRUE(IsProblemNaming(
      http("POST", "/register", Range("SN-HUGE2", 1000000000000000, 1000000000000005).to_json()), 422, "block_start"));
  // Wrong types.
  for (const std::string bad : {"1.5", "\"1\"", "null", "true", "[1]"}) {
    SCOPED_TRACE("block_start " + bad);
    Block b = Range("SN-TYPE", 1, 10);
    b.block_start = bad;
    EXPECT_TRUE(IsProblemNaming(http("POST", "/register", b.to_json()), 422, "block_start"));
  }
  EXPECT_EQ(count_events(), 0);

  // The edges themselves are fine.
  ExpectBlock(http("POST", "/register", Range("SN-ZERO", 0, 0).to_json()), 0, 0);
  ExpectBlock(http("POST", "/register", Range("SN-TOP", 999999999999000, 999999999999999).to_json()),
              999999999999000, 999999999999999);
}

TEST_F(Blocks, ABlockOfMoreThanTenToTheTwelveUnitsIsRefused) {
  // quantity is 1..10^12: a block one unit larger cannot be a valid registration.
  const HttpResponse r = http("POST", "/register", Range("SN-TOO-BIG", 0, 1000000000000).to_json());
  ASSERT_TRUE(IsProblem(r, 422));
  const auto fields = error_fields(r);
  EXPECT_TRUE(has_item(fields, "quantity") || has_item(fields, "block_end")) << r.body;
  ExpectBlock(http("POST", "/register", Range("SN-MAX", 1, 1000000000000).to_json()), 1, 1000000000000);
}

TEST_F(Blocks, OldPrototypeRequestStillWorksAsBlockOneToQuantity) {
  const HttpResponse r = http("POST", "/register", kReadmeRegisterBody);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(IdOf(r), kReadmeCreditId);
  ExpectBlock(r, 1, 100);
  ExpectBlock(get_record_eventually(kReadmeCreditId, 1), 1, 100);
  // Re-sending it is still the idempotent 200.
  const HttpResponse again = http("POST", "/register", kReadmeRegisterBody);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(count_events(), 1);
}

TEST_F(Blocks, WithoutBlockFieldsQuantityIsRequired) {
  Block b;
  b.serial_number = "SN-NOQTY";
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", b.to_json()), 422, "quantity"));
  EXPECT_EQ(count_events(), 0);
}

TEST_F(Blocks, SameSerialWithADifferentBlockIsAlreadyRegistered) {
  ASSERT_EQ(http("POST", "/register", Range("SN-SAME", 1, 100).to_json()).status, 201);
  EXPECT_EQ(http("POST", "/register", Range("SN-SAME", 1, 100).to_json()).status, 200) << "identical: 200";
  const HttpResponse r = http("POST", "/register", Range("SN-SAME", 1, 50).to_json());
  ASSERT_TRUE(IsProblemOf(r, 409, "already-registered"));
  const auto doc = parse_json(r.body);
  const rapidjson::Value* differing = Member(doc, "differing_fields");
  ASSERT_TRUE(differing != nullptr && differing->IsArray()) << r.body;
  std::vector<std::string> names;
  for (const auto& v : differing->GetArray()) {
    if (v.IsString()) names.emplace_back(v.GetString());
  }
  EXPECT_TRUE(has_item(names, "block_end")) << r.body;
  EXPECT_FALSE(has_item(names, "block_start")) << r.body;
  EXPECT_EQ(count_events(), 1);
}

// ---- ranges from serial numbers ----

TEST_F(Blocks, VerraSerialGivesItsRange) {
  const HttpResponse r = http("POST", "/register", Serial("Verra", kVerraSerial).to_json());
  ASSERT_EQ(r.status, 201) << r.body;
  ExpectBlock(r, kVerraFirst, kVerraLast);
  ExpectBlock(get_record_eventually(IdOf(r), 1), kVerraFirst, kVerraLast);

  // Older format without "VCS", and the registry name in another case.
  const HttpResponse old = http("POST", "/register", Serial("verra", kOldVerraSerial).to_json());
  ASSERT_EQ(old.status, 201) << old.body;
  ExpectBlock(old, 6186523, 6188522);
}

TEST_F(Blocks, VerraSerialWithAgreeingFieldsIsAccepted) {
  Block b = Serial("Verra", kVerraSerial);
  b.quantity = "425";
  b.block_start = std::to_string(kVerraFirst);
  b.block_end = std::to_string(kVerraLast);
  const HttpResponse r = http("POST", "/register", b.to_json());
  ASSERT_EQ(r.status, 201) << r.body;
  ExpectBlock(r, kVerraFirst, kVerraLast);
}

TEST_F(Blocks, VerraSerialWithDisagreeingFieldsIs422NamingThem) {
  Block b = Serial("Verra", kVerraSerial);
  b.quantity = "100";
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", b.to_json()), 422, "quantity"));

  b = Serial("Verra", kVerraSerial);
  b.block_start = std::to_string(kVerraFirst + 1);
  b.block_end = std::to_string(kVerraLast);
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", b.to_json()), 422, "block_start"));

  b = Serial("Verra", kVerraSerial);
  b.block_start = std::to_string(kVerraFirst);
  b.block_end = std::to_string(kVerraLast - 1);
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", b.to_json()), 422, "block_end"));
  EXPECT_EQ(count_events(), 0);
}

TEST_F(Blocks, GoldStandardSerialGivesItsRange) {
  const HttpResponse r = http("POST", "/register", Serial("Gold Standard", kGoldSerial).to_json());
  ASSERT_EQ(r.status, 201) << r.body;
  ExpectBlock(r, 110, 5463);
  ExpectBlock(get_record_eventually(IdOf(r), 1), 110, 5463);

  const HttpResponse cased =
      http("POST", "/register", Serial("GOLD STANDARD", "GS1-1-KE-GS11603-16-2025-30299-1-10").to_json());
  ASSERT_EQ(cased.status, 201) << cased.body;
  ExpectBlock(cased, 1, 10);
}

TEST_F(Blocks, GoldStandardSerialWithDisagreeingFieldsIs422NamingThem) {
  Block b = Serial("Gold Standard", kGoldSerial);
  b.quantity = "5353";
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", b.to_json()), 422, "quantity"));

  b = Serial("Gold Standard", kGoldSerial);
  b.block_start = "111";
  b.block_end = "5463";
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", b.to_json()), 422, "block_start"));

  b = Serial("Gold Standard", kGoldSerial);
  b.block_start = "110";
  b.block_end = "5464";
  EXPECT_TRUE(IsProblemNaming(http("POST", "/register", b.to_json()), 422, "block_end"));
  EXPECT_EQ(count_events(), 0);

  b = Serial("Gold Standard", kGoldSerial);
  b.quantity = "5354";
  ExpectBlock(http("POST", "/register", b.to_json()), 110, 5463);
}

// ---- overlap ----

TEST_F(Blocks, OverlappingVerraSerialsAre409UnitsAlreadyIssued) {
  const HttpResponse first = http("POST", "/register", Serial("Verra", kVerraSerial).to_json());
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string first_id = IdOf(first);

  // Another batch whose units share 941467400..941467431 with the first; another covering it; one inside.
  for (const std::string& serial : {VerraSerial(19999, 941467400, 941467500), VerraSerial(19998, 941467000, 941467007),
                                    VerraSerial(19997, 941467100, 941467101), VerraSerial(19996, 941460000, 941470000)}) {
    SCOPED_TRACE(serial);
    ExpectUnitsAlreadyIssued(http("POST", "/register", Serial("Verra", serial).to_json()), first_id, kVerraSerial,
                             kVerraFirst, kVerraLast);
  }
  // Case of the registry does not matter: still Verra's numbering.
  ExpectUnitsAlreadyIssued(http("POST", "/register", Serial("VERRA", VerraSerial(19995, 941467431, 941467431)).to_json()),
                           first_id, kVerraSerial, kVerraFirst, kVerraLast);
  EXPECT_EQ(count_events(), 1) << "no overlapping registration appended";

  // Adjacent blocks do not overlap.
  EXPECT_EQ(http("POST", "/register", Serial("Verra", VerraSerial(20000, 941467432, 941467500)).to_json()).status, 201);
  EXPECT_EQ(http("POST", "/register", Serial("Verra", VerraSerial(20001, 941467000, 941467006)).to_json()).status, 201);
  EXPECT_EQ(count_events(), 3);
}

TEST_F(Blocks, GoldStandardOverlapIsWithinTheSerialPrefix) {
  const HttpResponse first = http("POST", "/register", Serial("Gold Standard", kGoldSerial).to_json());
  ASSERT_EQ(first.status, 201) << first.body;
  ExpectUnitsAlreadyIssued(
      http("POST", "/register", Serial("Gold Standard", "GS1-1-KE-GS11603-16-2025-30256-5000-6000").to_json()),
      IdOf(first), kGoldSerial, 110, 5463);
  ExpectUnitsAlreadyIssued(
      http("POST", "/register", Serial("Gold Standard", "GS1-1-KE-GS11603-16-2025-30256-1-110").to_json()),
      IdOf(first), kGoldSerial, 110, 5463);
  EXPECT_EQ(count_events(), 1);
  // The same unit numbers under another prefix are other units.
  const HttpResponse other =
      http("POST", "/register", Serial("Gold Standard", "GS1-1-KE-GS11603-16-2025-30257-110-5463").to_json());
  EXPECT_EQ(other.status, 201) << other.body;
  // And after the first block of the prefix, the next free units are fine.
  EXPECT_EQ(http("POST", "/register", Serial("Gold Standard", "GS1-1-KE-GS11603-16-2025-30256-5464-6000").to_json())
                .status,
            201);
}

TEST_F(Blocks, OtherRegistriesNeverConflictAcrossSerialNumbers) {
  EXPECT_EQ(http("POST", "/register", Range("SN-A", 1, 100).to_json()).status, 201);
  EXPECT_EQ(http("POST", "/register", Range("SN-B", 1, 100).to_json()).status, 201);
  EXPECT_EQ(http("POST", "/register", Range("SN-C", 50, 60).to_json()).status, 201);
  Block other_registry = Range("SN-A", 1, 100);
  other_registry.registry = "Registry2";
  EXPECT_EQ(http("POST", "/register", other_registry.to_json()).status, 201);
  // Verra serials that carry no range are numbered within their own serial number.
  CreditSpec plain;
  plain.serial_number = "VCS-NO-RANGE-1";
  EXPECT_EQ(register_credit(plain).status, 201);
  plain.serial_number = "VCS-NO-RANGE-2";
  EXPECT_EQ(register_credit(plain).status, 201);
  EXPECT_EQ(count_events(), 6);
}

TEST_F(Blocks, ConcurrentOverlappingVerraRegistrationsOneWins) {
  constexpr int kClients = 16;
  // Client i registers units 941000000+i .. 941000100+i: every pair overlaps (in 941000015..941000100).
  auto serial_of = [](int i) { return VerraSerial(30000 + i, 941000000 + i, 941000100 + i); };
  const auto outcomes =
      Race(port(), kClients, [&](int i) { return Serial("Verra", serial_of(i)).to_json(); });
  int created = 0, refused = 0, winner = -1;
  for (int i = 0; i < kClients; ++i) {
    const Outcome& o = outcomes[i];
    if (!o.error.empty()) continue;
    if (o.response.status == 201) {
      ++created;
      winner = i;
    } else if (o.response.status == 409 && problem_type(o.response) == "/problems/units-already-issued") {
      ++refused;
    }
  }
  EXPECT_EQ(created, 1) << Describe(outcomes);
  EXPECT_EQ(refused, kClients - 1) << Describe(outcomes);
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE event_type = 'CREATED'"), 1);
  ASSERT_GE(winner, 0);
  const std::string winner_id = IdOf(outcomes[winner].response);
  for (const Outcome& o : outcomes) {
    if (o.error.empty() && o.response.status == 409) {
      ExpectUnitsAlreadyIssued(o.response, winner_id, serial_of(winner), 941000000 + winner, 941000100 + winner);
    }
  }
}

// ---- registry bindings ----

TEST_F(Blocks, IssuerNeedsARegistryBinding) {
  const std::string issuer = create_key("acme-issuer", "issuer");
  auto post = [this](const std::string& body, const Headers& headers) {
    return http("POST", "/register", body, headers);
  };

  HttpResponse r = post(Serial("Verra", kVerraSerial).to_json(), bearer(issuer));
  ASSERT_TRUE(IsProblemOf(r, 403, "registry-not-bound"));
  EXPECT_TRUE(has_item(error_fields(r), "registry")) << r.body;
  EXPECT_TRUE(contains(lower(problem_detail(r)), "verra")) << "the detail names the registry: " << r.body;
  EXPECT_EQ(count_events(), 0);

  const RunResult bound = run_ledger({"registries", "bind", "--account", "acme-issuer", "--registry", "Verra"});
  ASSERT_TRUE(bound.ok()) << "registries bind " << bound.describe();

  r = RegisterOnceBound(Serial("Verra", kVerraSerial).to_json(), issuer, post);
  ASSERT_EQ(r.status, 201) << "after `registries bind`: " << r.body;
  EXPECT_EQ(string_member(parse_json(r.body), "issuer"), "acme-issuer") << r.body;
  EXPECT_EQ(string_member(parse_json(r.body), "holder"), "acme-issuer") << r.body;
  // The binding ignores ASCII case.
  EXPECT_EQ(post(Serial("VERRA", kOldVerraSerial).to_json(), bearer(issuer)).status, 201);

  // Bound to Verra only: Gold Standard (or any other registry) is still refused.
  r = post(Serial("Gold Standard", kGoldSerial).to_json(), bearer(issuer));
  EXPECT_TRUE(IsProblemOf(r, 403, "registry-not-bound"));
  EXPECT_TRUE(has_item(error_fields(r), "registry")) << r.body;
  r = post(Range("SN-ELSEWHERE", 1, 10).to_json(), bearer(issuer));
  EXPECT_TRUE(IsProblemOf(r, 403, "registry-not-bound"));
  EXPECT_EQ(count_events(), 2);

  // Admin keys register under any registry.
  EXPECT_EQ(http("POST", "/register", Serial("Gold Standard", kGoldSerial).to_json()).status, 201);
  EXPECT_EQ(http("POST", "/register", Range("SN-ELSEWHERE", 1, 10).to_json()).status, 201);

  const RunResult listed = run_ledger({"registries", "list"});
  ASSERT_TRUE(listed.ok()) << "registries list " << listed.describe();
  EXPECT_TRUE(contains(listed.out, "acme-issuer")) << listed.out;
  EXPECT_TRUE(contains(listed.out, "Verra") || contains(lower(listed.out), "verra")) << listed.out;
  EXPECT_GE(query_int("SELECT count(*) FROM registry_binding_changes"), 1);
}

TEST_F(Blocks, AnotherAccountsBindingDoesNotCount) {
  const std::string issuer = create_key("unbound-issuer", "issuer");
  create_key("bound-issuer", "issuer");
  const RunResult bound = run_ledger({"registries", "bind", "--account", "bound-issuer", "--registry", "Verra"});
  ASSERT_TRUE(bound.ok()) << bound.describe();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const HttpResponse r = http("POST", "/register", Serial("Verra", kVerraSerial).to_json(), bearer(issuer));
  EXPECT_TRUE(IsProblemOf(r, 403, "registry-not-bound"));
  EXPECT_EQ(count_events(), 0);
}

TEST_F(Blocks, UnbindTakesTheRightAway) {
  const std::string issuer = create_key("fickle-issuer", "issuer");
  auto post = [this](const std::string& body, const Headers& headers) {
    return http("POST", "/register", body, headers);
  };
  ASSERT_TRUE(run_ledger({"registries", "bind", "--account", "fickle-issuer", "--registry", "Registry1"}).ok());
  ASSERT_EQ(RegisterOnceBound(Range("SN-BOUND-1", 1, 10).to_json(), issuer, post).status, 201);

  const RunResult unbound = run_ledger({"registries", "unbind", "--account", "fickle-issuer", "--registry", "Registry1"});
  ASSERT_TRUE(unbound.ok()) << "registries unbind " << unbound.describe();
  HttpResponse r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  int n = 2;
  do {
    r = post(Range("SN-BOUND-" + std::to_string(n++), 1, 10).to_json(), bearer(issuer));
    if (r.status == 403) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(IsProblemOf(r, 403, "registry-not-bound")) << "within 8 s of `registries unbind`";
  EXPECT_GE(query_int("SELECT count(*) FROM registry_binding_changes"), 2) << "bind and unbind are both recorded";
}

// A Verra credit registered before blocks existed (its CREATED event has no range: the units 1..quantity of
// its own serial) still names its units in its serial number. `migrate` claims them, so no later block can
// issue them again under another serial; it is idempotent.
TEST_F(Blocks, MigrateClaimsTheUnitsThatEarlierVerraSerialsState) {
  const std::string serial = VerraSerial(19385, 941467007, 941467431);
  const std::string id = credit_id("Verra", serial);
  exec_sql("INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata) VALUES ('" + id +
           "', 1, gen_random_uuid(), 'CREATED', '{\"project_name\":\"Old\",\"registry\":\"Verra\",\"vintage\":2020,"
           "\"quantity\":425,\"serial_number\":\"" + serial + "\",\"issuer\":\"test-admin\"}', '{}')");
  EXPECT_EQ(query_int("SELECT count(*) FROM stream_range_claims"), 0);
  const RunResult migrated = run_ledger({"migrate"});
  ASSERT_TRUE(migrated.ok()) << migrated.describe();
  EXPECT_EQ(query_int("SELECT count(*) FROM stream_range_claims WHERE stream_id = '" + id +
                      "' AND units = int8range(941467007, 941467431, '[]')"),
            1);
  ASSERT_TRUE(run_ledger({"migrate"}).ok()) << "idempotent";
  EXPECT_EQ(query_int("SELECT count(*) FROM stream_range_claims"), 1);
  CreditSpec spec;
  spec.serial_number = VerraSerial(20001, 941467400, 941467500);
  spec.quantity = "101";
  ExpectUnitsAlreadyIssued(register_credit(spec), id, serial, 941467007, 941467431);
}

}  // namespace
}  // namespace ledger::test

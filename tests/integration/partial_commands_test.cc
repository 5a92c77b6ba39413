// Issue 10: partial sell / retire / cancel. A quantity below the block's carves its lowest units into a child
// block (UUIDv5 id of [registry, serial, start, end]) that the command applies to; the parent keeps the rest.
// Reference ids, the response (child + remainder + Location), the parent after a carve, quantity and
// category validation, resale, cancellation rules, unknown buyers, If-Match, and conservation of units under
// 32 concurrent partial retirements (checked over HTTP, in the event log, and after `carbon-ledger rebuild`).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

constexpr const char* kVerraSerial = "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1";
constexpr const char* kGoldSerial = "GS1-1-KE-GS11603-16-2025-30256-110-5463";

const rapidjson::Value* Member(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(name);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

std::int64_t Int(const rapidjson::Value& v, const char* name) {
  return has_int_member(v, name) ? int_member(v, name) : INT64_MIN;
}

std::string IdOf(const HttpResponse& r) {
  try {
    return string_member(parse_json(r.body), "id");
  } catch (const std::exception&) {
    return "";
  }
}

// The history entry types of a GET /records/{id} body, oldest first.
std::vector<std::string> HistoryTypes(const HttpResponse& r) {
  std::vector<std::string> types;
  const auto doc = parse_json(r.body);
  const rapidjson::Value* history = Member(doc, "history");
  if (history == nullptr || !history->IsArray()) return types;
  for (const auto& entry : history->GetArray()) types.push_back(string_member(entry, "type"));
  return types;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

// "remainder"."version" of a partial command's answer (INT64_MIN when absent).
std::int64_t RemainderVersion(const HttpResponse& r) {
  const auto doc = parse_json(r.body);
  const rapidjson::Value* remainder = Member(doc, "remainder");
  return remainder == nullptr ? INT64_MIN : Int(*remainder, "version");
}

struct Carve {
  std::string child_id;
  std::int64_t child_start, child_end;
  std::string child_status;
  std::string parent_id;
  std::int64_t remainder_start, remainder_end, remainder_version;
};

// `r` is the 200 answer of a partial command: the child record, "remainder" (the parent after the carve)
// and Location /records/<child id>.
void ExpectCarve(const HttpResponse& r, const Carve& want) {
  ASSERT_EQ(r.status, 200) << r.body;
  const auto doc = parse_json(r.body);
  EXPECT_EQ(string_member(doc, "id"), want.child_id) << r.body;
  EXPECT_EQ(string_member(doc, "parent"), want.parent_id) << r.body;
  EXPECT_EQ(string_member(doc, "status"), want.child_status) << r.body;
  EXPECT_EQ(Int(doc, "block_start"), want.child_start) << r.body;
  EXPECT_EQ(Int(doc, "block_end"), want.child_end) << r.body;
  EXPECT_EQ(Int(doc, "quantity"), want.child_end - want.child_start + 1) << r.body;
  EXPECT_EQ(Int(doc, "version"), 2) << "CARVED then the command: " << r.body;
  EXPECT_EQ(Int(doc, "children_count"), 0) << r.body;
  const rapidjson::Value* remainder = Member(doc, "remainder");
  ASSERT_TRUE(remainder != nullptr && remainder->IsObject()) << "no \"remainder\" object: " << r.body;
  EXPECT_EQ(string_member(*remainder, "id"), want.parent_id) << r.body;
  EXPECT_EQ(Int(*remainder, "block_start"), want.remainder_start) << r.body;
  EXPECT_EQ(Int(*remainder, "block_end"), want.remainder_end) << r.body;
  EXPECT_EQ(Int(*remainder, "quantity"), want.remainder_end - want.remainder_start + 1) << r.body;
  EXPECT_EQ(Int(*remainder, "version"), want.remainder_version) << r.body;
  EXPECT_EQ(r.header("Location").value_or("<none>"), "/records/" + want.child_id);
}

class PartialCommands : public LedgerFixture {
 protected:
  // An account that has a key (so it can be a buyer); returns its name.
  std::string Known(const std::string& account, const std::string& role = "holder") {
    last_key_ = create_key(account, role);
    return account;
  }
  std::string last_key_;

  HttpResponse RegisterBlock(const std::string& registry, const std::string& serial,
                             std::optional<std::pair<std::int64_t, std::int64_t>> block, const Headers& headers = {}) {
    std::vector<std::pair<std::string, std::string>> members = {{"project_name", json_string("Mangrove Restoration")},
                                                                {"registry", json_string(registry)},
                                                                {"vintage", "2023"},
                                                                {"serial_number", json_string(serial)}};
    if (block) {
      members.emplace_back("block_start", std::to_string(block->first));
      members.emplace_back("block_end", std::to_string(block->second));
    }
    return http("POST", "/register", json_object(members), headers);
  }
  // Registers Registry1/<serial> as block start..end (admin key) and returns its id.
  std::string Block(const std::string& serial, std::int64_t start, std::int64_t end) {
    const HttpResponse r = RegisterBlock("Registry1", serial, std::make_pair(start, end));
    if (r.status != 201) throw std::runtime_error("register " + serial + " answered " + r.body);
    return IdOf(r);
  }

  HttpResponse Sell(const std::string& id, const std::string& buyer, std::optional<std::string> quantity,
                    const Headers& headers = {}) {
    std::vector<std::pair<std::string, std::string>> members = {{"buyer", json_string(buyer)}};
    if (quantity) members.emplace_back("quantity", *quantity);
    return http("POST", "/records/" + id + "/sell", json_object(members), headers);
  }
  HttpResponse Retire(const std::string& id, std::optional<std::string> quantity,
                      std::vector<std::pair<std::string, std::string>> members = {}, const Headers& headers = {}) {
    if (quantity) members.emplace_back("quantity", *quantity);
    return http("POST", "/records/" + id + "/retire", json_object(members), headers);
  }
  HttpResponse Cancel(const std::string& id, std::optional<std::string> quantity, const Headers& headers = {},
                      const std::string& reason = "issued in error") {
    std::vector<std::pair<std::string, std::string>> members = {{"reason", json_string(reason)}};
    if (quantity) members.emplace_back("quantity", *quantity);
    return http("POST", "/records/" + id + "/cancel", json_object(members), headers);
  }

  // A block sold whole to a known buyer (so it can be retired); returns its id.
  std::string SoldBlock(const std::string& serial, std::int64_t start, std::int64_t end, const std::string& buyer) {
    const std::string id = Block(serial, start, end);
    const HttpResponse r = Sell(id, buyer, std::nullopt);
    if (r.status != 200) throw std::runtime_error("selling " + serial + " answered " + r.body);
    return id;
  }

  // An issuer key for `account` bound to Registry1, once serve accepts its registrations.
  std::string BoundIssuer(const std::string& account) {
    const std::string key = create_key(account, "issuer");
    const RunResult bound = run_ledger({"registries", "bind", "--account", account, "--registry", "Registry1"});
    if (!bound.ok()) throw std::runtime_error("registries bind " + bound.describe());
    return key;
  }
  // Registers with an issuer key, waiting (8 s at most) for a fresh binding to show.
  HttpResponse RegisterAsIssuer(const std::string& key, const std::string& serial, std::int64_t start,
                                std::int64_t end) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
    while (true) {
      HttpResponse r = RegisterBlock("Registry1", serial, std::make_pair(start, end), bearer(key));
      if (r.status != 403 || std::chrono::steady_clock::now() >= deadline) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
};

// ---- reference ids and the shape of the answer ----

TEST_F(PartialCommands, PartialSellCarvesTheLowestUnitsIntoTheReferenceChild) {
  const std::string buyer = Known("buyer-a");
  ASSERT_EQ(http("POST", "/register", kReadmeRegisterBody).status, 201);  // Registry1/SN1234, block 1..100
  const std::string parent = kReadmeCreditId;
  const std::string child = "9982ceec-9bc9-51a2-9a74-a8e6e96c072d";

  const HttpResponse r = Sell(parent, buyer, "10");
  ExpectCarve(r, {child, 1, 10, "SOLD", parent, 11, 100, 2});
  EXPECT_EQ(string_member(parse_json(r.body), "holder"), buyer) << r.body;
  EXPECT_EQ(string_member(parse_json(r.body), "registry"), "Registry1") << r.body;
  EXPECT_EQ(string_member(parse_json(r.body), "serial_number"), "SN1234") << r.body;

  // The log: SPLIT on the parent, CARVED + SOLD on the child.
  EXPECT_EQ(count_events(parent, "SPLIT"), 1);
  EXPECT_EQ(query_scalar("SELECT data->>'child' FROM events WHERE event_type = 'SPLIT'"), child);
  EXPECT_EQ(query_scalar("SELECT concat_ws('/', data->>'block_start', data->>'block_end', data->>'quantity') "
                         "FROM events WHERE event_type = 'SPLIT'"),
            "1/10/10");
  EXPECT_EQ(query_scalar("SELECT string_agg(event_type, ',' ORDER BY stream_version) FROM events "
                         "WHERE stream_id = '" + std::string(child) + "'"),
            "CARVED,SOLD");
  EXPECT_EQ(query_scalar("SELECT data->>'parent' FROM events WHERE event_type = 'CARVED'"), parent);
  EXPECT_EQ(query_scalar("SELECT data->>'status' FROM events WHERE event_type = 'CARVED'"), "CREATED");

  // The parent: same holder and status, 90 units from 11, version 2, one child.
  const HttpResponse p = get_record_eventually(parent, 2);
  ASSERT_EQ(p.status, 200) << p.body;
  const auto pd = parse_json(p.body);
  EXPECT_EQ(Int(pd, "quantity"), 90) << p.body;
  EXPECT_EQ(Int(pd, "block_start"), 11) << p.body;
  EXPECT_EQ(Int(pd, "block_end"), 100) << p.body;
  EXPECT_EQ(Int(pd, "children_count"), 1) << p.body;
  EXPECT_EQ(string_member(pd, "status"), "CREATED") << p.body;
  EXPECT_EQ(string_member(pd, "holder"), "test-admin") << p.body;
  EXPECT_EQ(Join(HistoryTypes(p)), "CREATED,SPLIT");

  // The child, as read back.
  const HttpResponse c = get_record_eventually(child, 2);
  ASSERT_EQ(c.status, 200) << c.body;
  const auto cd = parse_json(c.body);
  EXPECT_EQ(string_member(cd, "parent"), parent) << c.body;
  EXPECT_EQ(string_member(cd, "status"), "SOLD") << c.body;
  EXPECT_EQ(string_member(cd, "holder"), buyer) << c.body;
  EXPECT_EQ(Int(cd, "quantity"), 10) << c.body;
  EXPECT_EQ(Int(cd, "block_start"), 1) << c.body;
  EXPECT_EQ(Int(cd, "block_end"), 10) << c.body;
  EXPECT_EQ(Join(HistoryTypes(c)), "CARVED,SOLD");
}

TEST_F(PartialCommands, VerraReferenceChildAndTheRestIsAWholeBlockCommand) {
  const std::string buyer = Known("buyer-verra");
  const HttpResponse reg = RegisterBlock("Verra", kVerraSerial, std::nullopt);
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string parent = IdOf(reg);

  ExpectCarve(Sell(parent, buyer, "187"),
              {"91e16db7-c272-5242-8d60-ee2dbf56acc3", 941467007, 941467193, "SOLD", parent, 941467194, 941467431, 2});

  // The remaining 238 units are the whole block now: the parent itself is sold, no child is made.
  const HttpResponse rest = Sell(parent, buyer, "238");
  ASSERT_EQ(rest.status, 200) << rest.body;
  const auto doc = parse_json(rest.body);
  EXPECT_EQ(string_member(doc, "id"), parent) << rest.body;
  EXPECT_EQ(string_member(doc, "status"), "SOLD") << rest.body;
  EXPECT_EQ(Int(doc, "quantity"), 238) << rest.body;
  EXPECT_EQ(Int(doc, "block_start"), 941467194) << rest.body;
  EXPECT_EQ(Int(doc, "version"), 3) << rest.body;
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE stream_id = '17bcd372-0502-543b-a3ff-0000e70af00f'"), 0)
      << "a whole-block command carves nothing";
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE event_type = 'CARVED'"), 1);
}

TEST_F(PartialCommands, GoldStandardReferenceChildByPartialCancel) {
  const HttpResponse reg = RegisterBlock("Gold Standard", kGoldSerial, std::nullopt);
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string parent = IdOf(reg);
  const HttpResponse r = Cancel(parent, "10", {}, "double counted");
  ExpectCarve(r, {"b0a98ba0-b8cb-5531-9e40-2cbf6acae46c", 110, 119, "CANCELLED", parent, 120, 5463, 2});
  const auto doc = parse_json(r.body);
  const rapidjson::Value* cancellation = Member(doc, "cancellation");
  ASSERT_TRUE(cancellation != nullptr && cancellation->IsObject()) << r.body;
  EXPECT_EQ(string_member(*cancellation, "reason"), "double counted") << r.body;
  EXPECT_EQ(count_events("b0a98ba0-b8cb-5531-9e40-2cbf6acae46c", "CANCELLED"), 1);
  EXPECT_EQ(query_scalar("SELECT data->>'reason' FROM events WHERE event_type = 'CANCELLED'"), "double counted");
}

TEST_F(PartialCommands, PartialRetireOfASoldBlockKeepsTheRestSoldToTheHolder) {
  const std::string buyer = Known("retirer-co");
  const std::string buyer_key = last_key_;
  const std::string parent = SoldBlock("SN-RETIRE", 1, 100, buyer);
  const HttpResponse r = Retire(parent, "5",
                                {{"beneficiary", json_string("City of Oslo")},
                                 {"reason", json_string("2025 flights")},
                                 {"category", json_string("corporate_inventory")},
                                 {"details", json_string("Scope 3, business travel")}},
                                bearer(buyer_key));
  const std::string child = IdOf(r);
  ExpectCarve(r, {child, 1, 5, "RETIRED", parent, 6, 100, 3});
  const auto doc = parse_json(r.body);
  const rapidjson::Value* retirement = Member(doc, "retirement");
  ASSERT_TRUE(retirement != nullptr && retirement->IsObject()) << r.body;
  EXPECT_EQ(string_member(*retirement, "beneficiary"), "City of Oslo");
  EXPECT_EQ(string_member(*retirement, "reason"), "2025 flights");
  EXPECT_EQ(string_member(*retirement, "category"), "corporate_inventory");
  EXPECT_EQ(string_member(*retirement, "details"), "Scope 3, business travel");
  EXPECT_EQ(string_member(doc, "holder"), buyer);
  EXPECT_EQ(query_scalar("SELECT concat_ws('/', data->>'category', data->>'details') FROM events "
                         "WHERE event_type = 'RETIRED'"),
            "corporate_inventory/Scope 3, business travel");

  const HttpResponse p = get_record_eventually(parent, 3);
  ASSERT_EQ(p.status, 200) << p.body;
  const auto pd = parse_json(p.body);
  EXPECT_EQ(string_member(pd, "status"), "SOLD") << p.body;
  EXPECT_EQ(string_member(pd, "holder"), buyer) << p.body;
  EXPECT_EQ(Int(pd, "quantity"), 95) << p.body;
  EXPECT_TRUE(Member(pd, "retirement") == nullptr || Member(pd, "retirement")->IsNull()) << p.body;
}

TEST_F(PartialCommands, PartialRetireOfACreatedBlockIs409InvalidStatus) {
  const std::string parent = Block("SN-RETIRE-CREATED", 1, 100);
  EXPECT_TRUE(IsProblemOf(Retire(parent, "5"), 409, "invalid-status"));
  EXPECT_EQ(count_events(), 1);
}

// ---- quantity and category validation ----

TEST_F(PartialCommands, QuantityAboveTheBlockIs409QuantityExceedsBlock) {
  const std::string buyer = Known("buyer-big");
  const std::string created = Block("SN-EXCEED", 1, 100);
  const std::string sold = SoldBlock("SN-EXCEED-SOLD", 1, 100, buyer);
  const std::int64_t before = count_events();
  for (const auto& [what, r] : std::vector<std::pair<std::string, HttpResponse>>{
           {"sell", Sell(created, buyer, "101")},
           {"cancel", Cancel(created, "1000")},
           {"retire", Retire(sold, "101")}}) {
    SCOPED_TRACE(what);
    EXPECT_TRUE(IsProblemOf(r, 409, "quantity-exceeds-block"));
    EXPECT_TRUE(has_item(error_fields(r), "quantity")) << r.body;
    EXPECT_EQ(Int(parse_json(r.body), "available"), 100) << r.body;
  }
  EXPECT_EQ(count_events(), before) << "nothing appended";
  // After a carve, "available" is what the block holds now.
  ASSERT_EQ(Sell(created, buyer, "30").status, 200);
  const HttpResponse r = Sell(created, buyer, "71");
  EXPECT_TRUE(IsProblemOf(r, 409, "quantity-exceeds-block"));
  EXPECT_EQ(Int(parse_json(r.body), "available"), 70) << r.body;
}

TEST_F(PartialCommands, BadQuantityIs422NamingQuantity) {
  const std::string buyer = Known("buyer-bad-qty");
  const std::string created = Block("SN-BADQTY", 1, 100);
  const std::string sold = SoldBlock("SN-BADQTY-SOLD", 1, 100, buyer);
  const std::int64_t before = count_events();
  for (const std::string quantity : {"0", "-1", "1.5", "\"5\"", "true", "[1]", "{}", "1e400"}) {
    SCOPED_TRACE("quantity " + quantity);
    EXPECT_TRUE(IsProblemNaming(Sell(created, buyer, quantity), 422, "quantity"));
    EXPECT_TRUE(IsProblemNaming(Retire(sold, quantity), 422, "quantity"));
    EXPECT_TRUE(IsProblemNaming(Cancel(created, quantity), 422, "quantity"));
  }
  EXPECT_EQ(count_events(), before);
}

TEST_F(PartialCommands, CategoryIsOneOfFourAndDetailsIsUpToAThousandCodePoints) {
  const std::string buyer = Known("buyer-cat");
  const std::string sold = SoldBlock("SN-CATEGORY", 1, 100, buyer);
  const std::int64_t before = count_events();
  for (const std::string category : {"\"bogus\"", "\"\"", "\"Corporate_Inventory\"", "5", "[]"}) {
    SCOPED_TRACE("category " + category);
    EXPECT_TRUE(IsProblemNaming(Retire(sold, "1", {{"category", category}}), 422, "category"));
    EXPECT_TRUE(IsProblemNaming(Retire(sold, std::nullopt, {{"category", category}}), 422, "category")) << "whole block too";
  }
  EXPECT_TRUE(IsProblemNaming(Retire(sold, "1", {{"details", json_string("")}}), 422, "details"));
  std::string too_long;
  for (int i = 0; i < 1001; ++i) too_long += "\xc3\xa9";  // é: 1,001 code points
  EXPECT_TRUE(IsProblemNaming(Retire(sold, "1", {{"details", json_string(too_long)}}), 422, "details"));
  EXPECT_EQ(count_events(), before);

  int retired = 0;
  for (const std::string category : {"environmental_benefit", "person_or_organization", "corporate_inventory", "other"}) {
    SCOPED_TRACE(category);
    const HttpResponse r = Retire(sold, "1", {{"category", json_string(category)}});
    ASSERT_EQ(r.status, 200) << r.body;
    ++retired;
    const auto doc = parse_json(r.body);
    const rapidjson::Value* retirement = Member(doc, "retirement");
    ASSERT_TRUE(retirement != nullptr) << r.body;
    EXPECT_EQ(string_member(*retirement, "category"), category) << r.body;
  }
  const std::string thousand(too_long.begin(), too_long.end() - 2);  // 1,000 code points, 2,000 bytes
  const HttpResponse r = Retire(sold, "1", {{"details", json_string(thousand)}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE event_type = 'RETIRED'"), retired + 1);
}

// ---- lifecycle ----

TEST_F(PartialCommands, ASoldBlockIsResoldWholeAndInPart) {
  const std::string first = Known("first-owner");
  const std::string first_key = last_key_;
  const std::string second = Known("second-owner");
  const std::string third = Known("third-owner");
  const std::string parent = SoldBlock("SN-RESALE", 1, 100, first);

  // The holder sells part on: the child goes to the second owner, the rest stays SOLD with the first.
  const HttpResponse part = Sell(parent, second, "10", bearer(first_key));
  const std::string child = IdOf(part);
  ExpectCarve(part, {child, 1, 10, "SOLD", parent, 11, 100, 3});
  EXPECT_EQ(string_member(parse_json(part.body), "holder"), second);

  // Then the rest whole: still SOLD, now held by the third owner.
  const HttpResponse whole = Sell(parent, third, std::nullopt, bearer(first_key));
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(string_member(parse_json(whole.body), "status"), "SOLD");
  EXPECT_EQ(string_member(parse_json(whole.body), "holder"), third);
  EXPECT_EQ(Int(parse_json(whole.body), "quantity"), 90);

  const HttpResponse p = get_record_eventually(parent, 4);
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(Join(HistoryTypes(p)), "CREATED,SOLD,SPLIT,SOLD");
  EXPECT_EQ(string_member(parse_json(p.body), "holder"), third);
  EXPECT_EQ(string_member(parse_json(p.body), "status"), "SOLD");
  EXPECT_EQ(count_events(parent, "SOLD"), 2);

  // The first owner holds nothing any more.
  EXPECT_TRUE(IsProblem(Sell(parent, second, "1", bearer(first_key)), 403));
  EXPECT_TRUE(IsProblem(Sell(child, third, std::nullopt, bearer(first_key)), 403));
}

TEST_F(PartialCommands, CancelIsForTheIssuerOrAnAdminOnCreatedBlocks) {
  const std::string issuer = BoundIssuer("issuer-one");
  const std::string other_issuer = BoundIssuer("issuer-two");
  const std::string holder = create_key("plain-holder", "holder");
  const HttpResponse reg = RegisterAsIssuer(issuer, "SN-CANCEL", 1, 100);
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string parent = IdOf(reg);

  // Another issuer (or a holder-role key) may not cancel.
  EXPECT_TRUE(IsProblem(Cancel(parent, "10", bearer(other_issuer)), 403));
  EXPECT_TRUE(IsProblem(Cancel(parent, std::nullopt, bearer(other_issuer)), 403));
  EXPECT_TRUE(IsProblem(Cancel(parent, "10", bearer(holder)), 403));
  EXPECT_EQ(count_events(), 1);

  // A reason is required.
  EXPECT_TRUE(IsProblemNaming(http("POST", "/records/" + parent + "/cancel", R"({"quantity":10})", bearer(issuer)), 422,
                          "reason"));
  EXPECT_TRUE(IsProblemNaming(http("POST", "/records/" + parent + "/cancel", "{}", bearer(issuer)), 422, "reason"));

  // The issuer cancels part; an admin cancels another part.
  const HttpResponse by_issuer = Cancel(parent, "10", bearer(issuer));
  ExpectCarve(by_issuer, {IdOf(by_issuer), 1, 10, "CANCELLED", parent, 11, 100, 2});
  const HttpResponse by_admin = Cancel(parent, "10");
  ExpectCarve(by_admin, {IdOf(by_admin), 11, 20, "CANCELLED", parent, 21, 100, 3});

  // CANCELLED is final.
  const std::string cancelled = IdOf(by_issuer);
  const std::string buyer = Known("would-be-buyer");
  const std::int64_t before = count_events();
  EXPECT_TRUE(IsProblemOf(Sell(cancelled, buyer, std::nullopt), 409, "invalid-status"));
  EXPECT_TRUE(IsProblemOf(Sell(cancelled, buyer, "1"), 409, "invalid-status"));
  EXPECT_TRUE(IsProblemOf(Retire(cancelled, std::nullopt), 409, "invalid-status"));
  EXPECT_TRUE(IsProblemOf(Cancel(cancelled, std::nullopt), 409, "invalid-status"));
  EXPECT_TRUE(IsProblemOf(Cancel(cancelled, "1"), 409, "invalid-status"));

  // The issuer cancels the rest whole: the parent itself is CANCELLED, and final.
  const HttpResponse rest = Cancel(parent, std::nullopt, bearer(issuer));
  ASSERT_EQ(rest.status, 200) << rest.body;
  EXPECT_EQ(string_member(parse_json(rest.body), "status"), "CANCELLED");
  EXPECT_EQ(IdOf(rest), parent);
  EXPECT_TRUE(IsProblemOf(Sell(parent, buyer, "1"), 409, "invalid-status"));
  EXPECT_TRUE(IsProblemOf(Cancel(parent, std::nullopt), 409, "invalid-status"));
  EXPECT_EQ(count_events(), before + 1);
}

TEST_F(PartialCommands, CancelOfASoldBlockIs409AndRetiredIsFinal) {
  const std::string buyer = Known("buyer-final");
  const std::string sold = SoldBlock("SN-CANCEL-SOLD", 1, 100, buyer);
  EXPECT_TRUE(IsProblemOf(Cancel(sold, std::nullopt), 409, "invalid-status"));
  EXPECT_TRUE(IsProblemOf(Cancel(sold, "10"), 409, "invalid-status"));
  const std::int64_t before = count_events();

  const HttpResponse retired = Retire(sold, "10");
  ASSERT_EQ(retired.status, 200) << retired.body;
  const std::string child = IdOf(retired);
  EXPECT_TRUE(IsProblem(Sell(child, buyer, std::nullopt), 409));
  EXPECT_TRUE(IsProblem(Sell(child, buyer, "1"), 409));
  EXPECT_TRUE(IsProblem(Retire(child, std::nullopt), 409));
  EXPECT_TRUE(IsProblem(Retire(child, "1"), 409));
  EXPECT_TRUE(IsProblem(Cancel(child, std::nullopt), 409));
  EXPECT_EQ(count_events(), before + 3) << "SPLIT, CARVED, RETIRED only";
}

TEST_F(PartialCommands, UnitsOfACancelledBlockCanNeverBeRegisteredAgain) {
  const std::string first_serial = "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1";
  const HttpResponse reg = RegisterBlock("Verra", first_serial, std::nullopt);
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string parent = IdOf(reg);
  ASSERT_EQ(Cancel(parent, "10").status, 200);  // 941467007..941467016 cancelled
  ASSERT_EQ(Cancel(parent, std::nullopt).status, 200);  // and then the rest

  // Another Verra serial naming exactly the cancelled units, or the whole former range.
  for (const std::string serial : {"20000-941467007-941467016-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1",
                                   "20001-941467100-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1"}) {
    SCOPED_TRACE(serial);
    const HttpResponse r = RegisterBlock("Verra", serial, std::nullopt);
    ASSERT_TRUE(IsProblemOf(r, 409, "units-already-issued"));
    const auto doc = parse_json(r.body);
    const rapidjson::Value* overlapping = Member(doc, "overlapping");
    ASSERT_TRUE(overlapping != nullptr && overlapping->IsObject()) << r.body;
    EXPECT_EQ(string_member(*overlapping, "id"), parent) << r.body;
    EXPECT_EQ(Int(*overlapping, "block_start"), 941467007) << "the range as issued: " << r.body;
    EXPECT_EQ(Int(*overlapping, "block_end"), 941467431) << "the range as issued: " << r.body;
  }
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE event_type = 'CREATED'"), 1);
}

TEST_F(PartialCommands, BuyerMustBeAKnownAccount) {
  const std::string parent = Block("SN-BUYER", 1, 100);
  for (const auto& quantity : {std::optional<std::string>("10"), std::optional<std::string>()}) {
    SCOPED_TRACE(quantity ? "partial" : "whole");
    const HttpResponse r = Sell(parent, "Nobody Knows Me", quantity);
    EXPECT_TRUE(IsProblemOf(r, 422, "unknown-buyer"));
    EXPECT_TRUE(has_item(error_fields(r), "buyer")) << r.body;
  }
  EXPECT_EQ(count_events(), 1);

  // An account whose only key was revoked is still known.
  const std::string key = create_key("gone-co", "holder");
  const RunResult revoked = run_ledger({"keys", "revoke", key.substr(4, 16)});
  ASSERT_TRUE(revoked.ok()) << revoked.describe();
  const HttpResponse part = Sell(parent, "gone-co", "10");
  ASSERT_EQ(part.status, 200) << part.body;
  EXPECT_EQ(string_member(parse_json(part.body), "holder"), "gone-co");
  const HttpResponse whole = Sell(parent, "gone-co", std::nullopt);
  ASSERT_EQ(whole.status, 200) << whole.body;
}

TEST_F(PartialCommands, IfMatchAppliesToTheParentVersion) {
  const std::string buyer = Known("buyer-ifmatch");
  const std::string parent = Block("SN-IFMATCH", 1, 100);  // version 1
  EXPECT_TRUE(IsProblem(Sell(parent, buyer, "10", {{"If-Match", "\"2\""}}), 412));
  EXPECT_TRUE(IsProblem(Cancel(parent, "10", {{"If-Match", "\"0\""}}), 412));
  EXPECT_EQ(count_events(), 1);

  const HttpResponse first = Sell(parent, buyer, "10", {{"If-Match", "\"1\""}});
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(RemainderVersion(first), 2) << first.body;
  EXPECT_TRUE(IsProblem(Sell(parent, buyer, "10", {{"If-Match", "\"1\""}}), 412)) << "version 1 is stale now";
  const std::int64_t after_first = count_events();
  const HttpResponse second = Sell(parent, buyer, "10", {{"If-Match", "\"2\""}});
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(RemainderVersion(second), 3) << second.body;
  EXPECT_EQ(count_events(), after_first + 3);
}

// ---- conservation under concurrency ----

struct Outcome {
  HttpResponse response;
  std::string error;
};

std::vector<Outcome> Race(std::uint16_t port, int n, const std::string& target, const std::string& body) {
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
        outcomes[i].response = connection->request("POST", target, body);
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
  std::string example;
  for (const auto& o : outcomes) {
    counts[o.error.empty() ? std::to_string(o.response.status) : "error"]++;
    if (example.empty() && (!o.error.empty() || o.response.status != 200)) {
      example = o.error.empty() ? o.response.body : o.error;
    }
  }
  std::string text;
  for (const auto& [what, n] : counts) text += std::to_string(n) + " x " + what + "; ";
  return text + (example.empty() ? "" : "e.g. " + example);
}

TEST_F(PartialCommands, ThirtyTwoConcurrentPartialRetirementsConserveUnits) {
  constexpr int kClients = 32;
  constexpr std::int64_t kFirst = 5000, kLast = 5999;  // 1,000 units
  const std::string buyer = Known("bulk-buyer");
  const std::string parent = SoldBlock("SN-CONSERVE", kFirst, kLast, buyer);  // version 2

  const auto outcomes = Race(port(), kClients, "/records/" + parent + "/retire", R"({"quantity":1})");
  int ok = 0;
  for (const auto& o : outcomes) ok += o.error.empty() && o.response.status == 200;
  ASSERT_EQ(ok, kClients) << Describe(outcomes);

  // The answers: 32 distinct one-unit children covering the lowest 32 units, remainders 999..968.
  std::set<std::string> child_ids;
  std::set<std::int64_t> units, remainders;
  for (const auto& o : outcomes) {
    const auto doc = parse_json(o.response.body);
    child_ids.insert(string_member(doc, "id"));
    EXPECT_EQ(Int(doc, "quantity"), 1) << o.response.body;
    EXPECT_EQ(Int(doc, "block_start"), Int(doc, "block_end")) << o.response.body;
    EXPECT_EQ(string_member(doc, "status"), "RETIRED") << o.response.body;
    units.insert(Int(doc, "block_start"));
    const rapidjson::Value* remainder = Member(doc, "remainder");
    ASSERT_TRUE(remainder != nullptr) << o.response.body;
    remainders.insert(Int(*remainder, "quantity"));
  }
  EXPECT_EQ(child_ids.size(), 32u);
  ASSERT_EQ(units.size(), 32u) << "children's ranges are disjoint";
  EXPECT_EQ(*units.begin(), kFirst);
  EXPECT_EQ(*units.rbegin(), kFirst + 31) << "the lowest 32 units";
  EXPECT_EQ(remainders.size(), 32u) << "each carve saw the one before";
  EXPECT_EQ(*remainders.begin(), 968);
  EXPECT_EQ(*remainders.rbegin(), 999);

  // The log.
  const std::string p = "'" + parent + "'";
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE stream_id = " + p + " AND event_type = 'SPLIT'"), 32);
  EXPECT_EQ(query_int("SELECT coalesce(sum((data->>'quantity')::bigint), 0) FROM events WHERE stream_id = " + p +
                      " AND event_type = 'SPLIT'"),
            32);
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE event_type = 'CARVED' AND data->>'parent' = " + p), 32);
  EXPECT_EQ(query_int("SELECT coalesce(sum((data->>'quantity')::bigint), 0) FROM events WHERE event_type = 'CARVED' "
                      "AND data->>'parent' = " + p),
            32);
  EXPECT_EQ(query_int("SELECT min((data->>'block_start')::bigint) FROM events WHERE event_type = 'CARVED' "
                      "AND data->>'parent' = " + p),
            kFirst);
  EXPECT_EQ(query_int("SELECT max((data->>'block_end')::bigint) FROM events WHERE event_type = 'CARVED' "
                      "AND data->>'parent' = " + p),
            kFirst + 31);
  EXPECT_EQ(query_int("SELECT count(*) FROM events a JOIN events b ON a.event_type = 'CARVED' AND "
                      "b.event_type = 'CARVED' AND a.stream_id < b.stream_id AND a.data->>'parent' = " + p +
                      " AND b.data->>'parent' = " + p +
                      " AND (a.data->>'block_start')::bigint <= (b.data->>'block_end')::bigint"
                      " AND (b.data->>'block_start')::bigint <= (a.data->>'block_end')::bigint"),
            0)
      << "carved ranges are disjoint";
  // SPLIT ranges match the CARVED ones.
  EXPECT_EQ(query_int("SELECT count(*) FROM events s JOIN events c ON c.stream_id::text = s.data->>'child' "
                      "AND c.event_type = 'CARVED' WHERE s.stream_id = " + p + " AND s.event_type = 'SPLIT' "
                      "AND s.data->>'block_start' = c.data->>'block_start' AND s.data->>'block_end' = c.data->>'block_end'"),
            32);
  EXPECT_EQ(query_int("SELECT count(*) FROM events WHERE event_type = 'RETIRED'"), 32);
  EXPECT_EQ(query_int("SELECT max(stream_version) FROM events WHERE stream_id = " + p), 34);

  // Read back, then again after a rebuild of the read model.
  auto check_read_model = [&](const std::string& when) {
    SCOPED_TRACE(when);
    const HttpResponse got = get_record_eventually(parent, 34);
    ASSERT_EQ(got.status, 200) << got.body;
    const auto doc = parse_json(got.body);
    EXPECT_EQ(Int(doc, "version"), 34) << got.body;
    EXPECT_EQ(Int(doc, "quantity"), 968) << got.body;
    EXPECT_EQ(Int(doc, "block_start"), kFirst + 32) << got.body;
    EXPECT_EQ(Int(doc, "block_end"), kLast) << got.body;
    EXPECT_EQ(Int(doc, "children_count"), 32) << got.body;
    EXPECT_EQ(string_member(doc, "status"), "SOLD") << got.body;
    ASSERT_TRUE(wait_until_projected());

    // Sum over the issuance: the parent and every child = 1,000.
    const HttpResponse list = http("GET", "/records?parent=" + parent + "&limit=500");
    ASSERT_EQ(list.status, 200) << list.body;
    const auto ld = parse_json(list.body);
    const rapidjson::Value* records = Member(ld, "records");
    ASSERT_TRUE(records != nullptr && records->IsArray()) << list.body;
    EXPECT_EQ(records->Size(), 32u) << list.body;
    std::int64_t total = Int(doc, "quantity");
    std::set<std::string> listed;
    for (const auto& record : records->GetArray()) {
      total += Int(record, "quantity");
      listed.insert(string_member(record, "id"));
      EXPECT_EQ(string_member(record, "parent"), parent);
      EXPECT_EQ(string_member(record, "status"), "RETIRED");
    }
    EXPECT_EQ(total, 1000) << "units are conserved";
    EXPECT_EQ(listed, child_ids);
    // Each child read on its own, too.
    std::int64_t children_total = 0;
    for (const std::string& child : child_ids) {
      const HttpResponse c = get_record_eventually(child, 2);
      ASSERT_EQ(c.status, 200) << c.body;
      children_total += Int(parse_json(c.body), "quantity");
    }
    EXPECT_EQ(children_total + Int(doc, "quantity"), 1000);
    EXPECT_EQ(divergent_streams(), 0);
  };
  check_read_model("projected");

  ASSERT_TRUE(exited_zero(stop_projector()));
  const RunResult rebuilt = run_ledger({"rebuild"}, std::chrono::seconds(120));
  ASSERT_TRUE(rebuilt.ok()) << "carbon-ledger rebuild " << rebuilt.describe();
  start_projector();
  check_read_model("after rebuild");
}

}  // namespace
}  // namespace ledger::test

// Tests for the pure batch decider (command/credit_batch.h): decide_batch() over a read of the database,
// load_states() folding snapshots and events, and unit_numbering().
#include "command/credit_batch.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "command/credit_id.h"

namespace ledger {
namespace {

using Kind = CreditCommandResult::Kind;
using K = DecideError::Kind;

constexpr const char* kIssuer = "Issuer Co";
constexpr const char* kBuyer = "Acme Airlines";
constexpr const char* kBuyer2 = "Beta Corp";

CreditAttributes attributes(const std::string& registry, const std::string& serial, std::int64_t start,
                            std::int64_t end) {
  CreditAttributes a;
  a.project_name = "Project";
  a.registry = registry;
  a.serial_number = serial;
  a.vintage = 2021;
  a.block_start = start;
  a.block_end = end;
  a.quantity = end - start + 1;
  return a;
}

CreditAttributes sample() { return attributes("Registry1", "SN1234", 1, 100); }
const std::string& sample_id() {
  static const std::string id = credit_id("Registry1", "SN1234");
  return id;
}

CreditState created_state(const CreditAttributes& a = sample(), const std::string& issuer = kIssuer) {
  return evolve(CreditState{}, CreditCreated{a, issuer});
}
CreditState sold_state() { return evolve(created_state(), CreditSold{kBuyer, kIssuer}); }

CreditCommandRequest request(std::string credit_id, CreditCommand command, Actor actor,
                             std::string request_id = "req-1") {
  CreditCommandRequest r;
  r.credit_id = std::move(credit_id);
  r.command = std::move(command);
  r.actor = std::move(actor);
  r.request_id = std::move(request_id);
  return r;
}

CreditCommandRequest registration(const CreditAttributes& a, bool range_stated, Actor actor = {kIssuer, Role::kIssuer},
                                  std::string request_id = "req-reg") {
  return request(credit_id(a.registry, a.serial_number), RegisterCredit{a, range_stated}, std::move(actor),
                 std::move(request_id));
}

std::map<std::string, StreamState> states_of(std::initializer_list<std::pair<std::string, CreditState>> list) {
  std::map<std::string, StreamState> states;
  for (const auto& [id, state] : list) states[id] = StreamState{state, Status::Ok()};
  return states;
}

BatchFacts facts_binding(const std::string& account = kIssuer, const std::string& registry = "registry1") {
  BatchFacts facts;
  facts.bindings.insert({account, registry});
  facts.known_accounts = {kIssuer, kBuyer, kBuyer2};
  return facts;
}

// Decides `requests` with a confusable key "" for non-registrations and "key:<id>" for registrations.
DecidedBatch decide_all(const std::vector<CreditCommandRequest>& requests, std::map<std::string, StreamState> states,
                        const BatchFacts& facts) {
  std::vector<std::string> keys;
  for (const CreditCommandRequest& r : requests) {
    keys.push_back(std::holds_alternative<RegisterCredit>(r.command) ? "key:" + r.credit_id : "");
  }
  return decide_batch(requests, keys, std::move(states), facts);
}

std::string describe(const NewEvent& e, const std::map<std::string, std::string>& names) {
  const auto name = names.find(e.stream_id);
  return (name == names.end() ? e.stream_id : name->second) + " v" + std::to_string(e.stream_version) + " " +
         e.event_type + " " + e.data_json;
}

std::vector<std::string> describe(const std::vector<NewEvent>& events,
                                  const std::map<std::string, std::string>& names = {}) {
  std::vector<std::string> out;
  for (const NewEvent& e : events) out.push_back(describe(e, names));
  return out;
}

// --- Partial commands ---

TEST(DecideBatch, TwoPartialRetirementsOfOneParentCarveConsecutiveRanges) {
  const Actor buyer{kBuyer, Role::kHolder};
  const std::vector<CreditCommandRequest> requests = {
      request(sample_id(), RetireCredit{Retirement{"B1"}, 30}, buyer, "req-a"),
      request(sample_id(), RetireCredit{Retirement{"B2"}, 20}, buyer, "req-b"),
  };
  const DecidedBatch batch = decide_all(requests, states_of({{sample_id(), sold_state()}}), facts_binding());
  const std::string child_a = child_credit_id("Registry1", "SN1234", 1, 30);
  const std::string child_b = child_credit_id("Registry1", "SN1234", 31, 50);
  ASSERT_EQ(batch.results.size(), 2u);

  const CreditCommandResult& a = batch.results[0];
  EXPECT_EQ(a.kind, Kind::kApplied) << a.detail;
  EXPECT_EQ(a.record_id, child_a);
  EXPECT_EQ(a.state.status, CreditStatus::kRetired);
  EXPECT_EQ(a.state.version, 2);
  EXPECT_EQ(a.state.attributes.block_start, 1);
  EXPECT_EQ(a.state.attributes.block_end, 30);
  EXPECT_EQ(a.state.parent, sample_id());
  EXPECT_EQ(a.state.holder, kBuyer);
  EXPECT_EQ(a.remainder_id, sample_id());
  ASSERT_TRUE(a.remainder.has_value());
  EXPECT_EQ(a.remainder->version, 3);
  EXPECT_EQ(a.remainder->attributes.block_start, 31);
  EXPECT_EQ(a.remainder->attributes.quantity, 70);
  EXPECT_EQ(a.remainder->status, CreditStatus::kSold);

  const CreditCommandResult& b = batch.results[1];
  EXPECT_EQ(b.kind, Kind::kApplied) << b.detail;
  EXPECT_EQ(b.record_id, child_b);
  EXPECT_EQ(b.state.attributes.block_start, 31);
  EXPECT_EQ(b.state.attributes.block_end, 50);
  EXPECT_EQ(b.state.retirement, Retirement{"B2"});
  ASSERT_TRUE(b.remainder.has_value());
  EXPECT_EQ(b.remainder->version, 4);
  EXPECT_EQ(b.remainder->attributes.block_start, 51);
  EXPECT_EQ(b.remainder->attributes.block_end, 100);
  EXPECT_EQ(b.remainder->attributes.quantity, 50);
  EXPECT_EQ(b.remainder->children_count, 2);

  const std::map<std::string, std::string> names = {{sample_id(), "parent"}, {child_a, "a"}, {child_b, "b"}};
  const std::string carved_common =
      "\"project_name\":\"Project\",\"registry\":\"Registry1\",\"vintage\":2021,";
  EXPECT_EQ(describe(batch.events, names),
            (std::vector<std::string>{
                "parent v3 SPLIT {\"child\":\"" + child_a + "\",\"block_start\":1,\"block_end\":30,\"quantity\":30}",
                "a v1 CARVED {\"parent\":\"" + sample_id() + "\"," + carved_common +
                    "\"quantity\":30,\"serial_number\":\"SN1234\",\"block_start\":1,\"block_end\":30,"
                    "\"issuer\":\"Issuer Co\",\"holder\":\"Acme Airlines\",\"status\":\"SOLD\"}",
                "a v2 RETIRED {\"beneficiary\":\"B1\"}",
                "parent v4 SPLIT {\"child\":\"" + child_b + "\",\"block_start\":31,\"block_end\":50,\"quantity\":20}",
                "b v1 CARVED {\"parent\":\"" + sample_id() + "\"," + carved_common +
                    "\"quantity\":20,\"serial_number\":\"SN1234\",\"block_start\":31,\"block_end\":50,"
                    "\"issuer\":\"Issuer Co\",\"holder\":\"Acme Airlines\",\"status\":\"SOLD\"}",
                "b v2 RETIRED {\"beneficiary\":\"B2\"}",
            }));
  // Each event carries its own request's metadata; event ids are fresh and distinct.
  rapidjson::Document metadata;
  metadata.Parse(batch.events[3].metadata_json.c_str());
  ASSERT_TRUE(metadata.IsObject());
  EXPECT_STREQ(metadata["request_id"].GetString(), "req-b");
  EXPECT_STREQ(metadata["command"].GetString(), "retire");
  EXPECT_STREQ(metadata["account"].GetString(), kBuyer);
  EXPECT_STREQ(metadata["role"].GetString(), "holder");
  EXPECT_EQ(batch.events[1].metadata_json, batch.events[0].metadata_json);
  std::set<std::string> ids;
  for (const NewEvent& e : batch.events) ids.insert(e.event_id);
  EXPECT_EQ(ids.size(), batch.events.size());
  EXPECT_TRUE(batch.extras.claims.empty());
  EXPECT_TRUE(batch.extras.range_claims.empty());
  EXPECT_TRUE(batch.extras.snapshots.empty());
}

// A later command of the batch on the computed child id sees the child the earlier one carved.
TEST(DecideBatch, ALaterCommandSeesTheChildAnEarlierOneCarved) {
  const std::string child = child_credit_id("Registry1", "SN1234", 1, 10);
  const std::vector<CreditCommandRequest> requests = {
      request(sample_id(), SellCredit{kBuyer2, 10}, Actor{kIssuer, Role::kIssuer}),
      request(child, RetireCredit{Retirement{}, std::nullopt}, Actor{kBuyer2, Role::kHolder}),
      request(child, RetireCredit{Retirement{}, std::nullopt}, Actor{kBuyer2, Role::kHolder}),
  };
  const DecidedBatch batch = decide_all(requests, states_of({{sample_id(), created_state()}}), facts_binding());
  ASSERT_EQ(batch.results.size(), 3u);
  EXPECT_EQ(batch.results[0].kind, Kind::kApplied);
  EXPECT_EQ(batch.results[0].record_id, child);
  EXPECT_EQ(batch.results[1].kind, Kind::kApplied) << batch.results[1].detail;
  EXPECT_EQ(batch.results[1].record_id, child);
  EXPECT_EQ(batch.results[1].state.version, 3);
  EXPECT_EQ(batch.results[1].state.status, CreditStatus::kRetired);
  EXPECT_FALSE(batch.results[1].remainder.has_value());
  EXPECT_EQ(batch.results[2].kind, Kind::kRejected);
  ASSERT_TRUE(batch.results[2].error.has_value());
  EXPECT_EQ(batch.results[2].error->kind, K::kWrongStatus);
  const std::map<std::string, std::string> names = {{sample_id(), "parent"}, {child, "child"}};
  const std::vector<std::string> events = describe(batch.events, names);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[3], "child v3 RETIRED {}");
}

// --- Results of the decider and the facts ---

TEST(DecideBatch, OutcomesOfSingleCommands) {
  struct Case {
    const char* name;
    CreditCommandRequest request;
    std::map<std::string, StreamState> states;
    BatchFacts facts;
    Kind kind;
    std::optional<K> error;
    std::size_t events;
  };
  const Actor issuer{kIssuer, Role::kIssuer};
  const Actor admin{"Ops", Role::kAdmin};
  BatchFacts unknown_buyer = facts_binding();
  unknown_buyer.known_accounts.erase(kBuyer2);
  BatchFacts other_binding = facts_binding(kIssuer, "verra");
  BatchFacts case_binding;
  case_binding.bindings.insert({kIssuer, "registry1"});  // the registry as sent is "REGISTRY1"
  CreditAttributes upper = sample();
  upper.registry = "REGISTRY1";
  std::map<std::string, StreamState> broken;
  broken[sample_id()] = StreamState{created_state(), Status::Internal("stream jumps")};
  std::vector<Case> cases;
  cases.push_back({"register new", registration(sample(), false), {}, facts_binding(), Kind::kCreated,
                   std::nullopt, 1});
  cases.push_back({"register with the registry bound in other case", registration(upper, false), {}, case_binding,
                   Kind::kCreated, std::nullopt, 1});
  cases.push_back({"register unbound", registration(sample(), false), {}, other_binding, Kind::kForbidden,
                   K::kRegistryNotBound, 0});
  cases.push_back({"register unbound as admin", registration(sample(), false, admin), {}, BatchFacts{},
                   Kind::kCreated, std::nullopt, 1});
  cases.push_back({"register bound to another account", registration(sample(), false), {},
                   facts_binding("Someone Else", "registry1"), Kind::kForbidden, K::kRegistryNotBound, 0});
  cases.push_back({"register identical", registration(sample(), false), states_of({{sample_id(), created_state()}}),
                   facts_binding(), Kind::kApplied, std::nullopt, 0});
  cases.push_back({"register different", registration(attributes("Registry1", "SN1234", 1, 5), false),
                   states_of({{sample_id(), created_state()}}), facts_binding(), Kind::kRejected,
                   K::kAttributesDiffer, 0});
  cases.push_back({"sell to a known buyer", request(sample_id(), SellCredit{kBuyer2}, issuer),
                   states_of({{sample_id(), created_state()}}), facts_binding(), Kind::kApplied, std::nullopt, 1});
  cases.push_back({"sell to an unknown buyer", request(sample_id(), SellCredit{kBuyer2}, issuer),
                   states_of({{sample_id(), created_state()}}), unknown_buyer, Kind::kRejected, K::kUnknownBuyer, 0});
  cases.push_back({"sell over quantity", request(sample_id(), SellCredit{kBuyer2, 101}, issuer),
                   states_of({{sample_id(), created_state()}}), facts_binding(), Kind::kRejected, K::kQuantityExceeds,
                   0});
  cases.push_back({"sell unknown credit", request(sample_id(), SellCredit{kBuyer2}, issuer), {}, facts_binding(),
                   Kind::kNotFound, K::kNotFound, 0});
  cases.push_back({"sell someone else's", request(sample_id(), SellCredit{kBuyer2}, Actor{"Mallory", Role::kHolder}),
                   states_of({{sample_id(), created_state()}}), facts_binding(), Kind::kForbidden, K::kForbidden, 0});
  cases.push_back({"cancel sold", request(sample_id(), CancelCredit{"x"}, issuer),
                   states_of({{sample_id(), sold_state()}}), facts_binding(), Kind::kRejected, K::kWrongStatus, 0});
  cases.push_back({"broken stream", request(sample_id(), SellCredit{kBuyer2}, issuer), broken, facts_binding(),
                   Kind::kInternal, std::nullopt, 0});
  for (Case& c : cases) {
    SCOPED_TRACE(c.name);
    const DecidedBatch batch = decide_all({c.request}, c.states, c.facts);
    ASSERT_EQ(batch.results.size(), 1u);
    const CreditCommandResult& r = batch.results[0];
    EXPECT_EQ(r.kind, c.kind) << r.detail;
    EXPECT_EQ(r.record_id, c.request.credit_id);
    EXPECT_EQ(r.error.has_value(), c.error.has_value());
    if (c.error && r.error) {
      EXPECT_EQ(r.error->kind, *c.error);
    }
    if (c.error && r.error) {
      EXPECT_EQ(r.detail, r.error->detail);
    }
    EXPECT_EQ(batch.events.size(), c.events);
    if (c.kind == Kind::kInternal) {
      EXPECT_EQ(r.detail, "stream jumps");
    }
  }
}

TEST(DecideBatch, NewRegistrationTakesItsClaims) {
  const CreditAttributes verra =
      attributes("Verra", "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1", 941467007,
                 941467431);
  const CreditCommandRequest reg = registration(verra, true);
  const DecidedBatch batch = decide_all({reg}, {}, facts_binding(kIssuer, "verra"));
  ASSERT_EQ(batch.results.size(), 1u);
  EXPECT_EQ(batch.results[0].kind, Kind::kCreated) << batch.results[0].detail;
  EXPECT_EQ(batch.results[0].state.version, 1);
  EXPECT_EQ(batch.results[0].state.holder, kIssuer);
  ASSERT_EQ(batch.extras.claims.size(), 1u);
  EXPECT_EQ(batch.extras.claims[0].kind, kConfusableClaimKind);
  EXPECT_EQ(batch.extras.claims[0].key, "key:" + reg.credit_id);
  EXPECT_EQ(batch.extras.claims[0].stream_id, reg.credit_id);
  ASSERT_EQ(batch.extras.range_claims.size(), 1u);
  const StreamRangeClaim& units = batch.extras.range_claims[0];
  EXPECT_EQ(units.kind, kUnitsClaimKind);
  EXPECT_EQ(units.key, "verra");
  EXPECT_EQ(units.low, 941467007);
  EXPECT_EQ(units.high, 941467431);
  EXPECT_EQ(units.stream_id, reg.credit_id);
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.events[0].stream_version, 1);
  EXPECT_EQ(batch.events[0].event_type, "CREATED");

  // A block of its own serial number alone takes no units claim (its id already guards it).
  const DecidedBatch other = decide_all({registration(sample(), true)}, {}, facts_binding());
  EXPECT_EQ(other.extras.claims.size(), 1u);
  EXPECT_TRUE(other.extras.range_claims.empty());
  // An identical re-registration takes nothing.
  const DecidedBatch again =
      decide_all({registration(sample(), false)}, states_of({{sample_id(), created_state()}}), facts_binding());
  EXPECT_TRUE(again.extras.claims.empty());
  EXPECT_TRUE(again.events.empty());
}

TEST(DecideBatch, RegistrationOverlappingHeldUnitsIsRefusedNamingTheEarlierBlock) {
  const std::string serial = "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1";
  const CreditAttributes verra = attributes("Verra", serial, 941467007, 941467431);
  const std::string earlier_id = "11111111-1111-5111-8111-111111111111";
  BatchFacts facts = facts_binding(kIssuer, "verra");
  facts.units_held.push_back(StreamRangeClaim{kUnitsClaimKind, "verra", 941467400, 941467500, earlier_id});
  facts.units_holders[earlier_id] = created_state(attributes("Verra", "EARLIER-SERIAL", 941467400, 941467500));
  const CreditCommandRequest reg = registration(verra, true);
  const DecidedBatch batch = decide_all({reg}, {}, facts);
  ASSERT_EQ(batch.results.size(), 1u);
  const CreditCommandResult& r = batch.results[0];
  EXPECT_EQ(r.kind, Kind::kRejected);
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->kind, K::kUnitsIssued);
  EXPECT_EQ(r.error->overlapping_id, earlier_id);
  EXPECT_EQ(r.error->overlapping_serial_number, "EARLIER-SERIAL");
  EXPECT_EQ(r.error->overlapping_start, 941467400);
  EXPECT_EQ(r.error->overlapping_end, 941467500);
  EXPECT_NE(r.detail.find("941467400..941467500"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find(earlier_id), std::string::npos) << r.detail;
  EXPECT_TRUE(batch.events.empty());
  EXPECT_TRUE(batch.extras.claims.empty());
  EXPECT_TRUE(batch.extras.range_claims.empty());
}

TEST(DecideBatch, HeldUnitsThatDoNotOverlapAreNoObstacle) {
  const std::string serial = "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1";
  const CreditCommandRequest reg = registration(attributes("Verra", serial, 941467007, 941467431), true);
  BatchFacts facts = facts_binding(kIssuer, "verra");
  facts.units_held = {
      StreamRangeClaim{kUnitsClaimKind, "verra", 1, 941467006, "a"},                    // just below
      StreamRangeClaim{kUnitsClaimKind, "verra", 941467432, 941467999, "b"},            // just above
      StreamRangeClaim{kUnitsClaimKind, "gold standard:GS1", 941467007, 941467431, "c"},  // another numbering
      StreamRangeClaim{kUnitsClaimKind, "verra", 941467007, 941467431, reg.credit_id},  // its own claim
  };
  const DecidedBatch batch = decide_all({reg}, {}, facts);
  EXPECT_EQ(batch.results[0].kind, Kind::kCreated) << batch.results[0].detail;
}

TEST(DecideBatch, TheSecondOfTwoOverlappingRegistrationsInOneBatchIsRefused) {
  const CreditAttributes first = attributes("Gold Standard", "GS1-1-KE-GS11603-16-2025-30256-110-5463", 110, 5463);
  const CreditAttributes second = attributes("Gold Standard", "GS1-1-KE-GS11603-16-2025-30256-5000-6000", 5000, 6000);
  const CreditAttributes apart = attributes("Gold Standard", "GS1-1-KE-GS11603-16-2025-99999-5000-6000", 5000, 6000);
  const std::vector<CreditCommandRequest> requests = {registration(first, true), registration(second, true),
                                                      registration(apart, true)};
  const DecidedBatch batch = decide_all(requests, {}, facts_binding(kIssuer, "gold standard"));
  ASSERT_EQ(batch.results.size(), 3u);
  EXPECT_EQ(batch.results[0].kind, Kind::kCreated) << batch.results[0].detail;
  const CreditCommandResult& refused = batch.results[1];
  EXPECT_EQ(refused.kind, Kind::kRejected);
  ASSERT_TRUE(refused.error.has_value());
  EXPECT_EQ(refused.error->kind, K::kUnitsIssued);
  EXPECT_EQ(refused.error->overlapping_id, requests[0].credit_id);
  EXPECT_EQ(refused.error->overlapping_serial_number, first.serial_number);
  EXPECT_EQ(refused.error->overlapping_start, 110);
  EXPECT_EQ(refused.error->overlapping_end, 5463);
  // Another prefix is another numbering.
  EXPECT_EQ(batch.results[2].kind, Kind::kCreated) << batch.results[2].detail;
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].stream_id, requests[0].credit_id);
  EXPECT_EQ(batch.events[1].stream_id, requests[2].credit_id);
  ASSERT_EQ(batch.extras.range_claims.size(), 2u);
  EXPECT_EQ(batch.extras.range_claims[0].key, "gold standard:GS1-1-KE-GS11603-16-2025-30256");
  EXPECT_EQ(batch.extras.range_claims[1].key, "gold standard:GS1-1-KE-GS11603-16-2025-99999");
  EXPECT_EQ(batch.extras.claims.size(), 2u);
}

TEST(DecideBatch, ConfusableRegistrationsAreRefused) {
  const CreditCommandRequest reg = registration(sample(), false);
  // Held by another credit, as read.
  BatchFacts facts = facts_binding();
  facts.confusable_holders["shared-key"] = "22222222-2222-5222-8222-222222222222";
  DecidedBatch batch = decide_batch({reg}, {"shared-key"}, {}, facts);
  ASSERT_EQ(batch.results.size(), 1u);
  EXPECT_EQ(batch.results[0].kind, Kind::kRejected);
  ASSERT_TRUE(batch.results[0].error.has_value());
  EXPECT_EQ(batch.results[0].error->kind, K::kConfusable);
  EXPECT_EQ(batch.results[0].error->confusable_with, "22222222-2222-5222-8222-222222222222");
  EXPECT_TRUE(batch.events.empty());
  EXPECT_TRUE(batch.extras.claims.empty());

  // Held by the credit itself (read back after a lost race): fine.
  facts.confusable_holders["shared-key"] = reg.credit_id;
  batch = decide_batch({reg}, {"shared-key"}, {}, facts);
  EXPECT_EQ(batch.results[0].kind, Kind::kCreated) << batch.results[0].detail;

  // Taken earlier in the same batch by a lookalike.
  CreditAttributes lookalike = sample();
  lookalike.serial_number = "sn1234";  // another id; the key is what the caller computed
  const CreditCommandRequest second = registration(lookalike, false, {kIssuer, Role::kIssuer}, "req-2");
  ASSERT_NE(second.credit_id, reg.credit_id);
  batch = decide_batch({reg, second}, {"shared-key", "shared-key"}, {}, facts_binding());
  ASSERT_EQ(batch.results.size(), 2u);
  EXPECT_EQ(batch.results[0].kind, Kind::kCreated);
  EXPECT_EQ(batch.results[1].kind, Kind::kRejected);
  ASSERT_TRUE(batch.results[1].error.has_value());
  EXPECT_EQ(batch.results[1].error->kind, K::kConfusable);
  EXPECT_EQ(batch.results[1].error->confusable_with, reg.credit_id);
  EXPECT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.extras.claims.size(), 1u);
}

TEST(DecideBatch, IfMatch) {
  const Actor issuer{kIssuer, Role::kIssuer};
  struct Case {
    const char* name;
    std::optional<VersionPrecondition> if_match;
    bool exists;
    Kind kind;
  };
  const Case cases[] = {
      {"matching version", VersionPrecondition{false, {1}}, true, Kind::kApplied},
      {"one of several", VersionPrecondition{false, {7, 1}}, true, Kind::kApplied},
      {"any", VersionPrecondition{true, {}}, true, Kind::kApplied},
      {"another version", VersionPrecondition{false, {2}}, true, Kind::kPreconditionFailed},
      {"no version at all (weak tags)", VersionPrecondition{false, {}}, true, Kind::kPreconditionFailed},
      {"any, but the credit does not exist", VersionPrecondition{true, {}}, false, Kind::kPreconditionFailed},
      {"none", std::nullopt, true, Kind::kApplied},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    CreditCommandRequest r = request(sample_id(), SellCredit{kBuyer2, 10}, issuer);
    r.if_match = c.if_match;
    const auto states = c.exists ? states_of({{sample_id(), created_state()}}) : std::map<std::string, StreamState>{};
    const DecidedBatch batch = decide_all({r}, states, facts_binding());
    EXPECT_EQ(batch.results[0].kind, c.kind) << batch.results[0].detail;
    if (c.kind == Kind::kPreconditionFailed) {
      EXPECT_TRUE(batch.events.empty());
      EXPECT_FALSE(batch.results[0].error.has_value());
      EXPECT_EQ(batch.results[0].detail, c.exists ? "the credit is at version 1, which If-Match does not name"
                                                  : "the credit does not exist, so If-Match cannot match");
    }
  }
  // In a batch, If-Match is checked against the version the earlier commands left.
  CreditCommandRequest first = request(sample_id(), SellCredit{kBuyer2, 10}, issuer);
  CreditCommandRequest second = request(sample_id(), SellCredit{kBuyer2, 10}, issuer);
  first.if_match = VersionPrecondition{false, {1}};
  second.if_match = VersionPrecondition{false, {1}};
  const DecidedBatch batch = decide_all({first, second}, states_of({{sample_id(), created_state()}}), facts_binding());
  EXPECT_EQ(batch.results[0].kind, Kind::kApplied);
  EXPECT_EQ(batch.results[1].kind, Kind::kPreconditionFailed);
  EXPECT_EQ(batch.results[1].state.version, 2);
}

// --- Idempotency keys ---

IdempotencyRequest idempotency(const std::string& key, const std::string& sha, bool storable = true) {
  IdempotencyRequest i;
  i.key = key;
  i.request_sha256 = sha;
  i.render = [storable](const CreditCommandResult& result) -> std::optional<StoredResponse> {
    if (!storable) return std::nullopt;
    return StoredResponse{result.kind == Kind::kApplied ? 200 : 409, "body:" + result.record_id, "", "\"1\""};
  };
  return i;
}

TEST(DecideBatch, IdempotencyReplayMismatchAndStore) {
  const Actor issuer{kIssuer, Role::kIssuer};
  BatchFacts facts = facts_binding();
  const StoredResponse first_answer{200, "{\"first\":true}", "/records/x", "\"2\""};
  facts.idempotency[{kIssuer, "key-1"}] = StoredIdempotency{"sha-a", first_answer};

  CreditCommandRequest replay = request(sample_id(), SellCredit{kBuyer2}, issuer, "r1");
  replay.idempotency = idempotency("key-1", "sha-a");
  CreditCommandRequest reused = request(sample_id(), SellCredit{kBuyer2}, issuer, "r2");
  reused.idempotency = idempotency("key-1", "sha-b");
  CreditCommandRequest other_account = request(sample_id(), SellCredit{kBuyer2, 5}, Actor{"Ops", Role::kAdmin}, "r3");
  other_account.idempotency = idempotency("key-1", "sha-a");  // keys are scoped to the account
  CreditCommandRequest fresh = request(sample_id(), SellCredit{kBuyer2, 5}, issuer, "r4");
  fresh.idempotency = idempotency("key-2", "sha-c");
  CreditCommandRequest not_stored = request(sample_id(), SellCredit{kBuyer2, 5}, issuer, "r5");
  not_stored.idempotency = idempotency("key-3", "sha-d", /*storable=*/false);

  const DecidedBatch batch = decide_all({replay, reused, other_account, fresh, not_stored},
                                        states_of({{sample_id(), created_state()}}), facts);
  ASSERT_EQ(batch.results.size(), 5u);
  EXPECT_EQ(batch.results[0].kind, Kind::kReplayed);
  ASSERT_TRUE(batch.results[0].replayed.has_value());
  EXPECT_EQ(batch.results[0].replayed->status, 200);
  EXPECT_EQ(batch.results[0].replayed->body, first_answer.body);
  EXPECT_EQ(batch.results[0].replayed->location, first_answer.location);
  EXPECT_EQ(batch.results[0].replayed->etag, first_answer.etag);
  EXPECT_EQ(batch.results[1].kind, Kind::kIdempotencyKeyReused);
  EXPECT_FALSE(batch.results[1].replayed.has_value());
  EXPECT_EQ(batch.results[2].kind, Kind::kApplied) << batch.results[2].detail;
  EXPECT_EQ(batch.results[3].kind, Kind::kApplied) << batch.results[3].detail;
  EXPECT_EQ(batch.results[4].kind, Kind::kApplied) << batch.results[4].detail;
  // Neither the replay nor the reused key executed: the three others carved 5 units each.
  EXPECT_EQ(batch.results[4].remainder->attributes.block_start, 16);
  EXPECT_EQ(batch.events.size(), 9u);
  // Answers to store: the executed requests whose render gave one.
  ASSERT_EQ(batch.idempotency.size(), 2u);
  EXPECT_EQ(batch.idempotency[0].account, "Ops");
  EXPECT_EQ(batch.idempotency[0].key, "key-1");
  EXPECT_EQ(batch.idempotency[0].request_sha256, "sha-a");
  EXPECT_EQ(batch.idempotency[1].account, kIssuer);
  EXPECT_EQ(batch.idempotency[1].key, "key-2");
  EXPECT_EQ(batch.idempotency[1].request_sha256, "sha-c");
  EXPECT_EQ(batch.idempotency[1].response.status, 200);
  EXPECT_EQ(batch.idempotency[1].response.body, "body:" + batch.results[3].record_id);
}

TEST(DecideBatch, RefusalsAreStoredWithTheirKeyToo) {
  CreditCommandRequest r = request(sample_id(), CancelCredit{"x"}, Actor{kIssuer, Role::kIssuer});
  r.idempotency = idempotency("k", "s");
  const DecidedBatch batch = decide_all({r}, states_of({{sample_id(), sold_state()}}), facts_binding());
  EXPECT_EQ(batch.results[0].kind, Kind::kRejected);
  ASSERT_EQ(batch.idempotency.size(), 1u);
  EXPECT_EQ(batch.idempotency[0].response.status, 409);
}

// --- Snapshots ---

CreditState at_version(std::int64_t version) {
  CreditState state = created_state();
  while (state.version < version) state = evolve(state, CreditSold{kIssuer, kIssuer});
  return state;
}

TEST(DecideBatch, SnapshotWhenAStreamPassesAMultipleOfTheInterval) {
  static_assert(kSnapshotIntervalEvents == 64);
  const Actor issuer{kIssuer, Role::kIssuer};
  struct Case {
    const char* name;
    std::int64_t from;
    std::vector<CreditCommand> commands;
    std::vector<std::pair<std::string, std::int64_t>> snapshots;  // (stream, version)
  };
  const std::string child = child_credit_id("Registry1", "SN1234", 1, 10);
  const std::vector<Case> cases = {
      {"62 -> 63", 62, {SellCredit{kIssuer}}, {}},
      {"63 -> 64", 63, {SellCredit{kIssuer}}, {{sample_id(), 64}}},
      {"64 -> 65", 64, {SellCredit{kIssuer}}, {}},
      {"63 -> 65 in one batch: one snapshot, of the last version", 63, {SellCredit{kIssuer}, SellCredit{kIssuer}},
       {{sample_id(), 65}}},
      {"127 -> 128", 127, {SellCredit{kIssuer}}, {{sample_id(), 128}}},
      {"a partial at 63: the parent passes 64, the new child does not", 63, {SellCredit{kIssuer, 10}},
       {{sample_id(), 64}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<CreditCommandRequest> requests;
    for (const CreditCommand& command : c.commands) requests.push_back(request(sample_id(), command, issuer));
    const DecidedBatch batch = decide_all(requests, states_of({{sample_id(), at_version(c.from)}}), facts_binding());
    for (const CreditCommandResult& r : batch.results) ASSERT_EQ(r.kind, Kind::kApplied) << r.detail;
    std::vector<std::pair<std::string, std::int64_t>> got;
    for (const StreamSnapshot& s : batch.extras.snapshots) {
      got.emplace_back(s.stream_id, s.stream_version);
      CreditState decoded;
      ASSERT_TRUE(decode_state(s.state_json, &decoded).ok()) << s.state_json;
      EXPECT_EQ(decoded.version, s.stream_version);
      EXPECT_EQ(decoded, batch.results.back().remainder.value_or(batch.results.back().state));
    }
    EXPECT_EQ(got, c.snapshots);
  }
}

// --- load_states ---

RecordedEvent recorded(const std::string& stream, std::int64_t version, const CreditEvent& event) {
  RecordedEvent e;
  e.position = version;
  e.stream_id = stream;
  e.stream_version = version;
  e.event_id = "evt-" + std::to_string(version);
  e.event_type = event_type_name(event);
  e.data_json = encode_event_data(event);
  e.metadata_json = "{}";
  e.recorded_at = "2026-12-01T00:00:00.000000Z";
  return e;
}

TEST(LoadStates, FoldsEventsFromTheStart) {
  StreamsFromSnapshots read;
  read.events = {recorded("a", 1, CreditCreated{sample(), kIssuer}), recorded("a", 2, CreditSold{kBuyer, kIssuer}),
                 recorded("b", 1, CreditCreated{attributes("R", "S", 5, 9), "I"})};
  const auto states = load_states(read);
  ASSERT_EQ(states.size(), 2u);
  EXPECT_TRUE(states.at("a").status.ok());
  EXPECT_EQ(states.at("a").state, sold_state());
  EXPECT_EQ(states.at("b").state.attributes.block_start, 5);
  EXPECT_EQ(states.at("b").state.version, 1);
}

TEST(LoadStates, SnapshotThenLaterEvents) {
  const CreditState snapshot_state = at_version(64);
  StreamsFromSnapshots read;
  read.snapshots = {StreamSnapshot{"a", 64, encode_state(snapshot_state)}};
  read.events = {recorded("a", 65, CreditSplit{"c", 1, 10, 10}), recorded("a", 66, CreditSold{kBuyer, kIssuer})};
  const auto states = load_states(read);
  const StreamState& a = states.at("a");
  ASSERT_TRUE(a.status.ok()) << a.status.ToString();
  CreditState expected = evolve(evolve(snapshot_state, CreditSplit{"c", 1, 10, 10}), CreditSold{kBuyer, kIssuer});
  EXPECT_EQ(a.state, expected);
  EXPECT_EQ(a.state.version, 66);
  EXPECT_EQ(a.state.attributes.block_start, 11);
  // A snapshot alone.
  read.events.clear();
  EXPECT_EQ(load_states(read).at("a").state, snapshot_state);
}

TEST(LoadStates, BrokenStreamsAreInternalAndOthersUnaffected) {
  struct Case {
    const char* name;
    StreamsFromSnapshots read;
    std::vector<std::string> mentions;
  };
  const CreditState at64 = at_version(64);
  RecordedEvent bad = recorded("a", 2, CreditSold{kBuyer});
  bad.data_json = "{}";
  bad.event_id = "evt-bad";
  std::vector<Case> cases = {
      {"a gap", {{}, {recorded("a", 1, CreditCreated{sample(), kIssuer}), recorded("a", 3, CreditSold{kBuyer})}},
       {"a", "jumps from version 1 to 3"}},
      {"events not from version 1", {{}, {recorded("a", 2, CreditSold{kBuyer})}}, {"jumps from version 0 to 2"}},
      {"an event after the snapshot missing", {{StreamSnapshot{"a", 64, encode_state(at64)}}, {recorded("a", 66, CreditSold{kBuyer})}},
       {"jumps from version 64 to 66"}},
      {"undecodable event", {{}, {recorded("a", 1, CreditCreated{sample(), kIssuer}), bad}},
       {"evt-bad", "cannot be decoded"}},
      {"snapshot of another version than its state",
       {{StreamSnapshot{"a", 63, encode_state(at64)}}, {}},
       {"snapshot of stream a at version 63", "another version"}},
      {"snapshot that does not decode", {{StreamSnapshot{"a", 64, "{\"status\":\"SOLD\"}"}}, {}},
       {"snapshot of stream a"}},
  };
  for (Case& c : cases) {
    SCOPED_TRACE(c.name);
    c.read.events.push_back(recorded("z", 1, CreditCreated{sample(), kIssuer}));
    const auto states = load_states(c.read);
    const StreamState& a = states.at("a");
    ASSERT_TRUE(a.status.IsInternal()) << a.status.ToString();
    for (const std::string& word : c.mentions) {
      EXPECT_NE(a.status.message().find(word), std::string::npos) << a.status.message() << " lacks " << word;
    }
    EXPECT_TRUE(states.at("z").status.ok());
    EXPECT_EQ(states.at("z").state.version, 1);
  }
}

// CreditAttributes: "quantity == block_end - block_start + 1 always", and the projector refuses a SPLIT that
// breaks it (apply_event: "leaves the block ..."). The command side must not decide on such a state either:
// it would also snapshot it, and decode_state() refuses that snapshot on the next read.
TEST(LoadStates, ASplitThatBreaksTheBlockIsABrokenInvariant) {
  const std::pair<const char*, CreditSplit> cases[] = {
      {"not at the block's start", CreditSplit{"c", 5, 10, 6}},
      {"the whole block", CreditSplit{"c", 1, 100, 100}},
      {"beyond the block", CreditSplit{"c", 1, 150, 150}},
  };
  for (const auto& [name, split] : cases) {
    SCOPED_TRACE(name);
    StreamsFromSnapshots read;
    read.events = {recorded("a", 1, CreditCreated{sample(), kIssuer}), recorded("a", 2, split)};
    const StreamState& a = load_states(read).at("a");
    EXPECT_TRUE(a.status.IsInternal()) << "state folded to block " << a.state.attributes.block_start << ".."
                                       << a.state.attributes.block_end << " quantity "
                                       << a.state.attributes.quantity;
  }
}

// --- unit_numbering ---

TEST(UnitNumbering, ByRegistry) {
  struct Case {
    const char* name;
    std::string registry, serial;
    bool range_stated;
    std::optional<std::string> numbering;
  };
  const std::string verra = "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1";
  const std::string gs = "GS1-1-KE-GS11603-16-2025-30256-110-5463";
  const Case cases[] = {
      {"Verra", "Verra", verra, true, "verra"},
      {"Verra in upper case", "VERRA", verra, true, "verra"},
      {"VCS is Verra", "VCS", verra, true, "verra"},
      {"Verra with a block_start/block_end range on an opaque serial", "Verra", "VCS-1", true, "verra"},
      {"Gold Standard", "Gold Standard", gs, true, "gold standard:GS1-1-KE-GS11603-16-2025-30256"},
      {"Gold Standard in upper case", "GOLD STANDARD", gs, true, "gold standard:GS1-1-KE-GS11603-16-2025-30256"},
      {"Gold Standard, opaque serial with a stated range", "Gold Standard", "MY-SERIAL", true,
       "gold standard:MY-SERIAL"},
      {"another registry", "Registry1", "SN1234", true, std::nullopt},
      {"another registry with a Verra-looking serial", "Registry1", verra, true, std::nullopt},
      {"Verra without a stated range", "Verra", "VCS-1", false, std::nullopt},
      {"Gold Standard without a stated range", "Gold Standard", "MY-SERIAL", false, std::nullopt},
  };
  for (const Case& c : cases) {
    RegisterCredit command;
    command.attributes = attributes(c.registry, c.serial, 1, 10);
    command.range_stated = c.range_stated;
    EXPECT_EQ(unit_numbering(command), c.numbering) << c.name;
  }
}

TEST(AsciiLowercase, LowersAsciiLettersOnly) {
  EXPECT_EQ(ascii_lowercase("Gold Standard"), "gold standard");
  EXPECT_EQ(ascii_lowercase("ISOM\xC3\x89TRIC-1"), "isom\xC3\x89tric-1");
  EXPECT_EQ(ascii_lowercase(""), "");
}

}  // namespace
}  // namespace ledger

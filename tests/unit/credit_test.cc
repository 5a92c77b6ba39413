// Tests for the credit decider (command/credit.h): decide() for every status and command, evolve(),
// and the JSON form of event data.
#include "command/credit.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ledger {
namespace {

CreditAttributes sample_attributes() {
  CreditAttributes a;
  a.project_name = "Kasigau Corridor REDD+";
  a.registry = "Verra";
  a.serial_number = "VCS-1234-2023-001";
  a.vintage = 2023;
  a.quantity = 100;
  return a;
}

// A credit brought to `status` the way the log would: by folding events.
CreditState state_with(CreditStatus status) {
  CreditState state;
  if (status == CreditStatus::kUnregistered) return state;
  state = evolve(state, CreditCreated{sample_attributes(), "Issuer Co"});
  if (status == CreditStatus::kCreated) return state;
  state = evolve(state, CreditSold{"Acme Airlines"});
  if (status == CreditStatus::kSold) return state;
  return evolve(state, CreditRetired{"Acme Airlines", "2023 flights"});
}

// Events compared by their stored form: type and data.
std::string describe(const CreditEvent& event) {
  return std::string(event_type_name(event)) + " " + encode_event_data(event);
}

std::vector<std::string> describe(const std::vector<CreditEvent>& events) {
  std::vector<std::string> out;
  for (const CreditEvent& e : events) out.push_back(describe(e));
  return out;
}

RegisterCredit register_with(void (*change)(CreditAttributes*)) {
  RegisterCredit command{sample_attributes()};
  if (change != nullptr) change(&command.attributes);
  return command;
}

struct DecideCase {
  const char* name;
  CreditStatus status;
  CreditCommand command;
  std::vector<std::string> events;  // describe() of the expected events
  std::optional<DecideError::Kind> error;
  std::string detail;
  std::vector<std::string> differing_fields;
};

const std::string kCreatedEvent =
    "CREATED {\"project_name\":\"Kasigau Corridor REDD+\",\"registry\":\"Verra\",\"vintage\":2023,"
    "\"quantity\":100,\"serial_number\":\"VCS-1234-2023-001\",\"issuer\":\"Issuer Co\"}";

// The actor of the lifecycle table: the issuer registers; whoever holds the credit sells and retires it.
Actor rightful_actor(const CreditCommand& command, const CreditState& state) {
  if (std::holds_alternative<RegisterCredit>(command)) return Actor{"Issuer Co", Role::kIssuer};
  return Actor{state.holder.empty() ? "Issuer Co" : state.holder, Role::kHolder};
}

std::vector<DecideCase> decide_cases() {
  using K = DecideError::Kind;
  using S = CreditStatus;
  const auto identical = register_with(nullptr);
  const auto registry_case = register_with([](CreditAttributes* a) { a->registry = "VERRA"; });
  const auto other_project_and_quantity = register_with([](CreditAttributes* a) {
    a->project_name = "Other";
    a->quantity = 5;
  });
  const auto all_differ = register_with([](CreditAttributes* a) {
    a->project_name = "Other";
    a->registry = "Gold Standard";
    a->vintage = 2020;
    a->quantity = 5;
    a->serial_number = "X";
  });
  const auto only_vintage = register_with([](CreditAttributes* a) { a->vintage = 2022; });
  const auto project_name_case = register_with([](CreditAttributes* a) { a->project_name = "kasigau corridor redd+"; });
  const SellCredit sell{"Acme Airlines"};
  const RetireCredit retire{"Acme Airlines", "2023 flights"};
  const RetireCredit retire_bare{std::nullopt, std::nullopt};
  const std::string two_fields =
      "a credit with this registry and serial number is already registered with a different "
      "project_name and quantity";

  return {
      // Register.
      {"register new", S::kUnregistered, identical, {kCreatedEvent}, std::nullopt, "", {}},
      {"register again identical (CREATED)", S::kCreated, identical, {}, std::nullopt, "", {}},
      {"register again identical (SOLD)", S::kSold, identical, {}, std::nullopt, "", {}},
      {"register again identical (RETIRED)", S::kRetired, identical, {}, std::nullopt, "", {}},
      {"register again, registry in other case", S::kCreated, registry_case, {}, std::nullopt, "", {}},
      {"register differing (CREATED)", S::kCreated, other_project_and_quantity, {}, K::kAttributesDiffer,
       two_fields, {"project_name", "quantity"}},
      {"register differing (SOLD)", S::kSold, other_project_and_quantity, {}, K::kAttributesDiffer, two_fields,
       {"project_name", "quantity"}},
      {"register differing (RETIRED)", S::kRetired, other_project_and_quantity, {}, K::kAttributesDiffer,
       two_fields, {"project_name", "quantity"}},
      {"register differing in one field", S::kCreated, only_vintage, {}, K::kAttributesDiffer,
       "a credit with this registry and serial number is already registered with a different vintage",
       {"vintage"}},
      {"register differing in project_name case", S::kCreated, project_name_case, {}, K::kAttributesDiffer,
       "a credit with this registry and serial number is already registered with a different project_name",
       {"project_name"}},
      {"register differing in every field", S::kCreated, all_differ, {}, K::kAttributesDiffer,
       "a credit with this registry and serial number is already registered with a different "
       "project_name, registry, vintage, quantity and serial_number",
       {"project_name", "registry", "vintage", "quantity", "serial_number"}},
      // Sell.
      {"sell unregistered", S::kUnregistered, sell, {}, K::kNotFound, "credit not found", {}},
      {"sell created", S::kCreated, sell, {"SOLD {\"buyer\":\"Acme Airlines\",\"seller\":\"Issuer Co\"}"}, std::nullopt, "", {}},
      {"sell sold", S::kSold, sell, {}, K::kWrongStatus, "credit is SOLD; only a CREATED credit can be sold", {}},
      {"sell retired", S::kRetired, sell, {}, K::kWrongStatus,
       "credit is RETIRED; only a CREATED credit can be sold", {}},
      // Retire.
      {"retire unregistered", S::kUnregistered, retire, {}, K::kNotFound, "credit not found", {}},
      {"retire created", S::kCreated, retire, {}, K::kWrongStatus, "credit must be sold before retiring", {}},
      {"retire sold", S::kSold, retire,
       {"RETIRED {\"beneficiary\":\"Acme Airlines\",\"reason\":\"2023 flights\"}"}, std::nullopt, "", {}},
      {"retire sold without details", S::kSold, retire_bare, {"RETIRED {}"}, std::nullopt, "", {}},
      {"retire retired", S::kRetired, retire, {}, K::kWrongStatus, "credit is already retired", {}},
      {"retire retired without details", S::kRetired, retire_bare, {}, K::kWrongStatus,
       "credit is already retired", {}},
  };
}

TEST(DecideTest, EveryStatusAndCommand) {
  for (const DecideCase& c : decide_cases()) {
    SCOPED_TRACE(c.name);
    const CreditState state = state_with(c.status);
    ASSERT_EQ(state.status, c.status);
    const Decision decision = decide(c.command, state, rightful_actor(c.command, state));
    EXPECT_EQ(describe(decision.events), c.events);
    ASSERT_EQ(decision.error.has_value(), c.error.has_value());
    if (!c.error) continue;
    EXPECT_TRUE(decision.events.empty()) << "an error must never come with events";
    EXPECT_EQ(decision.error->kind, *c.error);
    EXPECT_EQ(decision.error->detail, c.detail);
    EXPECT_EQ(decision.error->current_status, c.status);
    EXPECT_EQ(decision.error->differing_fields, c.differing_fields);
  }
}

TEST(DecideTest, CoversEveryStatusForEveryCommand) {
  // Guards the table above: each command kind is tried in each status.
  bool seen[3][4] = {};
  for (const DecideCase& c : decide_cases()) seen[c.command.index()][static_cast<int>(c.status)] = true;
  for (int command = 0; command < 3; ++command) {
    for (int status = 0; status < 4; ++status) EXPECT_TRUE(seen[command][status]) << command << "/" << status;
  }
}

TEST(DecideTest, FullLifecycleThroughDecideAndEvolve) {
  CreditState state;
  const CreditCommand commands[] = {RegisterCredit{sample_attributes()}, SellCredit{"Buyer"},
                                    RetireCredit{"Beneficiary", std::nullopt}};
  for (const CreditCommand& command : commands) {
    const Decision decision = decide(command, state, rightful_actor(command, state));
    ASSERT_FALSE(decision.error) << decision.error->detail;
    ASSERT_EQ(decision.events.size(), 1u);
    state = evolve(state, decision.events[0]);
  }
  EXPECT_EQ(state.status, CreditStatus::kRetired);
  EXPECT_EQ(state.version, 3);
  // A retired credit can never be sold or retired again.
  EXPECT_EQ(state.holder, "Buyer");
  const Actor buyer{"Buyer", Role::kHolder};
  EXPECT_EQ(decide(SellCredit{"Someone"}, state, buyer).error->kind, DecideError::Kind::kWrongStatus);
  EXPECT_EQ(decide(RetireCredit{}, state, buyer).error->kind, DecideError::Kind::kWrongStatus);
  const Actor admin{"root", Role::kAdmin};
  EXPECT_EQ(decide(RetireCredit{}, state, admin).error->kind, DecideError::Kind::kWrongStatus);
}

// Who may do what: one row per (role, relation to the credit, command, status).
struct PermissionCase {
  const char* name;
  CreditStatus status;
  CreditCommand command;
  Actor actor;
  std::optional<DecideError::Kind> error;  // nullopt: allowed (events, or the idempotent no-op)
  std::string detail;                      // checked when non-empty
};

TEST(DecideTest, PermissionsByRoleAndHolder) {
  using K = DecideError::Kind;
  using S = CreditStatus;
  const RegisterCredit reg{sample_attributes()};
  const SellCredit sell{"Acme Airlines"};
  const RetireCredit retire{};
  const Actor issuer{"Issuer Co", Role::kIssuer};
  const Actor other_issuer{"Other Registry", Role::kIssuer};
  const Actor buyer{"Acme Airlines", Role::kHolder};
  const Actor stranger{"Mallory", Role::kHolder};
  const Actor auditor{"Auditor", Role::kAuditor};
  const Actor admin{"Ops", Role::kAdmin};
  const std::vector<PermissionCase> cases = {
      {"issuer registers", S::kUnregistered, reg, issuer, std::nullopt, ""},
      {"admin registers", S::kUnregistered, reg, admin, std::nullopt, ""},
      {"holder role cannot register", S::kUnregistered, reg, buyer, K::kForbidden,
       "the holder role cannot register credits; an issuer (or admin) key is needed"},
      {"auditor cannot register", S::kUnregistered, reg, auditor, K::kForbidden,
       "the auditor role reads the ledger and changes nothing"},
      {"issuer retries its registration after the sale", S::kSold, reg, issuer, std::nullopt, ""},
      {"another issuer registers the same credit", S::kCreated, reg, other_issuer, K::kAttributesDiffer,
       "a credit with this registry and serial number is already registered by another issuer"},
      {"admin re-registers an identical credit", S::kCreated, reg, admin, std::nullopt, ""},
      {"issuer sells what it holds", S::kCreated, sell, issuer, std::nullopt, ""},
      {"a stranger cannot sell", S::kCreated, sell, stranger, K::kForbidden,
       "account \"Mallory\" does not hold this credit (its holder is \"Issuer Co\"), so it may not sell it"},
      {"another issuer cannot sell", S::kCreated, sell, other_issuer, K::kForbidden, ""},
      {"auditor cannot sell", S::kCreated, sell, auditor, K::kForbidden, ""},
      {"admin sells anyone's credit", S::kCreated, sell, admin, std::nullopt, ""},
      {"the issuer cannot sell after selling", S::kSold, sell, issuer, K::kForbidden, ""},
      {"the buyer retires", S::kSold, retire, buyer, std::nullopt, ""},
      {"the seller cannot retire what it sold", S::kSold, retire, issuer, K::kForbidden,
       "account \"Issuer Co\" does not hold this credit (its holder is \"Acme Airlines\"), so it may not retire it"},
      {"a stranger cannot retire", S::kSold, retire, stranger, K::kForbidden, ""},
      {"auditor cannot retire", S::kSold, retire, auditor, K::kForbidden, ""},
      {"admin retires anyone's credit", S::kSold, retire, admin, std::nullopt, ""},
      {"unknown credit is 404 before permissions", S::kUnregistered, sell, stranger, K::kNotFound, ""},
      {"auditor is refused even for an unknown credit", S::kUnregistered, retire, auditor, K::kForbidden, ""},
      {"a stranger learns nothing about the status", S::kRetired, retire, stranger, K::kForbidden, ""},
      {"the holder of a retired credit gets the status", S::kRetired, retire, buyer, K::kWrongStatus,
       "credit is already retired"},
  };
  for (const PermissionCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Decision decision = decide(c.command, state_with(c.status), c.actor);
    ASSERT_EQ(decision.error.has_value(), c.error.has_value()) << (decision.error ? decision.error->detail : "");
    if (!c.error) continue;
    EXPECT_TRUE(decision.events.empty());
    EXPECT_EQ(decision.error->kind, *c.error);
    if (!c.detail.empty()) {
      EXPECT_EQ(decision.error->detail, c.detail);
    }
  }
}

TEST(DecideTest, HolderFollowsRegistrationAndSale) {
  const Actor issuer{"Issuer Co", Role::kIssuer};
  CreditState state;
  Decision d = decide(RegisterCredit{sample_attributes()}, state, issuer);
  ASSERT_EQ(d.events.size(), 1u);
  state = evolve(state, d.events[0]);
  EXPECT_EQ(state.issuer, "Issuer Co");
  EXPECT_EQ(state.holder, "Issuer Co");
  d = decide(SellCredit{"Acme Airlines"}, state, issuer);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(describe(d.events[0]), "SOLD {\"buyer\":\"Acme Airlines\",\"seller\":\"Issuer Co\"}");
  state = evolve(state, d.events[0]);
  EXPECT_EQ(state.holder, "Acme Airlines");
  EXPECT_EQ(state.issuer, "Issuer Co");
}

TEST(StatusNameTest, Names) {
  EXPECT_STREQ(status_name(CreditStatus::kUnregistered), "UNREGISTERED");
  EXPECT_STREQ(status_name(CreditStatus::kCreated), "CREATED");
  EXPECT_STREQ(status_name(CreditStatus::kSold), "SOLD");
  EXPECT_STREQ(status_name(CreditStatus::kRetired), "RETIRED");
}

TEST(EvolveTest, AppliesEachEvent) {
  CreditState state = evolve(CreditState{}, CreditCreated{sample_attributes()});
  EXPECT_EQ(state.status, CreditStatus::kCreated);
  EXPECT_EQ(state.version, 1);
  EXPECT_EQ(state.attributes.project_name, "Kasigau Corridor REDD+");
  EXPECT_EQ(state.attributes.registry, "Verra");
  EXPECT_EQ(state.attributes.serial_number, "VCS-1234-2023-001");
  EXPECT_EQ(state.attributes.vintage, 2023);
  EXPECT_EQ(state.attributes.quantity, 100);
  EXPECT_EQ(state.buyer, "");
  EXPECT_FALSE(state.beneficiary);

  state = evolve(state, CreditSold{"Acme Airlines"});
  EXPECT_EQ(state.status, CreditStatus::kSold);
  EXPECT_EQ(state.version, 2);
  EXPECT_EQ(state.buyer, "Acme Airlines");
  EXPECT_EQ(state.attributes.quantity, 100);

  state = evolve(state, CreditRetired{std::nullopt, "offset"});
  EXPECT_EQ(state.status, CreditStatus::kRetired);
  EXPECT_EQ(state.version, 3);
  EXPECT_EQ(state.buyer, "Acme Airlines");
  EXPECT_FALSE(state.beneficiary);
  EXPECT_EQ(state.reason, std::optional<std::string>("offset"));
}

TEST(EvolveTest, IsTotalEvenForImpossibleOrder) {
  struct Case {
    const char* name;
    CreditStatus from;
    CreditEvent event;
    CreditStatus to;
  };
  const Case cases[] = {
      {"sold before created", CreditStatus::kUnregistered, CreditSold{"B"}, CreditStatus::kSold},
      {"retired before sold", CreditStatus::kCreated, CreditRetired{}, CreditStatus::kRetired},
      {"retired twice", CreditStatus::kRetired, CreditRetired{"X", std::nullopt}, CreditStatus::kRetired},
      {"created twice", CreditStatus::kSold, CreditCreated{sample_attributes()}, CreditStatus::kCreated},
  };
  for (const Case& c : cases) {
    const CreditState before = state_with(c.from);
    const CreditState after = evolve(before, c.event);
    EXPECT_EQ(after.status, c.to) << c.name;
    EXPECT_EQ(after.version, before.version + 1) << c.name;
  }
}

TEST(EventTypeNameTest, Names) {
  EXPECT_STREQ(event_type_name(CreditCreated{}), "CREATED");
  EXPECT_STREQ(event_type_name(CreditSold{}), "SOLD");
  EXPECT_STREQ(event_type_name(CreditRetired{}), "RETIRED");
}

struct EncodeCase {
  const char* name;
  CreditEvent event;
  std::string json;
};

std::vector<EncodeCase> encode_cases() {
  CreditAttributes unusual;
  unusual.project_name = "Proj\xC3\xA9t \"quoted\" \\ back/slash";
  unusual.registry = "Isom\xC3\xA9tric";
  unusual.serial_number = std::string("nul\0tab\t\xF0\x9F\x98\x80", 12);
  unusual.vintage = 1990;
  unusual.quantity = 1'000'000'000'000;
  return {
      {"created", CreditCreated{sample_attributes(), "Issuer Co"}, kCreatedEvent.substr(8)},
      {"created with escapes and non-ASCII", CreditCreated{unusual},
       "{\"project_name\":\"Proj\xC3\xA9t \\\"quoted\\\" \\\\ back/slash\",\"registry\":\"Isom\xC3\xA9tric\","
       "\"vintage\":1990,\"quantity\":1000000000000,\"serial_number\":\"nul\\u0000tab\\t\xF0\x9F\x98\x80\"}"},
      {"sold", CreditSold{"Acme Airlines"}, "{\"buyer\":\"Acme Airlines\"}"},
      {"retired with both", CreditRetired{"B", "R"}, "{\"beneficiary\":\"B\",\"reason\":\"R\"}"},
      {"retired with beneficiary only", CreditRetired{"B", std::nullopt}, "{\"beneficiary\":\"B\"}"},
      {"retired with reason only", CreditRetired{std::nullopt, "R"}, "{\"reason\":\"R\"}"},
      {"retired with neither", CreditRetired{}, "{}"},
      {"retired with empty strings", CreditRetired{"", ""}, "{\"beneficiary\":\"\",\"reason\":\"\"}"},
  };
}

TEST(EventDataTest, EncodesCompactJson) {
  for (const EncodeCase& c : encode_cases()) EXPECT_EQ(encode_event_data(c.event), c.json) << c.name;
}

TEST(EventDataTest, DecodeRoundTripsEncode) {
  for (const EncodeCase& c : encode_cases()) {
    SCOPED_TRACE(c.name);
    CreditEvent decoded = CreditSold{"sentinel"};
    const Status s = decode_event(event_type_name(c.event), encode_event_data(c.event), &decoded);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(decoded.index(), c.event.index());
    EXPECT_EQ(describe(decoded), describe(c.event));
  }
}

TEST(EventDataTest, DecodeKeepsEmptyOptionalsApartFromAbsentOnes) {
  CreditEvent decoded;
  ASSERT_TRUE(decode_event("RETIRED", "{\"beneficiary\":\"\"}", &decoded).ok());
  const auto& retired = std::get<CreditRetired>(decoded);
  EXPECT_EQ(retired.beneficiary, std::optional<std::string>(""));
  EXPECT_FALSE(retired.reason);
}

TEST(EventDataTest, DecodeAcceptsOtherSpellingsOfTheSameData) {
  // As PostgreSQL jsonb prints it (spaces, reordered keys), with unknown fields and null optionals.
  struct Case {
    const char* type;
    std::string json;
    std::string expected;  // describe() of the result
  };
  const Case cases[] = {
      {"SOLD", "{\"buyer\": \"B\"}", "SOLD {\"buyer\":\"B\"}"},
      {"SOLD", " {\"note\": [1, {\"x\": null}], \"buyer\": \"B\"} ", "SOLD {\"buyer\":\"B\"}"},
      {"RETIRED", "{\"beneficiary\": null, \"reason\": \"R\"}", "RETIRED {\"reason\":\"R\"}"},
      {"CREATED",
       "{\"quantity\": 7, \"registry\": \"r\", \"serial_number\": \"s\", \"vintage\": 2000, "
       "\"project_name\": \"p\\u00e9\"}",
       "CREATED {\"project_name\":\"p\xC3\xA9\",\"registry\":\"r\",\"vintage\":2000,\"quantity\":7,"
       "\"serial_number\":\"s\"}"},
  };
  for (const Case& c : cases) {
    CreditEvent decoded;
    const Status s = decode_event(c.type, c.json, &decoded);
    ASSERT_TRUE(s.ok()) << c.json << ": " << s.ToString();
    EXPECT_EQ(describe(decoded), c.expected);
  }
}

TEST(EventDataTest, DecodeErrors) {
  struct Case {
    const char* name;
    std::string type;
    std::string json;
  };
  const std::string created_without_quantity =
      "{\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":2000,\"serial_number\":\"s\"}";
  const Case cases[] = {
      {"unknown type", "DELETED", "{}"},
      {"type in lower case", "sold", "{\"buyer\":\"B\"}"},
      {"empty type", "", "{}"},
      {"empty data", "SOLD", ""},
      {"not JSON", "SOLD", "{\"buyer\":"},
      {"trailing garbage", "SOLD", "{\"buyer\":\"B\"} x"},
      {"array", "RETIRED", "[]"},
      {"string", "RETIRED", "\"x\""},
      {"null", "RETIRED", "null"},
      {"invalid UTF-8", "SOLD", "{\"buyer\":\"\xC3\x28\"}"},
      {"sold without buyer", "SOLD", "{}"},
      {"buyer not a string", "SOLD", "{\"buyer\":1}"},
      {"buyer null", "SOLD", "{\"buyer\":null}"},
      {"buyer repeated", "SOLD", "{\"buyer\":\"a\",\"buyer\":\"b\"}"},
      {"beneficiary not a string", "RETIRED", "{\"beneficiary\":5}"},
      {"reason an object", "RETIRED", "{\"reason\":{}}"},
      {"created missing quantity", "CREATED", created_without_quantity},
      {"created empty", "CREATED", "{}"},
      {"vintage as string", "CREATED",
       "{\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":\"2000\",\"quantity\":1,\"serial_number\":\"s\"}"},
      {"vintage beyond int", "CREATED",
       "{\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":3000000000,\"quantity\":1,\"serial_number\":\"s\"}"},
      {"quantity fraction", "CREATED",
       "{\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":2000,\"quantity\":1.5,\"serial_number\":\"s\"}"},
      {"quantity beyond int64", "CREATED",
       "{\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":2000,\"quantity\":9223372036854775808,"
       "\"serial_number\":\"s\"}"},
      {"serial_number not a string", "CREATED",
       "{\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":2000,\"quantity\":1,\"serial_number\":1}"},
  };
  for (const Case& c : cases) {
    CreditEvent decoded = CreditSold{"untouched"};
    const Status s = decode_event(c.type, c.json, &decoded);
    EXPECT_TRUE(s.IsInvalid()) << c.name << ": " << s.ToString();
    EXPECT_FALSE(s.message().empty()) << c.name;
    ASSERT_TRUE(std::holds_alternative<CreditSold>(decoded)) << c.name;
    EXPECT_EQ(std::get<CreditSold>(decoded).buyer, "untouched") << c.name;
  }
}

TEST(EventDataTest, DecodeSurvivesDeepNesting) {
  const std::string deep = "{\"buyer\":\"B\",\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CreditEvent decoded;
  EXPECT_TRUE(decode_event("SOLD", deep, &decoded).ok());
  EXPECT_TRUE(decode_event("SOLD", std::string(100000, '['), &decoded).IsInvalid());
}

// A lone surrogate escape decodes to bytes that are not UTF-8; encode_event_data would then write data
// decode_event itself refuses (found by the fuzzer, tests/fuzz/corpus/api/api-decode_event-lone-surrogate*).
TEST(EventDataTest, DecodeRejectsLoneSurrogateEscapes) {
  CreditEvent decoded;
  EXPECT_TRUE(decode_event("SOLD", R"({"buyer":"Acme\udc00"})", &decoded).IsInvalid());
  EXPECT_TRUE(decode_event("RETIRED", R"({"reason":"x\ud800y"})", &decoded).IsInvalid());
  EXPECT_TRUE(decode_event("SOLD", R"({"buyer":"Acme \ud83d\ude00"})", &decoded).ok());  // a valid pair
}

}  // namespace
}  // namespace ledger

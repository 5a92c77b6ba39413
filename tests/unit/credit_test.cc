// Tests for the credit decider (command/credit.h): decide() for every (status, command, actor), partial
// commands carving child blocks, evolve(), and the JSON form of event data and of decider state.
#include "command/credit.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "command/credit_id.h"

namespace ledger {
namespace {

using K = DecideError::Kind;
using S = CreditStatus;

constexpr const char* kIssuerAccount = "Issuer Co";
constexpr const char* kBuyerAccount = "Acme Airlines";
constexpr const char* kBuyer2 = "Beta Corp";

CreditAttributes sample_attributes() {
  CreditAttributes a;
  a.project_name = "Kasigau Corridor REDD+";
  a.registry = "Verra";
  a.serial_number = "VCS-1234-2023-001";
  a.vintage = 2023;
  a.quantity = 100;
  a.block_start = 1;
  a.block_end = 100;
  return a;
}

const std::string& parent_id() {
  static const std::string id = credit_id("Verra", "VCS-1234-2023-001");
  return id;
}

DecideFacts facts_for(const std::string& id = parent_id()) {
  DecideFacts facts;
  facts.credit_id = id;
  return facts;
}

Retirement sample_retirement() {
  return Retirement{kBuyerAccount, "2023 flights", "corporate_inventory", "Scope 3, business travel"};
}

// A credit brought to `status` the way the log would: by folding events.
CreditState state_with(CreditStatus status) {
  CreditState state;
  if (status == S::kUnregistered) return state;
  state = evolve(state, CreditCreated{sample_attributes(), kIssuerAccount});
  if (status == S::kCreated) return state;
  if (status == S::kCancelled) return evolve(state, CreditCancelled{"issued in error"});
  state = evolve(state, CreditSold{kBuyerAccount, kIssuerAccount});
  if (status == S::kSold) return state;
  return evolve(state, CreditRetired{sample_retirement()});
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

// --- Expected event texts ---

std::string block_json(const CreditAttributes& a) {
  return "\"project_name\":\"" + a.project_name + "\",\"registry\":\"" + a.registry +
         "\",\"vintage\":" + std::to_string(a.vintage) + ",\"quantity\":" + std::to_string(a.quantity) +
         ",\"serial_number\":\"" + a.serial_number + "\",\"block_start\":" + std::to_string(a.block_start) +
         ",\"block_end\":" + std::to_string(a.block_end);
}

std::string created_text(const CreditAttributes& a, const std::string& issuer) {
  return "CREATED {" + block_json(a) + ",\"issuer\":\"" + issuer + "\"}";
}
std::string sold_text(const std::string& buyer, const std::string& seller) {
  return "SOLD {\"buyer\":\"" + buyer + "\",\"seller\":\"" + seller + "\"}";
}
const std::string kRetiredText =
    "RETIRED {\"beneficiary\":\"Acme Airlines\",\"reason\":\"2023 flights\",\"category\":\"corporate_inventory\","
    "\"details\":\"Scope 3, business travel\"}";
const std::string kCancelledText = "CANCELLED {\"reason\":\"issued in error\"}";

std::string split_text(const std::string& child, std::int64_t start, std::int64_t end) {
  return "SPLIT {\"child\":\"" + child + "\",\"block_start\":" + std::to_string(start) +
         ",\"block_end\":" + std::to_string(end) + ",\"quantity\":" + std::to_string(end - start + 1) + "}";
}
std::string carved_text(const std::string& parent, CreditAttributes a, std::int64_t start, std::int64_t end,
                        const std::string& issuer, const std::string& holder, const char* status) {
  a.block_start = start;
  a.block_end = end;
  a.quantity = end - start + 1;
  return "CARVED {\"parent\":\"" + parent + "\"," + block_json(a) + ",\"issuer\":\"" + issuer +
         "\",\"holder\":\"" + holder + "\",\"status\":\"" + status + "\"}";
}

// --- The decider table ---

// One actor column of the table. "holder" is the block's current holder with a holder-role key (the
// issuer's own account while it still holds the block).
enum Column { kIssuerCol, kHolderCol, kOtherIssuerCol, kOtherHolderCol, kAuditorCol, kAdminCol, kColumns };
const char* const kColumnNames[kColumns] = {"issuer", "holder", "other issuer", "other holder", "auditor", "admin"};

Actor actor_for(Column column, const CreditState& state) {
  switch (column) {
    case kIssuerCol: return Actor{kIssuerAccount, Role::kIssuer};
    case kHolderCol: return Actor{state.holder.empty() ? kBuyerAccount : state.holder, Role::kHolder};
    case kOtherIssuerCol: return Actor{"Other Issuer", Role::kIssuer};
    case kOtherHolderCol: return Actor{"Mallory", Role::kHolder};
    case kAuditorCol: return Actor{"Auditor", Role::kAuditor};
    case kAdminCol: return Actor{"Ops", Role::kAdmin};
    case kColumns: break;
  }
  return Actor{};
}

// What one cell expects: the row's events (kOk), or an error.
enum class Cell { kOk, kNotFound, kWrongStatus, kDiffer, kForbidden, kExceeds };
constexpr Cell OK = Cell::kOk, NF = Cell::kNotFound, WS = Cell::kWrongStatus, AD = Cell::kDiffer,
               FB = Cell::kForbidden, QE = Cell::kExceeds;

K kind_of(Cell cell) {
  switch (cell) {
    case Cell::kNotFound: return K::kNotFound;
    case Cell::kWrongStatus: return K::kWrongStatus;
    case Cell::kDiffer: return K::kAttributesDiffer;
    case Cell::kForbidden: return K::kForbidden;
    case Cell::kExceeds: return K::kQuantityExceeds;
    case Cell::kOk: break;
  }
  return K::kNotFound;
}

enum CommandId {
  kRegisterSame, kRegisterDifferent, kSellWhole, kSellPartial, kSellOver, kRetireWhole, kRetirePartial,
  kRetireOver, kCancelWhole, kCancelPartial, kCancelOver, kCommandIds
};
const char* const kCommandNames[kCommandIds] = {
    "register same", "register different", "sell whole", "sell partial", "sell over quantity", "retire whole",
    "retire partial", "retire over quantity", "cancel whole", "cancel partial", "cancel over quantity"};

constexpr std::int64_t kPart = 30;   // a partial command's quantity
constexpr std::int64_t kOver = 101;  // one above the block's

CreditAttributes different_attributes() {
  CreditAttributes a = sample_attributes();
  a.project_name = "Other";
  a.quantity = 5;
  a.block_end = 5;
  return a;
}

CreditCommand command_for(CommandId id) {
  switch (id) {
    case kRegisterSame: return RegisterCredit{sample_attributes(), false};
    case kRegisterDifferent: return RegisterCredit{different_attributes(), false};
    case kSellWhole: return SellCredit{kBuyer2, std::nullopt};
    case kSellPartial: return SellCredit{kBuyer2, kPart};
    case kSellOver: return SellCredit{kBuyer2, kOver};
    case kRetireWhole: return RetireCredit{sample_retirement(), std::nullopt};
    case kRetirePartial: return RetireCredit{sample_retirement(), kPart};
    case kRetireOver: return RetireCredit{sample_retirement(), kOver};
    case kCancelWhole: return CancelCredit{"issued in error", std::nullopt};
    case kCancelPartial: return CancelCredit{"issued in error", kPart};
    case kCancelOver: return CancelCredit{"issued in error", kOver};
    case kCommandIds: break;
  }
  return SellCredit{};
}

struct Row {
  CreditStatus status;
  CommandId command;
  Cell cells[kColumns];             // issuer, holder, other issuer, other holder, auditor, admin
  std::vector<std::string> events;  // kOk: the command stream's events ("$ACTOR" = the actor's account)
  std::vector<std::string> child;   // kOk: the carved child's events (partial commands)
};

const std::string& child_1_30() {
  static const std::string id = child_credit_id("Verra", "VCS-1234-2023-001", 1, kPart);
  return id;
}

std::vector<Row> decide_rows() {
  const CreditAttributes a = sample_attributes();
  const std::string& child = child_1_30();
  const std::string split = split_text(child, 1, kPart);
  const auto carved = [&](const char* holder, const char* status) {
    return carved_text(parent_id(), a, 1, kPart, kIssuerAccount, holder, status);
  };
  return {
      // UNREGISTERED: registering creates (the actor becomes issuer and holder); anything else is 404, except
      // for the auditor, refused by role first.
      {S::kUnregistered, kRegisterSame, {OK, FB, OK, FB, FB, OK}, {created_text(a, "$ACTOR")}, {}},
      {S::kUnregistered, kRegisterDifferent, {OK, FB, OK, FB, FB, OK},
       {created_text(different_attributes(), "$ACTOR")}, {}},
      {S::kUnregistered, kSellWhole, {NF, NF, NF, NF, FB, NF}, {}, {}},
      {S::kUnregistered, kSellPartial, {NF, NF, NF, NF, FB, NF}, {}, {}},
      {S::kUnregistered, kSellOver, {NF, NF, NF, NF, FB, NF}, {}, {}},
      {S::kUnregistered, kRetireWhole, {NF, NF, NF, NF, FB, NF}, {}, {}},
      {S::kUnregistered, kRetirePartial, {NF, NF, NF, NF, FB, NF}, {}, {}},
      {S::kUnregistered, kRetireOver, {NF, NF, NF, NF, FB, NF}, {}, {}},
      {S::kUnregistered, kCancelWhole, {NF, NF, NF, NF, FB, NF}, {}, {}},
      {S::kUnregistered, kCancelPartial, {NF, NF, NF, NF, FB, NF}, {}, {}},
      {S::kUnregistered, kCancelOver, {NF, NF, NF, NF, FB, NF}, {}, {}},
      // CREATED, held by its issuer.
      {S::kCreated, kRegisterSame, {OK, FB, AD, FB, FB, OK}, {}, {}},
      {S::kCreated, kRegisterDifferent, {AD, FB, AD, FB, FB, AD}, {}, {}},
      {S::kCreated, kSellWhole, {OK, OK, FB, FB, FB, OK}, {sold_text(kBuyer2, kIssuerAccount)}, {}},
      {S::kCreated, kSellPartial, {OK, OK, FB, FB, FB, OK}, {split},
       {carved(kIssuerAccount, "CREATED"), sold_text(kBuyer2, kIssuerAccount)}},
      {S::kCreated, kSellOver, {QE, QE, FB, FB, FB, QE}, {}, {}},
      {S::kCreated, kRetireWhole, {WS, WS, FB, FB, FB, WS}, {}, {}},
      {S::kCreated, kRetirePartial, {WS, WS, FB, FB, FB, WS}, {}, {}},
      {S::kCreated, kRetireOver, {WS, WS, FB, FB, FB, WS}, {}, {}},
      // Cancelling is the issuing account's (whatever the key's role) or an admin's.
      {S::kCreated, kCancelWhole, {OK, OK, FB, FB, FB, OK}, {kCancelledText}, {}},
      {S::kCreated, kCancelPartial, {OK, OK, FB, FB, FB, OK}, {split}, {carved(kIssuerAccount, "CREATED"), kCancelledText}},
      {S::kCreated, kCancelOver, {QE, QE, FB, FB, FB, QE}, {}, {}},
      // SOLD to Acme Airlines: the holder may sell it on (resale) or retire it; the issuer no longer may.
      {S::kSold, kRegisterSame, {OK, FB, AD, FB, FB, OK}, {}, {}},
      {S::kSold, kRegisterDifferent, {AD, FB, AD, FB, FB, AD}, {}, {}},
      {S::kSold, kSellWhole, {FB, OK, FB, FB, FB, OK}, {sold_text(kBuyer2, kBuyerAccount)}, {}},
      {S::kSold, kSellPartial, {FB, OK, FB, FB, FB, OK}, {split},
       {carved(kBuyerAccount, "SOLD"), sold_text(kBuyer2, kBuyerAccount)}},
      {S::kSold, kSellOver, {FB, QE, FB, FB, FB, QE}, {}, {}},
      {S::kSold, kRetireWhole, {FB, OK, FB, FB, FB, OK}, {kRetiredText}, {}},
      {S::kSold, kRetirePartial, {FB, OK, FB, FB, FB, OK}, {split}, {carved(kBuyerAccount, "SOLD"), kRetiredText}},
      {S::kSold, kRetireOver, {FB, QE, FB, FB, FB, QE}, {}, {}},
      {S::kSold, kCancelWhole, {WS, FB, FB, FB, FB, WS}, {}, {}},
      {S::kSold, kCancelPartial, {WS, FB, FB, FB, FB, WS}, {}, {}},
      {S::kSold, kCancelOver, {WS, FB, FB, FB, FB, WS}, {}, {}},
      // RETIRED is final.
      {S::kRetired, kRegisterSame, {OK, FB, AD, FB, FB, OK}, {}, {}},
      {S::kRetired, kRegisterDifferent, {AD, FB, AD, FB, FB, AD}, {}, {}},
      {S::kRetired, kSellWhole, {FB, WS, FB, FB, FB, WS}, {}, {}},
      {S::kRetired, kSellPartial, {FB, WS, FB, FB, FB, WS}, {}, {}},
      {S::kRetired, kSellOver, {FB, WS, FB, FB, FB, WS}, {}, {}},
      {S::kRetired, kRetireWhole, {FB, WS, FB, FB, FB, WS}, {}, {}},
      {S::kRetired, kRetirePartial, {FB, WS, FB, FB, FB, WS}, {}, {}},
      {S::kRetired, kRetireOver, {FB, WS, FB, FB, FB, WS}, {}, {}},
      {S::kRetired, kCancelWhole, {WS, FB, FB, FB, FB, WS}, {}, {}},
      {S::kRetired, kCancelPartial, {WS, FB, FB, FB, FB, WS}, {}, {}},
      {S::kRetired, kCancelOver, {WS, FB, FB, FB, FB, WS}, {}, {}},
      // CANCELLED is final; the issuer still holds it.
      {S::kCancelled, kRegisterSame, {OK, FB, AD, FB, FB, OK}, {}, {}},
      {S::kCancelled, kRegisterDifferent, {AD, FB, AD, FB, FB, AD}, {}, {}},
      {S::kCancelled, kSellWhole, {WS, WS, FB, FB, FB, WS}, {}, {}},
      {S::kCancelled, kSellPartial, {WS, WS, FB, FB, FB, WS}, {}, {}},
      {S::kCancelled, kSellOver, {WS, WS, FB, FB, FB, WS}, {}, {}},
      {S::kCancelled, kRetireWhole, {WS, WS, FB, FB, FB, WS}, {}, {}},
      {S::kCancelled, kRetirePartial, {WS, WS, FB, FB, FB, WS}, {}, {}},
      {S::kCancelled, kRetireOver, {WS, WS, FB, FB, FB, WS}, {}, {}},
      {S::kCancelled, kCancelWhole, {WS, WS, FB, FB, FB, WS}, {}, {}},
      {S::kCancelled, kCancelPartial, {WS, WS, FB, FB, FB, WS}, {}, {}},
      {S::kCancelled, kCancelOver, {WS, WS, FB, FB, FB, WS}, {}, {}},
  };
}

std::vector<std::string> with_actor(std::vector<std::string> texts, const std::string& account) {
  for (std::string& text : texts) {
    for (std::size_t at = text.find("$ACTOR"); at != std::string::npos; at = text.find("$ACTOR")) {
      text.replace(at, 6, account);
    }
  }
  return texts;
}

TEST(DecideTable, EveryStatusCommandAndActor) {
  for (const Row& row : decide_rows()) {
    const CreditState state = state_with(row.status);
    ASSERT_EQ(state.status, row.status);
    for (int column = 0; column < kColumns; ++column) {
      const Actor actor = actor_for(static_cast<Column>(column), state);
      SCOPED_TRACE(std::string(status_name(row.status)) + " / " + kCommandNames[row.command] + " / " +
                   kColumnNames[column] + " (" + actor.account + ")");
      const Cell cell = row.cells[column];
      const Decision decision = decide(command_for(row.command), state, actor, facts_for());
      if (cell == Cell::kOk) {
        ASSERT_FALSE(decision.error.has_value()) << decision.error->detail;
        EXPECT_EQ(describe(decision.events), with_actor(row.events, actor.account));
        if (row.child.empty()) {
          EXPECT_FALSE(decision.child.has_value());
        } else {
          ASSERT_TRUE(decision.child.has_value());
          EXPECT_EQ(decision.child->id, child_1_30());
          EXPECT_EQ(describe(decision.child->events), row.child);
        }
        continue;
      }
      ASSERT_TRUE(decision.error.has_value()) << "events: " << ::testing::PrintToString(describe(decision.events));
      EXPECT_EQ(decision.error->kind, kind_of(cell)) << decision.error->detail;
      EXPECT_TRUE(decision.events.empty()) << "an error must never come with events";
      EXPECT_FALSE(decision.child.has_value()) << "an error must never come with a child";
      EXPECT_EQ(decision.error->current_status, row.status);
      EXPECT_FALSE(decision.error->detail.empty());
      if (cell == Cell::kExceeds) {
        EXPECT_EQ(decision.error->available, 100);
      }
    }
  }
}

TEST(DecideTable, CoversEveryStatusForEveryCommand) {
  // Guards the table above: each command is tried in each status, exactly once.
  int seen[5][kCommandIds] = {};
  for (const Row& row : decide_rows()) ++seen[static_cast<int>(row.status)][row.command];
  for (int status = 0; status < 5; ++status) {
    for (int command = 0; command < kCommandIds; ++command) {
      EXPECT_EQ(seen[status][command], 1) << status_name(static_cast<CreditStatus>(status)) << " / "
                                          << kCommandNames[command];
    }
  }
}

// The error details the API shows, for the cells where the wording matters.
TEST(DecideTable, Details) {
  struct Case {
    const char* name;
    CreditStatus status;
    CreditCommand command;
    Actor actor;
    K kind;
    std::string detail;
    std::vector<std::string> differing_fields = {};
  };
  const Actor issuer{kIssuerAccount, Role::kIssuer};
  const Actor buyer{kBuyerAccount, Role::kHolder};
  const Actor mallory{"Mallory", Role::kHolder};
  const Case cases[] = {
      {"not found", S::kUnregistered, SellCredit{kBuyer2}, buyer, K::kNotFound, "credit not found"},
      {"auditor", S::kCreated, SellCredit{kBuyer2}, Actor{"Auditor", Role::kAuditor}, K::kForbidden,
       "the auditor role reads the ledger and changes nothing"},
      {"holder registers", S::kUnregistered, RegisterCredit{sample_attributes()}, buyer, K::kForbidden,
       "the holder role cannot register credits; an issuer (or admin) key is needed"},
      {"stranger sells", S::kCreated, SellCredit{kBuyer2}, mallory, K::kForbidden,
       "account \"Mallory\" does not hold this credit (its holder is \"Issuer Co\"), so it may not sell it"},
      {"seller retires", S::kSold, RetireCredit{}, issuer, K::kForbidden,
       "account \"Issuer Co\" does not hold this credit (its holder is \"Acme Airlines\"), so it may not retire it"},
      {"holder cancels", S::kSold, CancelCredit{"x"}, buyer, K::kForbidden,
       "account \"Acme Airlines\" did not issue this credit (its issuer is \"Issuer Co\"), so it may not cancel it"},
      {"retire created", S::kCreated, RetireCredit{}, issuer, K::kWrongStatus, "credit must be sold before retiring"},
      {"retire retired", S::kRetired, RetireCredit{}, buyer, K::kWrongStatus, "credit is already retired"},
      {"retire cancelled", S::kCancelled, RetireCredit{}, issuer, K::kWrongStatus,
       "credit is CANCELLED; only a SOLD credit can be retired"},
      {"sell retired", S::kRetired, SellCredit{kBuyer2}, buyer, K::kWrongStatus,
       "credit is RETIRED; only a CREATED or SOLD credit can be sold"},
      {"sell cancelled", S::kCancelled, SellCredit{kBuyer2}, issuer, K::kWrongStatus,
       "credit is CANCELLED; only a CREATED or SOLD credit can be sold"},
      {"cancel sold", S::kSold, CancelCredit{"x"}, issuer, K::kWrongStatus,
       "credit is SOLD; only a CREATED credit (not yet sold) can be cancelled"},
      {"cancel cancelled", S::kCancelled, CancelCredit{"x"}, issuer, K::kWrongStatus,
       "credit is CANCELLED; only a CREATED credit (not yet sold) can be cancelled"},
      {"over quantity", S::kCreated, SellCredit{kBuyer2, 101}, issuer, K::kQuantityExceeds,
       "the block holds 100 units (1..100); 101 were asked for"},
      {"another issuer registers the same", S::kCreated, RegisterCredit{sample_attributes()},
       Actor{"Other Issuer", Role::kIssuer}, K::kAttributesDiffer,
       "a credit with this registry and serial number is already registered by another issuer", {"issuer"}},
      {"register different", S::kSold, RegisterCredit{different_attributes()}, issuer, K::kAttributesDiffer,
       "a credit with this registry and serial number is already registered with a different project_name, "
       "quantity and block_end",
       {"project_name", "quantity", "block_end"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Decision decision = decide(c.command, state_with(c.status), c.actor, facts_for());
    ASSERT_TRUE(decision.error.has_value());
    EXPECT_EQ(decision.error->kind, c.kind);
    EXPECT_EQ(decision.error->detail, c.detail);
    EXPECT_EQ(decision.error->differing_fields, c.differing_fields);
  }
}

// Which attribute differences a re-registration names, in a fixed order.
TEST(DecideRegister, DifferingFields) {
  struct Case {
    const char* name;
    void (*change)(CreditAttributes*);
    std::vector<std::string> fields;  // empty: the idempotent no-op
  };
  const Case cases[] = {
      {"identical", [](CreditAttributes*) {}, {}},
      {"registry in other case", [](CreditAttributes* a) { a->registry = "VERRA"; }, {}},
      {"vintage", [](CreditAttributes* a) { a->vintage = 2022; }, {"vintage"}},
      {"project_name case", [](CreditAttributes* a) { a->project_name = "kasigau corridor redd+"; },
       {"project_name"}},
      {"block moved", [](CreditAttributes* a) { a->block_start = 101, a->block_end = 200; },
       {"block_start", "block_end"}},
      {"block shrunk at the start",
       [](CreditAttributes* a) {
         a->block_start = 2;
         a->quantity = 99;
       },
       {"quantity", "block_start"}},
      {"every field",
       [](CreditAttributes* a) {
         *a = CreditAttributes{"Other", "Gold Standard", "X", 2020, 5, 6, 10};
       },
       {"project_name", "registry", "vintage", "quantity", "serial_number", "block_start", "block_end"}},
  };
  const Actor issuer{kIssuerAccount, Role::kIssuer};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RegisterCredit command{sample_attributes(), true};
    c.change(&command.attributes);
    const Decision decision = decide(command, state_with(S::kCreated), issuer, facts_for());
    EXPECT_TRUE(decision.events.empty());
    if (c.fields.empty()) {
      EXPECT_FALSE(decision.error.has_value());
      continue;
    }
    ASSERT_TRUE(decision.error.has_value());
    EXPECT_EQ(decision.error->kind, K::kAttributesDiffer);
    EXPECT_EQ(decision.error->differing_fields, c.fields);
  }
}

// A registration sent again after part of the block was carved off is still the same registration: the
// spec answers 200 without a new event ("Re-sending an identical registration is still 200"), and
// differing_fields() says "The block is compared as issued: a credit partly carved since still matches its
// registration". The parent's state holds only the block as it is now (31..100 after carving 1..30).
TEST(DecideRegister, IdenticalRegistrationAfterAPartialCarveIsStillANoOp) {
  CreditState state = state_with(S::kCreated);
  state = evolve(state, CreditSplit{child_1_30(), 1, kPart, kPart});
  ASSERT_EQ(state.attributes.block_start, 31);
  for (const Actor& actor : {Actor{kIssuerAccount, Role::kIssuer}, Actor{"Ops", Role::kAdmin}}) {
    SCOPED_TRACE(actor.account);
    const Decision decision = decide(RegisterCredit{sample_attributes(), false}, state, actor, facts_for());
    EXPECT_FALSE(decision.error.has_value())
        << decision.error->detail << " (differing: " << ::testing::PrintToString(decision.error->differing_fields)
        << ")";
    EXPECT_TRUE(decision.events.empty());
  }
}

TEST(DecideRegister, RegistryNotBound) {
  DecideFacts unbound = facts_for();
  unbound.registry_bound = false;
  const RegisterCredit reg{sample_attributes(), false};
  for (CreditStatus status : {S::kUnregistered, S::kCreated, S::kSold, S::kRetired, S::kCancelled}) {
    SCOPED_TRACE(status_name(status));
    const CreditState state = state_with(status);
    // An issuer is refused before anything else about the credit is looked at.
    for (const Actor& issuer : {Actor{kIssuerAccount, Role::kIssuer}, Actor{"Other Issuer", Role::kIssuer}}) {
      const Decision d = decide(reg, state, issuer, unbound);
      ASSERT_TRUE(d.error.has_value());
      EXPECT_EQ(d.error->kind, K::kRegistryNotBound);
      EXPECT_EQ(d.error->current_status, status);
      EXPECT_TRUE(d.events.empty());
      EXPECT_NE(d.error->detail.find("registry \"Verra\" is not bound to account \"" + issuer.account + "\""),
                std::string::npos)
          << d.error->detail;
    }
    // An admin needs no binding.
    const Actor admin{"Ops", Role::kAdmin};
    const Decision by_admin = decide(reg, state, admin, unbound);
    EXPECT_FALSE(by_admin.error.has_value());
    if (status == S::kUnregistered) {
      EXPECT_EQ(describe(by_admin.events), std::vector<std::string>{created_text(sample_attributes(), "Ops")});
    } else {
      EXPECT_TRUE(by_admin.events.empty());
    }
    // Roles that may never register are refused by role, whatever the binding.
    EXPECT_EQ(decide(reg, state, Actor{"B", Role::kHolder}, unbound).error->kind, K::kForbidden);
    EXPECT_EQ(decide(reg, state, Actor{"A", Role::kAuditor}, unbound).error->kind, K::kForbidden);
  }
  // The binding is only about registering.
  const Decision sell = decide(SellCredit{kBuyer2}, state_with(S::kCreated), Actor{kIssuerAccount, Role::kIssuer},
                               unbound);
  EXPECT_FALSE(sell.error.has_value());
}

TEST(DecideSell, UnknownBuyer) {
  DecideFacts unknown = facts_for();
  unknown.buyer_known = false;
  struct Case {
    const char* name;
    CreditStatus status;
    Actor actor;
    std::optional<std::int64_t> quantity;
    K kind;
  };
  const Actor issuer{kIssuerAccount, Role::kIssuer};
  const Actor buyer{kBuyerAccount, Role::kHolder};
  const Actor admin{"Ops", Role::kAdmin};
  const Case cases[] = {
      {"created, whole", S::kCreated, issuer, std::nullopt, K::kUnknownBuyer},
      {"created, partial", S::kCreated, issuer, kPart, K::kUnknownBuyer},
      {"created, over quantity: the buyer is checked first", S::kCreated, issuer, kOver, K::kUnknownBuyer},
      {"sold, resale", S::kSold, buyer, std::nullopt, K::kUnknownBuyer},
      {"admin", S::kSold, admin, kPart, K::kUnknownBuyer},
      {"unregistered: 404 first", S::kUnregistered, admin, std::nullopt, K::kNotFound},
      {"a stranger: 403 first", S::kCreated, Actor{"Mallory", Role::kHolder}, std::nullopt, K::kForbidden},
      {"retired: the status first", S::kRetired, buyer, std::nullopt, K::kWrongStatus},
      {"cancelled: the status first", S::kCancelled, issuer, std::nullopt, K::kWrongStatus},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Decision d = decide(SellCredit{"Nobody", c.quantity}, state_with(c.status), c.actor, unknown);
    ASSERT_TRUE(d.error.has_value());
    EXPECT_EQ(d.error->kind, c.kind) << d.error->detail;
    EXPECT_TRUE(d.events.empty());
    EXPECT_FALSE(d.child.has_value());
    if (c.kind == K::kUnknownBuyer) {
      EXPECT_NE(d.error->detail.find("\"Nobody\""), std::string::npos);
    }
  }
}

// A quantity equal to the block's is the whole block: no carve.
TEST(DecidePartial, QuantityEqualToTheBlockIsTheWholeBlock) {
  const Actor issuer{kIssuerAccount, Role::kIssuer};
  const Actor buyer{kBuyerAccount, Role::kHolder};
  const Decision sell = decide(SellCredit{kBuyer2, 100}, state_with(S::kCreated), issuer, facts_for());
  EXPECT_EQ(describe(sell.events), std::vector<std::string>{sold_text(kBuyer2, kIssuerAccount)});
  EXPECT_FALSE(sell.child.has_value());
  const Decision retire = decide(RetireCredit{sample_retirement(), 100}, state_with(S::kSold), buyer, facts_for());
  EXPECT_EQ(describe(retire.events), std::vector<std::string>{kRetiredText});
  EXPECT_FALSE(retire.child.has_value());
  const Decision cancel = decide(CancelCredit{"issued in error", 100}, state_with(S::kCreated), issuer, facts_for());
  EXPECT_EQ(describe(cancel.events), std::vector<std::string>{kCancelledText});
  EXPECT_FALSE(cancel.child.has_value());
  // One unit below the block is a carve of all but the last unit.
  const Decision most = decide(SellCredit{kBuyer2, 99}, state_with(S::kCreated), issuer, facts_for());
  ASSERT_TRUE(most.child.has_value());
  EXPECT_EQ(most.child->id, child_credit_id("Verra", "VCS-1234-2023-001", 1, 99));
  // A single unit.
  const Decision one = decide(SellCredit{kBuyer2, 1}, state_with(S::kCreated), issuer, facts_for());
  ASSERT_TRUE(one.child.has_value());
  EXPECT_EQ(describe(one.events),
            std::vector<std::string>{split_text(child_credit_id("Verra", "VCS-1234-2023-001", 1, 1), 1, 1)});
}

// Carves always take the lowest units left, so consecutive carves take consecutive ranges, and a child can
// itself be carved (it names itself, the stream the command is for, as the grandchild's parent).
TEST(DecidePartial, ConsecutiveCarvesAndCarvingAChild) {
  const Actor issuer{kIssuerAccount, Role::kIssuer};
  CreditState parent = state_with(S::kCreated);
  const Decision first = decide(SellCredit{kBuyer2, 30}, parent, issuer, facts_for());
  ASSERT_EQ(first.events.size(), 1u);
  parent = evolve(parent, first.events[0]);
  EXPECT_EQ(parent.attributes.block_start, 31);
  EXPECT_EQ(parent.attributes.block_end, 100);
  EXPECT_EQ(parent.attributes.quantity, 70);
  EXPECT_EQ(parent.status, S::kCreated);
  EXPECT_EQ(parent.holder, kIssuerAccount);

  const Decision second = decide(CancelCredit{"wrong", 20}, parent, issuer, facts_for());
  ASSERT_FALSE(second.error.has_value()) << second.error->detail;
  const std::string second_child = child_credit_id("Verra", "VCS-1234-2023-001", 31, 50);
  EXPECT_EQ(describe(second.events), std::vector<std::string>{split_text(second_child, 31, 50)});
  ASSERT_TRUE(second.child.has_value());
  EXPECT_EQ(second.child->id, second_child);
  EXPECT_EQ(describe(second.child->events),
            (std::vector<std::string>{
                carved_text(parent_id(), sample_attributes(), 31, 50, kIssuerAccount, kIssuerAccount, "CREATED"),
                "CANCELLED {\"reason\":\"wrong\"}"}));
  parent = evolve(parent, second.events[0]);
  EXPECT_EQ(parent.attributes.block_start, 51);
  EXPECT_EQ(parent.attributes.quantity, 50);
  EXPECT_EQ(parent.children_count, 2);
  EXPECT_EQ(parent.version, 3);

  // Over what is left now (50), not what was issued (100).
  const Decision over = decide(SellCredit{kBuyer2, 51}, parent, issuer, facts_for());
  ASSERT_TRUE(over.error.has_value());
  EXPECT_EQ(over.error->kind, K::kQuantityExceeds);
  EXPECT_EQ(over.error->available, 50);
  EXPECT_EQ(over.error->detail, "the block holds 50 units (51..100); 51 were asked for");

  // The first child, sold to Beta Corp, is carved again by its holder.
  CreditState child;
  for (const CreditEvent& e : first.child->events) child = evolve(child, e);
  EXPECT_EQ(child.status, S::kSold);
  EXPECT_EQ(child.holder, kBuyer2);
  EXPECT_EQ(child.parent, parent_id());
  const Decision grandchild =
      decide(RetireCredit{Retirement{}, 10}, child, Actor{kBuyer2, Role::kHolder}, facts_for(first.child->id));
  ASSERT_FALSE(grandchild.error.has_value()) << grandchild.error->detail;
  const std::string grandchild_id = child_credit_id("Verra", "VCS-1234-2023-001", 1, 10);
  EXPECT_EQ(describe(grandchild.events), std::vector<std::string>{split_text(grandchild_id, 1, 10)});
  ASSERT_TRUE(grandchild.child.has_value());
  EXPECT_EQ(describe(grandchild.child->events),
            (std::vector<std::string>{
                carved_text(first.child->id, sample_attributes(), 1, 10, kIssuerAccount, kBuyer2, "SOLD"),
                "RETIRED {}"}));
}

// The child id is derived from the registry as written (lower-cased) and the block's serial number.
TEST(DecidePartial, ChildIdUsesTheBlocksRegistryAndSerial) {
  CreditAttributes a;
  a.project_name = "P";
  a.registry = "Registry1";
  a.serial_number = "SN1234";
  a.vintage = 2020;
  a.quantity = 20;
  a.block_start = 1;
  a.block_end = 20;
  CreditState state = evolve(CreditState{}, CreditCreated{a, "I"});
  const Decision d = decide(SellCredit{"B", 10}, state, Actor{"I", Role::kIssuer}, facts_for("parent"));
  ASSERT_TRUE(d.child.has_value());
  EXPECT_EQ(d.child->id, "9982ceec-9bc9-51a2-9a74-a8e6e96c072d");
}

TEST(DecideLifecycle, FullLifecycleThroughDecideAndEvolve) {
  CreditState state;
  const Actor issuer{kIssuerAccount, Role::kIssuer};
  const Actor buyer{"Buyer", Role::kHolder};
  const Actor second{"Second", Role::kHolder};
  const struct {
    CreditCommand command;
    Actor actor;
  } steps[] = {{RegisterCredit{sample_attributes()}, issuer},
               {SellCredit{"Buyer"}, issuer},
               {SellCredit{"Second"}, buyer},
               {RetireCredit{Retirement{"Beneficiary"}}, second}};
  for (const auto& step : steps) {
    const Decision decision = decide(step.command, state, step.actor, facts_for());
    ASSERT_FALSE(decision.error) << decision.error->detail;
    ASSERT_EQ(decision.events.size(), 1u);
    state = evolve(state, decision.events[0]);
  }
  EXPECT_EQ(state.status, S::kRetired);
  EXPECT_EQ(state.version, 4);
  EXPECT_EQ(state.holder, "Second");
  EXPECT_EQ(state.issuer, kIssuerAccount);
  EXPECT_EQ(state.retirement, (Retirement{"Beneficiary", std::nullopt, std::nullopt, std::nullopt}));
  for (const Actor& actor : {second, Actor{"root", Role::kAdmin}}) {
    EXPECT_EQ(decide(SellCredit{"Someone"}, state, actor, facts_for()).error->kind, K::kWrongStatus);
    EXPECT_EQ(decide(RetireCredit{}, state, actor, facts_for()).error->kind, K::kWrongStatus);
  }
}

TEST(StatusNameTest, NamesAndParse) {
  EXPECT_STREQ(status_name(S::kUnregistered), "UNREGISTERED");
  EXPECT_STREQ(status_name(S::kCreated), "CREATED");
  EXPECT_STREQ(status_name(S::kSold), "SOLD");
  EXPECT_STREQ(status_name(S::kRetired), "RETIRED");
  EXPECT_STREQ(status_name(S::kCancelled), "CANCELLED");
  for (CreditStatus s : {S::kCreated, S::kSold, S::kRetired, S::kCancelled}) {
    EXPECT_EQ(parse_status(status_name(s)), s);
  }
  EXPECT_EQ(parse_status("UNREGISTERED"), std::nullopt);
  EXPECT_EQ(parse_status("sold"), std::nullopt);
  EXPECT_EQ(parse_status(""), std::nullopt);
}

TEST(CommandNameTest, Names) {
  EXPECT_STREQ(command_name(RegisterCredit{}), "register");
  EXPECT_STREQ(command_name(SellCredit{}), "sell");
  EXPECT_STREQ(command_name(RetireCredit{}), "retire");
  EXPECT_STREQ(command_name(CancelCredit{}), "cancel");
}

// --- evolve ---

TEST(EvolveTest, AppliesEachEvent) {
  CreditState state = evolve(CreditState{}, CreditCreated{sample_attributes(), kIssuerAccount});
  EXPECT_EQ(state.status, S::kCreated);
  EXPECT_EQ(state.version, 1);
  EXPECT_EQ(state.attributes, sample_attributes());
  EXPECT_EQ(state.issuer, kIssuerAccount);
  EXPECT_EQ(state.holder, kIssuerAccount);
  EXPECT_EQ(state.parent, "");
  EXPECT_EQ(state.children_count, 0);
  EXPECT_FALSE(state.retirement);
  EXPECT_FALSE(state.cancel_reason);

  state = evolve(state, CreditSold{kBuyerAccount, kIssuerAccount});
  EXPECT_EQ(state.status, S::kSold);
  EXPECT_EQ(state.version, 2);
  EXPECT_EQ(state.holder, kBuyerAccount);
  EXPECT_EQ(state.issuer, kIssuerAccount);
  EXPECT_EQ(state.attributes.quantity, 100);

  state = evolve(state, CreditRetired{Retirement{std::nullopt, "offset", "other", std::nullopt}});
  EXPECT_EQ(state.status, S::kRetired);
  EXPECT_EQ(state.version, 3);
  EXPECT_EQ(state.holder, kBuyerAccount);
  EXPECT_EQ(state.retirement, (Retirement{std::nullopt, "offset", "other", std::nullopt}));

  CreditState cancelled = evolve(state_with(S::kCreated), CreditCancelled{""});
  EXPECT_EQ(cancelled.status, S::kCancelled);
  EXPECT_EQ(cancelled.version, 2);
  EXPECT_EQ(cancelled.cancel_reason, std::optional<std::string>(""));
}

TEST(EvolveTest, SplitMovesTheBlockStartAndCountsTheChild) {
  for (CreditStatus status : {S::kCreated, S::kSold}) {
    SCOPED_TRACE(status_name(status));
    const CreditState before = state_with(status);
    const CreditState after = evolve(before, CreditSplit{"child", 1, 30, 30});
    EXPECT_EQ(after.version, before.version + 1);
    EXPECT_EQ(after.status, before.status);
    EXPECT_EQ(after.holder, before.holder);
    EXPECT_EQ(after.issuer, before.issuer);
    EXPECT_EQ(after.parent, "");
    EXPECT_EQ(after.attributes.block_start, 31);
    EXPECT_EQ(after.attributes.block_end, 100);
    EXPECT_EQ(after.attributes.quantity, 70);
    EXPECT_EQ(after.attributes.serial_number, before.attributes.serial_number);
    EXPECT_EQ(after.children_count, 1);
    const CreditState again = evolve(after, CreditSplit{"child2", 31, 35, 5});
    EXPECT_EQ(again.attributes.block_start, 36);
    EXPECT_EQ(again.attributes.quantity, 65);
    EXPECT_EQ(again.children_count, 2);
  }
}

TEST(EvolveTest, CarvedSetsParentHolderIssuerAndStatus) {
  CreditAttributes block = sample_attributes();
  block.block_start = 41;
  block.block_end = 50;
  block.quantity = 10;
  for (CreditStatus status : {S::kCreated, S::kSold}) {
    SCOPED_TRACE(status_name(status));
    const CreditState s = evolve(CreditState{}, CreditCarved{"the-parent", block, "Iss", "Hold", status});
    EXPECT_EQ(s.version, 1);
    EXPECT_EQ(s.status, status);
    EXPECT_EQ(s.attributes, block);
    EXPECT_EQ(s.issuer, "Iss");
    EXPECT_EQ(s.holder, "Hold");
    EXPECT_EQ(s.parent, "the-parent");
    EXPECT_EQ(s.children_count, 0);
    EXPECT_FALSE(s.retirement);
    EXPECT_FALSE(s.cancel_reason);
  }
}

TEST(EvolveTest, IsTotalEvenForImpossibleOrder) {
  struct Case {
    const char* name;
    CreditStatus from;
    CreditEvent event;
    CreditStatus to;
  };
  const Case cases[] = {
      {"sold before created", S::kUnregistered, CreditSold{"B"}, S::kSold},
      {"retired before sold", S::kCreated, CreditRetired{}, S::kRetired},
      {"retired twice", S::kRetired, CreditRetired{Retirement{"X"}}, S::kRetired},
      {"created twice", S::kSold, CreditCreated{sample_attributes()}, S::kCreated},
      {"cancelled after sale", S::kSold, CreditCancelled{"x"}, S::kCancelled},
      {"sold after cancel", S::kCancelled, CreditSold{"B"}, S::kSold},
      {"split of a retired block", S::kRetired, CreditSplit{"c", 1, 2, 2}, S::kRetired},
  };
  for (const Case& c : cases) {
    const CreditState before = state_with(c.from);
    const CreditState after = evolve(before, c.event);
    EXPECT_EQ(after.status, c.to) << c.name;
    EXPECT_EQ(after.version, before.version + 1) << c.name;
  }
}

// --- Event data ---

TEST(EventTypeNameTest, Names) {
  EXPECT_STREQ(event_type_name(CreditCreated{}), "CREATED");
  EXPECT_STREQ(event_type_name(CreditSold{}), "SOLD");
  EXPECT_STREQ(event_type_name(CreditRetired{}), "RETIRED");
  EXPECT_STREQ(event_type_name(CreditCancelled{}), "CANCELLED");
  EXPECT_STREQ(event_type_name(CreditSplit{}), "SPLIT");
  EXPECT_STREQ(event_type_name(CreditCarved{}), "CARVED");
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
  unusual.block_start = 999'000'000'000'000;
  unusual.block_end = 999'999'999'999'999;
  CreditAttributes child = sample_attributes();
  child.block_start = 0;
  child.block_end = 9;
  child.quantity = 10;
  return {
      {"created", CreditCreated{sample_attributes(), kIssuerAccount},
       created_text(sample_attributes(), kIssuerAccount).substr(8)},
      {"created without issuer (before accounts)", CreditCreated{sample_attributes(), ""},
       "{" + block_json(sample_attributes()) + "}"},
      {"created with escapes and non-ASCII", CreditCreated{unusual, ""},
       "{\"project_name\":\"Proj\xC3\xA9t \\\"quoted\\\" \\\\ back/slash\",\"registry\":\"Isom\xC3\xA9tric\","
       "\"vintage\":1990,\"quantity\":1000000000000,\"serial_number\":\"nul\\u0000tab\\t\xF0\x9F\x98\x80\","
       "\"block_start\":999000000000000,\"block_end\":999999999999999}"},
      {"sold", CreditSold{kBuyerAccount, kIssuerAccount}, "{\"buyer\":\"Acme Airlines\",\"seller\":\"Issuer Co\"}"},
      {"sold without seller", CreditSold{kBuyerAccount, ""}, "{\"buyer\":\"Acme Airlines\"}"},
      {"retired with everything", CreditRetired{Retirement{"B", "R", "other", "D"}},
       "{\"beneficiary\":\"B\",\"reason\":\"R\",\"category\":\"other\",\"details\":\"D\"}"},
      {"retired with beneficiary only", CreditRetired{Retirement{"B"}}, "{\"beneficiary\":\"B\"}"},
      {"retired with reason only", CreditRetired{Retirement{std::nullopt, "R"}}, "{\"reason\":\"R\"}"},
      {"retired with category only", CreditRetired{Retirement{std::nullopt, std::nullopt, "environmental_benefit"}},
       "{\"category\":\"environmental_benefit\"}"},
      {"retired with details only",
       CreditRetired{Retirement{std::nullopt, std::nullopt, std::nullopt, "line\nbreak"}},
       "{\"details\":\"line\\nbreak\"}"},
      {"retired with nothing", CreditRetired{}, "{}"},
      {"retired with empty strings", CreditRetired{Retirement{"", "", "", ""}},
       "{\"beneficiary\":\"\",\"reason\":\"\",\"category\":\"\",\"details\":\"\"}"},
      {"cancelled", CreditCancelled{"issued in error"}, "{\"reason\":\"issued in error\"}"},
      {"cancelled with empty reason", CreditCancelled{""}, "{\"reason\":\"\"}"},
      {"split", CreditSplit{"9982ceec-9bc9-51a2-9a74-a8e6e96c072d", 1, 10, 10},
       "{\"child\":\"9982ceec-9bc9-51a2-9a74-a8e6e96c072d\",\"block_start\":1,\"block_end\":10,\"quantity\":10}"},
      {"split of unit 0", CreditSplit{"c", 0, 0, 1}, "{\"child\":\"c\",\"block_start\":0,\"block_end\":0,\"quantity\":1}"},
      {"carved created", CreditCarved{"p", child, kIssuerAccount, kIssuerAccount, S::kCreated},
       "{\"parent\":\"p\"," + block_json(child) + ",\"issuer\":\"Issuer Co\",\"holder\":\"Issuer Co\",\"status\":\"CREATED\"}"},
      {"carved sold", CreditCarved{"p", child, kIssuerAccount, kBuyerAccount, S::kSold},
       "{\"parent\":\"p\"," + block_json(child) + ",\"issuer\":\"Issuer Co\",\"holder\":\"Acme Airlines\",\"status\":\"SOLD\"}"},
      {"carved with empty accounts", CreditCarved{"p", child, "", "", S::kSold},
       "{\"parent\":\"p\"," + block_json(child) + ",\"issuer\":\"\",\"holder\":\"\",\"status\":\"SOLD\"}"},
  };
}

TEST(EventDataTest, EncodesCompactJson) {
  for (const EncodeCase& c : encode_cases()) EXPECT_EQ(encode_event_data(c.event), c.json) << c.name;
}

TEST(EventDataTest, EncodeCasesCoverEveryEventType) {
  std::vector<bool> seen(std::variant_size_v<CreditEvent>);
  for (const EncodeCase& c : encode_cases()) seen[c.event.index()] = true;
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_TRUE(seen[i]) << i;
}

TEST(EventDataTest, DecodeRoundTripsEncode) {
  for (const EncodeCase& c : encode_cases()) {
    SCOPED_TRACE(c.name);
    CreditEvent decoded = CreditSold{"sentinel"};
    const Status s = decode_event(event_type_name(c.event), encode_event_data(c.event), &decoded);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(decoded.index(), c.event.index());
    EXPECT_EQ(describe(decoded), describe(c.event));
    // And the decoded event folds as the original does.
    EXPECT_EQ(evolve(state_with(S::kSold), decoded), evolve(state_with(S::kSold), c.event));
  }
}

TEST(EventDataTest, DecodeKeepsEmptyOptionalsApartFromAbsentOnes) {
  CreditEvent decoded;
  ASSERT_TRUE(decode_event("RETIRED", "{\"beneficiary\":\"\",\"category\":null}", &decoded).ok());
  const Retirement& r = std::get<CreditRetired>(decoded).retirement;
  EXPECT_EQ(r.beneficiary, std::optional<std::string>(""));
  EXPECT_FALSE(r.reason);
  EXPECT_FALSE(r.category);
  EXPECT_FALSE(r.details);
}

// CREATED recorded before blocks existed has no block_start/block_end: it is the block 1..quantity.
TEST(EventDataTest, OldCreatedWithoutBlockIsOneToQuantity) {
  CreditEvent decoded;
  const Status s = decode_event(
      "CREATED",
      R"({"project_name": "p", "registry": "Verra", "vintage": 2021, "quantity": 500, "serial_number": "s"})",
      &decoded);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const CreditCreated& created = std::get<CreditCreated>(decoded);
  EXPECT_EQ(created.attributes.block_start, 1);
  EXPECT_EQ(created.attributes.block_end, 500);
  EXPECT_EQ(created.attributes.quantity, 500);
  EXPECT_EQ(created.issuer, "");
  EXPECT_EQ(describe(decoded),
            "CREATED {\"project_name\":\"p\",\"registry\":\"Verra\",\"vintage\":2021,\"quantity\":500,"
            "\"serial_number\":\"s\",\"block_start\":1,\"block_end\":500}");
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
      {"SOLD", " {\"note\": [1, {\"x\": null}], \"buyer\": \"B\", \"seller\": null} ", "SOLD {\"buyer\":\"B\"}"},
      {"RETIRED", "{\"beneficiary\": null, \"reason\": \"R\", \"details\": null}", "RETIRED {\"reason\":\"R\"}"},
      {"CANCELLED", "{}", "CANCELLED {\"reason\":\"\"}"},
      {"CANCELLED", "{\"reason\": null}", "CANCELLED {\"reason\":\"\"}"},
      {"CREATED",
       "{\"block_end\": 16, \"quantity\": 7, \"registry\": \"r\", \"serial_number\": \"s\", \"vintage\": 2000, "
       "\"block_start\": 10, \"project_name\": \"p\\u00e9\", \"issuer\": \"I\"}",
       "CREATED {\"project_name\":\"p\xC3\xA9\",\"registry\":\"r\",\"vintage\":2000,\"quantity\":7,"
       "\"serial_number\":\"s\",\"block_start\":10,\"block_end\":16,\"issuer\":\"I\"}"},
      {"SPLIT", "{\"quantity\": 2, \"block_end\": 5, \"block_start\": 4, \"child\": \"c\", \"extra\": true}",
       "SPLIT {\"child\":\"c\",\"block_start\":4,\"block_end\":5,\"quantity\":2}"},
      {"CARVED",
       "{\"status\": \"SOLD\", \"parent\": \"p\", \"project_name\": \"n\", \"registry\": \"r\", \"vintage\": 2000, "
       "\"serial_number\": \"s\", \"quantity\": 1, \"block_start\": 7, \"block_end\": 7}",
       "CARVED {\"parent\":\"p\",\"project_name\":\"n\",\"registry\":\"r\",\"vintage\":2000,\"quantity\":1,"
       "\"serial_number\":\"s\",\"block_start\":7,\"block_end\":7,\"issuer\":\"\",\"holder\":\"\",\"status\":\"SOLD\"}"},
  };
  for (const Case& c : cases) {
    CreditEvent decoded;
    const Status s = decode_event(c.type, c.json, &decoded);
    ASSERT_TRUE(s.ok()) << c.json << ": " << s.ToString();
    EXPECT_EQ(describe(decoded), c.expected);
  }
}

// A CREATED body with one field replaced (or removed, when `value` is null).
std::string created_json(const std::string& field, const char* value) {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"project_name", "\"p\""}, {"registry", "\"r\""},  {"vintage", "2000"},  {"quantity", "10"},
      {"serial_number", "\"s\""}, {"block_start", "1"}, {"block_end", "10"}, {"issuer", "\"I\""}};
  std::string json = "{";
  for (const auto& [name, raw] : fields) {
    if (name == field && value == nullptr) continue;
    if (json.size() > 1) json += ",";
    json += "\"" + name + "\":" + (name == field ? std::string(value) : raw);
  }
  return json + "}";
}

std::string carved_json(const std::string& field, const char* value) {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"parent", "\"p\""},        {"project_name", "\"p\""}, {"registry", "\"r\""},   {"vintage", "2000"},
      {"serial_number", "\"s\""}, {"quantity", "10"},        {"block_start", "1"},    {"block_end", "10"},
      {"issuer", "\"I\""},        {"holder", "\"H\""},       {"status", "\"CREATED\""}};
  std::string json = "{";
  for (const auto& [name, raw] : fields) {
    if (name == field && value == nullptr) continue;
    if (json.size() > 1) json += ",";
    json += "\"" + name + "\":" + (name == field ? std::string(value) : raw);
  }
  return json + "}";
}

TEST(EventDataTest, DecodeBodiesTheseHelpersBuildAreValid) {
  CreditEvent decoded;
  EXPECT_TRUE(decode_event("CREATED", created_json("", nullptr), &decoded).ok());
  EXPECT_TRUE(decode_event("CARVED", carved_json("", nullptr), &decoded).ok());
  EXPECT_TRUE(decode_event("CARVED", carved_json("issuer", nullptr), &decoded).ok());
}

TEST(EventDataTest, DecodeErrors) {
  struct Case {
    std::string name;
    std::string type;
    std::string json;
  };
  std::vector<Case> cases = {
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
      {"seller not a string", "SOLD", "{\"buyer\":\"a\",\"seller\":2}"},
      {"beneficiary not a string", "RETIRED", "{\"beneficiary\":5}"},
      {"reason an object", "RETIRED", "{\"reason\":{}}"},
      {"category not a string", "RETIRED", "{\"category\":true}"},
      {"details an array", "RETIRED", "{\"details\":[]}"},
      {"cancel reason not a string", "CANCELLED", "{\"reason\":1}"},
      {"created empty", "CREATED", "{}"},
      {"vintage as string", "CREATED", created_json("vintage", "\"2000\"")},
      {"vintage beyond int", "CREATED", created_json("vintage", "3000000000")},
      {"quantity fraction", "CREATED", created_json("quantity", "1.5")},
      {"quantity beyond int64", "CREATED", created_json("quantity", "9223372036854775808")},
      {"serial_number not a string", "CREATED", created_json("serial_number", "1")},
      {"issuer not a string", "CREATED", created_json("issuer", "1")},
      {"block_start not an integer", "CREATED", created_json("block_start", "\"1\"")},
      {"block_end fraction", "CREATED", created_json("block_end", "10.0")},
      {"block_start without block_end", "CREATED", created_json("block_end", nullptr)},
      {"block_end without block_start", "CREATED", created_json("block_start", nullptr)},
      {"quantity not matching the range", "CREATED", created_json("quantity", "11")},
      {"block_end below block_start", "CREATED", created_json("block_start", "11")},
      {"negative block_start", "CREATED", created_json("block_start", "-1")},
      {"block_end at the unit limit", "CREATED",
       "{\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":2000,\"quantity\":2,\"serial_number\":\"s\","
       "\"block_start\":999999999999999,\"block_end\":1000000000000000}"},
      {"old created with quantity 0", "CREATED",
       "{\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":2000,\"quantity\":0,\"serial_number\":\"s\"}"},
      {"split empty", "SPLIT", "{}"},
      {"split without child", "SPLIT", "{\"block_start\":1,\"block_end\":2,\"quantity\":2}"},
      {"split child not a string", "SPLIT", "{\"child\":1,\"block_start\":1,\"block_end\":2,\"quantity\":2}"},
      {"split without quantity", "SPLIT", "{\"child\":\"c\",\"block_start\":1,\"block_end\":2}"},
      {"split with quantity 0", "SPLIT", "{\"child\":\"c\",\"block_start\":1,\"block_end\":0,\"quantity\":0}"},
      {"split with quantity 0 over a unit", "SPLIT", "{\"child\":\"c\",\"block_start\":1,\"block_end\":1,\"quantity\":0}"},
      {"split quantity not matching", "SPLIT", "{\"child\":\"c\",\"block_start\":1,\"block_end\":2,\"quantity\":3}"},
      {"split negative", "SPLIT", "{\"child\":\"c\",\"block_start\":-2,\"block_end\":-1,\"quantity\":2}"},
      {"split beyond the unit limit", "SPLIT",
       "{\"child\":\"c\",\"block_start\":1000000000000000,\"block_end\":1000000000000000,\"quantity\":1}"},
      {"split block_start a string", "SPLIT", "{\"child\":\"c\",\"block_start\":\"1\",\"block_end\":2,\"quantity\":2}"},
      {"carved with status RETIRED", "CARVED", carved_json("status", "\"RETIRED\"")},
      {"carved with status CANCELLED", "CARVED", carved_json("status", "\"CANCELLED\"")},
      {"carved with status UNREGISTERED", "CARVED", carved_json("status", "\"UNREGISTERED\"")},
      {"carved with status in lower case", "CARVED", carved_json("status", "\"sold\"")},
      {"carved with status a number", "CARVED", carved_json("status", "1")},
      {"carved without status", "CARVED", carved_json("status", nullptr)},
      {"carved without parent", "CARVED", carved_json("parent", nullptr)},
      {"carved without block_start (required)", "CARVED", carved_json("block_start", nullptr)},
      {"carved without block_end (required)", "CARVED", carved_json("block_end", nullptr)},
      {"carved quantity not matching", "CARVED", carved_json("quantity", "9")},
      {"carved holder not a string", "CARVED", carved_json("holder", "[]")},
      {"carved parent repeated", "CARVED", "{\"parent\":\"q\"," + carved_json("", nullptr).substr(1)},
  };
  for (const char* field : {"project_name", "registry", "vintage", "quantity", "serial_number"}) {
    cases.push_back({std::string("created without ") + field, "CREATED", created_json(field, nullptr)});
    cases.push_back({std::string("carved without ") + field, "CARVED", carved_json(field, nullptr)});
  }
  for (const Case& c : cases) {
    CreditEvent decoded = CreditSold{"untouched"};
    const Status s = decode_event(c.type, c.json, &decoded);
    EXPECT_TRUE(s.IsInvalid()) << c.name << ": " << s.ToString();
    EXPECT_FALSE(s.message().empty()) << c.name;
    ASSERT_TRUE(std::holds_alternative<CreditSold>(decoded)) << c.name;
    EXPECT_EQ(std::get<CreditSold>(decoded).buyer, "untouched") << c.name;
  }
}

TEST(EventDataTest, DecodeErrorsNameTheProblem) {
  CreditEvent decoded;
  EXPECT_NE(decode_event("CREATED", created_json("vintage", "\"2000\""), &decoded).message().find("vintage"),
            std::string::npos);
  EXPECT_NE(decode_event("DELETED", "{}", &decoded).message().find("DELETED"), std::string::npos);
  EXPECT_NE(decode_event("CARVED", carved_json("status", "\"RETIRED\""), &decoded).message().find("RETIRED"),
            std::string::npos);
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
  EXPECT_TRUE(decode_event("SPLIT", R"({"child":"\ud800","block_start":1,"block_end":1,"quantity":1})", &decoded)
                  .IsInvalid());
  EXPECT_TRUE(decode_event("SOLD", R"({"buyer":"Acme \ud83d\ude00"})", &decoded).ok());  // a valid pair
}

// --- Decider state (snapshots) ---

std::vector<std::pair<const char*, CreditState>> state_cases() {
  CreditState split = evolve(state_with(S::kSold), CreditSplit{"c", 1, 30, 30});
  CreditState child;
  CreditAttributes block = sample_attributes();
  block.block_start = 0;
  block.block_end = 0;
  block.quantity = 1;
  child = evolve(child, CreditCarved{"the-parent", block, "", "", S::kCreated});
  CreditState retired_bare = evolve(state_with(S::kSold), CreditRetired{});
  CreditState unusual = state_with(S::kCreated);
  unusual.attributes.project_name = "\"q\" \\ \xF0\x9F\x98\x80";
  unusual.version = 1'000'000;
  return {
      {"created", state_with(S::kCreated)},
      {"sold", state_with(S::kSold)},
      {"retired", state_with(S::kRetired)},
      {"retired with nothing", retired_bare},
      {"cancelled", state_with(S::kCancelled)},
      {"cancelled with empty reason", evolve(state_with(S::kCreated), CreditCancelled{""})},
      {"split parent", split},
      {"carved child", child},
      {"unusual text and a high version", unusual},
  };
}

TEST(StateJsonTest, RoundTrips) {
  for (const auto& [name, state] : state_cases()) {
    SCOPED_TRACE(name);
    const std::string json = encode_state(state);
    CreditState decoded;
    const Status s = decode_state(json, &decoded);
    ASSERT_TRUE(s.ok()) << s.ToString() << "\n" << json;
    EXPECT_EQ(decoded, state);
    EXPECT_EQ(encode_state(decoded), json);
  }
}

TEST(StateJsonTest, EncodesEveryMember) {
  EXPECT_EQ(encode_state(evolve(state_with(S::kSold), CreditSplit{"c", 1, 30, 30})),
            "{\"status\":\"SOLD\",\"version\":3,\"project_name\":\"Kasigau Corridor REDD+\",\"registry\":\"Verra\","
            "\"vintage\":2023,\"quantity\":70,\"serial_number\":\"VCS-1234-2023-001\",\"block_start\":31,"
            "\"block_end\":100,\"issuer\":\"Issuer Co\",\"holder\":\"Acme Airlines\",\"parent\":\"\","
            "\"issued_block_start\":1,\"issued_block_end\":100,\"children_count\":1}");
  EXPECT_EQ(encode_state(state_with(S::kCancelled)).find("\"cancel_reason\":\"issued in error\"") != std::string::npos,
            true);
  EXPECT_NE(encode_state(state_with(S::kRetired)).find("\"retirement\":{\"beneficiary\":\"Acme Airlines\""),
            std::string::npos);
}

TEST(StateJsonTest, DecodeRefusesWhatEncodeWouldNotWrite) {
  const std::string good = encode_state(state_with(S::kSold));
  const auto replace = [&](const std::string& from, const std::string& to) {
    std::string json = good;
    const std::size_t at = json.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) json.replace(at, from.size(), to);
    return json;
  };
  const std::pair<const char*, std::string> cases[] = {
      {"not JSON", "{"},
      {"not an object", "[]"},
      {"empty object", "{}"},
      {"unregistered", replace("\"status\":\"SOLD\"", "\"status\":\"UNREGISTERED\"")},
      {"unknown status", replace("\"status\":\"SOLD\"", "\"status\":\"BURNT\"")},
      {"status missing", replace("\"status\":\"SOLD\",", "")},
      {"version 0", replace("\"version\":2", "\"version\":0")},
      {"version a string", replace("\"version\":2", "\"version\":\"2\"")},
      {"quantity not matching", replace("\"quantity\":100", "\"quantity\":99")},
      {"block_start missing", replace("\"block_start\":1,", "")},
      {"holder missing", replace("\"holder\":\"Acme Airlines\",", "")},
      {"parent missing", replace("\"parent\":\"\",", "")},
      {"children_count negative", replace("\"children_count\":0", "\"children_count\":-1")},
      {"retirement not an object", replace("\"children_count\":0", "\"children_count\":0,\"retirement\":[]")},
      {"retirement with a bad member",
       replace("\"children_count\":0", "\"children_count\":0,\"retirement\":{\"reason\":5}")},
      {"cancel_reason not a string", replace("\"children_count\":0", "\"children_count\":0,\"cancel_reason\":1")},
      // Found by fuzzing: a re-registration decided against this overflowed int64 in differing_fields().
      {"issued block start -2^63",
       replace("\"issued_block_start\":1", "\"issued_block_start\":-9223372036854775808")},
      {"issued block after the current start", replace("\"issued_block_start\":1", "\"issued_block_start\":2")},
      {"issued block end not the current end", replace("\"issued_block_end\":100", "\"issued_block_end\":101")},
      {"version INT64_MAX", replace("\"version\":2", "\"version\":9223372036854775807")},
      {"children_count not below version", replace("\"children_count\":0", "\"children_count\":2")},
  };
  for (const auto& [name, json] : cases) {
    CreditState decoded = state_with(S::kCreated);
    const CreditState before = decoded;
    const Status s = decode_state(json, &decoded);
    EXPECT_TRUE(s.IsInvalid()) << name << ": " << s.ToString();
    EXPECT_EQ(decoded, before) << name << ": *out must be untouched";
  }
}

}  // namespace
}  // namespace ledger

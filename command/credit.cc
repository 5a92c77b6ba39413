#include "command/credit.h"

#include <cstring>
#include <limits>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "eventstore/assert.h"
#include "command/credit_id.h"
#include "command/json_input.h"
#include "command/serial_numbers.h"
#include "command/text_rules.h"

namespace ledger {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// The fields in which a re-registration differs from the registered credit, in a fixed order so the
// answer is stable. The registry compares ignoring ASCII case because the credit id does. The block is
// compared as issued: a credit partly carved since still matches its registration.
std::vector<std::string> differing_fields(const CreditAttributes& registered,
                                          const CreditAttributes& requested) {
  std::vector<std::string> fields;
  if (registered.project_name != requested.project_name) fields.emplace_back("project_name");
  if (!equal_ignoring_ascii_case(registered.registry, requested.registry)) fields.emplace_back("registry");
  if (registered.vintage != requested.vintage) fields.emplace_back("vintage");
  if (registered.block_end - registered.block_start != requested.block_end - requested.block_start) {
    fields.emplace_back("quantity");
  }
  if (registered.serial_number != requested.serial_number) fields.emplace_back("serial_number");
  if (registered.block_start != requested.block_start) fields.emplace_back("block_start");
  if (registered.block_end != requested.block_end) fields.emplace_back("block_end");
  return fields;
}

// "a", "a and b", "a, b and c".
std::string join_as_english_list(const std::vector<std::string>& items) {
  std::string text;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) text += (i + 1 == items.size()) ? " and " : ", ";
    text += items[i];
  }
  return text;
}

Decision refuse(DecideError::Kind kind, std::string detail, CreditStatus current_status) {
  Decision decision;
  decision.error = DecideError{};
  decision.error->kind = kind;
  decision.error->detail = std::move(detail);
  decision.error->current_status = current_status;
  return decision;
}

Decision wrong_status(const CreditState& state, const std::string& why) {
  return refuse(DecideError::Kind::kWrongStatus,
                std::string("credit is ") + status_name(state.status) + "; " + why, state.status);
}

// Can this role ever send this command? (Which credit it may touch is decided per credit.)
std::optional<Decision> refuse_by_role(const CreditCommand& command, const Actor& actor,
                                       const CreditState& state) {
  const bool registering = std::holds_alternative<RegisterCredit>(command);
  if (actor.role == Role::kAuditor) {
    return refuse(DecideError::Kind::kForbidden, "the auditor role reads the ledger and changes nothing",
                  state.status);
  }
  if (registering && actor.role == Role::kHolder) {
    return refuse(DecideError::Kind::kForbidden,
                  "the holder role cannot register credits; an issuer (or admin) key is needed", state.status);
  }
  return std::nullopt;
}

// Selling and retiring are for the holder (or an admin).
std::optional<Decision> refuse_unless_holder(const Actor& actor, const CreditState& state, const char* action) {
  if (actor.role == Role::kAdmin || (!state.holder.empty() && actor.account == state.holder)) return std::nullopt;
  return refuse(DecideError::Kind::kForbidden,
                "account \"" + actor.account + "\" does not hold this credit" +
                    (state.holder.empty() ? std::string() : " (its holder is \"" + state.holder + "\")") +
                    ", so it may not " + action + " it",
                state.status);
}

// Cancelling is for the issuer (or an admin).
std::optional<Decision> refuse_unless_issuer(const Actor& actor, const CreditState& state) {
  if (actor.role == Role::kAdmin || (!state.issuer.empty() && actor.account == state.issuer)) return std::nullopt;
  return refuse(DecideError::Kind::kForbidden,
                "account \"" + actor.account + "\" did not issue this credit" +
                    (state.issuer.empty() ? std::string() : " (its issuer is \"" + state.issuer + "\")") +
                    ", so it may not cancel it",
                state.status);
}

Decision decide_register(const RegisterCredit& command, const CreditState& state, const Actor& actor,
                         const DecideFacts& facts) {
  if (actor.role != Role::kAdmin && !facts.registry_bound) {
    return refuse(DecideError::Kind::kRegistryNotBound,
                  "registry \"" + command.attributes.registry + "\" is not bound to account \"" + actor.account +
                      "\"; an admin binds it with `carbon-ledger registries bind --account " + actor.account +
                      " --registry <registry>`",
                  state.status);
  }
  const CreditAttributes& a = command.attributes;
  LEDGER_ASSERT(a.quantity >= 1 && a.block_start >= 0 && a.block_end >= a.block_start &&
                    a.quantity == a.block_end - a.block_start + 1,
                "a registration's block is resolved (command/credit_request.h) before decide()");
  if (state.status == CreditStatus::kUnregistered) {
    Decision decision;
    decision.events.push_back(CreditCreated{command.attributes, actor.account});
    return decision;
  }
  CreditAttributes issued = state.attributes;  // as registered: carving since does not make it differ
  issued.block_start = state.issued_block_start;
  issued.block_end = state.issued_block_end;
  std::vector<std::string> fields = differing_fields(issued, command.attributes);
  // Registering the same credit again is a retry, whatever happened to the credit since: answer
  // success without a new event. Unless another issuer sends it: that is a second issuance attempt.
  if (fields.empty() && !state.issuer.empty() && actor.role != Role::kAdmin && actor.account != state.issuer) {
    Decision decision = refuse(DecideError::Kind::kAttributesDiffer,
                               "a credit with this registry and serial number is already registered by "
                               "another issuer",
                               state.status);
    decision.error->differing_fields = {"issuer"};
    return decision;
  }
  if (fields.empty()) return Decision{};
  Decision decision = refuse(DecideError::Kind::kAttributesDiffer,
                             "a credit with this registry and serial number is already registered "
                             "with a different " + join_as_english_list(fields),
                             state.status);
  decision.error->differing_fields = std::move(fields);
  return decision;
}

// The events of a command on `quantity` units of the block: on the whole block, `whole` itself; on fewer,
// a SPLIT on the parent and, for the child (the lowest units), CARVED then `whole`. nullopt quantity is the
// whole block. Refuses a quantity above the block's.
Decision on_units(const CreditState& state, const DecideFacts& facts, std::optional<std::int64_t> quantity,
                  CreditEvent whole) {
  const std::int64_t available = state.attributes.quantity;
  if (quantity.has_value() && *quantity > available) {
    Decision decision = refuse(DecideError::Kind::kQuantityExceeds,
                               "the block holds " + std::to_string(available) + " units (" +
                                   std::to_string(state.attributes.block_start) + ".." +
                                   std::to_string(state.attributes.block_end) + "); " +
                                   std::to_string(*quantity) + " were asked for",
                               state.status);
    decision.error->available = available;
    return decision;
  }
  Decision decision;
  if (!quantity.has_value() || *quantity == available) {
    decision.events.push_back(std::move(whole));
    return decision;
  }
  LEDGER_ASSERT(*quantity >= 1 && *quantity < available, "a partial quantity is validated before decide()");
  CreditCarved carved;
  carved.parent = facts.credit_id;
  carved.attributes = state.attributes;
  carved.attributes.block_end = state.attributes.block_start + *quantity - 1;
  carved.attributes.quantity = *quantity;
  carved.issuer = state.issuer;
  carved.holder = state.holder;
  carved.status = state.status;
  const std::string child_id = child_credit_id(state.attributes.registry, state.attributes.serial_number,
                                               carved.attributes.block_start, carved.attributes.block_end);
  decision.events.push_back(CreditSplit{child_id, carved.attributes.block_start, carved.attributes.block_end,
                                        *quantity});
  decision.child = ChildEvents{child_id, {std::move(carved), std::move(whole)}};
  return decision;
}

Decision decide_sell(const SellCredit& command, const CreditState& state, const Actor& actor,
                     const DecideFacts& facts) {
  if (auto refused = refuse_unless_holder(actor, state, "sell")) return std::move(*refused);
  if (state.status != CreditStatus::kCreated && state.status != CreditStatus::kSold) {
    return wrong_status(state, "only a CREATED or SOLD credit can be sold");
  }
  if (!facts.buyer_known) {
    return refuse(DecideError::Kind::kUnknownBuyer,
                  "no account \"" + command.buyer + "\" has ever had an API key; a credit can only be sold to "
                  "a known account",
                  state.status);
  }
  return on_units(state, facts, command.quantity, CreditSold{command.buyer, state.holder});
}

Decision decide_retire(const RetireCredit& command, const CreditState& state, const Actor& actor,
                       const DecideFacts& facts) {
  if (auto refused = refuse_unless_holder(actor, state, "retire")) return std::move(*refused);
  switch (state.status) {
    case CreditStatus::kSold:
      return on_units(state, facts, command.quantity, CreditRetired{command.retirement});
    case CreditStatus::kCreated:
      return refuse(DecideError::Kind::kWrongStatus, "credit must be sold before retiring", state.status);
    case CreditStatus::kRetired:
      return refuse(DecideError::Kind::kWrongStatus, "credit is already retired", state.status);
    case CreditStatus::kCancelled:
    case CreditStatus::kUnregistered:
      break;
  }
  return wrong_status(state, "only a SOLD credit can be retired");
}

Decision decide_cancel(const CancelCredit& command, const CreditState& state, const Actor& actor,
                       const DecideFacts& facts) {
  if (auto refused = refuse_unless_issuer(actor, state)) return std::move(*refused);
  if (state.status != CreditStatus::kCreated) {
    return wrong_status(state, "only a CREATED credit (not yet sold) can be cancelled");
  }
  return on_units(state, facts, command.quantity, CreditCancelled{command.reason});
}

// --- JSON ---

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Lengths are passed explicitly so strings with embedded NULs survive.
void write_string_field(Writer& writer, const char* name, const std::string& value) {
  writer.Key(name);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

bool names_equal(const rapidjson::Value& name, std::string_view expected) {
  return name.GetStringLength() == expected.size() &&
         std::memcmp(name.GetString(), expected.data(), expected.size()) == 0;
}

// Finds a member of `object`. RapidJSON keeps repeated names, and which copy should win is unclear, so
// a repeated field is an error. Returns nullptr when absent; sets *repeated when repeated.
const rapidjson::Value* find_field(const rapidjson::Value& object, std::string_view name, bool* repeated) {
  const rapidjson::Value* found = nullptr;
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    if (!names_equal(it->name, name)) continue;
    if (found != nullptr) {
      *repeated = true;
      return nullptr;
    }
    found = &it->value;
  }
  return found;
}

// Reads the fields of one event's data, remembering the first problem.
class FieldReader {
 public:
  FieldReader(const rapidjson::Value& object, std::string_view event_type)
      : object_(object), event_type_(event_type) {}

  void required_string(const char* name, std::string* out) {
    const rapidjson::Value* value = field(name, /*required=*/true);
    if (value == nullptr) return;
    if (!value->IsString()) return fail(name, "must be a string");
    if (!is_valid_utf8(std::string_view(value->GetString(), value->GetStringLength()))) {
      return fail(name, "has invalid UTF-8");
    }
    out->assign(value->GetString(), value->GetStringLength());
  }

  // An absent or null field leaves *out empty.
  void optional_string(const char* name, std::optional<std::string>* out) {
    const rapidjson::Value* value = field(name, /*required=*/false);
    if (value == nullptr || value->IsNull()) return;
    if (!value->IsString()) return fail(name, "must be a string or null");
    if (!is_valid_utf8(std::string_view(value->GetString(), value->GetStringLength()))) {
      return fail(name, "has invalid UTF-8");
    }
    out->emplace(value->GetString(), value->GetStringLength());
  }

  // An absent or null field leaves *out empty.
  void optional_string(const char* name, std::string* out) {
    std::optional<std::string> value;
    optional_string(name, &value);
    if (value.has_value()) *out = std::move(*value);
  }

  void required_int(const char* name, int* out) {
    const rapidjson::Value* value = field(name, /*required=*/true);
    if (value == nullptr) return;
    if (!value->IsInt()) return fail(name, "must be an integer");
    *out = value->GetInt();
  }

  void required_int64(const char* name, std::int64_t* out) {
    const rapidjson::Value* value = field(name, /*required=*/true);
    if (value == nullptr) return;
    if (!value->IsInt64()) return fail(name, "must be an integer");
    *out = value->GetInt64();
  }

  // An absent field leaves *out and *present untouched; a present one must be an integer.
  void optional_int64(const char* name, std::int64_t* out, bool* present) {
    const rapidjson::Value* value = field(name, /*required=*/false);
    if (value == nullptr) return;
    if (!value->IsInt64()) return fail(name, "must be an integer");
    *out = value->GetInt64();
    *present = true;
  }

  void invalid(const std::string& problem) {
    if (status_.ok()) status_ = Status::Invalid(std::string(event_type_) + " event data: " + problem);
  }

  const Status& status() const { return status_; }

 private:
  const rapidjson::Value* field(const char* name, bool required) {
    if (!status_.ok()) return nullptr;
    bool repeated = false;
    const rapidjson::Value* value = find_field(object_, name, &repeated);
    if (repeated) fail(name, "is repeated");
    else if (value == nullptr && required) fail(name, "is missing");
    return value;
  }

  void fail(const char* name, const char* problem) {
    if (!status_.ok()) return;
    status_ = Status::Invalid(std::string(event_type_) + " event data: field \"" + name + "\" " + problem);
  }

  const rapidjson::Value& object_;
  std::string_view event_type_;
  Status status_;
};


}  // namespace

const char* status_name(CreditStatus status) {
  switch (status) {
    case CreditStatus::kUnregistered: return "UNREGISTERED";
    case CreditStatus::kCreated: return "CREATED";
    case CreditStatus::kSold: return "SOLD";
    case CreditStatus::kRetired: return "RETIRED";
    case CreditStatus::kCancelled: return "CANCELLED";
  }
  return "UNKNOWN";
}

std::optional<CreditStatus> parse_status(std::string_view name) {
  for (CreditStatus s : {CreditStatus::kCreated, CreditStatus::kSold, CreditStatus::kRetired,
                         CreditStatus::kCancelled}) {
    if (name == status_name(s)) return s;
  }
  return std::nullopt;
}

const char* command_name(const CreditCommand& command) {
  return std::visit(Overloaded{
                        [](const RegisterCredit&) { return "register"; },
                        [](const SellCredit&) { return "sell"; },
                        [](const RetireCredit&) { return "retire"; },
                        [](const CancelCredit&) { return "cancel"; },
                    },
                    command);
}

Decision decide(const CreditCommand& command, const CreditState& state, const Actor& actor,
                const DecideFacts& facts) {
  if (auto refused = refuse_by_role(command, actor, state)) return std::move(*refused);
  if (const auto* reg = std::get_if<RegisterCredit>(&command)) return decide_register(*reg, state, actor, facts);
  if (state.status == CreditStatus::kUnregistered) {
    return refuse(DecideError::Kind::kNotFound, "credit not found", state.status);
  }
  return std::visit(Overloaded{
                        [&](const RegisterCredit& c) { return decide_register(c, state, actor, facts); },
                        [&](const SellCredit& c) { return decide_sell(c, state, actor, facts); },
                        [&](const RetireCredit& c) { return decide_retire(c, state, actor, facts); },
                        [&](const CancelCredit& c) { return decide_cancel(c, state, actor, facts); },
                    },
                    command);
}

CreditState evolve(CreditState state, const CreditEvent& event) {
  std::visit(Overloaded{
                 [&](const CreditCreated& e) {
                   state.status = CreditStatus::kCreated;
                   state.attributes = e.attributes;
                   state.issued_block_start = e.attributes.block_start;
                   state.issued_block_end = e.attributes.block_end;
                   state.issuer = e.issuer;
                   state.holder = e.issuer;
                 },
                 [&](const CreditSold& e) {
                   state.status = CreditStatus::kSold;
                   state.holder = e.buyer;
                 },
                 [&](const CreditRetired& e) {
                   state.status = CreditStatus::kRetired;
                   state.retirement = e.retirement;
                 },
                 [&](const CreditCancelled& e) {
                   state.status = CreditStatus::kCancelled;
                   state.cancel_reason = e.reason;
                 },
                 [&](const CreditSplit& e) {
                   // The lowest units leave; the block keeps the rest under its own id.
                   state.attributes.block_start = e.block_end + 1;
                   state.attributes.quantity -= e.quantity;
                   ++state.children_count;
                 },
                 [&](const CreditCarved& e) {
                   state.status = e.status;
                   state.attributes = e.attributes;
                   state.issued_block_start = e.attributes.block_start;
                   state.issued_block_end = e.attributes.block_end;
                   state.issuer = e.issuer;
                   state.holder = e.holder;
                   state.parent = e.parent;
                 },
             },
             event);
  ++state.version;
  return state;
}

Status check_event_follows(const CreditState& state, const CreditEvent& event) {
  if (const auto* split = std::get_if<CreditSplit>(&event)) {
    const CreditAttributes& a = state.attributes;
    if (split->block_start != a.block_start || split->quantity < 1 || split->quantity >= a.quantity) {
      return Status::Internal("SPLIT of " + std::to_string(split->block_start) + ".." +
                              std::to_string(split->block_end) + " does not take the lowest units of the block " +
                              std::to_string(a.block_start) + ".." + std::to_string(a.block_end) +
                              " and leave at least one");
    }
  }
  return Status::Ok();
}

const char* event_type_name(const CreditEvent& event) {
  return std::visit(Overloaded{
                        [](const CreditCreated&) { return "CREATED"; },
                        [](const CreditSold&) { return "SOLD"; },
                        [](const CreditRetired&) { return "RETIRED"; },
                        [](const CreditCancelled&) { return "CANCELLED"; },
                        [](const CreditSplit&) { return "SPLIT"; },
                        [](const CreditCarved&) { return "CARVED"; },
                    },
                    event);
}

namespace {

void write_block(Writer& writer, const CreditAttributes& a) {
  write_string_field(writer, "project_name", a.project_name);
  write_string_field(writer, "registry", a.registry);
  writer.Key("vintage");
  writer.Int(a.vintage);
  writer.Key("quantity");
  writer.Int64(a.quantity);
  write_string_field(writer, "serial_number", a.serial_number);
  writer.Key("block_start");
  writer.Int64(a.block_start);
  writer.Key("block_end");
  writer.Int64(a.block_end);
}

void write_optional_field(Writer& writer, const char* name, const std::optional<std::string>& value) {
  if (value) write_string_field(writer, name, *value);
}

void write_retirement(Writer& writer, const Retirement& r) {
  write_optional_field(writer, "beneficiary", r.beneficiary);
  write_optional_field(writer, "reason", r.reason);
  write_optional_field(writer, "category", r.category);
  write_optional_field(writer, "details", r.details);
}

void write_event_fields(Writer& writer, const CreditEvent& event) {
  std::visit(Overloaded{
                 [&](const CreditCreated& e) {
                   write_block(writer, e.attributes);
                   if (!e.issuer.empty()) write_string_field(writer, "issuer", e.issuer);
                 },
                 [&](const CreditSold& e) {
                   write_string_field(writer, "buyer", e.buyer);
                   if (!e.seller.empty()) write_string_field(writer, "seller", e.seller);
                 },
                 [&](const CreditRetired& e) { write_retirement(writer, e.retirement); },
                 [&](const CreditCancelled& e) { write_string_field(writer, "reason", e.reason); },
                 [&](const CreditSplit& e) {
                   write_string_field(writer, "child", e.child);
                   writer.Key("block_start");
                   writer.Int64(e.block_start);
                   writer.Key("block_end");
                   writer.Int64(e.block_end);
                   writer.Key("quantity");
                   writer.Int64(e.quantity);
                 },
                 [&](const CreditCarved& e) {
                   write_string_field(writer, "parent", e.parent);
                   write_block(writer, e.attributes);
                   write_string_field(writer, "issuer", e.issuer);
                   write_string_field(writer, "holder", e.holder);
                   writer.Key("status");
                   writer.String(status_name(e.status));
                 },
             },
             event);
}

// A block is consistent when its range is within the unit limits and its quantity counts it.
bool consistent_block(const CreditAttributes& a) {
  return a.block_start >= 0 && a.block_end >= a.block_start && a.block_end < kUnitNumberLimit &&
         a.quantity == a.block_end - a.block_start + 1;
}

void read_block(FieldReader& reader, CreditAttributes* a, bool range_required) {
  reader.required_string("project_name", &a->project_name);
  reader.required_string("registry", &a->registry);
  reader.required_int("vintage", &a->vintage);
  reader.required_int64("quantity", &a->quantity);
  reader.required_string("serial_number", &a->serial_number);
  bool has_start = false, has_end = false;
  if (range_required) {
    reader.required_int64("block_start", &a->block_start);
    reader.required_int64("block_end", &a->block_end);
    has_start = has_end = true;
  } else {
    reader.optional_int64("block_start", &a->block_start, &has_start);
    reader.optional_int64("block_end", &a->block_end, &has_end);
  }
  if (!reader.status().ok()) return;
  if (has_start != has_end) return reader.invalid("block_start and block_end come together");
  if (!has_start) {  // recorded before blocks existed: the units 1..quantity
    a->block_start = 1;
    a->block_end = a->quantity;
  }
  if (!consistent_block(*a)) {
    reader.invalid("the block " + std::to_string(a->block_start) + ".." + std::to_string(a->block_end) +
                   " does not hold quantity " + std::to_string(a->quantity));
  }
}

void read_retirement(FieldReader& reader, Retirement* r) {
  reader.optional_string("beneficiary", &r->beneficiary);
  reader.optional_string("reason", &r->reason);
  reader.optional_string("category", &r->category);
  reader.optional_string("details", &r->details);
}

// Parses `json` as an object with parse_json() (rows of the log are outside bytes too: any login with
// INSERT could have written them, and parse_json() keeps RapidJSON's number conversion, CVE-2024-38517,
// and recursion away from them).
Status open_object(std::string_view what, std::string_view json, rapidjson::Document* document) {
  const JsonParseError error = parse_json(json, document);
  if (error.kind != JsonParseError::Kind::kNone) {
    return Status::Invalid(std::string(what) + " is not JSON: " + error.message + " at offset " +
                           std::to_string(error.offset));
  }
  if (!document->IsObject()) return Status::Invalid(std::string(what) + " is not a JSON object");
  return Status::Ok();
}

}  // namespace

std::string encode_event_data(const CreditEvent& event) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  write_event_fields(writer, event);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

Status decode_event(std::string_view event_type, std::string_view data_json, CreditEvent* out) {
  static constexpr std::string_view kTypes[] = {"CREATED", "SOLD", "RETIRED", "CANCELLED", "SPLIT", "CARVED"};
  bool known = false;
  for (std::string_view t : kTypes) known = known || t == event_type;
  if (!known) return Status::Invalid("unknown credit event type \"" + std::string(event_type) + "\"");
  rapidjson::Document document;
  Status opened = open_object(std::string(event_type) + " event data", data_json, &document);
  if (!opened.ok()) return opened;

  FieldReader reader(document, event_type);
  CreditEvent event;
  if (event_type == "CREATED") {
    CreditCreated created;
    read_block(reader, &created.attributes, /*range_required=*/false);
    reader.optional_string("issuer", &created.issuer);
    event = std::move(created);
  } else if (event_type == "SOLD") {
    CreditSold sold;
    reader.required_string("buyer", &sold.buyer);
    reader.optional_string("seller", &sold.seller);
    event = std::move(sold);
  } else if (event_type == "RETIRED") {
    CreditRetired retired;
    read_retirement(reader, &retired.retirement);
    event = std::move(retired);
  } else if (event_type == "CANCELLED") {
    CreditCancelled cancelled;
    reader.optional_string("reason", &cancelled.reason);
    event = std::move(cancelled);
  } else if (event_type == "SPLIT") {
    CreditSplit split;
    reader.required_string("child", &split.child);
    reader.required_int64("block_start", &split.block_start);
    reader.required_int64("block_end", &split.block_end);
    reader.required_int64("quantity", &split.quantity);
    if (reader.status().ok() &&
        (split.quantity < 1 || split.block_start < 0 || split.block_end < split.block_start ||
         split.block_end >= kUnitNumberLimit || split.quantity != split.block_end - split.block_start + 1)) {
      reader.invalid("the carved range does not hold its quantity");
    }
    event = std::move(split);
  } else {
    CreditCarved carved;
    reader.required_string("parent", &carved.parent);
    read_block(reader, &carved.attributes, /*range_required=*/true);
    reader.optional_string("issuer", &carved.issuer);
    reader.optional_string("holder", &carved.holder);
    std::string status;
    reader.required_string("status", &status);
    if (reader.status().ok()) {
      const std::optional<CreditStatus> parsed = parse_status(status);
      if (!parsed.has_value() || (*parsed != CreditStatus::kCreated && *parsed != CreditStatus::kSold)) {
        reader.invalid("status \"" + status + "\" is not one a block can be carved in");
      } else {
        carved.status = *parsed;
      }
    }
    event = std::move(carved);
  }
  if (!reader.status().ok()) return reader.status();
  *out = std::move(event);
  return Status::Ok();
}

std::string encode_state(const CreditState& state) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  writer.Key("status");
  writer.String(status_name(state.status));
  writer.Key("version");
  writer.Int64(state.version);
  write_block(writer, state.attributes);
  write_string_field(writer, "issuer", state.issuer);
  write_string_field(writer, "holder", state.holder);
  write_string_field(writer, "parent", state.parent);
  writer.Key("issued_block_start");
  writer.Int64(state.issued_block_start);
  writer.Key("issued_block_end");
  writer.Int64(state.issued_block_end);
  writer.Key("children_count");
  writer.Int64(state.children_count);
  if (state.retirement) {
    writer.Key("retirement");
    writer.StartObject();
    write_retirement(writer, *state.retirement);
    writer.EndObject();
  }
  if (state.cancel_reason) write_string_field(writer, "cancel_reason", *state.cancel_reason);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

Status decode_state(std::string_view json, CreditState* out) {
  rapidjson::Document document;
  Status opened = open_object("state", json, &document);
  if (!opened.ok()) return opened;
  FieldReader reader(document, "state");
  CreditState state;
  std::string status;
  reader.required_string("status", &status);
  reader.required_int64("version", &state.version);
  read_block(reader, &state.attributes, /*range_required=*/true);
  reader.required_string("issuer", &state.issuer);
  reader.required_string("holder", &state.holder);
  reader.required_string("parent", &state.parent);
  reader.required_int64("issued_block_start", &state.issued_block_start);
  reader.required_int64("issued_block_end", &state.issued_block_end);
  reader.required_int64("children_count", &state.children_count);
  reader.optional_string("cancel_reason", &state.cancel_reason);
  if (!reader.status().ok()) return reader.status();
  const std::optional<CreditStatus> parsed = parse_status(status);
  // Bounds a real stream's state keeps (and arithmetic on them relies on): versions below INT64_MAX, an
  // issued block within the unit limits that holds the current one.
  if (!parsed.has_value() || state.version < 1 || state.version == std::numeric_limits<std::int64_t>::max() ||
      state.children_count < 0 || state.children_count >= state.version) {
    return Status::Invalid("state: status, version or children_count out of range");
  }
  if (state.issued_block_start < 0 || state.issued_block_end >= kUnitNumberLimit ||
      state.issued_block_start > state.attributes.block_start || state.issued_block_end != state.attributes.block_end) {
    return Status::Invalid("state: the issued block does not hold the current one");
  }
  state.status = *parsed;
  const auto retirement = document.FindMember("retirement");
  if (retirement != document.MemberEnd()) {
    if (!retirement->value.IsObject()) return Status::Invalid("state: retirement is not an object");
    FieldReader r(retirement->value, "state retirement");
    Retirement value;
    read_retirement(r, &value);
    if (!r.status().ok()) return r.status();
    state.retirement = std::move(value);
  }
  *out = std::move(state);
  return Status::Ok();
}

}  // namespace ledger

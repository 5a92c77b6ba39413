#include "command/credit.h"

#include "command/credit_request.h"

#include <cstring>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "command/json_input.h"

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
// answer is stable. The registry compares ignoring ASCII case because the credit id does.
std::vector<std::string> differing_fields(const CreditAttributes& registered,
                                          const CreditAttributes& requested) {
  std::vector<std::string> fields;
  if (registered.project_name != requested.project_name) fields.emplace_back("project_name");
  if (!equal_ignoring_ascii_case(registered.registry, requested.registry)) fields.emplace_back("registry");
  if (registered.vintage != requested.vintage) fields.emplace_back("vintage");
  if (registered.quantity != requested.quantity) fields.emplace_back("quantity");
  if (registered.serial_number != requested.serial_number) fields.emplace_back("serial_number");
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
  decision.error = DecideError{kind, std::move(detail), current_status, {}};
  return decision;
}

Decision accept(CreditEvent event) {
  Decision decision;
  decision.events.push_back(std::move(event));
  return decision;
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

Decision decide_register(const RegisterCredit& command, const CreditState& state, const Actor& actor) {
  if (state.status == CreditStatus::kUnregistered) return accept(CreditCreated{command.attributes, actor.account});
  std::vector<std::string> fields = differing_fields(state.attributes, command.attributes);
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

Decision decide_sell(const SellCredit& command, const CreditState& state, const Actor& actor) {
  if (state.status == CreditStatus::kUnregistered) {
    return refuse(DecideError::Kind::kNotFound, "credit not found", state.status);
  }
  if (auto refused = refuse_unless_holder(actor, state, "sell")) return std::move(*refused);
  switch (state.status) {
    case CreditStatus::kUnregistered:
      break;
    case CreditStatus::kCreated:
      return accept(CreditSold{command.buyer, state.holder});
    case CreditStatus::kSold:
    case CreditStatus::kRetired:
      return refuse(DecideError::Kind::kWrongStatus,
                    std::string("credit is ") + status_name(state.status) +
                        "; only a CREATED credit can be sold",
                    state.status);
  }
  return refuse(DecideError::Kind::kWrongStatus, "credit is in an unknown status", state.status);
}

Decision decide_retire(const RetireCredit& command, const CreditState& state, const Actor& actor) {
  if (state.status == CreditStatus::kUnregistered) {
    return refuse(DecideError::Kind::kNotFound, "credit not found", state.status);
  }
  if (auto refused = refuse_unless_holder(actor, state, "retire")) return std::move(*refused);
  switch (state.status) {
    case CreditStatus::kUnregistered:
      break;
    case CreditStatus::kCreated:
      return refuse(DecideError::Kind::kWrongStatus, "credit must be sold before retiring", state.status);
    case CreditStatus::kSold:
      return accept(CreditRetired{command.beneficiary, command.reason});
    case CreditStatus::kRetired:
      return refuse(DecideError::Kind::kWrongStatus, "credit is already retired", state.status);
  }
  return refuse(DecideError::Kind::kWrongStatus, "credit is in an unknown status", state.status);
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
  }
  return "UNKNOWN";
}

Decision decide(const CreditCommand& command, const CreditState& state, const Actor& actor) {
  if (auto refused = refuse_by_role(command, actor, state)) return std::move(*refused);
  return std::visit(Overloaded{
                        [&](const RegisterCredit& c) { return decide_register(c, state, actor); },
                        [&](const SellCredit& c) { return decide_sell(c, state, actor); },
                        [&](const RetireCredit& c) { return decide_retire(c, state, actor); },
                    },
                    command);
}

CreditState evolve(CreditState state, const CreditEvent& event) {
  std::visit(Overloaded{
                 [&](const CreditCreated& e) {
                   state.status = CreditStatus::kCreated;
                   state.attributes = e.attributes;
                   state.issuer = e.issuer;
                   state.holder = e.issuer;
                 },
                 [&](const CreditSold& e) {
                   state.status = CreditStatus::kSold;
                   state.buyer = e.buyer;
                   state.holder = e.buyer;
                 },
                 [&](const CreditRetired& e) {
                   state.status = CreditStatus::kRetired;
                   state.beneficiary = e.beneficiary;
                   state.reason = e.reason;
                 },
             },
             event);
  ++state.version;
  return state;
}

const char* event_type_name(const CreditEvent& event) {
  return std::visit(Overloaded{
                        [](const CreditCreated&) { return "CREATED"; },
                        [](const CreditSold&) { return "SOLD"; },
                        [](const CreditRetired&) { return "RETIRED"; },
                    },
                    event);
}

std::string encode_event_data(const CreditEvent& event) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  std::visit(Overloaded{
                 [&](const CreditCreated& e) {
                   write_string_field(writer, "project_name", e.attributes.project_name);
                   write_string_field(writer, "registry", e.attributes.registry);
                   writer.Key("vintage");
                   writer.Int(e.attributes.vintage);
                   writer.Key("quantity");
                   writer.Int64(e.attributes.quantity);
                   write_string_field(writer, "serial_number", e.attributes.serial_number);
                   if (!e.issuer.empty()) write_string_field(writer, "issuer", e.issuer);
                 },
                 [&](const CreditSold& e) {
                   write_string_field(writer, "buyer", e.buyer);
                   if (!e.seller.empty()) write_string_field(writer, "seller", e.seller);
                 },
                 [&](const CreditRetired& e) {
                   if (e.beneficiary) write_string_field(writer, "beneficiary", *e.beneficiary);
                   if (e.reason) write_string_field(writer, "reason", *e.reason);
                 },
             },
             event);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

Status decode_event(std::string_view event_type, std::string_view data_json, CreditEvent* out) {
  if (event_type != "CREATED" && event_type != "SOLD" && event_type != "RETIRED") {
    return Status::Invalid("unknown credit event type \"" + std::string(event_type) + "\"");
  }
  rapidjson::Document document;
  // Rows of the log are outside bytes too (any login with INSERT could have written them): parse_json()
  // keeps RapidJSON's number conversion (CVE-2024-38517) and recursion away from them.
  const JsonParseError error = parse_json(data_json, &document);
  if (error.kind != JsonParseError::Kind::kNone) {
    return Status::Invalid(std::string(event_type) + " event data is not JSON: " + error.message + " at offset " +
                           std::to_string(error.offset));
  }
  if (!document.IsObject()) {
    return Status::Invalid(std::string(event_type) + " event data is not a JSON object");
  }

  FieldReader reader(document, event_type);
  CreditEvent event;
  if (event_type == "CREATED") {
    CreditCreated created;
    reader.required_string("project_name", &created.attributes.project_name);
    reader.required_string("registry", &created.attributes.registry);
    reader.required_int("vintage", &created.attributes.vintage);
    reader.required_int64("quantity", &created.attributes.quantity);
    reader.required_string("serial_number", &created.attributes.serial_number);
    reader.optional_string("issuer", &created.issuer);
    event = std::move(created);
  } else if (event_type == "SOLD") {
    CreditSold sold;
    reader.required_string("buyer", &sold.buyer);
    reader.optional_string("seller", &sold.seller);
    event = std::move(sold);
  } else {
    CreditRetired retired;
    reader.optional_string("beneficiary", &retired.beneficiary);
    reader.optional_string("reason", &retired.reason);
    event = std::move(retired);
  }
  if (!reader.status().ok()) return reader.status();
  *out = std::move(event);
  return Status::Ok();
}

}  // namespace ledger

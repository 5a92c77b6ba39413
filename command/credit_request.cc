#include "command/credit_request.h"

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <utility>

#include <rapidjson/document.h>

#include "command/credit_id.h"
#include "command/json_input.h"
#include "command/serial_numbers.h"
#include "command/text_rules.h"

namespace ledger {

namespace {

constexpr std::size_t kTextMaxChars = 200;
constexpr int kVintageMin = 1990;
constexpr int kVintageMax = 2100;
constexpr std::int64_t kQuantityMin = 1;
constexpr std::int64_t kQuantityMax = 1'000'000'000'000;
constexpr std::size_t kDetailsMaxChars = 1000;

// --- The body as a JSON object ---

bool names_equal(const rapidjson::Value& name, std::string_view expected) {
  return name.GetStringLength() == expected.size() &&
         std::memcmp(name.GetString(), expected.data(), expected.size()) == 0;
}

const rapidjson::Value* find_member(const rapidjson::Value& object, std::string_view name) {
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    if (names_equal(it->name, name)) return &it->value;
  }
  return nullptr;
}

bool is_json_whitespace_only(std::string_view body) {
  return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Parses `body` into *document as an object whose known fields each appear at most once and hold
// well-formed UTF-8. An empty body becomes {}. Returns false with a sentence in *detail otherwise.
bool open_body(std::string_view body, std::initializer_list<std::string_view> known_fields,
               rapidjson::Document* document, std::string* detail, std::vector<FieldError>* errors) {
  if (is_json_whitespace_only(body)) {
    // Lets clients send no body for requests whose fields are all optional.
    document->SetObject();
    return true;
  }
  // parse_json() never lets RapidJSON convert a number itself (CVE-2024-38517), and parses iteratively so
  // deeply nested input cannot exhaust the stack.
  const JsonParseError error = parse_json(body, document);
  if (error.kind != JsonParseError::Kind::kNone) {
    const std::string offset = std::to_string(error.offset);
    if (error.kind == JsonParseError::Kind::kNumberTooBig) {
      // Well-formed JSON that RapidJSON cannot scan: the field it belongs to is at fault, not the syntax.
      const std::string field = member_name_at(body, error.offset);
      for (const std::string_view known : known_fields) {
        if (known == field) {
          errors->push_back({field, "must be a number within the range of a double (and a whole number here)"});
          *detail = "request has an invalid field: " + field;
          return false;
        }
      }
    }
    if (error.kind == JsonParseError::Kind::kInvalidEncoding) {
      *detail = "request body has invalid UTF-8 in a string at offset " + offset;
    } else {
      *detail = "request body is not valid JSON: " + error.message + " (at offset " + offset + ")";
    }
    return false;
  }
  if (!document->IsObject()) {
    *detail = "request body must be a JSON object";
    return false;
  }
  for (const std::string_view field : known_fields) {
    int count = 0;
    for (auto it = document->MemberBegin(); it != document->MemberEnd(); ++it) {
      if (!names_equal(it->name, field)) continue;
      // Which copy should win is unclear, so neither does.
      if (++count > 1) {
        *detail = "field \"" + std::string(field) + "\" is given more than once";
        return false;
      }
      if (it->value.IsString() &&
          !is_valid_utf8(std::string_view(it->value.GetString(), it->value.GetStringLength()))) {
        *detail = "field \"" + std::string(field) + "\" has invalid UTF-8 (an unpaired surrogate escape)";
        return false;
      }
    }
  }
  return true;
}

// --- Field rules. Each returns the value, or nullopt after adding one error for the field. ---

std::optional<std::string> check_text(const rapidjson::Value* value, const char* field,
                                      std::size_t max_chars, std::vector<FieldError>* errors) {
  if (value == nullptr) {
    errors->push_back({field, "is required"});
    return std::nullopt;
  }
  if (!value->IsString()) {
    errors->push_back({field, "must be a string"});
    return std::nullopt;
  }
  std::string text;
  std::string problem =
      normalize_text(std::string_view(value->GetString(), value->GetStringLength()), max_chars, &text);
  if (!problem.empty()) {
    errors->push_back({field, std::move(problem)});
    return std::nullopt;
  }
  return text;
}

// A JSON integer, or a string that after trimming is exactly four ASCII digits (registries print
// vintages as text).
std::optional<int> check_vintage(const rapidjson::Value* value, std::vector<FieldError>* errors) {
  const char* const field = "vintage";
  const std::string range_message =
      "must be between " + std::to_string(kVintageMin) + " and " + std::to_string(kVintageMax);
  if (value == nullptr) {
    errors->push_back({field, "is required"});
    return std::nullopt;
  }
  std::int64_t year;
  if (value->IsString()) {
    // A string the text rules refuse leaves `text` empty, and so fails the 4-digit check below.
    std::string text;
    normalize_text(std::string_view(value->GetString(), value->GetStringLength()), kTextMaxChars, &text);
    if (text.size() != 4 || text.find_first_not_of("0123456789") != std::string::npos) {
      errors->push_back({field, "must be a 4-digit year"});
      return std::nullopt;
    }
    year = 0;
    for (const char digit : text) year = year * 10 + (digit - '0');
  } else if (value->IsInt64()) {
    year = value->GetInt64();
  } else if (value->IsUint64()) {
    errors->push_back({field, range_message});  // above INT64_MAX
    return std::nullopt;
  } else if (value->IsNumber()) {
    errors->push_back({field, "must be a whole number between " + std::to_string(kVintageMin) + " and " +
                                  std::to_string(kVintageMax)});
    return std::nullopt;
  } else {
    errors->push_back({field, "must be an integer or a 4-digit string"});
    return std::nullopt;
  }
  if (year < kVintageMin || year > kVintageMax) {
    errors->push_back({field, range_message});
    return std::nullopt;
  }
  return static_cast<int>(year);
}

// Only a JSON integer: 2.0 and 1e3 are refused too, because a number written with a fraction or an
// exponent suggests the client's idea of the quantity is not an exact count.
std::optional<std::int64_t> check_quantity(const rapidjson::Value* value, std::vector<FieldError>* errors) {
  const char* const field = "quantity";
  if (value == nullptr) {
    errors->push_back({field, "is required"});
    return std::nullopt;
  }
  if (!value->IsNumber()) {
    errors->push_back({field, "must be an integer"});
    return std::nullopt;
  }
  // Fractions, exponents, integers beyond int64 (parsed as double or uint64) all land here.
  if (!value->IsInt64() || value->GetInt64() < kQuantityMin || value->GetInt64() > kQuantityMax) {
    errors->push_back({field, "must be a whole number between " + std::to_string(kQuantityMin) + " and " +
                                  std::to_string(kQuantityMax)});
    return std::nullopt;
  }
  return value->GetInt64();
}

// An absent or null field is fine; anything else must pass check_text().
void check_optional_text(const rapidjson::Value* value, const char* field, std::optional<std::string>* out,
                         std::vector<FieldError>* errors) {
  if (value == nullptr || value->IsNull()) return;
  *out = check_text(value, field, kTextMaxChars, errors);
}

// An optional JSON integer in [min, max]; absent or null gives nullopt without an error. *bad is set when
// the field is present but wrong.
std::optional<std::int64_t> check_optional_integer(const rapidjson::Value* value, const char* field,
                                                   std::int64_t min, std::int64_t max,
                                                   std::vector<FieldError>* errors, bool* bad = nullptr) {
  if (value == nullptr || value->IsNull()) return std::nullopt;
  if (!value->IsNumber() || !value->IsInt64() || value->GetInt64() < min || value->GetInt64() > max) {
    errors->push_back({field, value->IsNumber() ? "must be a whole number between " + std::to_string(min) +
                                                      " and " + std::to_string(max)
                                                : std::string("must be an integer")});
    if (bad != nullptr) *bad = true;
    return std::nullopt;
  }
  return value->GetInt64();
}

// The quantity of a partial command: how many of the block's units it is for (absent: all of them).
std::optional<std::int64_t> check_units_quantity(const rapidjson::Value* value, std::vector<FieldError>* errors) {
  return check_optional_integer(value, "quantity", 1, kUnitNumberLimit, errors);
}

std::optional<std::string> check_category(const rapidjson::Value* value, std::vector<FieldError>* errors) {
  if (value == nullptr || value->IsNull()) return std::nullopt;
  std::string allowed;
  for (const char* category : kRetirementCategories) {
    if (value->IsString() && std::string_view(value->GetString(), value->GetStringLength()) == category) {
      return std::string(category);
    }
    allowed += allowed.empty() ? "" : ", ";
    allowed += category;
  }
  errors->push_back({"category", "must be one of " + allowed});
  return std::nullopt;
}

// Resolves the block of a registration: from a Verra or Gold Standard serial, from block_start/block_end,
// or 1..quantity. Adds errors for whatever disagrees.
void resolve_block(const rapidjson::Document& document, CreditAttributes* a, bool* range_stated,
                   std::vector<FieldError>* errors) {
  bool bad = false;
  const std::optional<std::int64_t> quantity = [&]() -> std::optional<std::int64_t> {
    const rapidjson::Value* value = find_member(document, "quantity");
    if (value == nullptr || value->IsNull()) return std::nullopt;
    std::vector<FieldError> quantity_errors;
    std::optional<std::int64_t> q = check_quantity(value, &quantity_errors);
    if (!q.has_value()) {
      bad = true;
      errors->insert(errors->end(), quantity_errors.begin(), quantity_errors.end());
    }
    return q;
  }();
  const std::optional<std::int64_t> start =
      check_optional_integer(find_member(document, "block_start"), "block_start", 0, kUnitNumberLimit - 1, errors, &bad);
  const std::optional<std::int64_t> end =
      check_optional_integer(find_member(document, "block_end"), "block_end", 0, kUnitNumberLimit - 1, errors, &bad);
  if (bad) return;
  const std::optional<SerialRange> stated = parse_serial_range(registry_kind(a->registry), a->serial_number);
  if (stated.has_value()) {
    // The serial number states its units: anything else sent must agree with it.
    if (start.has_value() && *start != stated->block_start) {
      errors->push_back({"block_start", "must be " + std::to_string(stated->block_start) +
                                            ", the first unit the serial number states"});
    }
    if (end.has_value() && *end != stated->block_end) {
      errors->push_back({"block_end", "must be " + std::to_string(stated->block_end) +
                                          ", the last unit the serial number states"});
    }
    a->block_start = stated->block_start;
    a->block_end = stated->block_end;
    *range_stated = true;
  } else if (start.has_value() || end.has_value()) {
    if (!start.has_value()) return errors->push_back({"block_start", "is required with block_end"});
    if (!end.has_value()) return errors->push_back({"block_end", "is required with block_start"});
    if (*end < *start) return errors->push_back({"block_end", "must not be below block_start"});
    a->block_start = *start;
    a->block_end = *end;
    *range_stated = true;
  } else {
    if (!quantity.has_value()) return errors->push_back({"quantity", "is required (or block_start and block_end)"});
    a->block_start = 1;
    a->block_end = *quantity;
  }
  if (!errors->empty()) return;
  const std::int64_t units = a->block_end - a->block_start + 1;
  if (quantity.has_value() && *quantity != units) {
    return errors->push_back({"quantity", "must be " + std::to_string(units) + ", the number of units in " +
                                              std::to_string(a->block_start) + ".." + std::to_string(a->block_end)});
  }
  if (units > kQuantityMax) {
    return errors->push_back({"block_end", "the block may hold at most " + std::to_string(kQuantityMax) + " units"});
  }
  a->quantity = units;
}

std::string invalid_fields_detail(const std::vector<FieldError>& errors) {
  std::string detail = errors.size() == 1 ? "request has an invalid field: " : "request has invalid fields: ";
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) detail += ", ";
    detail += errors[i].field;
  }
  return detail;
}

template <typename T>
ParsedRequest<T> malformed(std::string detail) {
  ParsedRequest<T> result;
  result.outcome = ParsedRequest<T>::Outcome::kMalformed;
  result.detail = std::move(detail);
  return result;
}

template <typename T>
ParsedRequest<T> invalid(std::vector<FieldError> errors) {
  ParsedRequest<T> result;
  result.outcome = ParsedRequest<T>::Outcome::kInvalid;
  result.detail = invalid_fields_detail(errors);
  result.errors = std::move(errors);
  return result;
}

template <typename T>
ParsedRequest<T> ok(T value) {
  ParsedRequest<T> result;
  result.value = std::move(value);
  return result;
}

}  // namespace

std::string validate_name(std::string* text) {
  std::string normalized;
  std::string problem = normalize_text(*text, kTextMaxChars, &normalized);
  if (problem.empty()) *text = std::move(normalized);
  return problem;
}

ParsedRequest<RegisterCredit> parse_register_request(std::string_view body) {
  rapidjson::Document document;
  std::string detail;
  std::vector<FieldError> errors;
  if (!open_body(body, {"project_name", "registry", "vintage", "quantity", "serial_number", "block_start", "block_end"},
                 &document, &detail, &errors)) {
    return errors.empty() ? malformed<RegisterCredit>(std::move(detail)) : invalid<RegisterCredit>(std::move(errors));
  }
  // Every rule runs so the client learns about all bad fields at once.
  auto project_name = check_text(find_member(document, "project_name"), "project_name", kTextMaxChars, &errors);
  auto registry = check_text(find_member(document, "registry"), "registry", kTextMaxChars, &errors);
  auto vintage = check_vintage(find_member(document, "vintage"), &errors);
  auto serial_number =
      check_text(find_member(document, "serial_number"), "serial_number", kSerialNumberMaxChars, &errors);
  RegisterCredit command;
  if (registry.has_value()) command.attributes.registry = std::move(*registry);
  if (serial_number.has_value()) command.attributes.serial_number = std::move(*serial_number);
  resolve_block(document, &command.attributes, &command.range_stated, &errors);
  if (!errors.empty()) return invalid<RegisterCredit>(std::move(errors));

  command.attributes.project_name = std::move(*project_name);
  command.attributes.vintage = *vintage;
  return ok(std::move(command));
}

ParsedRequest<SellCredit> parse_sell_request(std::string_view body) {
  rapidjson::Document document;
  std::string detail;
  std::vector<FieldError> errors;
  if (!open_body(body, {"buyer", "quantity"}, &document, &detail, &errors)) {
    return errors.empty() ? malformed<SellCredit>(std::move(detail)) : invalid<SellCredit>(std::move(errors));
  }
  auto buyer = check_text(find_member(document, "buyer"), "buyer", kTextMaxChars, &errors);
  auto quantity = check_units_quantity(find_member(document, "quantity"), &errors);
  if (!errors.empty()) return invalid<SellCredit>(std::move(errors));
  return ok(SellCredit{std::move(*buyer), quantity});
}

ParsedRequest<RetireCredit> parse_retire_request(std::string_view body) {
  rapidjson::Document document;
  std::string detail;
  std::vector<FieldError> errors;
  if (!open_body(body, {"beneficiary", "reason", "category", "details", "quantity"}, &document, &detail, &errors)) {
    return errors.empty() ? malformed<RetireCredit>(std::move(detail)) : invalid<RetireCredit>(std::move(errors));
  }
  RetireCredit command;
  Retirement& r = command.retirement;
  check_optional_text(find_member(document, "beneficiary"), "beneficiary", &r.beneficiary, &errors);
  check_optional_text(find_member(document, "reason"), "reason", &r.reason, &errors);
  r.category = check_category(find_member(document, "category"), &errors);
  if (const rapidjson::Value* details = find_member(document, "details"); details != nullptr && !details->IsNull()) {
    r.details = check_text(details, "details", kDetailsMaxChars, &errors);
  }
  command.quantity = check_units_quantity(find_member(document, "quantity"), &errors);
  if (!errors.empty()) return invalid<RetireCredit>(std::move(errors));
  return ok(std::move(command));
}

ParsedRequest<CancelCredit> parse_cancel_request(std::string_view body) {
  rapidjson::Document document;
  std::string detail;
  std::vector<FieldError> errors;
  if (!open_body(body, {"reason", "quantity"}, &document, &detail, &errors)) {
    return errors.empty() ? malformed<CancelCredit>(std::move(detail)) : invalid<CancelCredit>(std::move(errors));
  }
  auto reason = check_text(find_member(document, "reason"), "reason", kTextMaxChars, &errors);
  auto quantity = check_units_quantity(find_member(document, "quantity"), &errors);
  if (!errors.empty()) return invalid<CancelCredit>(std::move(errors));
  return ok(CancelCredit{std::move(*reason), quantity});
}

}  // namespace ledger

#include "command/credit_request.h"

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <utility>

#include <rapidjson/document.h>

#include "command/credit_id.h"
#include "command/json_input.h"
#include "command/text_rules.h"

namespace ledger {

namespace {

constexpr std::size_t kTextMaxChars = 200;
constexpr std::size_t kSerialNumberMaxChars = 256;
constexpr int kVintageMin = 1990;
constexpr int kVintageMax = 2100;
constexpr std::int64_t kQuantityMin = 1;
constexpr std::int64_t kQuantityMax = 1'000'000'000'000;

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
               rapidjson::Document* document, std::string* detail) {
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
  if (!open_body(body, {"project_name", "registry", "vintage", "quantity", "serial_number"}, &document,
                 &detail)) {
    return malformed<RegisterCredit>(std::move(detail));
  }
  // Every rule runs so the client learns about all bad fields at once.
  std::vector<FieldError> errors;
  auto project_name = check_text(find_member(document, "project_name"), "project_name", kTextMaxChars, &errors);
  auto registry = check_text(find_member(document, "registry"), "registry", kTextMaxChars, &errors);
  auto vintage = check_vintage(find_member(document, "vintage"), &errors);
  auto quantity = check_quantity(find_member(document, "quantity"), &errors);
  auto serial_number =
      check_text(find_member(document, "serial_number"), "serial_number", kSerialNumberMaxChars, &errors);
  if (!errors.empty()) return invalid<RegisterCredit>(std::move(errors));

  RegisterCredit command;
  command.attributes.project_name = std::move(*project_name);
  command.attributes.registry = std::move(*registry);
  command.attributes.vintage = *vintage;
  command.attributes.quantity = *quantity;
  command.attributes.serial_number = std::move(*serial_number);
  return ok(std::move(command));
}

ParsedRequest<SellCredit> parse_sell_request(std::string_view body) {
  rapidjson::Document document;
  std::string detail;
  if (!open_body(body, {"buyer"}, &document, &detail)) return malformed<SellCredit>(std::move(detail));
  std::vector<FieldError> errors;
  auto buyer = check_text(find_member(document, "buyer"), "buyer", kTextMaxChars, &errors);
  if (!errors.empty()) return invalid<SellCredit>(std::move(errors));
  return ok(SellCredit{std::move(*buyer)});
}

ParsedRequest<RetireCredit> parse_retire_request(std::string_view body) {
  rapidjson::Document document;
  std::string detail;
  if (!open_body(body, {"beneficiary", "reason"}, &document, &detail)) {
    return malformed<RetireCredit>(std::move(detail));
  }
  std::vector<FieldError> errors;
  RetireCredit command;
  check_optional_text(find_member(document, "beneficiary"), "beneficiary", &command.beneficiary, &errors);
  check_optional_text(find_member(document, "reason"), "reason", &command.reason, &errors);
  if (!errors.empty()) return invalid<RetireCredit>(std::move(errors));
  return ok(std::move(command));
}

}  // namespace ledger

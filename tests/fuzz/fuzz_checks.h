// Invariant checks shared by the libFuzzer targets in tests/fuzz/. Every check that fails prints what
// broke and aborts, so libFuzzer records the input as a crash. Written independently of the product code
// (own UTF-8 decoder, own UUID text check) so that a bug there is not hidden by the same bug here.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "command/credit.h"
#include "command/credit_id.h"
#include "command/credit_request.h"
#include "eventstore/uuid.h"
#include "server/http_api.h"

#define FUZZ_CHECK(cond, ...)                                                      \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "  " __VA_ARGS__);                                      \
      std::fprintf(stderr, "\n");                                                  \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

namespace ledger::fuzz {

inline constexpr std::size_t kTextMaxChars = 200;
inline constexpr std::size_t kSerialNumberMaxChars = 256;

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. Returns the number of
// code points, or nullopt when ill-formed. `control` is set when a C0/C1 control or DEL occurs.
inline std::optional<std::size_t> utf8_code_points(std::string_view s, bool* control = nullptr) {
  std::size_t n = 0;
  bool has_control = false;
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char b0 = static_cast<unsigned char>(s[i]);
    std::uint32_t cp;
    std::size_t len;
    if (b0 <= 0x7F) {
      cp = b0;
      len = 1;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      cp = b0 & 0x1F;
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      cp = b0 & 0x0F;
      len = 3;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      cp = b0 & 0x07;
      len = 4;
    } else {
      return std::nullopt;
    }
    if (s.size() - i < len) return std::nullopt;
    for (std::size_t k = 1; k < len; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      if (b < 0x80 || b > 0xBF) return std::nullopt;
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return std::nullopt;
    if (cp >= 0xD800 && cp <= 0xDFFF) return std::nullopt;
    if (cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F)) has_control = true;
    ++n;
    i += len;
  }
  if (control != nullptr) *control = has_control;
  return n;
}

inline bool is_valid_utf8(std::string_view s) { return utf8_code_points(s).has_value(); }

inline std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// A validated text field: trimmed of spaces and tabs, valid UTF-8, 1..max code points, no controls.
inline void check_text_field(std::string_view field, std::string_view text, std::size_t max_chars) {
  FUZZ_CHECK(!text.empty(), "%.*s is empty", (int)field.size(), field.data());
  FUZZ_CHECK(text.front() != ' ' && text.front() != '\t' && text.back() != ' ' && text.back() != '\t',
             "%.*s is not trimmed: \"%s\"", (int)field.size(), field.data(), printable(text).c_str());
  bool control = false;
  const auto chars = utf8_code_points(text, &control);
  FUZZ_CHECK(chars.has_value(), "%.*s is not valid UTF-8: \"%s\"", (int)field.size(), field.data(),
             printable(text).c_str());
  FUZZ_CHECK(*chars >= 1 && *chars <= max_chars, "%.*s has %zu code points", (int)field.size(), field.data(),
             *chars);
  FUZZ_CHECK(!control, "%.*s has a control character: \"%s\"", (int)field.size(), field.data(),
             printable(text).c_str());
}

// Canonical lowercase 8-4-4-4-12 UUID text.
inline bool is_canonical_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// credit_id() must give a canonical version-5 RFC 4122 UUID that parse_uuid() keeps as is, and must not
// care about spaces/tabs around either part or the ASCII case of the registry.
inline std::string check_credit_id(std::string_view registry, std::string_view serial) {
  const std::string id = credit_id(registry, serial);
  FUZZ_CHECK(is_canonical_uuid(id), "credit_id gave non-canonical \"%s\"", printable(id).c_str());
  FUZZ_CHECK(id[14] == '5', "credit_id is not version 5: %s", id.c_str());
  FUZZ_CHECK(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b', "bad variant: %s", id.c_str());
  std::string canonical;
  FUZZ_CHECK(parse_uuid(id, &canonical) && canonical == id, "parse_uuid does not round-trip %s", id.c_str());

  std::string padded_registry = " \t" + std::string(registry) + "\t ";
  for (char& c : padded_registry) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  const std::string padded_serial = "\t" + std::string(serial) + " ";
  const std::string id2 = credit_id(padded_registry, padded_serial);
  FUZZ_CHECK(id2 == id, "credit_id depends on padding or registry case: %s vs %s", id.c_str(), id2.c_str());
  return id;
}

// problem_json() must give valid JSON (RapidJSON, UTF-8 validated) that carries the members back.
inline void check_problem_json(const Problem& problem) {
  const std::string json = problem_json(problem);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  FUZZ_CHECK(!doc.HasParseError(), "problem_json output does not parse (error %d at %zu): %s",
             (int)doc.GetParseError(), doc.GetErrorOffset(), printable(json).c_str());
  FUZZ_CHECK(doc.IsObject(), "problem_json output is not an object");
  const auto str_eq = [](const rapidjson::Value& v, std::string_view expected) {
    return v.IsString() && std::string_view(v.GetString(), v.GetStringLength()) == expected;
  };
  FUZZ_CHECK(doc.HasMember("type") && str_eq(doc["type"], "/problems/" + problem.slug), "type lost");
  FUZZ_CHECK(doc.HasMember("title") && str_eq(doc["title"], problem.title), "title lost");
  FUZZ_CHECK(doc.HasMember("status") && doc["status"].IsInt() && doc["status"].GetInt() == problem.status,
             "status lost");
  FUZZ_CHECK(doc.HasMember("detail") && str_eq(doc["detail"], problem.detail), "detail lost");
  if (problem.errors.empty()) {
    FUZZ_CHECK(!doc.HasMember("errors"), "empty errors emitted");
  } else {
    FUZZ_CHECK(doc.HasMember("errors") && doc["errors"].IsArray() &&
                   doc["errors"].Size() == problem.errors.size(),
               "errors lost");
    for (rapidjson::SizeType i = 0; i < doc["errors"].Size(); ++i) {
      const auto& e = doc["errors"][i];
      FUZZ_CHECK(e.IsObject() && e.HasMember("field") && str_eq(e["field"], problem.errors[i].field) &&
                     e.HasMember("message") && str_eq(e["message"], problem.errors[i].message),
                 "error %u lost", i);
    }
  }
  FUZZ_CHECK(doc.HasMember("current_status") == problem.current_status.has_value(), "current_status");
  if (problem.current_status) FUZZ_CHECK(str_eq(doc["current_status"], *problem.current_status), "current_status");
  FUZZ_CHECK(doc.HasMember("differing_fields") == !problem.differing_fields.empty(), "differing_fields");
  if (!problem.differing_fields.empty()) {
    const auto& a = doc["differing_fields"];
    FUZZ_CHECK(a.IsArray() && a.Size() == problem.differing_fields.size(), "differing_fields size");
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
      FUZZ_CHECK(str_eq(a[i], problem.differing_fields[i]), "differing_fields[%u]", i);
    }
  }
}

// The problem the server answers for a body that is not kOk (as in http_server.cc decode_body()).
template <typename T>
Problem problem_for(const ParsedRequest<T>& parsed) {
  using Outcome = typename ParsedRequest<T>::Outcome;
  if (parsed.outcome == Outcome::kMalformed) return {400, "malformed-json", "Malformed JSON body", parsed.detail};
  Problem problem{422, "invalid-fields", "Invalid fields", parsed.detail};
  problem.errors = parsed.errors;
  return problem;
}

// Shape shared by all three parsers: kOk has no errors, kMalformed/kInvalid have a detail, kInvalid has
// errors (each naming a known field, at most once, in the documented order), kMalformed has none. Also
// feeds the non-OK outcome through problem_json().
template <typename T>
void check_outcome_shape(const ParsedRequest<T>& parsed, const std::vector<std::string_view>& field_order) {
  using Outcome = typename ParsedRequest<T>::Outcome;
  switch (parsed.outcome) {
    case Outcome::kOk:
      FUZZ_CHECK(parsed.errors.empty(), "kOk with %zu errors", parsed.errors.size());
      return;
    case Outcome::kMalformed:
      FUZZ_CHECK(!parsed.detail.empty(), "kMalformed without detail");
      FUZZ_CHECK(parsed.errors.empty(), "kMalformed with errors");
      break;
    case Outcome::kInvalid: {
      FUZZ_CHECK(!parsed.detail.empty(), "kInvalid without detail");
      FUZZ_CHECK(!parsed.errors.empty(), "kInvalid without errors");
      std::size_t next = 0;  // errors come in field order, one per field
      for (const FieldError& e : parsed.errors) {
        FUZZ_CHECK(!e.message.empty(), "error without message for %s", e.field.c_str());
        while (next < field_order.size() && field_order[next] != e.field) ++next;
        FUZZ_CHECK(next < field_order.size(), "unknown, repeated or out-of-order error field \"%s\"",
                   printable(e.field).c_str());
        ++next;
      }
      break;
    }
    default:
      FUZZ_CHECK(false, "outcome out of range: %d", static_cast<int>(parsed.outcome));
  }
  check_problem_json(problem_for(parsed));
}

inline std::string write_json(const std::vector<std::pair<std::string, std::optional<std::string>>>& strings,
                              const std::vector<std::pair<std::string, std::int64_t>>& numbers) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  for (const auto& [k, v] : strings) {
    w.Key(k.c_str());
    if (v) {
      w.String(v->data(), static_cast<rapidjson::SizeType>(v->size()));
    } else {
      w.Null();
    }
  }
  for (const auto& [k, v] : numbers) {
    w.Key(k.c_str());
    w.Int64(v);
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// The answer the server gives for a refused command: command_problem() must map the decider's error to a
// problem that problem_json() can write.
inline void check_refusal(const Decision& d, const CreditState& state, DecideError::Kind expected,
                          const char* what) {
  FUZZ_CHECK(d.events.empty() && d.error.has_value() && d.error->kind == expected, "%s: not refused as expected",
             what);
  FUZZ_CHECK(!d.error->detail.empty(), "%s: refusal without detail", what);
  CreditCommandResult result;
  result.kind = expected == DecideError::Kind::kNotFound ? CreditCommandResult::Kind::kNotFound
                                                         : CreditCommandResult::Kind::kRejected;
  result.state = state;
  result.error = d.error;
  result.detail = d.error->detail;
  const Problem problem = command_problem(result);
  FUZZ_CHECK(problem.status == (expected == DecideError::Kind::kNotFound ? 404 : 409), "%s: status %d", what,
             problem.status);
  if (expected == DecideError::Kind::kAttributesDiffer) {
    FUZZ_CHECK(problem.differing_fields == d.error->differing_fields, "%s: differing_fields lost", what);
  }
  check_problem_json(problem);
}

// Applies the single event of an accepting decision; its data must survive encode/decode.
inline CreditState accept_one(const Decision& d, const CreditState& state, const char* what) {
  FUZZ_CHECK(!d.error.has_value() && d.events.size() == 1, "%s: not accepted with one event", what);
  const CreditEvent& event = d.events.front();
  CreditEvent decoded;
  const std::string data = encode_event_data(event);
  FUZZ_CHECK(decode_event(event_type_name(event), data, &decoded).ok(), "%s: event data does not decode: %s", what,
             printable(data).c_str());
  FUZZ_CHECK(encode_event_data(decoded) == data, "%s: event data does not round-trip", what);
  CreditState next = evolve(state, decoded);
  FUZZ_CHECK(next.version == state.version + 1, "%s: version %lld", what, (long long)next.version);
  return next;
}

// The whole lifecycle (CREATED -> SOLD -> RETIRED) of a credit with client-chosen attributes, buyer and
// retirement: what decide() accepts and refuses in each status, what evolve() makes of it, and the
// problems the refusals turn into.
inline void check_lifecycle(const CreditAttributes& a, const std::string& buyer, const RetireCredit& retire) {
  using K = DecideError::Kind;
  const CreditState none;
  // The issuer registers and sells; the buyer then holds and retires. A name with a control character can
  // never be an account, so the stranger is nobody's holder.
  const Actor issuer{"fuzz-issuer", Role::kIssuer};
  const Actor holder{buyer, Role::kHolder};
  const Actor stranger{"\x01stranger", Role::kHolder};
  check_refusal(decide(SellCredit{buyer}, none, issuer), none, K::kNotFound, "sell unregistered");
  check_refusal(decide(retire, none, holder), none, K::kNotFound, "retire unregistered");

  const CreditState created = accept_one(decide(RegisterCredit{a}, none, issuer), none, "register");
  FUZZ_CHECK(created.status == CreditStatus::kCreated && created.attributes.project_name == a.project_name &&
                 created.attributes.registry == a.registry && created.attributes.serial_number == a.serial_number &&
                 created.attributes.vintage == a.vintage && created.attributes.quantity == a.quantity,
             "register: state does not hold the attributes");
  {
    const Decision again = decide(RegisterCredit{a}, created, issuer);
    FUZZ_CHECK(again.events.empty() && !again.error, "identical re-registration is not a no-op");
    // The registry compares ignoring ASCII case (as the id does); the quantity does not.
    CreditAttributes other = a;
    for (char& c : other.registry) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    other.quantity = a.quantity % 1'000'000'000'000 + 1;
    const Decision differs = decide(RegisterCredit{other}, created, issuer);
    check_refusal(differs, created, K::kAttributesDiffer, "re-registration with another quantity");
    FUZZ_CHECK(differs.error->differing_fields == std::vector<std::string>{"quantity"},
               "differing_fields is not just quantity (%zu fields)", differs.error->differing_fields.size());
  }
  check_refusal(decide(retire, created, holder), created, created.holder == buyer ? K::kWrongStatus : K::kForbidden,
                "retire created");
  check_refusal(decide(SellCredit{buyer}, created, stranger), created, K::kForbidden, "sell by a stranger");

  const CreditState sold = accept_one(decide(SellCredit{buyer}, created, issuer), created, "sell");
  FUZZ_CHECK(sold.status == CreditStatus::kSold && sold.buyer == buyer && sold.holder == buyer, "sell: state");
  check_refusal(decide(SellCredit{buyer}, sold, holder), sold, K::kWrongStatus, "sell sold");

  const CreditState retired = accept_one(decide(retire, sold, holder), sold, "retire");
  FUZZ_CHECK(retired.status == CreditStatus::kRetired && retired.beneficiary == retire.beneficiary &&
                 retired.reason == retire.reason && retired.version == 3,
             "retire: state");
  check_refusal(decide(retire, retired, holder), retired, K::kWrongStatus, "retire retired");
  check_refusal(decide(SellCredit{buyer}, retired, holder), retired, K::kWrongStatus, "sell retired");
  const Decision late = decide(RegisterCredit{a}, retired, issuer);
  FUZZ_CHECK(late.events.empty() && !late.error, "identical re-registration after retirement is not a no-op");
}

inline CreditAttributes sample_attributes() {
  CreditAttributes a;
  a.project_name = "Mangrove Restoration";
  a.registry = "Verra";
  a.serial_number = "VCS-1234-2021-001";
  a.vintage = 2021;
  a.quantity = 5000;
  return a;
}

// Everything checked about a register body; returns the parse result for callers that go further.
inline ParsedRequest<RegisterCredit> check_register(std::string_view body) {
  auto parsed = parse_register_request(body);
  check_outcome_shape(parsed, {"project_name", "registry", "vintage", "quantity", "serial_number"});
  const CreditAttributes& a = parsed.value.attributes;
  if (parsed.outcome != ParsedRequest<RegisterCredit>::Outcome::kOk) {
    FUZZ_CHECK(a.project_name.empty() && a.registry.empty() && a.serial_number.empty() && a.vintage == 0 &&
                   a.quantity == 0,
               "a value alongside errors");
    return parsed;
  }
  check_text_field("project_name", a.project_name, kTextMaxChars);
  check_text_field("registry", a.registry, kTextMaxChars);
  check_text_field("serial_number", a.serial_number, kSerialNumberMaxChars);
  FUZZ_CHECK(a.vintage >= 1990 && a.vintage <= 2100, "vintage %d", a.vintage);
  FUZZ_CHECK(a.quantity >= 1 && a.quantity <= 1'000'000'000'000, "quantity %lld", (long long)a.quantity);
  const std::string id = check_credit_id(a.registry, a.serial_number);

  // Round trip: the validated command, written back as JSON, parses to the same command.
  const std::string again = write_json(
      {{"project_name", a.project_name}, {"registry", a.registry}, {"serial_number", a.serial_number}},
      {{"vintage", a.vintage}, {"quantity", a.quantity}});
  const auto reparsed = parse_register_request(again);
  FUZZ_CHECK(reparsed.outcome == ParsedRequest<RegisterCredit>::Outcome::kOk, "re-encoded body refused: %s",
             reparsed.detail.c_str());
  const CreditAttributes& b = reparsed.value.attributes;
  FUZZ_CHECK(a.project_name == b.project_name && a.registry == b.registry && a.serial_number == b.serial_number &&
                 a.vintage == b.vintage && a.quantity == b.quantity,
             "register round trip changed the command");

  // Validated client text in every string slot of a problem and of the credit JSON.
  Problem problem{409, "already-registered", a.registry, a.project_name};
  problem.errors.push_back({a.serial_number, a.project_name});
  problem.current_status = a.registry;
  problem.differing_fields = {a.project_name, a.serial_number};
  check_problem_json(problem);

  CreditState state;
  state.status = CreditStatus::kCreated;
  state.version = 1;
  state.attributes = a;
  const std::string json = credit_json(id, state);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  FUZZ_CHECK(!doc.HasParseError() && doc.IsObject(), "credit_json output does not parse: %s",
             printable(json).c_str());
  FUZZ_CHECK(doc["project_name"].GetStringLength() == a.project_name.size() &&
                 doc["serial_number"].GetStringLength() == a.serial_number.size() &&
                 doc["quantity"].GetInt64() == a.quantity && doc["vintage"].GetInt() == a.vintage,
             "credit_json lost data");

  // The event data of the CREATED event decodes back to the same attributes.
  const CreditEvent created = CreditCreated{a};
  CreditEvent decoded;
  const Status st = decode_event(event_type_name(created), encode_event_data(created), &decoded);
  FUZZ_CHECK(st.ok(), "decode_event refused encode_event_data output");
  const auto* c = std::get_if<CreditCreated>(&decoded);
  FUZZ_CHECK(c != nullptr && c->attributes.project_name == a.project_name && c->attributes.registry == a.registry &&
                 c->attributes.serial_number == a.serial_number && c->attributes.vintage == a.vintage &&
                 c->attributes.quantity == a.quantity,
             "CREATED event data does not round-trip");

  check_lifecycle(a, a.project_name, RetireCredit{a.registry, a.serial_number});
  return parsed;
}

inline ParsedRequest<SellCredit> check_sell(std::string_view body) {
  auto parsed = parse_sell_request(body);
  check_outcome_shape(parsed, {"buyer"});
  if (parsed.outcome != ParsedRequest<SellCredit>::Outcome::kOk) {
    FUZZ_CHECK(parsed.value.buyer.empty(), "a buyer alongside errors");
    return parsed;
  }
  check_text_field("buyer", parsed.value.buyer, kTextMaxChars);
  const auto reparsed = parse_sell_request(write_json({{"buyer", parsed.value.buyer}}, {}));
  FUZZ_CHECK(reparsed.outcome == ParsedRequest<SellCredit>::Outcome::kOk &&
                 reparsed.value.buyer == parsed.value.buyer,
             "sell round trip changed the command");
  Problem problem{409, "invalid-status", parsed.value.buyer, parsed.value.buyer};
  problem.errors.push_back({"buyer", parsed.value.buyer});
  check_problem_json(problem);
  check_lifecycle(sample_attributes(), parsed.value.buyer, RetireCredit{parsed.value.buyer, std::nullopt});
  return parsed;
}

inline ParsedRequest<RetireCredit> check_retire(std::string_view body) {
  auto parsed = parse_retire_request(body);
  check_outcome_shape(parsed, {"beneficiary", "reason"});
  const RetireCredit& v = parsed.value;
  if (parsed.outcome != ParsedRequest<RetireCredit>::Outcome::kOk) {
    FUZZ_CHECK(!v.beneficiary && !v.reason, "a value alongside errors");
    return parsed;
  }
  if (v.beneficiary) check_text_field("beneficiary", *v.beneficiary, kTextMaxChars);
  if (v.reason) check_text_field("reason", *v.reason, kTextMaxChars);
  const auto reparsed = parse_retire_request(write_json({{"beneficiary", v.beneficiary}, {"reason", v.reason}}, {}));
  FUZZ_CHECK(reparsed.outcome == ParsedRequest<RetireCredit>::Outcome::kOk &&
                 reparsed.value.beneficiary == v.beneficiary && reparsed.value.reason == v.reason,
             "retire round trip changed the command");
  Problem problem{422, "invalid-fields", "Invalid fields", v.reason.value_or("no reason")};
  if (v.beneficiary) problem.errors.push_back({"beneficiary", *v.beneficiary});
  check_problem_json(problem);
  check_lifecycle(sample_attributes(), "Acme Corp", v);
  return parsed;
}

// match_route(): the route's pieces rebuild the path; the query string and one trailing '/' are ignored.
inline Route check_route(std::string_view target) {
  const Route route = match_route(target);
  const std::string_view method(route.method);
  std::string_view path = target.substr(0, target.find('?'));
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  switch (route.kind) {
    case Route::Kind::kUnknown:
      FUZZ_CHECK(route.id.empty() && method.empty(), "unknown route with id/method");
      break;
    case Route::Kind::kRegister:
      FUZZ_CHECK(path == "/register" && method == "POST", "register route for \"%s\"", printable(target).c_str());
      break;
    case Route::Kind::kHealth:
      FUZZ_CHECK(path == "/healthz" && method == "GET", "health route for \"%s\"", printable(target).c_str());
      break;
    case Route::Kind::kGetRecord:
    case Route::Kind::kSell:
    case Route::Kind::kRetire: {
      FUZZ_CHECK(!route.id.empty() && route.id.find('/') == std::string::npos &&
                     route.id.find('?') == std::string::npos,
                 "bad id \"%s\" for \"%s\"", printable(route.id).c_str(), printable(target).c_str());
      const bool get = route.kind == Route::Kind::kGetRecord;
      FUZZ_CHECK(method == (get ? "GET" : "POST"), "method %s", route.method);
      const std::string suffix = route.kind == Route::Kind::kSell     ? "/sell"
                                 : route.kind == Route::Kind::kRetire ? "/retire"
                                                                      : "";
      const bool ok = path == "/records/" + route.id + suffix || (get && path == "/record/" + route.id);
      FUZZ_CHECK(ok, "route does not rebuild \"%s\" (id \"%s\")", printable(target).c_str(),
                 printable(route.id).c_str());
      std::string canonical;
      if (parse_uuid(route.id, &canonical)) {
        FUZZ_CHECK(is_canonical_uuid(canonical), "parse_uuid gave \"%s\"", printable(canonical).c_str());
        std::string lower = route.id;
        for (char& c : lower) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
        FUZZ_CHECK(lower == canonical, "parse_uuid changed more than case: %s -> %s", printable(route.id).c_str(),
                   canonical.c_str());
      }
      break;
    }
    default:
      FUZZ_CHECK(false, "route kind out of range");
  }
  if (target.find('?') == std::string_view::npos) {
    const Route with_query = match_route(std::string(target) + "?a=/b/c&d");
    FUZZ_CHECK(with_query.kind == route.kind && with_query.id == route.id, "query string changed the route");
    if (!target.empty() && target.back() != '/') {
      const Route with_slash = match_route(std::string(target) + "/");
      FUZZ_CHECK(with_slash.kind == route.kind && with_slash.id == route.id, "trailing '/' changed the route");
    }
  }
  return route;
}

inline std::optional<VersionPrecondition> check_if_match(std::string_view value) {
  const auto p = parse_if_match(value);
  if (!p) return p;
  if (p->any) {
    FUZZ_CHECK(p->versions.empty(), "* with versions");
    return p;
  }
  // Every version was written as a quoted run of at most 18 digits, so there are at most as many as
  // there are quote pairs, and each is below 10^18.
  std::size_t quotes = 0;
  for (char c : value) quotes += c == '"';
  FUZZ_CHECK(p->versions.size() * 2 <= quotes, "more versions than tags");
  std::string again;
  for (std::int64_t v : p->versions) {
    FUZZ_CHECK(v >= 0 && v < 1'000'000'000'000'000'000, "version %lld", (long long)v);
    if (!again.empty()) again += ", ";
    again += "\"" + std::to_string(v) + "\"";
  }
  if (!again.empty()) {
    const auto q = parse_if_match(again);
    FUZZ_CHECK(q && !q->any && q->versions == p->versions, "If-Match versions do not round-trip");
  }
  return p;
}

inline bool check_content_type(std::string_view value) {
  const bool json = is_json_content_type(value);
  // Reference: the media type before ';', trimmed of spaces/tabs, ASCII-lowercased.
  std::string_view media = value.substr(0, value.find(';'));
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  std::string lower(media);
  for (char& c : lower) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  const bool expected = lower == "application/json" ||
                        (lower.find('/') != std::string::npos && lower.size() > 5 &&
                         lower.compare(lower.size() - 5, 5, "+json") == 0);
  FUZZ_CHECK(json == expected, "is_json_content_type(\"%s\") = %d", printable(value).c_str(), json);
  if (value.find(';') == std::string_view::npos) {
    FUZZ_CHECK(is_json_content_type(std::string(value) + "; charset=utf-8") == json, "parameters matter");
  }
  return json;
}

inline std::string check_request_id(std::string_view value) {
  const std::string id = sanitize_request_id(value);
  if (id.empty()) return id;
  FUZZ_CHECK(id == value, "request id changed");
  FUZZ_CHECK(id.size() <= 128, "request id of %zu bytes", id.size());
  for (unsigned char c : id) FUZZ_CHECK(c >= 0x21 && c <= 0x7E, "request id byte 0x%02x", c);
  return id;
}

}  // namespace ledger::fuzz

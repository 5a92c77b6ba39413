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
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "command/credit.h"
#include "command/credit_id.h"
#include "command/credit_record.h"
#include "command/credit_request.h"
#include "command/serial_numbers.h"
#include "eventstore/uuid.h"
#include "projector/credit_projection.h"
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
inline constexpr std::size_t kDetailsMaxChars = 1000;
inline constexpr std::int64_t kQuantityMax = 1'000'000'000'000;

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
  FUZZ_CHECK(doc.HasMember("confusable_with") == problem.confusable_with.has_value(), "confusable_with");
  if (problem.confusable_with) FUZZ_CHECK(str_eq(doc["confusable_with"], *problem.confusable_with), "confusable_with");
  FUZZ_CHECK(doc.HasMember("overlapping") == problem.overlapping_id.has_value(), "overlapping");
  if (problem.overlapping_id) {
    const auto& o = doc["overlapping"];
    FUZZ_CHECK(o.IsObject() && o.HasMember("id") && str_eq(o["id"], *problem.overlapping_id) &&
                   o.HasMember("serial_number") &&
                   (problem.overlapping_serial_number ? str_eq(o["serial_number"], *problem.overlapping_serial_number)
                                                      : o["serial_number"].IsNull()) &&
                   o.HasMember("block_start") && o["block_start"].IsInt64() &&
                   o["block_start"].GetInt64() == problem.overlapping_start && o.HasMember("block_end") &&
                   o["block_end"].IsInt64() && o["block_end"].GetInt64() == problem.overlapping_end,
               "overlapping lost");
  }
  FUZZ_CHECK(doc.HasMember("available") == problem.available.has_value(), "available");
  if (problem.available) {
    FUZZ_CHECK(doc["available"].IsInt64() && doc["available"].GetInt64() == *problem.available, "available lost");
  }
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

// Shape shared by all four parsers: kOk has no errors, kMalformed/kInvalid have a detail, kInvalid has
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
                              const std::vector<std::pair<std::string, std::optional<std::int64_t>>>& numbers) {
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
  for (const auto& [k, v] : numbers) {  // nullopt: left out
    if (!v) continue;
    w.Key(k.c_str());
    w.Int64(*v);
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}


// ---- Records and command answers ----

inline bool json_str_eq(const rapidjson::Value& v, std::string_view expected) {
  return v.IsString() && std::string_view(v.GetString(), v.GetStringLength()) == expected;
}

inline bool json_optional_str_eq(const rapidjson::Value& object, const char* name,
                                 const std::optional<std::string>& expected) {
  if (!object.HasMember(name)) return false;
  return expected ? json_str_eq(object[name], *expected) : object[name].IsNull();
}

inline void parse_validated(const std::string& json, rapidjson::Document* doc, const char* what) {
  doc->Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  FUZZ_CHECK(!doc->HasParseError() && doc->IsObject(), "%s: output does not parse as an object: %s", what,
             printable(json).c_str());
}

// A record as credit_json() writes it (spec, "Record JSON"): every member, with the state's values; the
// quantity always counts the block.
inline void check_credit_doc(const rapidjson::Value& doc, const std::string& id, const CreditState& s,
                             const char* what) {
  const CreditAttributes& a = s.attributes;
  for (const char* m : {"id", "project_name", "registry", "vintage", "quantity", "serial_number", "status", "version",
                        "holder", "issuer", "block_start", "block_end", "parent", "children_count", "retirement",
                        "cancellation"}) {
    FUZZ_CHECK(doc.HasMember(m), "%s: record without \"%s\"", what, m);
  }
  FUZZ_CHECK(json_str_eq(doc["id"], id) && json_str_eq(doc["project_name"], a.project_name) &&
                 json_str_eq(doc["registry"], a.registry) && json_str_eq(doc["serial_number"], a.serial_number) &&
                 doc["vintage"].IsInt() && doc["vintage"].GetInt() == a.vintage && doc["quantity"].IsInt64() &&
                 doc["quantity"].GetInt64() == a.quantity && json_str_eq(doc["status"], status_name(s.status)) &&
                 doc["version"].IsInt64() && doc["version"].GetInt64() == s.version &&
                 json_str_eq(doc["holder"], s.holder) && json_str_eq(doc["issuer"], s.issuer) &&
                 doc["block_start"].IsInt64() && doc["block_start"].GetInt64() == a.block_start &&
                 doc["block_end"].IsInt64() && doc["block_end"].GetInt64() == a.block_end &&
                 doc["children_count"].IsInt64() && doc["children_count"].GetInt64() == s.children_count,
             "%s: credit_json lost data", what);
  FUZZ_CHECK(s.parent.empty() ? doc["parent"].IsNull() : json_str_eq(doc["parent"], s.parent), "%s: parent", what);
  if (s.status != CreditStatus::kUnregistered) {
    FUZZ_CHECK(a.quantity >= 1 && a.quantity == a.block_end - a.block_start + 1,
               "%s: quantity %lld does not count the block %lld..%lld", what, (long long)a.quantity,
               (long long)a.block_start, (long long)a.block_end);
  }
  const rapidjson::Value& r = doc["retirement"];
  if (s.retirement) {
    FUZZ_CHECK(r.IsObject() && json_optional_str_eq(r, "beneficiary", s.retirement->beneficiary) &&
                   json_optional_str_eq(r, "reason", s.retirement->reason) &&
                   json_optional_str_eq(r, "category", s.retirement->category) &&
                   json_optional_str_eq(r, "details", s.retirement->details),
               "%s: retirement lost", what);
  } else {
    FUZZ_CHECK(r.IsNull(), "%s: retirement without one", what);
  }
  const rapidjson::Value& c = doc["cancellation"];
  if (s.cancel_reason) {
    FUZZ_CHECK(c.IsObject() && c.HasMember("reason"), "%s: cancellation lost", what);
  } else {
    FUZZ_CHECK(c.IsNull(), "%s: cancellation without one", what);
  }
}

inline void check_credit_json(const std::string& id, const CreditState& s, const char* what) {
  rapidjson::Document doc;
  parse_validated(credit_json(id, s), &doc, what);
  check_credit_doc(doc, id, s, what);
}

// command_response() for a result: a record for 2xx (with "remainder" for a partial command), else the
// problem; the ETag is the version; stored with an idempotency key exactly for 200/201/403/404/409.
inline void check_response(const CreditCommandResult& result, const char* what) {
  using RK = CreditCommandResult::Kind;
  const StoredResponse r = command_response(result);
  rapidjson::Document doc;
  parse_validated(r.body, &doc, what);
  if (result.kind == RK::kCreated || result.kind == RK::kApplied) {
    FUZZ_CHECK(r.status == (result.kind == RK::kCreated ? 201 : 200), "%s: status %d", what, r.status);
    check_credit_doc(doc, result.record_id, result.state, what);
    if (result.remainder) {
      FUZZ_CHECK(doc.HasMember("remainder") && doc["remainder"].IsObject(), "%s: no remainder", what);
      const rapidjson::Value& rem = doc["remainder"];
      const CreditAttributes& p = result.remainder->attributes;
      FUZZ_CHECK(rem.HasMember("id") && json_str_eq(rem["id"], result.remainder_id) && rem.HasMember("quantity") &&
                     rem["quantity"].IsInt64() && rem["quantity"].GetInt64() == p.quantity &&
                     rem.HasMember("block_start") && rem["block_start"].IsInt64() &&
                     rem["block_start"].GetInt64() == p.block_start && rem.HasMember("block_end") &&
                     rem["block_end"].IsInt64() && rem["block_end"].GetInt64() == p.block_end &&
                     rem.HasMember("version") && rem["version"].IsInt64() &&
                     rem["version"].GetInt64() == result.remainder->version,
                 "%s: remainder lost", what);
      FUZZ_CHECK(r.location == "/records/" + result.record_id, "%s: Location %s", what, r.location.c_str());
    } else {
      FUZZ_CHECK(!doc.HasMember("remainder"), "%s: remainder without a carve", what);
    }
    if (result.kind == RK::kCreated) {
      FUZZ_CHECK(r.location == "/records/" + result.record_id, "%s: Location %s", what, r.location.c_str());
    }
  } else {
    const Problem problem = command_problem(result);
    check_problem_json(problem);
    FUZZ_CHECK(r.status == problem.status && doc.HasMember("status") && doc["status"].IsInt() &&
                   doc["status"].GetInt() == r.status,
               "%s: status %d", what, r.status);
  }
  FUZZ_CHECK(r.etag == (result.state.version > 0 ? "\"" + std::to_string(result.state.version) + "\"" : std::string()),
             "%s: ETag %s", what, r.etag.c_str());
  const bool storable = r.status == 200 || r.status == 201 || r.status == 403 || r.status == 404 || r.status == 409;
  FUZZ_CHECK(is_storable_result(result) == storable, "%s: answer %d stored: %d", what, r.status,
             is_storable_result(result));
}

// ---- The decider, the projector and state snapshots ----

inline int refusal_status(DecideError::Kind kind) {
  using K = DecideError::Kind;
  switch (kind) {
    case K::kNotFound: return 404;
    case K::kForbidden:
    case K::kRegistryNotBound: return 403;
    case K::kUnknownBuyer: return 422;
    default: return 409;
  }
}

// The answer the server gives for a refused command (the result as command/credit_batch.cc builds it):
// command_problem() must map the decider's error to a problem that problem_json() can write.
inline void check_refusal(const Decision& d, const CreditState& state, DecideError::Kind expected,
                          const char* what) {
  using RK = CreditCommandResult::Kind;
  using K = DecideError::Kind;
  FUZZ_CHECK(d.events.empty() && !d.child && d.error.has_value() && d.error->kind == expected,
             "%s: not refused as expected (kind %d)", what, d.error ? static_cast<int>(d.error->kind) : -1);
  FUZZ_CHECK(!d.error->detail.empty(), "%s: refusal without detail", what);
  CreditCommandResult result;
  result.kind = expected == K::kNotFound                                          ? RK::kNotFound
                : (expected == K::kForbidden || expected == K::kRegistryNotBound) ? RK::kForbidden
                                                                                  : RK::kRejected;
  result.record_id = "800d4116-9d79-5774-bcc1-b5c8a8b69bcc";
  result.state = state;
  result.error = d.error;
  result.detail = d.error->detail;
  const Problem problem = command_problem(result);
  FUZZ_CHECK(problem.status == refusal_status(expected), "%s: status %d", what, problem.status);
  if (expected == K::kAttributesDiffer) {
    FUZZ_CHECK(problem.differing_fields == d.error->differing_fields, "%s: differing_fields lost", what);
  }
  if (expected == K::kQuantityExceeds) {
    FUZZ_CHECK(problem.available == d.error->available && problem.errors.size() == 1 &&
                   problem.errors[0].field == "quantity",
               "%s: quantity-exceeds-block without available/errors", what);
  }
  if (expected == K::kUnknownBuyer) {
    FUZZ_CHECK(problem.errors.size() == 1 && problem.errors[0].field == "buyer", "%s: unknown buyer", what);
  }
  if (expected == K::kRegistryNotBound) {
    FUZZ_CHECK(problem.errors.size() == 1 && problem.errors[0].field == "registry", "%s: registry", what);
  }
  check_response(result, what);
}

// decode_state(encode_state(s)) == s.
inline void check_state_round_trip(const CreditState& s, const char* what) {
  const std::string json = encode_state(s);
  CreditState back;
  const Status st = decode_state(json, &back);
  FUZZ_CHECK(st.ok(), "%s: decode_state refused encode_state output: %s (%s)", what, st.message().c_str(),
             printable(json).c_str());
  FUZZ_CHECK(back == s, "%s: state does not round-trip: %s", what, printable(json).c_str());
}

// One block's stream as the decider (evolve) and the projector (apply_event) each fold it.
struct FuzzStream {
  std::string id;
  CreditState state;
  std::optional<CreditRecord> record;
};

inline std::int64_t next_log_position() {
  static std::int64_t position = 0;
  return ++position;
}

// Appends one event the decider emitted: its data survives encode/decode, it follows the state, and the
// projector's row is the decider's state.
inline void append_event(FuzzStream* stream, const CreditEvent& event, const char* what) {
  CreditEvent decoded;
  const std::string data = encode_event_data(event);
  FUZZ_CHECK(decode_event(event_type_name(event), data, &decoded).ok(), "%s: event data does not decode: %s", what,
             printable(data).c_str());
  FUZZ_CHECK(encode_event_data(decoded) == data, "%s: event data does not round-trip", what);
  FUZZ_CHECK(check_event_follows(stream->state, decoded).ok(), "%s: the decider's %s does not follow", what,
             event_type_name(event));
  const CreditState next = evolve(stream->state, decoded);
  FUZZ_CHECK(next.version == stream->state.version + 1, "%s: version %lld", what, (long long)next.version);
  RecordedEvent e;
  e.position = next_log_position();
  e.transaction_id = "1";
  e.stream_id = stream->id;
  e.stream_version = next.version;
  e.event_id = "00000000-0000-4000-8000-000000000001";
  e.event_type = event_type_name(event);
  e.data_json = data;
  e.metadata_json = "{}";
  e.recorded_at = "2026-01-01T00:00:00.000000Z";
  CreditHistoryEntry entry;
  const Status applied = apply_event(e, &stream->record, &entry);
  FUZZ_CHECK(applied.ok(), "%s: the projector refused the decider's %s: %s", what, e.event_type.c_str(),
             applied.message().c_str());
  FUZZ_CHECK(stream->record && stream->record->state == next && stream->record->id == stream->id &&
                 stream->record->last_position == e.position,
             "%s: the projector's row is not the decider's state", what);
  FUZZ_CHECK(entry.version == e.stream_version && entry.event_type == e.event_type && entry.data_json == data,
             "%s: history entry", what);
  check_state_round_trip(next, what);
  stream->state = next;
}

inline std::optional<std::int64_t> command_quantity(const CreditCommand& c) {
  if (const auto* s = std::get_if<SellCredit>(&c)) return s->quantity;
  if (const auto* r = std::get_if<RetireCredit>(&c)) return r->quantity;
  if (const auto* k = std::get_if<CancelCredit>(&c)) return k->quantity;
  return std::nullopt;
}

// Sends a sell, retire or cancel that the lifecycle allows for `*stream`: refused (quantity-exceeds-block)
// when it asks for more units than the block holds (nullopt), taken by the block itself for all of them,
// else by a child carved from its lowest units. Returns the stream that took the command.
inline std::optional<FuzzStream> take_units(FuzzStream* stream, const CreditCommand& command, const Actor& actor,
                                            const char* what) {
  using K = DecideError::Kind;
  using RK = CreditCommandResult::Kind;
  const CreditState before = stream->state;
  const CreditAttributes& b = before.attributes;
  DecideFacts facts;
  facts.credit_id = stream->id;
  const Decision d = decide(command, before, actor, facts);
  const std::optional<std::int64_t> q = command_quantity(command);
  if (q && *q > b.quantity) {
    check_refusal(d, before, K::kQuantityExceeds, what);
    FUZZ_CHECK(d.error->available == b.quantity, "%s: available %lld", what, (long long)d.error->available);
    return std::nullopt;
  }
  FUZZ_CHECK(!d.error, "%s: refused: %s", what, d.error->detail.c_str());
  const char* expected_type = std::holds_alternative<SellCredit>(command)     ? "SOLD"
                              : std::holds_alternative<RetireCredit>(command) ? "RETIRED"
                                                                              : "CANCELLED";
  const bool partial = q && *q < b.quantity;
  FUZZ_CHECK(d.child.has_value() == partial, "%s: carve %d for quantity %lld of %lld", what, d.child.has_value(),
             q ? (long long)*q : -1LL, (long long)b.quantity);
  CreditCommandResult result;
  result.kind = RK::kApplied;
  FuzzStream taker;
  if (!partial) {
    FUZZ_CHECK(d.events.size() == 1 && std::string_view(event_type_name(d.events[0])) == expected_type,
               "%s: not one %s event", what, expected_type);
    append_event(stream, d.events[0], what);
    taker = *stream;
  } else {
    FUZZ_CHECK(d.events.size() == 1 && std::holds_alternative<CreditSplit>(d.events[0]), "%s: no SPLIT", what);
    const CreditSplit& split = std::get<CreditSplit>(d.events[0]);
    const std::int64_t end = b.block_start + *q - 1;
    const std::string child_id = child_credit_id(b.registry, b.serial_number, b.block_start, end);
    FUZZ_CHECK(is_canonical_uuid(child_id) && child_id != stream->id, "%s: child id %s", what, child_id.c_str());
    FUZZ_CHECK(split.child == child_id && split.block_start == b.block_start && split.block_end == end &&
                   split.quantity == *q && d.child->id == child_id,
               "%s: SPLIT does not carve the lowest %lld units", what, (long long)*q);
    FUZZ_CHECK(d.child->events.size() == 2 && std::holds_alternative<CreditCarved>(d.child->events[0]) &&
                   std::string_view(event_type_name(d.child->events[1])) == expected_type,
               "%s: child events are not CARVED, %s", what, expected_type);
    append_event(stream, d.events[0], what);
    const CreditState& p = stream->state;
    FUZZ_CHECK(p.status == before.status && p.holder == before.holder && p.attributes.block_start == end + 1 &&
                   p.attributes.block_end == b.block_end && p.attributes.quantity == b.quantity - *q &&
                   p.children_count == before.children_count + 1 && p.version == before.version + 1,
               "%s: parent after the carve", what);
    taker.id = child_id;
    append_event(&taker, d.child->events[0], what);
    const CreditState& c = taker.state;
    FUZZ_CHECK(c.status == before.status && c.parent == stream->id && c.holder == before.holder &&
                   c.issuer == before.issuer && c.attributes.block_start == b.block_start &&
                   c.attributes.block_end == end && c.attributes.quantity == *q &&
                   c.attributes.project_name == b.project_name && c.attributes.registry == b.registry &&
                   c.attributes.serial_number == b.serial_number && c.attributes.vintage == b.vintage &&
                   c.issued_block_start == b.block_start && c.issued_block_end == end && c.version == 1,
               "%s: CARVED child", what);
    append_event(&taker, d.child->events[1], what);
    result.remainder_id = stream->id;
    result.remainder = stream->state;
  }
  result.record_id = taker.id;
  result.state = taker.state;
  check_response(result, what);
  return taker;
}

// Like take_units(), but a quantity above the block's is sent again for the whole block.
inline FuzzStream take_units_or_whole(FuzzStream* stream, CreditCommand command, const Actor& actor,
                                      const char* what) {
  if (auto taker = take_units(stream, command, actor, what)) return std::move(*taker);
  std::visit([](auto& c) {
    if constexpr (!std::is_same_v<std::decay_t<decltype(c)>, RegisterCredit>) c.quantity.reset();
  }, command);
  auto whole = take_units(stream, command, actor, what);
  FUZZ_CHECK(whole.has_value(), "%s: whole block refused", what);
  return std::move(*whole);
}

inline DecideFacts facts_for(const std::string& id, bool registry_bound = true, bool buyer_known = true) {
  DecideFacts facts;
  facts.credit_id = id;
  facts.registry_bound = registry_bound;
  facts.buyer_known = buyer_known;
  return facts;
}

// The whole lifecycle of a block with client-chosen attributes and commands: CREATED -> SOLD (whole or
// part) -> SOLD again -> RETIRED (whole or part), and CREATED -> CANCELLED (whole or part); what decide()
// accepts and refuses in each status and for each actor, what evolve() and the projector make of the
// events, the snapshots of every state, and the answers command_response() gives.
inline void check_lifecycle(const CreditAttributes& a, const SellCredit& sell, const RetireCredit& retire,
                            const CancelCredit& cancel) {
  using K = DecideError::Kind;
  const std::string id = credit_id(a.registry, a.serial_number);
  const DecideFacts facts = facts_for(id);
  const std::string& buyer = sell.buyer;
  // The issuer registers and sells; the buyer then holds and retires. A name with a control character can
  // never be an account, so the stranger is nobody's holder or issuer.
  const Actor issuer{"fuzz-issuer", Role::kIssuer};
  const Actor other_issuer{"\x01other-issuer", Role::kIssuer};
  const Actor holder{buyer, Role::kHolder};
  const Actor stranger{"\x01stranger", Role::kHolder};
  const Actor auditor{"fuzz-auditor", Role::kAuditor};
  const Actor admin{"fuzz-admin", Role::kAdmin};
  const CreditState none;
  check_refusal(decide(sell, none, issuer, facts), none, K::kNotFound, "sell unregistered");
  check_refusal(decide(retire, none, holder, facts), none, K::kNotFound, "retire unregistered");
  check_refusal(decide(cancel, none, issuer, facts), none, K::kNotFound, "cancel unregistered");
  check_refusal(decide(sell, none, auditor, facts), none, K::kForbidden, "sell by an auditor");
  const RegisterCredit reg{a, false};
  check_refusal(decide(reg, none, stranger, facts), none, K::kForbidden, "register by a holder");
  check_refusal(decide(reg, none, auditor, facts), none, K::kForbidden, "register by an auditor");
  check_refusal(decide(reg, none, issuer, facts_for(id, false)), none, K::kRegistryNotBound, "register unbound");
  {
    const Decision by_admin = decide(reg, none, admin, facts_for(id, false));
    FUZZ_CHECK(!by_admin.error && by_admin.events.size() == 1, "admin register under an unbound registry");
  }

  FuzzStream block{id, {}, std::nullopt};
  {
    const Decision d = decide(reg, none, issuer, facts);
    FUZZ_CHECK(!d.error && d.events.size() == 1 && !d.child && std::holds_alternative<CreditCreated>(d.events[0]),
               "register: not one CREATED");
    append_event(&block, d.events[0], "register");
  }
  const CreditState created = block.state;
  FUZZ_CHECK(created.status == CreditStatus::kCreated && created.attributes == a && created.issuer == issuer.account &&
                 created.holder == issuer.account && created.issued_block_start == a.block_start &&
                 created.issued_block_end == a.block_end && created.version == 1 && created.parent.empty(),
             "register: state does not hold the block");
  {
    CreditCommandResult result;
    result.kind = CreditCommandResult::Kind::kCreated;
    result.record_id = id;
    result.state = created;
    check_response(result, "register answer");
  }
  auto check_reregistration = [&](const CreditState& state, const char* what) {
    const Decision again = decide(reg, state, issuer, facts);
    FUZZ_CHECK(again.events.empty() && !again.error, "%s: identical re-registration is not a no-op", what);
    const Decision by_admin = decide(reg, state, admin, facts);
    FUZZ_CHECK(by_admin.events.empty() && !by_admin.error, "%s: admin re-registration is not a no-op", what);
    const Decision by_other = decide(reg, state, other_issuer, facts);
    check_refusal(by_other, state, K::kAttributesDiffer, what);
    FUZZ_CHECK(by_other.error->differing_fields == std::vector<std::string>{"issuer"}, "%s: not issuer", what);
    // The registry compares ignoring ASCII case (as the id does); the block does not.
    RegisterCredit other = reg;
    for (char& c : other.attributes.registry) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    FUZZ_CHECK(decide(other, state, issuer, facts).events.empty() && !decide(other, state, issuer, facts).error,
               "%s: registry case matters", what);
    if (a.block_end + 1 < kUnitNumberLimit) {
      ++other.attributes.block_end;
      ++other.attributes.quantity;
      const Decision differs = decide(other, state, issuer, facts);
      check_refusal(differs, state, K::kAttributesDiffer, what);
      FUZZ_CHECK((differs.error->differing_fields == std::vector<std::string>{"quantity", "block_end"}),
                 "%s: differing_fields is not quantity, block_end (%zu fields)", what,
                 differs.error->differing_fields.size());
    }
  };
  check_reregistration(created, "re-register created");

  check_refusal(decide(retire, created, issuer, facts), created, K::kWrongStatus, "retire created");
  check_refusal(decide(retire, created, stranger, facts), created, K::kForbidden, "retire by a stranger");
  check_refusal(decide(sell, created, stranger, facts), created, K::kForbidden, "sell by a stranger");
  check_refusal(decide(cancel, created, stranger, facts), created, K::kForbidden, "cancel by a stranger");
  check_refusal(decide(sell, created, issuer, facts_for(id, true, false)), created, K::kUnknownBuyer,
                "sell to an unknown buyer");
  {
    SellCredit too_many = sell;
    too_many.quantity = a.quantity + 1;
    check_refusal(decide(too_many, created, issuer, facts), created, K::kQuantityExceeds, "sell too many");
  }

  // CREATED -> CANCELLED (whole or part); CANCELLED is final.
  {
    FuzzStream parent = block;
    FuzzStream cancelled = take_units_or_whole(&parent, cancel, issuer, "cancel");
    FUZZ_CHECK(cancelled.state.status == CreditStatus::kCancelled && cancelled.state.cancel_reason == cancel.reason,
               "cancel: state");
    const CreditState& s = cancelled.state;
    check_refusal(decide(sell, s, issuer, facts_for(cancelled.id)), s, K::kWrongStatus, "sell cancelled");
    check_refusal(decide(cancel, s, issuer, facts_for(cancelled.id)), s, K::kWrongStatus, "cancel cancelled");
    check_refusal(decide(cancel, s, admin, facts_for(cancelled.id)), s, K::kWrongStatus, "admin cancel cancelled");
    check_refusal(decide(retire, s, issuer, facts_for(cancelled.id)), s, K::kWrongStatus, "retire cancelled");
    if (parent.state.status == CreditStatus::kCreated) {  // a part was cancelled: the rest still may be
      FuzzStream rest = take_units_or_whole(&parent, CancelCredit{cancel.reason, std::nullopt}, admin, "cancel rest");
      FUZZ_CHECK(rest.id == parent.id && rest.state.status == CreditStatus::kCancelled, "cancel rest: state");
    }
    check_reregistration(parent.state, "re-register cancelled");
  }

  // CREATED -> SOLD (whole or part) -> SOLD (resold) -> RETIRED (whole or part).
  FuzzStream sold = take_units_or_whole(&block, sell, issuer, "sell");
  FUZZ_CHECK(sold.state.status == CreditStatus::kSold && sold.state.holder == buyer, "sell: state");
  check_refusal(decide(cancel, sold.state, issuer, facts_for(sold.id)), sold.state, K::kWrongStatus, "cancel sold");
  if (block.state.status == CreditStatus::kCreated) {  // a part was sold: the rest stays CREATED with the issuer
    FUZZ_CHECK(block.state.holder == issuer.account, "sell: the rest changed hands");
  }
  {
    FuzzStream resale_from = sold;
    const SellCredit resale{"fuzz-third", std::nullopt};
    const Actor seller{buyer, Role::kHolder};
    FuzzStream resold = take_units_or_whole(&resale_from, resale, seller, "resell");
    FUZZ_CHECK(resold.state.status == CreditStatus::kSold && resold.state.holder == "fuzz-third", "resell: state");
  }
  FuzzStream retired = take_units_or_whole(&sold, retire, holder, "retire");
  FUZZ_CHECK(retired.state.status == CreditStatus::kRetired && retired.state.retirement == retire.retirement,
             "retire: state");
  const CreditState& r = retired.state;
  check_refusal(decide(retire, r, holder, facts_for(retired.id)), r, K::kWrongStatus, "retire retired");
  check_refusal(decide(sell, r, holder, facts_for(retired.id)), r, K::kWrongStatus, "sell retired");
  check_refusal(decide(cancel, r, issuer, facts_for(retired.id)), r, K::kWrongStatus, "cancel retired");
  check_reregistration(block.state, "re-register after the sale");
}

inline CreditAttributes sample_attributes() {
  CreditAttributes a;
  a.project_name = "Mangrove Restoration";
  a.registry = "Verra";
  a.serial_number = "VCS-1234-2021-001";
  a.vintage = 2021;
  a.block_start = 1001;
  a.block_end = 6000;
  a.quantity = 5000;
  return a;
}

inline void check_units_quantity(const std::optional<std::int64_t>& q) {
  if (q) FUZZ_CHECK(*q >= 1 && *q <= kUnitNumberLimit, "quantity %lld", (long long)*q);
}

// Everything checked about a register body; returns the parse result for callers that go further.
inline ParsedRequest<RegisterCredit> check_register(std::string_view body) {
  auto parsed = parse_register_request(body);
  check_outcome_shape(parsed, {"project_name", "registry", "vintage", "serial_number", "quantity", "block_start",
                               "block_end"});
  const CreditAttributes& a = parsed.value.attributes;
  if (parsed.outcome != ParsedRequest<RegisterCredit>::Outcome::kOk) {
    FUZZ_CHECK(a == CreditAttributes{} && !parsed.value.range_stated, "a value alongside errors");
    return parsed;
  }
  check_text_field("project_name", a.project_name, kTextMaxChars);
  check_text_field("registry", a.registry, kTextMaxChars);
  check_text_field("serial_number", a.serial_number, kSerialNumberMaxChars);
  FUZZ_CHECK(a.vintage >= 1990 && a.vintage <= 2100, "vintage %d", a.vintage);
  FUZZ_CHECK(a.quantity >= 1 && a.quantity <= kQuantityMax, "quantity %lld", (long long)a.quantity);
  FUZZ_CHECK(a.block_start >= 0 && a.block_start <= a.block_end && a.block_end < kUnitNumberLimit &&
                 a.quantity == a.block_end - a.block_start + 1,
             "block %lld..%lld with quantity %lld", (long long)a.block_start, (long long)a.block_end,
             (long long)a.quantity);
  // A Verra / Gold Standard serial states the block; without a stated range it is 1..quantity.
  const std::optional<SerialRange> stated = parse_serial_range(registry_kind(a.registry), a.serial_number);
  if (stated) {
    FUZZ_CHECK(parsed.value.range_stated && stated->block_start == a.block_start && stated->block_end == a.block_end,
               "the block is not the serial's range %lld..%lld", (long long)stated->block_start,
               (long long)stated->block_end);
  }
  if (!parsed.value.range_stated) FUZZ_CHECK(a.block_start == 1, "an unstated block starts at %lld", (long long)a.block_start);
  const std::string id = check_credit_id(a.registry, a.serial_number);

  // Round trip: the validated command, written back as JSON, parses to the same command, both in the form
  // it came in (range or quantity) and with all three numbers.
  const std::vector<std::pair<std::string, std::optional<std::string>>> strings = {
      {"project_name", a.project_name}, {"registry", a.registry}, {"serial_number", a.serial_number}};
  const auto same_form = parsed.value.range_stated
                             ? write_json(strings, {{"vintage", a.vintage},
                                                    {"block_start", a.block_start},
                                                    {"block_end", a.block_end}})
                             : write_json(strings, {{"vintage", a.vintage}, {"quantity", a.quantity}});
  const auto all_three = write_json(strings, {{"vintage", a.vintage},
                                              {"quantity", a.quantity},
                                              {"block_start", a.block_start},
                                              {"block_end", a.block_end}});
  for (const std::string& again : {same_form, all_three}) {
    const auto reparsed = parse_register_request(again);
    FUZZ_CHECK(reparsed.outcome == ParsedRequest<RegisterCredit>::Outcome::kOk, "re-encoded body refused: %s (%s)",
               reparsed.detail.c_str(), printable(again).c_str());
    FUZZ_CHECK(reparsed.value.attributes == a, "register round trip changed the command: %s", printable(again).c_str());
  }
  FUZZ_CHECK(parse_register_request(same_form).value.range_stated == parsed.value.range_stated,
             "register round trip changed range_stated");

  // Validated client text in every string slot of a problem and of the credit JSON.
  Problem problem{409, "already-registered", a.registry, a.project_name};
  problem.errors.push_back({a.serial_number, a.project_name});
  problem.current_status = a.registry;
  problem.differing_fields = {a.project_name, a.serial_number};
  problem.overlapping_id = id;
  problem.overlapping_serial_number = a.serial_number;
  problem.overlapping_start = a.block_start;
  problem.overlapping_end = a.block_end;
  problem.available = a.quantity;
  problem.confusable_with = a.registry;
  check_problem_json(problem);

  CreditState state;
  state.status = CreditStatus::kCreated;
  state.version = 1;
  state.attributes = a;
  state.issuer = state.holder = a.project_name;
  check_credit_json(id, state, "register credit_json");

  // CREATED event data decodes back to the same block and issuer; without the block fields (recorded before
  // blocks existed) it means 1..quantity.
  const CreditEvent created = CreditCreated{a, a.registry};
  CreditEvent decoded;
  FUZZ_CHECK(decode_event("CREATED", encode_event_data(created), &decoded).ok(),
             "decode_event refused encode_event_data output");
  const auto* c = std::get_if<CreditCreated>(&decoded);
  FUZZ_CHECK(c != nullptr && c->attributes == a && c->issuer == a.registry, "CREATED event data does not round-trip");
  const std::string old_form = write_json(strings, {{"vintage", a.vintage}, {"quantity", a.quantity}});
  FUZZ_CHECK(decode_event("CREATED", old_form, &decoded).ok(), "CREATED without a block refused");
  c = std::get_if<CreditCreated>(&decoded);
  FUZZ_CHECK(c != nullptr && c->attributes.block_start == 1 && c->attributes.block_end == a.quantity &&
                 c->attributes.quantity == a.quantity && c->issuer.empty(),
             "CREATED without a block is not 1..quantity");

  const std::int64_t half = a.quantity / 2;
  check_lifecycle(a, SellCredit{a.project_name, half >= 1 ? std::optional<std::int64_t>(half) : std::nullopt},
                  RetireCredit{Retirement{a.registry, a.serial_number, "other", a.project_name},
                               half >= 2 ? std::optional<std::int64_t>(half / 2) : std::nullopt},
                  CancelCredit{a.serial_number, a.quantity > 1 ? std::optional<std::int64_t>(a.quantity - 1)
                                                               : std::nullopt});
  return parsed;
}

inline ParsedRequest<SellCredit> check_sell(std::string_view body) {
  auto parsed = parse_sell_request(body);
  check_outcome_shape(parsed, {"buyer", "quantity"});
  if (parsed.outcome != ParsedRequest<SellCredit>::Outcome::kOk) {
    FUZZ_CHECK(parsed.value.buyer.empty() && !parsed.value.quantity, "a value alongside errors");
    return parsed;
  }
  check_text_field("buyer", parsed.value.buyer, kTextMaxChars);
  check_units_quantity(parsed.value.quantity);
  const auto reparsed = parse_sell_request(write_json({{"buyer", parsed.value.buyer}}, {{"quantity", parsed.value.quantity}}));
  FUZZ_CHECK(reparsed.outcome == ParsedRequest<SellCredit>::Outcome::kOk &&
                 reparsed.value.buyer == parsed.value.buyer && reparsed.value.quantity == parsed.value.quantity,
             "sell round trip changed the command");
  Problem problem{409, "invalid-status", parsed.value.buyer, parsed.value.buyer};
  problem.errors.push_back({"buyer", parsed.value.buyer});
  check_problem_json(problem);
  check_lifecycle(sample_attributes(), parsed.value, RetireCredit{{parsed.value.buyer, std::nullopt}, parsed.value.quantity},
                  CancelCredit{parsed.value.buyer, parsed.value.quantity});
  return parsed;
}

inline ParsedRequest<RetireCredit> check_retire(std::string_view body) {
  auto parsed = parse_retire_request(body);
  check_outcome_shape(parsed, {"beneficiary", "reason", "category", "details", "quantity"});
  const RetireCredit& v = parsed.value;
  const Retirement& r = v.retirement;
  if (parsed.outcome != ParsedRequest<RetireCredit>::Outcome::kOk) {
    FUZZ_CHECK(r == Retirement{} && !v.quantity, "a value alongside errors");
    return parsed;
  }
  if (r.beneficiary) check_text_field("beneficiary", *r.beneficiary, kTextMaxChars);
  if (r.reason) check_text_field("reason", *r.reason, kTextMaxChars);
  if (r.details) check_text_field("details", *r.details, kDetailsMaxChars);
  if (r.category) {
    bool known = false;
    for (const char* category : kRetirementCategories) known = known || *r.category == category;
    FUZZ_CHECK(known, "category \"%s\"", printable(*r.category).c_str());
  }
  check_units_quantity(v.quantity);
  const auto reparsed = parse_retire_request(write_json(
      {{"beneficiary", r.beneficiary}, {"reason", r.reason}, {"category", r.category}, {"details", r.details}},
      {{"quantity", v.quantity}}));
  FUZZ_CHECK(reparsed.outcome == ParsedRequest<RetireCredit>::Outcome::kOk && reparsed.value.retirement == r &&
                 reparsed.value.quantity == v.quantity,
             "retire round trip changed the command");
  Problem problem{422, "invalid-fields", "Invalid fields", r.reason.value_or("no reason")};
  if (r.beneficiary) problem.errors.push_back({"beneficiary", *r.beneficiary});
  if (r.details) problem.errors.push_back({"details", *r.details});
  check_problem_json(problem);
  check_lifecycle(sample_attributes(), SellCredit{"Acme Corp", v.quantity}, v,
                  CancelCredit{r.details.value_or("no reason"), v.quantity});
  return parsed;
}

inline ParsedRequest<CancelCredit> check_cancel(std::string_view body) {
  auto parsed = parse_cancel_request(body);
  check_outcome_shape(parsed, {"reason", "quantity"});
  const CancelCredit& v = parsed.value;
  if (parsed.outcome != ParsedRequest<CancelCredit>::Outcome::kOk) {
    FUZZ_CHECK(v.reason.empty() && !v.quantity, "a value alongside errors");
    return parsed;
  }
  check_text_field("reason", v.reason, kTextMaxChars);
  check_units_quantity(v.quantity);
  const auto reparsed = parse_cancel_request(write_json({{"reason", v.reason}}, {{"quantity", v.quantity}}));
  FUZZ_CHECK(reparsed.outcome == ParsedRequest<CancelCredit>::Outcome::kOk && reparsed.value.reason == v.reason &&
                 reparsed.value.quantity == v.quantity,
             "cancel round trip changed the command");
  check_lifecycle(sample_attributes(), SellCredit{"Acme Corp", std::nullopt},
                  RetireCredit{{v.reason, v.reason, "corporate_inventory", v.reason}, std::nullopt}, v);
  return parsed;
}

// match_route(): the route's pieces rebuild the path (of the origin form); the query string and one
// trailing '/' are ignored.
inline Route check_route(std::string_view target) {
  const Route route = match_route(target);
  const std::string_view method(route.method);
  const std::string_view origin = origin_form(target);
  std::string_view path = origin.substr(0, origin.find('?'));
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
    case Route::Kind::kListRecords:
      FUZZ_CHECK(path == "/records" && method == "GET" && route.id.empty(), "list route for \"%s\"",
                 printable(target).c_str());
      break;
    case Route::Kind::kExplorer:
      // "/", or an absolute-form target with no path at all ("http://h?x").
      FUZZ_CHECK((path == "/" || path.empty()) && method == "GET" && route.id.empty() && !route.needs_key,
                 "explorer route for \"%s\"",
                 printable(target).c_str());
      break;
    case Route::Kind::kAsset:
      FUZZ_CHECK(!route.id.empty() && route.id.find('/') == std::string::npos && path == "/assets/" + route.id &&
                     method == "GET" && !route.needs_key,
                 "asset route for \"%s\"", printable(target).c_str());
      break;
    case Route::Kind::kDocs:
    case Route::Kind::kOpenApi:
    case Route::Kind::kMetrics:
    case Route::Kind::kVersion:
      FUZZ_CHECK(path == route.path && method == "GET" && route.id.empty() && !route.needs_key,
                 "public route %s for \"%s\"", route.path, printable(target).c_str());
      break;
    case Route::Kind::kGetRecord:
    case Route::Kind::kSell:
    case Route::Kind::kRetire:
    case Route::Kind::kCancel: {
      FUZZ_CHECK(!route.id.empty() && route.id.find('/') == std::string::npos &&
                     route.id.find('?') == std::string::npos,
                 "bad id \"%s\" for \"%s\"", printable(route.id).c_str(), printable(target).c_str());
      const bool get = route.kind == Route::Kind::kGetRecord;
      FUZZ_CHECK(method == (get ? "GET" : "POST"), "method %s", route.method);
      const std::string suffix = route.kind == Route::Kind::kSell     ? "/sell"
                                 : route.kind == Route::Kind::kRetire ? "/retire"
                                 : route.kind == Route::Kind::kCancel ? "/cancel"
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
  // The route table agrees: the kind's entry takes this method, and is a command exactly for POSTs.
  if (route.kind != Route::Kind::kUnknown) {
    bool listed = false;
    for (const RouteEntry& entry : kRoutes) {
      if (entry.kind == route.kind && method == entry.method) listed = true;
    }
    FUZZ_CHECK(listed && is_command_route(route.kind) == (method == "POST"), "route table disagrees");
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

// parse_query(): names are unique; the parameters, percent-encoded again, parse to the same list; a
// target without '?' (in its origin form) has none.
inline void check_query(std::string_view target) {
  const auto params = parse_query(target);
  if (origin_form(target).find('?') == std::string_view::npos) {
    FUZZ_CHECK(params && params->empty(), "parameters without a query string");
  }
  if (!params) return;
  std::string again = "/records?";
  auto encode = [&again](const std::string& text) {
    for (unsigned char c : text) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.' || c == '~') {
        again.push_back(static_cast<char>(c));
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        again += buf;
      }
    }
  };
  for (std::size_t i = 0; i < params->size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      FUZZ_CHECK((*params)[i].first != (*params)[j].first, "repeated name \"%s\"",
                 printable((*params)[i].first).c_str());
    }
    if (i > 0) again += '&';
    encode((*params)[i].first);
    again += '=';
    encode((*params)[i].second);
  }
  const auto reparsed = parse_query(again);
  FUZZ_CHECK(reparsed && *reparsed == *params, "query does not round-trip: %s", printable(again).c_str());
  FUZZ_CHECK(match_route(again).kind == Route::Kind::kListRecords, "the query changed the route");
}

// check_idempotency_key(): "" exactly for 1..255 characters 0x20..0x7E without a space at either end.
inline void check_idempotency(std::string_view value) {
  const std::string problem = check_idempotency_key(value);
  bool expected = !value.empty() && value.size() <= 255 && value.front() != ' ' && value.back() != ' ';
  for (unsigned char c : value) expected = expected && c >= 0x20 && c <= 0x7E;
  FUZZ_CHECK(problem.empty() == expected, "check_idempotency_key(\"%s\") = \"%s\"", printable(value).c_str(),
             problem.c_str());
  if (!problem.empty()) {
    Problem p{400, "invalid-idempotency-key", "Invalid Idempotency-Key", problem};
    p.errors.push_back({"Idempotency-Key", problem});
    check_problem_json(p);
  }
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

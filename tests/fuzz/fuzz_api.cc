// libFuzzer target for the pure, client-facing pieces of the API (no Beast here; see fuzz_http.cc).
// The first input byte picks the sub-target, the rest is its input:
//   'R' parse_register_request (+ credit_id, credit_json, problem_json, CREATED data round trip; blocks from
//       block_start/block_end or from Verra / Gold Standard serials, parse_serial_range)
//   'S' parse_sell_request     'T' parse_retire_request     'K' parse_cancel_request
//       each valid command also goes through the whole lifecycle, whole block and partial (carving a child):
//       decide(), evolve(), apply_event() (the projector's row must be the decider's state), event data
//       and state snapshot round trips, command_problem()/command_response() of every refusal and answer
//       (check_lifecycle in fuzz_checks.h)
//   'I' credit_id(registry, serial): the rest split at the first NUL byte
//   'P' match_route (+ parse_uuid on the id, parse_query)   'M' parse_if_match
//   'C' is_json_content_type                   'X' sanitize_request_id
//   'Q' parse_query (names unique, re-encoded parameters round-trip)
//   'H' check_idempotency_key (against a reference)
//   'E' problem_json: the rest split at NUL bytes into detail, title, error fields/messages, ...;
//       only pieces that are valid UTF-8 are used (the server never puts anything else in a problem)
//   'D' decode_event(type, data): the rest split at the first NUL byte (event data from the log); any of
//       the six types; what decodes re-encodes to data that decodes to the same event, and a decoded
//       CREATED / CARVED is a block the projector takes as a stream's first event
//   'A' apply_event() over a sequence of recorded events: the rest split at NUL bytes (up to 12), each
//       piece one event: its first byte picks the type (byte % 6: CREATED SOLD RETIRED CANCELLED SPLIT
//       CARVED) and the stream version (byte / 6 % 4: next, same, next + 1, next on another stream), the
//       rest is its data (empty: a plausible event for the record as it is). Each apply succeeds or
//       returns Internal leaving the record untouched; a success is evolve() of the decoded event.
//   'G' decode_state (a stream snapshot): what decodes round-trips, and decide() on it never crashes
//   'N' the rest as the raw text of a JSON value (meant to be a number: exponent and fraction edges are in
//       api.dict), and an edge number built from its bytes (edge_number), each put into every field of
//       register, sell, retire and cancel bodies, nested, and into event data (all six types) and state
//       snapshots: finds number-conversion faults such as RapidJSON's CVE-2024-38517 in any field
//   'J' canonicalize_json (the verifiable log's RFC 8785 leaf JSON): its single-pass path and the RapidJSON
//       path agree (the same text, or the same error), and what it makes is a fixed point of both
// Any other first byte picks one of these by its value modulo their number.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "eventstore/canonical_json.h"
#include "eventstore/log_line.h"
#include "tests/fuzz/fuzz_checks.h"

using namespace ledger;
using namespace ledger::fuzz;

namespace {

constexpr std::string_view kSelectors = "RSTIPMCXEDNKAGQHLJ";

std::vector<std::string_view> split(std::string_view s, char sep, std::size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const std::size_t at = s.find(sep);
    if (at == std::string_view::npos) break;
    parts.push_back(s.substr(0, at));
    s.remove_prefix(at + 1);
  }
  parts.push_back(s);
  return parts;
}

void fuzz_problem(std::string_view input) {
  std::vector<std::string> valid;
  for (std::string_view piece : split(input, '\0', 16)) {
    if (fuzz::is_valid_utf8(piece)) valid.emplace_back(piece);
  }
  auto next = [&valid, i = std::size_t{0}]() mutable -> std::string {
    return i < valid.size() ? valid[i++] : std::string();
  };
  Problem problem;
  problem.status = 422;
  problem.slug = next();
  problem.title = next();
  problem.detail = next();
  if (!valid.empty() && valid.size() % 2 == 0) problem.current_status = next();
  while (valid.size() >= 2 && problem.errors.size() < 4) {
    std::string field = next();
    std::string message = next();
    if (field.empty() && message.empty()) break;
    problem.errors.push_back({std::move(field), std::move(message)});
  }
  for (std::string s = next(); !s.empty(); s = next()) problem.differing_fields.push_back(std::move(s));
  check_problem_json(problem);
}

constexpr std::string_view kEventTypes[] = {"CREATED", "SOLD", "RETIRED", "CANCELLED", "SPLIT", "CARVED"};

bool consistent_block(const CreditAttributes& a) {
  return a.block_start >= 0 && a.block_start <= a.block_end && a.block_end < kUnitNumberLimit &&
         a.quantity == a.block_end - a.block_start + 1;
}

RecordedEvent recorded(std::string stream_id, std::int64_t version, std::string_view type, std::string_view data) {
  static std::int64_t position = 1'000'000;
  RecordedEvent e;
  e.position = ++position;
  e.transaction_id = "7";
  e.stream_id = std::move(stream_id);
  e.stream_version = version;
  e.event_id = "00000000-0000-4000-8000-000000000002";
  e.event_type = std::string(type);
  e.data_json = std::string(data);
  e.metadata_json = "{}";
  e.recorded_at = "2026-01-01T00:00:00.000000Z";
  return e;
}

void fuzz_decode_event(std::string_view input) {
  const auto parts = split(input, '\0', 2);
  const std::string_view type = parts[0];
  const std::string_view data = parts.size() > 1 ? parts[1] : std::string_view();
  CreditEvent event;
  const Status status = decode_event(type, data, &event);
  if (!status.ok()) {
    FUZZ_CHECK(status.IsInvalid() && !status.message().empty(), "decode_event failed without Invalid and a message");
    return;
  }
  FUZZ_CHECK(type == event_type_name(event), "decode_event gave another type");
  // Whatever decoded must encode and decode to the same event.
  CreditEvent again;
  const std::string encoded = encode_event_data(event);
  FUZZ_CHECK(decode_event(type, encoded, &again).ok(), "re-encoded event refused: %s", printable(encoded).c_str());
  FUZZ_CHECK(encode_event_data(again) == encoded, "event data does not round-trip");
  FUZZ_CHECK(again.index() == event.index(), "event type changed");
  // What decodes is consistent: blocks count their units, a carve's status is one a block can be carved in.
  if (const auto* c = std::get_if<CreditCreated>(&event)) {
    FUZZ_CHECK(consistent_block(c->attributes), "CREATED with an inconsistent block");
    FUZZ_CHECK(c->attributes == std::get<CreditCreated>(again).attributes &&
                   c->issuer == std::get<CreditCreated>(again).issuer, "CREATED changed");
  } else if (const auto* c = std::get_if<CreditCarved>(&event)) {
    FUZZ_CHECK(consistent_block(c->attributes), "CARVED with an inconsistent block");
    FUZZ_CHECK(c->status == CreditStatus::kCreated || c->status == CreditStatus::kSold, "CARVED in status %s",
               status_name(c->status));
    const auto& d = std::get<CreditCarved>(again);
    FUZZ_CHECK(c->attributes == d.attributes && c->parent == d.parent && c->issuer == d.issuer &&
                   c->holder == d.holder && c->status == d.status, "CARVED changed");
  } else if (const auto* sp = std::get_if<CreditSplit>(&event)) {
    FUZZ_CHECK(sp->quantity >= 1 && sp->block_start >= 0 && sp->block_end < kUnitNumberLimit &&
                   sp->quantity == sp->block_end - sp->block_start + 1,
               "SPLIT with an inconsistent range");
  } else if (const auto* r = std::get_if<CreditRetired>(&event)) {
    FUZZ_CHECK(r->retirement == std::get<CreditRetired>(again).retirement, "RETIRED changed");
  }
  // The projector: a first event (CREATED, CARVED) starts a row; any other needs one.
  std::optional<CreditRecord> record;
  CreditHistoryEntry entry;
  const Status applied = apply_event(recorded("800d4116-9d79-5774-bcc1-b5c8a8b69bcc", 1, type, data), &record, &entry);
  const bool first = std::holds_alternative<CreditCreated>(event) || std::holds_alternative<CreditCarved>(event);
  if (first) {
    FUZZ_CHECK(applied.ok(), "the projector refused a first event that decodes: %s", applied.message().c_str());
    FUZZ_CHECK(record && record->state == evolve(CreditState{}, event), "the projector's row is not evolve()");
    check_state_round_trip(record->state, "decoded first event");
    check_credit_json(record->id, record->state, "decoded first event");
  } else {
    FUZZ_CHECK(applied.IsInternal() && !record, "the projector took a %.*s without a record", (int)type.size(),
               type.data());
  }
}

// A plausible event of `type` for the record as it is (or a fresh block without one).
std::string synthesized_event(std::string_view type, const std::optional<CreditRecord>& record, unsigned char b) {
  CreditAttributes a;
  if (record) {
    a = record->state.attributes;
  } else {
    a = sample_attributes();
  }
  if (type == "CREATED") return encode_event_data(CreditCreated{a, "fuzz-issuer"});
  if (type == "SOLD") return encode_event_data(CreditSold{"fuzz-buyer", record ? record->state.holder : ""});
  if (type == "RETIRED") return encode_event_data(CreditRetired{Retirement{"b", std::nullopt, "other", "d"}});
  if (type == "CANCELLED") return encode_event_data(CreditCancelled{"r"});
  const std::int64_t q = 1 + static_cast<std::int64_t>(b) % std::max<std::int64_t>(a.quantity, 1);
  if (type == "SPLIT") {
    return encode_event_data(CreditSplit{"9982ceec-9bc9-51a2-9a74-a8e6e96c072d", a.block_start,
                                         a.block_start + q - 1, q});
  }
  CreditCarved carved;
  carved.parent = "800d4116-9d79-5774-bcc1-b5c8a8b69bcc";
  carved.attributes = a;
  carved.attributes.block_end = a.block_start + q - 1;
  carved.attributes.quantity = q;
  carved.issuer = "fuzz-issuer";
  carved.holder = "fuzz-holder";
  carved.status = (b & 1) ? CreditStatus::kSold : CreditStatus::kCreated;
  return encode_event_data(carved);
}

// apply_event() over a sequence: never crashes; each call succeeds or returns Internal with record and
// entry untouched; a success is exactly evolve() of the decoded event, at the event's version and position.
void fuzz_apply_sequence(std::string_view input) {
  const std::string stream = "9982ceec-9bc9-51a2-9a74-a8e6e96c072d";
  std::optional<CreditRecord> record;
  CreditHistoryEntry entry;
  for (std::string_view piece : split(input, '\0', 12)) {
    if (piece.empty()) continue;
    const unsigned char b = static_cast<unsigned char>(piece[0]);
    const std::string_view type = kEventTypes[b % 6];
    const std::int64_t current = record ? record->state.version : 0;
    const unsigned mode = (b / 6) % 4;
    const std::int64_t version = mode == 1 ? current : mode == 2 ? current + 2 : current + 1;
    const std::string id = mode == 3 ? "800d4116-9d79-5774-bcc1-b5c8a8b69bcc" : stream;
    const std::string data = piece.size() > 1 ? std::string(piece.substr(1)) : synthesized_event(type, record, b);
    const RecordedEvent e = recorded(id, version, type, data);
    const std::optional<CreditRecord> before = record;
    const CreditHistoryEntry entry_before = entry;
    const Status st = apply_event(e, &record, &entry);
    if (!st.ok()) {
      FUZZ_CHECK(st.IsInternal() && !st.message().empty(), "apply_event failed without Internal: %s",
                 st.message().c_str());
      FUZZ_CHECK(record == before && entry == entry_before, "a refused event changed the record");
      continue;
    }
    CreditEvent event;
    FUZZ_CHECK(decode_event(type, data, &event).ok(), "apply_event took data decode_event refuses");
    FUZZ_CHECK(check_event_follows(before ? before->state : CreditState{}, event).ok(),
               "apply_event took an event that does not follow");
    const CreditState expected = evolve(before ? before->state : CreditState{}, event);
    FUZZ_CHECK(record && record->state == expected && record->id == e.stream_id && record->last_position == e.position &&
                   record->state.version == e.stream_version,
               "apply_event's row is not evolve() of the event");
    FUZZ_CHECK(entry == (CreditHistoryEntry{e.stream_id, e.stream_version, e.event_type, e.recorded_at, e.data_json}),
               "history entry");
    FUZZ_CHECK(consistent_block(record->state.attributes), "apply_event left an inconsistent block");
    check_state_round_trip(record->state, "applied sequence");
    check_credit_json(record->id, record->state, "applied sequence");
  }
}

// A snapshot from the database: what decode_state() accepts round-trips, and deciding on it never crashes.
void fuzz_decode_state(std::string_view input) {
  CreditState state;
  const Status st = decode_state(input, &state);
  if (!st.ok()) {
    FUZZ_CHECK(st.IsInvalid() && !st.message().empty(), "decode_state failed without Invalid and a message");
    return;
  }
  FUZZ_CHECK(state.status != CreditStatus::kUnregistered && state.version >= 1 && consistent_block(state.attributes),
             "decode_state accepted a state no block has");
  check_state_round_trip(state, "decoded state");
  CreditState again;
  FUZZ_CHECK(decode_state(encode_state(state), &again).ok() && encode_state(again) == encode_state(state),
             "snapshot text does not round-trip");
  check_credit_json("800d4116-9d79-5774-bcc1-b5c8a8b69bcc", state, "decoded state");
  // decode_state() refuses issued ranges encode_state() could not have written (they overflowed int64 in
  // differing_fields(): corpus/G_issued_block_overflow), so decide() runs on every state it accepts.
  const Actor admin{"fuzz-admin", Role::kAdmin};
  DecideFacts facts;
  facts.credit_id = "800d4116-9d79-5774-bcc1-b5c8a8b69bcc";
  const std::int64_t q = state.attributes.quantity;
  CreditAttributes a = state.attributes;
  RegisterCredit reg{a, true};
  (void)decide(reg, state, admin, facts);
  (void)decide(SellCredit{"b", std::nullopt}, state, admin, facts);
  (void)decide(SellCredit{"b", q > 1 ? std::optional<std::int64_t>(q - 1) : std::nullopt}, state, admin, facts);
  (void)decide(RetireCredit{{}, q > 1 ? std::optional<std::int64_t>(1) : std::nullopt}, state, admin, facts);
  (void)decide(CancelCredit{"r", q}, state, admin, facts);
}

// A JSON number built from the input's bytes around the edges where number parsers overflow: a sign, 1-3
// integer digits, 0-47 fraction digits and an exponent near +-2^31, 2^32, 10^9 or the double range (less
// 0-31). The sum of exponent and fraction length overflowing an int is what crashed RapidJSON 1.1.0
// (CVE-2024-38517); mutating raw text reaches such numbers only by luck.
std::string edge_number(std::string_view input) {
  auto byte = [&](std::size_t i) { return i < input.size() ? static_cast<unsigned char>(input[i]) : 0u; };
  static constexpr long long kExponents[] = {2147483647LL, 2147483648LL, 2147483600LL, 4294967296LL,
                                             1000000000LL, 308, 324, 400};
  std::string number = (byte(0) & 1) ? "-" : "";
  const std::size_t int_digits = 1 + byte(1) % 3;
  const std::size_t fraction_digits = byte(2) % 48;
  std::size_t next = 6;
  auto digit = [&] { return static_cast<char>('0' + byte(next++) % 10); };
  number += static_cast<char>('1' + byte(next++) % 9);
  for (std::size_t i = 1; i < int_digits; ++i) number += digit();
  if (fraction_digits > 0) {
    number += '.';
    for (std::size_t i = 0; i < fraction_digits; ++i) number += digit();
  }
  const long long exponent = kExponents[byte(3) % 8] - static_cast<long long>(byte(5) % 32);
  const char* const signs[] = {"e-", "e+", "e", "E-"};
  number += signs[byte(4) % 4] + std::to_string(exponent);
  return number;
}

// The raw value in every field of every body in turn (and all at once), then in event data.
void fuzz_value_in_every_field(std::string_view value) {
  if (value.size() > 4096) return;  // numbers are short; long inputs only slow the search
  const std::string v(value);
  const std::vector<std::string> register_fields = {"project_name", "registry", "vintage", "quantity",
                                                    "serial_number", "block_start", "block_end"};
  auto register_body = [&](const std::string& target) {
    std::string body = "{";
    for (const std::string& f : register_fields) {
      if (f != register_fields.front()) body += ",";
      body += "\"" + f + "\":";
      if (f == target || target == "*") {
        body += v;
      } else if (f == "vintage") {
        body += "2023";
      } else if (f == "quantity") {
        body += "100";
      } else if (f == "block_start") {
        body += "1";
      } else if (f == "block_end") {
        body += "100";
      } else {
        body += "\"x\"";
      }
    }
    return body + "}";
  };
  for (const std::string& f : register_fields) {
    check_outcome_shape(parse_register_request(register_body(f)), {"project_name", "registry", "vintage",
                                                                    "serial_number", "quantity", "block_start",
                                                                    "block_end"});
  }
  (void)parse_register_request(register_body("*"));
  (void)parse_register_request("{\"extra\":[" + v + ",{\"n\":" + v + "}]}");
  (void)parse_register_request("{\"project_name\":\"p\",\"registry\":\"Verra\",\"vintage\":2020,\"serial_number\":"
                               "\"19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1\","
                               "\"block_start\":" + v + ",\"quantity\":" + v + "}");
  for (const char* f : {"buyer", "quantity"}) {
    check_outcome_shape(parse_sell_request(std::string("{\"buyer\":\"b\",\"") + f + "\":" + v + "}"), {"buyer", "quantity"});
  }
  for (const char* f : {"beneficiary", "reason", "category", "details", "quantity"}) {
    check_outcome_shape(parse_retire_request(std::string("{\"") + f + "\":" + v + "}"),
                        {"beneficiary", "reason", "category", "details", "quantity"});
  }
  (void)parse_retire_request("{\"beneficiary\":\"b\",\"reason\":\"r\",\"x\":" + v + "}");
  for (const char* f : {"reason", "quantity"}) {
    check_outcome_shape(parse_cancel_request(std::string("{\"reason\":\"r\",\"") + f + "\":" + v + "}"),
                        {"reason", "quantity"});
  }
  CreditEvent event;
  CreditState state;
  (void)decode_event("CREATED", "{\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":" + v +
                                    ",\"quantity\":" + v + ",\"serial_number\":\"s\",\"block_start\":" + v +
                                    ",\"block_end\":" + v + "}", &event);
  (void)decode_event("SOLD", "{\"buyer\":" + v + "}", &event);
  (void)decode_event("RETIRED", "{\"reason\":" + v + ",\"category\":" + v + "}", &event);
  (void)decode_event("CANCELLED", "{\"reason\":" + v + "}", &event);
  (void)decode_event("SPLIT", "{\"child\":\"c\",\"block_start\":" + v + ",\"block_end\":" + v + ",\"quantity\":" +
                                  v + "}", &event);
  (void)decode_event("CARVED", "{\"parent\":\"p\",\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":" + v +
                                   ",\"serial_number\":\"s\",\"quantity\":" + v + ",\"block_start\":" + v +
                                   ",\"block_end\":" + v + ",\"issuer\":\"i\",\"holder\":\"h\",\"status\":\"SOLD\"}",
                     &event);
  (void)decode_state("{\"status\":\"SOLD\",\"version\":" + v + ",\"project_name\":\"p\",\"registry\":\"r\","
                     "\"vintage\":2020,\"quantity\":" + v + ",\"serial_number\":\"s\",\"block_start\":" + v +
                     ",\"block_end\":" + v + ",\"issuer\":\"i\",\"holder\":\"h\",\"parent\":\"\","
                     "\"issued_block_start\":" + v + ",\"issued_block_end\":" + v + ",\"children_count\":" + v + "}",
                     &state);
}

// Both the input as number text and an edge number built from it, in every field.
void fuzz_number_in_every_field(std::string_view input) {
  fuzz_value_in_every_field(input);
  fuzz_value_in_every_field(edge_number(input));
}

// A log line in JSON (LEDGER_LOG_FORMAT=json) of any process, message and field text (a client's target,
// account, request id): always one JSON object on one line, and text that is valid UTF-8 comes back exactly.
void fuzz_log_line(std::string_view input) {
  const std::size_t a = input.size() / 3, b = 2 * input.size() / 3;
  const std::string_view process = input.substr(0, a), message = input.substr(a, b - a), target = input.substr(b);
  set_log_format(LogFormat::kJson);
  const std::string line = format_log_line(
      process, LogLevel::kWarn, message,
      {LogField::str("target", target), LogField::num("status", static_cast<std::int64_t>(input.size()) - 300),
       LogField::dbl("duration_ms", static_cast<double>(input.size()) / 7.0)});
  set_log_format(LogFormat::kText);
  FUZZ_CHECK(line.find('\n') == std::string::npos && line.find('\r') == std::string::npos, "one line");
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.data(), line.size());
  FUZZ_CHECK(!doc.HasParseError() && doc.IsObject(), "a JSON object");
  for (const char* member : {"time", "level", "process", "message", "target"}) {
    FUZZ_CHECK(doc.HasMember(member) && doc[member].IsString(), "string members");
  }
  FUZZ_CHECK(doc["status"].IsInt64() && doc["duration_ms"].IsNumber(), "number members");
  auto same = [&](const char* member, std::string_view text) {
    if (!ledger::fuzz::is_valid_utf8(text)) return;
    FUZZ_CHECK(std::string_view(doc[member].GetString(), doc[member].GetStringLength()) == text, "round trip");
  };
  same("process", process);
  same("message", message);
  same("target", target);
}

// Both paths of canonicalize_json give the same outcome; a canonical text canonicalizes to itself.
void fuzz_canonical_json(std::string_view input) {
  std::string fast, parsed;
  const ledger::Status f = ledger::canonicalize_json(input, &fast);
  const ledger::Status p = ledger::canonicalize_json_parsed(input, &parsed);
  FUZZ_CHECK(f.ok() == p.ok(), "canonicalize_json: the paths disagree on whether the text is canonicalizable");
  if (!f.ok()) {
    FUZZ_CHECK(f.ToString() == p.ToString(), "canonicalize_json: the paths give different errors");
    return;
  }
  FUZZ_CHECK(fast == parsed, "canonicalize_json: the paths give different texts");
  std::string again_fast, again_parsed;
  FUZZ_CHECK(ledger::canonicalize_json(fast, &again_fast).ok() && again_fast == fast, "canonical text not a fixed point");
  FUZZ_CHECK(ledger::canonicalize_json_parsed(fast, &again_parsed).ok() && again_parsed == fast,
             "canonical text not a fixed point of the RapidJSON path");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The README's worked example pins the id scheme.
  FUZZ_CHECK(credit_id("Registry1", "SN1234") == "800d4116-9d79-5774-bcc1-b5c8a8b69bcc", "README id changed");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  char selector = static_cast<char>(data[0]);
  if (kSelectors.find(selector) == std::string_view::npos) selector = kSelectors[data[0] % kSelectors.size()];
  switch (selector) {
    case 'R': check_register(input); break;
    case 'S': check_sell(input); break;
    case 'T': check_retire(input); break;
    case 'K': check_cancel(input); break;
    case 'I': {
      const auto parts = split(input, '\0', 2);
      check_credit_id(parts[0], parts.size() > 1 ? parts[1] : std::string_view());
      break;
    }
    case 'P':
      check_route(input);
      check_query(input);
      break;
    case 'Q': check_query(input); break;
    case 'H': check_idempotency(input); break;
    case 'M': check_if_match(input); break;
    case 'C': check_content_type(input); break;
    case 'X': check_request_id(input); break;
    case 'E': fuzz_problem(input); break;
    case 'D': fuzz_decode_event(input); break;
    case 'N': fuzz_number_in_every_field(input); break;
    case 'A': fuzz_apply_sequence(input); break;
    case 'G': fuzz_decode_state(input); break;
    case 'L': fuzz_log_line(input); break;
    case 'J': fuzz_canonical_json(input); break;
  }
  return 0;
}

// libFuzzer target for the pure, client-facing pieces of the API (no Beast here; see fuzz_http.cc).
// The first input byte picks the sub-target, the rest is its input:
//   'R' parse_register_request (+ credit_id, credit_json, problem_json, event data round trip)
//   'S' parse_sell_request     'T' parse_retire_request
//       each valid command also goes through the whole lifecycle: decide(), evolve(), event data
//       encode/decode and command_problem() of every refusal (check_lifecycle in fuzz_checks.h)
//   'I' credit_id(registry, serial): the rest split at the first NUL byte
//   'P' match_route (+ parse_uuid on the id)   'M' parse_if_match
//   'C' is_json_content_type                   'X' sanitize_request_id
//   'E' problem_json: the rest split at NUL bytes into detail, title, error fields/messages, ...;
//       only pieces that are valid UTF-8 are used (the server never puts anything else in a problem)
//   'D' decode_event(type, data): the rest split at the first NUL byte (event data from the log)
//   'N' the rest as the raw text of a JSON value (meant to be a number: exponent and fraction edges are in
//       api.dict), and an edge number built from its bytes (edge_number), each put into every field of
//       register, sell and retire bodies, nested, and into event data for decode_event: finds
//       number-conversion faults such as RapidJSON's CVE-2024-38517 in any field
// Any other first byte picks one of these by its value modulo their number.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_checks.h"

using namespace ledger;
using namespace ledger::fuzz;

namespace {

constexpr std::string_view kSelectors = "RSTIPMCXEDN";

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

void fuzz_decode_event(std::string_view input) {
  const auto parts = split(input, '\0', 2);
  const std::string_view type = parts[0];
  const std::string_view data = parts.size() > 1 ? parts[1] : std::string_view();
  CreditEvent event;
  const Status status = decode_event(type, data, &event);
  if (!status.ok()) {
    FUZZ_CHECK(!status.message().empty(), "decode_event failed without a message");
    return;
  }
  FUZZ_CHECK(type == event_type_name(event), "decode_event gave another type");
  // Whatever decoded must encode and decode to the same event.
  CreditEvent again;
  const std::string encoded = encode_event_data(event);
  FUZZ_CHECK(decode_event(type, encoded, &again).ok(), "re-encoded event refused: %s", printable(encoded).c_str());
  FUZZ_CHECK(encode_event_data(again) == encoded, "event data does not round-trip");
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
  const std::vector<std::string> register_fields = {"project_name", "registry", "vintage", "quantity", "serial_number"};
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
      } else {
        body += "\"x\"";
      }
    }
    return body + "}";
  };
  for (const std::string& f : register_fields) {
    check_outcome_shape(parse_register_request(register_body(f)),
                        {"project_name", "registry", "vintage", "quantity", "serial_number"});
  }
  (void)parse_register_request(register_body("*"));
  (void)parse_register_request("{\"extra\":[" + v + ",{\"n\":" + v + "}]}");
  (void)parse_sell_request("{\"buyer\":" + v + "}");
  (void)parse_retire_request("{\"beneficiary\":" + v + "}");
  (void)parse_retire_request("{\"reason\":" + v + "}");
  (void)parse_retire_request("{\"beneficiary\":\"b\",\"reason\":\"r\",\"x\":" + v + "}");
  CreditEvent event;
  (void)decode_event("CREATED", "{\"project_name\":\"p\",\"registry\":\"r\",\"vintage\":" + v +
                                    ",\"quantity\":" + v + ",\"serial_number\":\"s\"}", &event);
  (void)decode_event("SOLD", "{\"buyer\":" + v + "}", &event);
  (void)decode_event("RETIRED", "{\"reason\":" + v + "}", &event);
}

// Both the input as number text and an edge number built from it, in every field.
void fuzz_number_in_every_field(std::string_view input) {
  fuzz_value_in_every_field(input);
  fuzz_value_in_every_field(edge_number(input));
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
    case 'I': {
      const auto parts = split(input, '\0', 2);
      check_credit_id(parts[0], parts.size() > 1 ? parts[1] : std::string_view());
      break;
    }
    case 'P': check_route(input); break;
    case 'M': check_if_match(input); break;
    case 'C': check_content_type(input); break;
    case 'X': check_request_id(input); break;
    case 'E': fuzz_problem(input); break;
    case 'D': fuzz_decode_event(input); break;
    case 'N': fuzz_number_in_every_field(input); break;
  }
  return 0;
}

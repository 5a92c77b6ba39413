// Decoding and validating the JSON bodies of the credit HTTP requests into commands. Separates bodies
// that are not usable JSON at all (the server answers 400) from well-formed bodies with bad fields
// (answered 422 with one error per field). Pure functions: no I/O, no exceptions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "command/credit.h"
#include "command/text_rules.h"

namespace ledger {

// The longest serial number a registration takes (characters, after normalize_text).
inline constexpr std::size_t kSerialNumberMaxChars = 256;

struct FieldError {
  std::string field;    // the JSON field name, e.g. "quantity"
  std::string message;  // what is wrong, e.g. "is required", "must be between 1990 and 2100"
};

template <typename T>
struct ParsedRequest {
  enum class Outcome {
    kOk,
    kMalformed,  // not JSON, invalid UTF-8, not an object, or a known field given twice
    kInvalid,    // well-formed, but one or more fields break the rules (see errors)
  };
  Outcome outcome = Outcome::kOk;
  T value;                         // valid only when kOk; strings already trimmed
  std::string detail;              // a sentence for kMalformed / kInvalid
  std::vector<FieldError> errors;  // for kInvalid: one per bad field, in field order
};

// Rules shared by the parsers below:
//  - An empty or whitespace-only body counts as an object with no fields.
//  - Unknown fields are ignored.
//  - Text fields follow normalize_text() (command/text_rules.h): NFC, trimmed of every White_Space
//    character, then 1..200 Unicode code points (the serial number 1..256) with no control, format,
//    invisible, separator, private-use, unassigned or noncharacter code points.
//  - Numbers never reach RapidJSON's own conversion (command/json_input.h).

// The text-field rule for a name given outside a JSON body (an account name on the command line):
// normalises *text as normalize_text() does; returns "" when it is then valid, else what is wrong
// ("must be ...").
std::string validate_name(std::string* text);

// {"project_name": str, "registry": str, "vintage": int or 4-digit str (1990..2100), "serial_number": str,
//  "quantity": int (1..10^12), "block_start": int, "block_end": int (0..10^15-1, inclusive)}. The block is the
// range a Verra or Gold Standard serial number states (command/serial_numbers.h), else block_start..block_end,
// else 1..quantity; quantity may be left out when the block is known and must agree with it when sent.
ParsedRequest<RegisterCredit> parse_register_request(std::string_view body);

// {"buyer": str (required), "quantity": int >= 1 (optional: the whole block)}.
ParsedRequest<SellCredit> parse_sell_request(std::string_view body);

// {"beneficiary": str, "reason": str, "category": one of kRetirementCategories, "details": str (1..1000),
//  "quantity": int >= 1}, all optional; null means absent.
ParsedRequest<RetireCredit> parse_retire_request(std::string_view body);

// {"reason": str (required), "quantity": int >= 1 (optional)}.
ParsedRequest<CancelCredit> parse_cancel_request(std::string_view body);

}  // namespace ledger

// Parsing JSON that comes from outside (request bodies, event rows read back from the database) into a
// RapidJSON document without ever running RapidJSON's own number conversion.
//
// RapidJSON 1.1.0 (what Debian ships) bounds a number's exponent but not exponent plus fraction digits:
// `1.0000000000e-2147483639` overflows an int and indexes far outside its power-of-ten table
// (CVE-2024-38517), crashing the process. So every number is read as text (kParseNumbersAsStringsFlag)
// and converted here, with explicit bounds, by the standard library's from_chars. Every RapidJSON parse
// of bytes we did not write ourselves goes through parse_json().
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace ledger {

// The longest number text accepted (digits, sign, point, exponent). Longer numbers are refused as
// malformed: no field of ours needs one, and it bounds the conversion's work.
inline constexpr std::size_t kJsonNumberCharsMax = 64;

struct JsonParseError {
  enum class Kind {
    kNone,
    kSyntax,           // not JSON
    kInvalidEncoding,  // a string is not UTF-8
    kNumberTooLong,    // a number over kJsonNumberCharsMax characters
    kNumberTooBig,     // a number beyond a double's range (RapidJSON refuses those while scanning)
  };
  Kind kind = Kind::kNone;
  std::size_t offset = 0;  // byte offset of the problem in the input
  std::string message;     // what is wrong, in English, for a problem detail
};

// Parses `text` into *document (validating UTF-8, iteratively so that deep nesting cannot exhaust the
// stack). Numbers become: Int64 when written as an integer within int64, Uint64 when an integer above
// INT64_MAX within uint64, otherwise Double (a fraction or exponent is always a Double, even `2.0`;
// out-of-range magnitudes become +-infinity or 0). Returns kNone on success.
// The name of the object member whose value starts at `offset` in `text` (where a number error points),
// or "" when the value there is not a member's (an array element, the top level) or the name has escapes.
std::string member_name_at(std::string_view text, std::size_t offset);

JsonParseError parse_json(std::string_view text, rapidjson::Document* document);

// Converts the text of a JSON number (as RapidJSON's grammar accepted it) to a RapidJSON value by the
// rules above. Exposed for tests.
rapidjson::Value json_number_value(std::string_view number_text);

}  // namespace ledger

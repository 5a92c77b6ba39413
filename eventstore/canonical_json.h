// RFC 8785 JSON Canonicalization Scheme (JCS): one byte sequence per JSON value, so a hash of it (a Merkle
// leaf) can be recomputed by anyone from the value alone. Object members sorted by their names' UTF-16 code
// units, no whitespace, strings escaped as ECMAScript's JSON.stringify does, numbers as ECMAScript's
// Number.prototype.toString of the IEEE 754 double.
#pragma once

#include <string>
#include <string_view>

#include "eventstore/status.h"

namespace ledger {

// Appends the canonical form of the JSON text `json` (UTF-8) to *out. Invalid on malformed JSON, invalid
// UTF-8, a duplicate member name, or a number that is not finite as a double. Nesting deeper than
// kCanonicalJsonDepthMax is refused.
inline constexpr int kCanonicalJsonDepthMax = 64;
Status canonicalize_json(std::string_view json, std::string* out);

// The same through RapidJSON alone. canonicalize_json first tries a single pass that copies what is already
// canonical (jsonb's output mostly is) and falls back to this when unsure; tests hold the two to the same
// output.
Status canonicalize_json_parsed(std::string_view json, std::string* out);

// Appends `text` (valid UTF-8) as a JCS string literal, quotes included.
void append_canonical_json_string(std::string_view text, std::string* out);

// Appends the JCS form of a double (ECMAScript Number.prototype.toString; -0 is "0"). The value must be
// finite.
void append_canonical_json_number(double value, std::string* out);

}  // namespace ledger

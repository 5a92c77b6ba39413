// The rules every human-readable text field obeys (project names, registries, serial numbers, account
// names, buyers, beneficiaries, reasons), and the confusable skeleton of a credit's natural key.
//
// Two strings that look the same must not name two different things: a registry written with a
// zero-width space, a trailing no-break space or a right-to-left override would otherwise derive a new
// credit id for the same real block. So text is normalised to Unicode NFC, trimmed of every White_Space
// character, and refused when it carries characters that cannot be seen or have no agreed meaning.
// Lookalikes that survive (Cyrillic "а" for Latin "a", "0" for "O") are caught by comparing UTS #39
// skeletons (ICU's spoof checker). ICU supplies every Unicode table; none are written here.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ledger {

// NFC-normalises `text` (which must be UTF-8), trims leading and trailing White_Space and writes the
// result to *out. Returns "" when the result is 1..max_chars code points containing none of: control
// characters (Cc), format characters (Cf: zero-width characters, bidi controls, the BOM), other default
// ignorable code points, line and paragraph separators (Zl, Zp), private-use, surrogate and unassigned
// code points, and noncharacters. Otherwise returns what is wrong (a phrase such as "must not contain
// invisible or format characters (U+200B at character 6)"); *out is then left untouched.
std::string normalize_text(std::string_view text, std::size_t max_chars, std::string* out);

// Well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool is_valid_utf8(std::string_view text);

// The key under which two credits count as the same block for a reader: the UTS #39 skeletons of the
// (already normalised) registry and serial number, folded with NFKC_Casefold (registries and serials are
// compared without regard to case or compatibility forms, so "sn-0l" and fullwidth "ＳＮ-ＯＩ" are twins of
// "SN-O1"), joined unambiguously and hashed (SHA-256, lowercase hex) to a fixed size for a unique index.
// Deterministic for a given ICU version (its confusables data); see folded_skeleton() for the order.
std::string confusable_key(std::string_view registry, std::string_view serial_number);

// Lowercase hex SHA-256 of `bytes` (OpenSSL).
std::string sha256_hex(std::string_view bytes);

}  // namespace ledger

// Deterministic credit ids: the same registry and serial number always name the same credit (and so the
// same event stream), whoever registers it and however they capitalise the registry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ledger {

// The UUIDv5 namespace of credit ids. Changing it would re-key every credit.
inline constexpr const char* kCreditIdNamespace = "d64721fe-7df4-432a-b53f-171ef1cf05ff";

// `text` without leading and trailing spaces and tabs (other whitespace is kept).
std::string trim_spaces_and_tabs(std::string_view text);

// UUIDv5(kCreditIdNamespace, name) as lowercase text, where name is the compact JSON array
// [registry, serial_number] after trimming spaces and tabs from both and lower-casing the registry's ASCII
// letters. The name is UTF-8 with non-ASCII characters not escaped, byte for byte what Python's
// json.dumps([registry, serial_number], ensure_ascii=False, separators=(",", ":")) gives, so other
// tools can compute the same ids.
std::string credit_id(std::string_view registry, std::string_view serial_number);

// The id of a block carved from a credit: UUIDv5(kCreditIdNamespace, name) with name the compact JSON
// [registry, serial_number, block_start, block_end], strings normalised as for credit_id() and the range
// as JSON integers, e.g. ["registry1","SN1234",1,10].
std::string child_credit_id(std::string_view registry, std::string_view serial_number, std::int64_t block_start,
                            std::int64_t block_end);

}  // namespace ledger

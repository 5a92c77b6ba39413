// The unit ranges that registry serial numbers state. A Verra or Gold Standard serial names a block of
// consecutive unit numbers, so two registrations whose ranges overlap in the same numbering claim the same
// tonnes twice even when their serial texts differ; this reads those ranges so they can be compared.
// Serials of other registries, or that do not follow their registry's format, are opaque text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ledger {

// Which unit numbering a registry uses.
enum class RegistryKind { kVerra, kGoldStandard, kOther };

// By name, ignoring ASCII case and surrounding spaces: "Verra" (also "VCS") -> kVerra; "Gold Standard"
// (also "GoldStandard", "Gold-Standard", "Gold_Standard", "GS") -> kGoldStandard; anything else kOther.
// (Tabs count as spaces here, as in credit_id().)
RegistryKind registry_kind(std::string_view registry);

// A block's inclusive unit range as a serial number states it, and the numbering it belongs to.
struct SerialRange {
  std::int64_t block_start = 0;
  std::int64_t block_end = 0;
  std::string numbering_prefix;  // Verra: "" (units are numbered registry-wide); Gold Standard: the serial
                                 // before "-<start>-<end>", e.g. "GS1-1-KE-GS11603-16-2025-30256"
};

// Limits: every unit number is 0 <= n < kUnitNumberLimit (10^15).
inline constexpr std::int64_t kUnitNumberLimit = 1'000'000'000'000'000;

// The range a full serial of that registry states, or nullopt when `serial` is not such a serial (then it
// is an opaque serial number). Verra VCU serials: "<batch>-<first>-<last>-VCS-VCU-..." or, older, without
// "VCS": "<batch>-<first>-<last>-VCU-..." (first three dash-separated fields all decimal digits, fourth field
// "VCS" or "VCU", at least 8 fields in all). Gold Standard: "GS..." with at least 4 dash-separated fields,
// the last two decimal digits (start, end). Both: start <= end < kUnitNumberLimit, no leading '+', digits
// only, at most 15 digits, otherwise nullopt. kOther always gives nullopt.
//
// Also, in every format: no dash-separated field may be empty, and the markers ("GS", "VCS", "VCU") are
// matched case-sensitively, as the registries print them. `serial` is taken as stored
// (already trimmed); surrounding spaces make it opaque.
//
// Some older Gold Standard blocks (vintages 2017-2019 in tests/data) are written instead as their first
// and last unit serials, "<first> - <last>", e.g. "RW-5-1459975-2-2-0-7014 - RW-5-1460107-2-2-0-7014"
// (133 units): the two serials have the same number (>= 4) of dash-separated fields and differ in exactly
// one, the unit number, which gives start and end. The numbering_prefix is then the first serial with that
// field written "*" ("RW-5-*-2-2-0-7014"), which no "GS..." prefix can equal. Reading the last two fields
// instead would give 0..7014, a range that has nothing to do with the block. Two equal serials (one unit)
// stay opaque: nothing then says which field is the unit number.
std::optional<SerialRange> parse_serial_range(RegistryKind kind, std::string_view serial);

}  // namespace ledger

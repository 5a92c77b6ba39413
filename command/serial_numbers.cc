#include "command/serial_numbers.h"

#include <cstddef>
#include <utility>
#include <vector>

namespace ledger {

namespace {

// 10^15 has 16 digits, so any run of at most 15 decimal digits is below kUnitNumberLimit; the length cap
// is the range check and no conversion can overflow.
constexpr std::size_t kMaxUnitNumberDigits = 15;
static_assert(kUnitNumberLimit == 1'000'000'000'000'000);

std::string_view trim_spaces_and_tabs_view(std::string_view text) {
  const auto is_blank = [](char c) { return c == ' ' || c == '\t'; };
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && is_blank(text[begin])) ++begin;
  while (end > begin && is_blank(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_digits(std::string_view field) {
  if (field.empty()) return false;
  for (const char c : field) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A unit number field: 1..15 ASCII digits (leading zeros allowed, no sign or space).
std::optional<std::int64_t> unit_number(std::string_view field) {
  if (field.size() > kMaxUnitNumberDigits || !is_digits(field)) return std::nullopt;
  std::int64_t n = 0;
  for (const char c : field) n = n * 10 + (c - '0');
  return n;
}

// `serial` split at every '-', or nothing when a field would be empty (a leading, trailing or doubled
// dash): real serials never have one, and an empty field makes the positions of the rest meaningless.
std::optional<std::vector<std::string_view>> dash_fields(std::string_view serial) {
  std::vector<std::string_view> fields;
  std::size_t begin = 0;
  while (true) {
    const std::size_t dash = serial.find('-', begin);
    const std::string_view field = serial.substr(begin, dash == std::string_view::npos ? dash : dash - begin);
    if (field.empty()) return std::nullopt;
    fields.push_back(field);
    if (dash == std::string_view::npos) return fields;
    begin = dash + 1;
  }
}

std::optional<SerialRange> make_range(std::string_view start_field, std::string_view end_field,
                                      std::string numbering_prefix) {
  const std::optional<std::int64_t> start = unit_number(start_field);
  const std::optional<std::int64_t> end = unit_number(end_field);
  if (!start || !end || *start > *end) return std::nullopt;
  return SerialRange{*start, *end, std::move(numbering_prefix)};
}

std::optional<SerialRange> parse_verra(std::string_view serial) {
  constexpr std::size_t kMinFields = 8;
  const auto fields = dash_fields(serial);
  if (!fields || fields->size() < kMinFields) return std::nullopt;
  const std::vector<std::string_view>& f = *fields;
  if (!is_digits(f[0]) || (f[3] != "VCS" && f[3] != "VCU")) return std::nullopt;
  // VCU numbers are unique across the whole registry, whatever the batch or project.
  return make_range(f[1], f[2], "");
}

// "<first> - <last>" (see the header): exactly one field differs, and it is the unit number.
std::optional<SerialRange> parse_gold_standard_pair(std::string_view first, std::string_view last) {
  constexpr std::size_t kMinFields = 4;
  const auto a = dash_fields(first);
  const auto b = dash_fields(last);
  if (!a || !b || a->size() < kMinFields || a->size() != b->size()) return std::nullopt;
  std::optional<std::size_t> unit_field;
  for (std::size_t i = 0; i < a->size(); ++i) {
    if ((*a)[i] == (*b)[i]) continue;
    if (unit_field) return std::nullopt;
    unit_field = i;
  }
  if (!unit_field) return std::nullopt;
  std::string prefix;
  for (std::size_t i = 0; i < a->size(); ++i) {
    if (i > 0) prefix.push_back('-');
    prefix.append(i == *unit_field ? std::string_view("*") : (*a)[i]);
  }
  return make_range((*a)[*unit_field], (*b)[*unit_field], std::move(prefix));
}

std::optional<SerialRange> parse_gold_standard(std::string_view serial) {
  constexpr std::string_view kPairSeparator = " - ";
  const std::size_t separator = serial.find(kPairSeparator);
  if (separator != std::string_view::npos) {
    return parse_gold_standard_pair(serial.substr(0, separator), serial.substr(separator + kPairSeparator.size()));
  }
  constexpr std::size_t kMinFields = 4;
  if (!serial.starts_with("GS")) return std::nullopt;
  const auto fields = dash_fields(serial);
  if (!fields || fields->size() < kMinFields) return std::nullopt;
  const std::string_view start = (*fields)[fields->size() - 2];
  const std::string_view end = (*fields)[fields->size() - 1];
  // Everything before "-<start>-<end>": the issuance whose units are numbered from 1.
  const std::size_t prefix_size = serial.size() - start.size() - end.size() - 2;
  return make_range(start, end, std::string(serial.substr(0, prefix_size)));
}

}  // namespace

RegistryKind registry_kind(std::string_view registry) {
  const std::string name = ascii_lower(trim_spaces_and_tabs_view(registry));
  if (name == "verra" || name == "vcs") return RegistryKind::kVerra;
  if (name == "gold standard" || name == "goldstandard" || name == "gold-standard" || name == "gold_standard" ||
      name == "gs") {
    return RegistryKind::kGoldStandard;
  }
  return RegistryKind::kOther;
}

std::optional<SerialRange> parse_serial_range(RegistryKind kind, std::string_view serial) {
  switch (kind) {
    case RegistryKind::kVerra: return parse_verra(serial);
    case RegistryKind::kGoldStandard: return parse_gold_standard(serial);
    case RegistryKind::kOther: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace ledger

#include "command/credit_id.h"

#include <cstdio>

#include "eventstore/uuid.h"

namespace ledger {

namespace {

// Appends `text` as a JSON string escaped exactly as Python's json.dumps(ensure_ascii=False) does:
// only '"', '\\' and U+0000..U+001F are escaped, with the short forms where JSON has them and
// otherwise \u00xx in lowercase hex. Anything else (DEL, non-ASCII bytes) is copied as is. A different
// escaping would change the name and so the id.
void append_json_string(std::string_view text, std::string* out) {
  out->push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[7];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out->append(escaped);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

}  // namespace

std::string trim_spaces_and_tabs(std::string_view text) {
  const auto is_blank = [](char c) { return c == ' ' || c == '\t'; };
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && is_blank(text[begin])) ++begin;
  while (end > begin && is_blank(text[end - 1])) --end;
  return std::string(text.substr(begin, end - begin));
}

namespace {

// "[registry,serial_number" of an id's name, normalised.
std::string name_prefix(std::string_view registry, std::string_view serial_number) {
  // Only ASCII letters are lower-cased: Unicode case folding depends on tables that differ between
  // languages and versions, and the id must never change.
  std::string normalized_registry = trim_spaces_and_tabs(registry);
  for (char& c : normalized_registry) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  std::string name = "[";
  append_json_string(normalized_registry, &name);
  name.push_back(',');
  append_json_string(trim_spaces_and_tabs(serial_number), &name);
  return name;
}

}  // namespace

std::string credit_id(std::string_view registry, std::string_view serial_number) {
  std::string name = name_prefix(registry, serial_number);
  name.push_back(']');
  return uuid_v5(kCreditIdNamespace, name);
}

std::string child_credit_id(std::string_view registry, std::string_view serial_number, std::int64_t block_start,
                            std::int64_t block_end) {
  std::string name = name_prefix(registry, serial_number);
  name += "," + std::to_string(block_start) + "," + std::to_string(block_end) + "]";
  return uuid_v5(kCreditIdNamespace, name);
}

}  // namespace ledger

#include "eventstore/canonical_json.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "eventstore/assert.h"

namespace ledger {
namespace {

// Parsed into per-thread buffers: canonicalizing an event's data allocates nothing in the common case
// (verify does it for every event of the log).
using Allocator = rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator>;
using Value = rapidjson::GenericValue<rapidjson::UTF8<>, Allocator>;
using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, Allocator, Allocator>;
constexpr std::size_t kValueBufferBytes = 64 * 1024;
constexpr std::size_t kParseStackBufferBytes = 16 * 1024;

// The next UTF-16 code unit sequence of a UTF-8 string, for comparing member names as JCS sorts them.
// RapidJSON validated the encoding, so the bytes are well formed.
struct Utf16Reader {
  std::string_view s;
  std::size_t i = 0;
  std::uint16_t pending_low = 0;  // second half of a surrogate pair still to return

  bool done() const { return pending_low == 0 && i >= s.size(); }
  std::uint16_t next() {
    if (pending_low != 0) {
      const std::uint16_t unit = pending_low;
      pending_low = 0;
      return unit;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp;
    std::size_t n;
    if (c < 0x80) { cp = c; n = 1; }
    else if ((c >> 5) == 0x6) { cp = c & 0x1F; n = 2; }
    else if ((c >> 4) == 0xE) { cp = c & 0x0F; n = 3; }
    else { cp = c & 0x07; n = 4; }
    for (std::size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += n;
    if (cp < 0x10000) return static_cast<std::uint16_t>(cp);
    cp -= 0x10000;
    pending_low = static_cast<std::uint16_t>(0xDC00 | (cp & 0x3FF));
    return static_cast<std::uint16_t>(0xD800 | (cp >> 10));
  }
};

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// JCS order: by UTF-16 code units. For ASCII (every name the ledger writes) that is byte order.
bool utf16_less(std::string_view a, std::string_view b) {
  if (is_ascii(a) && is_ascii(b)) return a < b;
  Utf16Reader x{a}, y{b};
  while (!x.done() && !y.done()) {
    const std::uint16_t p = x.next(), q = y.next();
    if (p != q) return p < q;
  }
  return x.done() && !y.done();
}

Status append_value(const Value& v, int depth, std::string* out) {
  if (depth > kCanonicalJsonDepthMax) return Status::Invalid("JSON nested deeper than 64 levels");
  switch (v.GetType()) {
    case rapidjson::kNullType: out->append("null"); return Status::Ok();
    case rapidjson::kFalseType: out->append("false"); return Status::Ok();
    case rapidjson::kTrueType: out->append("true"); return Status::Ok();
    case rapidjson::kStringType:
      append_canonical_json_string(std::string_view(v.GetString(), v.GetStringLength()), out);
      return Status::Ok();
    case rapidjson::kNumberType: {
      // Integers that a double holds exactly print as integers; the rest as the double they denote.
      if (v.IsInt64() && v.GetInt64() >= -(std::int64_t{1} << 53) && v.GetInt64() <= (std::int64_t{1} << 53)) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, v.GetInt64());
        out->append(buf, r.ptr);
        return Status::Ok();
      }
      const double d = v.GetDouble();
      if (!std::isfinite(d)) return Status::Invalid("JSON number out of the range of a double");
      append_canonical_json_number(d, out);
      return Status::Ok();
    }
    case rapidjson::kArrayType: {
      out->push_back('[');
      bool first = true;
      for (const Value& item : v.GetArray()) {
        if (!first) out->push_back(',');
        first = false;
        Status s = append_value(item, depth + 1, out);
        if (!s.ok()) return s;
      }
      out->push_back(']');
      return Status::Ok();
    }
    case rapidjson::kObjectType: {
      boost::container::small_vector<const Value::Member*, 24> members;
      for (const auto& m : v.GetObject()) members.push_back(&m);
      auto name = [](const Value::Member* m) { return std::string_view(m->name.GetString(), m->name.GetStringLength()); };
      std::sort(members.begin(), members.end(),
                [&](const Value::Member* a, const Value::Member* b) { return utf16_less(name(a), name(b)); });
      out->push_back('{');
      for (std::size_t i = 0; i < members.size(); ++i) {
        if (i > 0) {
          if (name(members[i]) == name(members[i - 1])) {
            return Status::Invalid("JSON object has the member \"" + std::string(name(members[i])) + "\" twice");
          }
          out->push_back(',');
        }
        append_canonical_json_string(name(members[i]), out);
        out->push_back(':');
        Status s = append_value(members[i]->value, depth + 1, out);
        if (!s.ok()) return s;
      }
      out->push_back('}');
      return Status::Ok();
    }
  }
  return Status::Internal("unknown JSON value type");
}

}  // namespace

void append_canonical_json_string(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->reserve(out->size() + text.size() + 2);
  out->push_back('"');
  // Runs of characters that need no escape are appended whole (most strings are one run).
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default: {
        const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out->append(escape, sizeof escape);
      }
    }
  }
  out->append(text.data() + run, text.size() - run);
  out->push_back('"');
}

void append_canonical_json_number(double value, std::string* out) {
  LEDGER_ASSERT(std::isfinite(value), "JCS numbers are finite");
  if (value == 0) {
    out->push_back('0');  // also -0
    return;
  }
  if (value < 0) {
    out->push_back('-');
    value = -value;
  }
  // The shortest digits that round-trip, as d.ddde[+-]x; ECMAScript then places the point by the exponent.
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  LEDGER_ASSERT(r.ec == std::errc(), "to_chars failed");
  const std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
  const std::size_t e_at = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_at)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = 0;
  std::from_chars(sci.data() + e_at + (sci[e_at + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exponent);
  // ECMA-262 Number::toString: k digits, n = exponent + 1 (value = 0.digits * 10^n).
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;
  if (k <= n && n <= 21) {
    out->append(digits);
    out->append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out->append(digits, 0, static_cast<std::size_t>(n));
    out->push_back('.');
    out->append(digits, static_cast<std::size_t>(n), std::string::npos);
  } else if (-6 < n && n <= 0) {
    out->append("0.");
    out->append(static_cast<std::size_t>(-n), '0');
    out->append(digits);
  } else {
    out->push_back(digits[0]);
    if (k > 1) {
      out->push_back('.');
      out->append(digits, 1, std::string::npos);
    }
    out->push_back('e');
    out->push_back(n - 1 >= 0 ? '+' : '-');
    out->append(std::to_string(std::abs(n - 1)));
  }
}

Status canonicalize_json(std::string_view json, std::string* out) {
  thread_local std::array<char, kValueBufferBytes> value_buffer;
  thread_local std::array<char, kParseStackBufferBytes> stack_buffer;
  Allocator value_allocator(value_buffer.data(), value_buffer.size());
  Allocator stack_allocator(stack_buffer.data(), stack_buffer.size());
  Document doc(&value_allocator, 1024, &stack_allocator);
  // Iterative: hostile nesting cannot exhaust the stack while parsing (append_value bounds the depth).
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag |
            rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    return Status::Invalid(std::string("not JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()) +
                           " at byte " + std::to_string(doc.GetErrorOffset()));
  }
  return append_value(doc, 0, out);
}

}  // namespace ledger

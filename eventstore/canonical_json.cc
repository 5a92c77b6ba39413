#include "eventstore/canonical_json.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/encodedstream.h>

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

// Bytes a JSON string may hold as they are, in JCS as in jsonb's output: printable ASCII but the quote and the
// backslash (bytes >= 0x80 are looked at apart: UTF-8).
constexpr std::array<bool, 256> kPlainStringBytes = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// The index of the first byte at or after `i` that is not plain (a control character, quote or backslash,
// or with high_is_plain false a byte >= 0x80), or the size. Eight bytes at a time while none is: every event's
// strings pass through here.
std::size_t skip_plain(std::string_view s, std::size_t i, bool high_is_plain) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  const auto has_zero_byte = [](std::uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  while (i + 8 <= s.size()) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    // Bytes below 0x20 (as the high bit of (byte | 0x80) - 0x20 is clear), quotes, backslashes, high bytes.
    std::uint64_t special = ~((w | kHighs) - 0x2020202020202020ULL) & kHighs & ~w;
    special |= has_zero_byte(w ^ 0x2222222222222222ULL) | has_zero_byte(w ^ 0x5c5c5c5c5c5c5c5cULL);
    if (!high_is_plain) special |= w & kHighs;
    if (special != 0) break;
    i += 8;
  }
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (!(kPlainStringBytes[c] || (high_is_plain && c >= 0x80))) break;
    ++i;
  }
  return i;
}

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

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF) that starts at s[i] (a byte >= 0x80), or 0.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = at(0);
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) { n = 3; lo = 0xA0; }
  else if (c == 0xED) { n = 3; hi = 0x9F; }
  else if (c >= 0xE1 && c <= 0xEF) n = 3;
  else if (c == 0xF0) { n = 4; lo = 0x90; }
  else if (c == 0xF4) { n = 4; hi = 0x8F; }
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else return 0;
  if (i + n > s.size()) return 0;
  if (at(1) < lo || at(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (at(k) < 0x80 || at(k) > 0xBF) return 0;
  }
  return n;
}

// Strings as RapidJSON decodes them may hold a lone surrogate (from an escape such as \udc00, as CESU-8),
// which has no UTF-8 form and which JCS refuses.
bool is_well_formed_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// The fast path: one pass over the text, appending as it goes, for JSON as PostgreSQL's jsonb output writes it
// (what every event's data is): strings already escaped as JCS escapes them are copied as they are, integers
// that a double holds exactly likewise, and only object members are reordered. It gives up (false) on
// anything it is not sure of, and canonicalize_json then parses the text with RapidJSON, so the two agree by
// construction: whatever the fast path appends is what the RapidJSON path would.
class FastCanonicalizer {
 public:
  FastCanonicalizer(std::string_view text, std::string* out) : s_(text), out_(out) {}

  bool run() {
    skip_space();
    if (!value(0)) return false;
    skip_space();
    return i_ == s_.size();
  }

 private:
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }

  // Well-formed UTF-8 of the sequence that starts at s_[i_] (a byte >= 0x80); advances past it.
  bool utf8_sequence() {
    const std::size_t n = utf8_sequence_length(s_, i_);
    i_ += n;
    return n != 0;
  }

  // A string at s_[i_] (its opening quote), its text with the quotes into *raw. Only escapes JCS itself writes
  // are accepted (\" \\ \b \f \n \r \t, and \u00xx in lowercase hex for the other control characters), so the
  // text is already its canonical form. *escaped: it has any escape.
  bool string(std::string_view* raw, bool* escaped, bool* ascii) {
    const std::size_t begin = i_++;
    *escaped = false;
    *ascii = true;
    while (i_ < s_.size()) {
      i_ = skip_plain(s_, i_, /*high_is_plain=*/false);
      if (i_ >= s_.size()) break;
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        *raw = s_.substr(begin, i_ - begin);
        return true;
      }
      if (c < 0x20) return false;
      if (c >= 0x80) {
        *ascii = false;
        if (!utf8_sequence()) return false;
        continue;
      }
      if (c == '\\') {
        *escaped = true;
        if (i_ + 1 >= s_.size()) return false;
        const char e = s_[i_ + 1];
        if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
          i_ += 2;
          continue;
        }
        if (e != 'u' || i_ + 6 > s_.size() || s_[i_ + 2] != '0' || s_[i_ + 3] != '0') return false;
        const char h = s_[i_ + 4], l = s_[i_ + 5];
        const bool low_hex = (l >= '0' && l <= '9') || (l >= 'a' && l <= 'f');
        if ((h != '0' && h != '1') || !low_hex) return false;
        const int code = (h - '0') * 16 + (l <= '9' ? l - '0' : l - 'a' + 10);
        if (code == '\b' || code == '\f' || code == '\n' || code == '\r' || code == '\t') return false;
        i_ += 6;
        continue;
      }
      ++i_;
    }
    return false;
  }

  // Integers of up to 15 digits (a double holds them exactly) as they are; every other number to the
  // RapidJSON path.
  bool number() {
    const std::size_t begin = i_;
    if (s_[i_] == '-') ++i_;
    const std::size_t digits_begin = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    const std::size_t digits = i_ - digits_begin;
    if (digits == 0 || digits > 15) return false;
    if (s_[digits_begin] == '0' && (digits > 1 || digits_begin != begin)) return false;  // 01, -0
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) return false;
    out_->append(s_.data() + begin, i_ - begin);
    return true;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    out_->append(word);
    i_ += word.size();
    return true;
  }

  bool value(int depth) {
    if (depth > kCanonicalJsonDepthMax || i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': {
        std::string_view raw;
        bool escaped = false, ascii = true;
        if (!string(&raw, &escaped, &ascii)) return false;
        out_->append(raw);
        return true;
      }
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  // The byte `c` next: consumed and appended.
  bool take(char c) {
    if (i_ >= s_.size() || s_[i_] != c) return false;
    ++i_;
    out_->push_back(c);
    return true;
  }

  bool array(int depth) {
    take('[');
    skip_space();
    if (take(']')) return true;
    for (;;) {
      skip_space();
      if (!value(depth + 1)) return false;
      skip_space();
      if (take(']')) return true;
      if (!take(',')) return false;
    }
  }

  // Members are canonicalized into *out_ as they come, then put in JCS order: each member's text is moved
  // into place by its name (names without escapes only, so the raw text is the name).
  bool object(int depth) {
    struct Member {
      std::string_view name;           // the name's text between its quotes
      bool ascii = true;               // (then byte order is JCS order)
      std::size_t begin = 0, end = 0;  // the member's canonical text in *out_
    };
    boost::container::small_vector<Member, 16> members;
    const std::size_t object_begin = out_->size();
    take('{');
    skip_space();
    if (take('}')) return true;
    for (;;) {
      skip_space();
      if (i_ >= s_.size() || s_[i_] != '"') return false;
      if (!members.empty()) out_->push_back(',');  // as if in order; rebuilt below when not
      Member m;
      m.begin = out_->size();
      std::string_view raw;
      bool escaped = false;
      if (!string(&raw, &escaped, &m.ascii) || escaped) return false;
      m.name = raw.substr(1, raw.size() - 2);
      out_->append(raw);
      out_->push_back(':');
      skip_space();
      if (i_ >= s_.size() || s_[i_] != ':') return false;
      ++i_;
      skip_space();
      if (!value(depth + 1)) return false;
      m.end = out_->size();
      members.push_back(m);
      skip_space();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == '}') {
        ++i_;
        break;
      }
      if (s_[i_] != ',') return false;
      ++i_;
    }
    const auto by_name = [](const Member& a, const Member& b) {
      return a.ascii && b.ascii ? a.name < b.name : utf16_less(a.name, b.name);
    };
    const auto same_name = [](const Member& a, const Member& b) { return a.name == b.name; };
    if (std::is_sorted(members.begin(), members.end(), by_name)) {
      // A duplicate: the RapidJSON path says so.
      if (std::adjacent_find(members.begin(), members.end(), same_name) != members.end()) return false;
      out_->push_back('}');
      return true;
    }
    std::sort(members.begin(), members.end(), by_name);
    if (std::adjacent_find(members.begin(), members.end(), same_name) != members.end()) return false;
    // The members' texts in order, with commas, replace what was appended (the scratch buffer is free again
    // by now: a nested object finished with it before this one's last member ended).
    thread_local std::string scratch;
    scratch.clear();
    scratch.push_back('{');
    for (std::size_t k = 0; k < members.size(); ++k) {
      if (k > 0) scratch.push_back(',');
      scratch.append(out_->data() + members[k].begin, members[k].end - members[k].begin);
    }
    scratch.push_back('}');
    out_->replace(object_begin, std::string::npos, scratch);
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string* out_;
};

// A JSON number's text as the IEEE 754 double it denotes (std::from_chars: correctly rounded), or the integer
// when it is one that a double holds exactly. Past the largest double it is infinite (append_value refuses it);
// below the smallest it is 0.
void exact_number(std::string_view text, Value* out) {
  const bool integer = text.find_first_of(".eE") == std::string_view::npos;
  std::int64_t i = 0;
  if (integer) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), i);
    if (error == std::errc() && end == text.data() + text.size() && i >= -(std::int64_t{1} << 53) &&
        i <= (std::int64_t{1} << 53)) {
      out->SetInt64(i);
      return;
    }
  }
  double d = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (error == std::errc::result_out_of_range) {
    // Too large or too small: by the decimal exponent of the first significant digit.
    const std::size_t e_at = text.find_first_of("eE");
    const std::string_view digits = text.substr(0, e_at);
    long exponent = 0;
    if (e_at != std::string_view::npos) {
      std::string_view e = text.substr(e_at + 1);
      if (!e.empty() && e[0] == '+') e.remove_prefix(1);
      const auto r = std::from_chars(e.data(), e.data() + e.size(), exponent);
      if (r.ec == std::errc::result_out_of_range) exponent = e[0] == '-' ? LONG_MIN / 2 : LONG_MAX / 2;
    }
    const std::size_t point = std::min(digits.find('.'), digits.size());
    const std::size_t first = digits.find_first_of("123456789");
    const long lead = first < point ? static_cast<long>(point - first - 1) : -static_cast<long>(first - point);
    d = exponent > 0 && lead > LONG_MAX / 2 - exponent ? HUGE_VAL : lead + exponent >= 0 ? HUGE_VAL : 0.0;
  }
  out->SetDouble(d);
}

// Forwards RapidJSON's SAX events to a document, numbers (read as text) made by exact_number().
struct ExactNumbers {
  Document& d;
  bool Null() { return d.Null(); }
  bool Bool(bool b) { return d.Bool(b); }
  bool Int(int i) { return d.Int(i); }
  bool Uint(unsigned u) { return d.Uint(u); }
  bool Int64(std::int64_t i) { return d.Int64(i); }
  bool Uint64(std::uint64_t u) { return d.Uint64(u); }
  bool Double(double x) { return d.Double(x); }
  bool RawNumber(const char* text, rapidjson::SizeType length, bool) {
    Value v;
    exact_number(std::string_view(text, length), &v);
    return v.IsInt64() ? d.Int64(v.GetInt64()) : d.Double(v.GetDouble());
  }
  bool String(const char* text, rapidjson::SizeType length, bool copy) {
    if (!is_well_formed_utf8(std::string_view(text, length))) return lone_surrogate();
    return d.String(text, length, copy);
  }
  bool StartObject() { return d.StartObject(); }
  bool Key(const char* text, rapidjson::SizeType length, bool copy) {
    if (!is_well_formed_utf8(std::string_view(text, length))) return lone_surrogate();
    return d.Key(text, length, copy);
  }
  bool lone_surrogate() {
    refused_lone_surrogate = true;
    return false;
  }
  bool refused_lone_surrogate = false;
  bool EndObject(rapidjson::SizeType members) { return d.EndObject(members); }
  bool StartArray() { return d.StartArray(); }
  bool EndArray(rapidjson::SizeType elements) { return d.EndArray(elements); }
};

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
  // Runs of characters that need no escape are appended whole (most strings are one run).
  std::size_t i = skip_plain(text, 0, /*high_is_plain=*/true);
  if (i == text.size()) {
    out->append(1, '"').append(text).append(1, '"');
    return;
  }
  out->reserve(out->size() + text.size() + 8);
  out->push_back('"');
  std::size_t run = 0;
  for (; i < text.size(); ++i) {
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
  const std::size_t out_size = out->size();
  if (FastCanonicalizer(json, out).run()) return Status::Ok();
  out->resize(out_size);
  return canonicalize_json_parsed(json, out);
}

Status canonicalize_json_parsed(std::string_view json, std::string* out) {
  thread_local std::array<char, kValueBufferBytes> value_buffer;
  thread_local std::array<char, kParseStackBufferBytes> stack_buffer;
  Allocator value_allocator(value_buffer.data(), value_buffer.size());
  Allocator stack_allocator(stack_buffer.data(), stack_buffer.size());
  Document doc(&value_allocator, 1024, &stack_allocator);
  // Numbers reach the document as exact_number() makes them, not as RapidJSON 1.1.0 converts them (it makes
  // 3.7e-68 of -0.0e308). Iterative: hostile nesting cannot exhaust the stack while parsing (append_value
  // bounds the depth).
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, Allocator> reader(&stack_allocator, 1024);
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(bytes);
  bool lone_surrogate = false;
  auto generate = [&](Document& d) {
    ExactNumbers handler{d};
    const bool parsed = !reader.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseNumbersAsStringsFlag |
                                      rapidjson::kParseIterativeFlag>(stream, handler).IsError();
    lone_surrogate = handler.refused_lone_surrogate;
    return parsed;
  };
  doc.Populate(generate);
  if (lone_surrogate) {
    return Status::Invalid("not JSON text JCS can write: a string with a lone surrogate at byte " +
                           std::to_string(reader.GetErrorOffset()));
  }
  if (reader.HasParseError()) {
    return Status::Invalid(std::string("not JSON: ") + rapidjson::GetParseError_En(reader.GetParseErrorCode()) +
                           " at byte " + std::to_string(reader.GetErrorOffset()));
  }
  return append_value(doc, 0, out);
}

}  // namespace ledger

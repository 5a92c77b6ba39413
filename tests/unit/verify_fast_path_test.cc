// What verify's fast pass relies on, held to the slow, obviously right version of each: canonicalize_json's
// single-pass path against RapidJSON (canonicalize_json_parsed) over hand-picked and generated texts, valid
// and broken; merkle_roots_at_sizes against merkle_root of each prefix; the binary COPY decoders of uuid and
// timestamptz against their text forms.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "eventstore/binary_copy.h"
#include "eventstore/canonical_json.h"
#include "eventstore/merkle.h"

namespace ledger {
namespace {

// Both paths, the same outcome: the same text when they succeed, the same error when they do not.
void expect_paths_agree(const std::string& json) {
  std::string fast = "prefix:", parsed = "prefix:";
  const Status f = canonicalize_json(json, &fast);
  const Status p = canonicalize_json_parsed(json, &parsed);
  ASSERT_EQ(f.ok(), p.ok()) << json << "\nfast: " << f.ToString() << "\nparsed: " << p.ToString();
  if (f.ok()) {
    EXPECT_EQ(fast, parsed) << json;
    // What it writes is canonical: both paths give it back unchanged.
    const std::string canonical = fast.substr(7);
    std::string again_fast, again_parsed;
    EXPECT_TRUE(canonicalize_json(canonical, &again_fast).ok() && again_fast == canonical) << json;
    EXPECT_TRUE(canonicalize_json_parsed(canonical, &again_parsed).ok() && again_parsed == canonical) << json;
  } else {
    EXPECT_EQ(f.ToString(), p.ToString()) << json;
  }
}

TEST(CanonicalJsonFastPath, AgreesWithRapidJsonOnChosenTexts) {
  const std::vector<std::string> texts = {
      // jsonb's own output: members by length then bytes, ", " and ": "
      R"({"vintage": 2020, "quantity": 5, "registry": "Verra", "project_name": "Rimba Raya", "serial_number": "VCS-1"})",
      R"({"reason": "Scope 1", "beneficiary": "Acme Zürich", "details": {"b": [1, 2, {"z": null, "a": true}], "a": false}})",
      R"({})", R"([])", R"("")", R"(0)", R"(-7)", R"(true)", R"(null)", R"([{}, [], "", 0])",
      // numbers the fast path passes on (fraction, exponent, -0, 16+ digits, leading zeros)
      R"([1.50, 1e3, 1E-7, -0, 0.0, 123456789012345, 1234567890123456, 9007199254740993, -9007199254740993])",
      R"([01])", R"([-])", R"([1.])", R"([.5])", R"([1e400])", R"([- 1])",
      // strings: escapes JCS writes, escapes it does not, raw controls, quotes and backslashes
      R"(["a\"b\\c\b\f\n\r\t"])", R"(["\u0000\u0001\u001f\u007f"])", R"(["\u0008"])", R"(["\u000a"])",
      R"(["\u00e9"])", R"(["\u00E9"])", R"(["\/"])", R"(["\ud83d\ude00"])", R"(["\ud83d"])", R"(["\udc00"])", R"({"a\udc00b": 1})", R"(["\ude00\ud83d"])", R"(["\x"])",
      "[\"tab\there\"]", "[\"\x7f\"]",
      // member names: non-ASCII (UTF-16 order differs from byte order past U+FFFF), escaped, duplicate
      "{\"\xef\xbd\xa1\": 1, \"\xf0\x9f\x98\x80\": 2, \"a\": 3}", "{\"\xc3\xa9\": 1, \"e\": 2, \"z\": 3}",
      R"({"a\u0062": 1, "ab": 2})", R"({"a\n": 1, "a": 2})", R"({"a": 1, "a": 2})", R"({"b": 1, "a": 2, "b": 3})",
      // UTF-8 well formed and not: overlong, surrogate, past U+10FFFF, truncated, stray continuation
      "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]", "[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]", "[\"\xf4\x90\x80\x80\"]",
      "[\"\xe2\x82\"]", "[\"\x80\"]", "[\"\xf5\x80\x80\x80\"]", "[\"\xe0\x9f\xbf\"]", "[\"\xf0\x8f\xbf\xbf\"]",
      // whitespace and structure
      " \n\t\r{ \"a\" :\n1 , \"b\":[ 1 ,2 ] } \n", "{\"a\":1,}", "[1,]", "{\"a\" 1}", "{\"a\":1", "[1 2]", "{} x",
      "", " ", "{\"a\":1}}", "nul", "tru", "[true false]", "\xef\xbb\xbf{}",
      std::string(64, '[') + std::string(64, ']'), std::string(65, '[') + std::string(65, ']'),
      std::string(64, '[') + "{\"a\":1}" + std::string(64, ']'),
  };
  for (const std::string& text : texts) expect_paths_agree(text);
}

// Random JSON values, written the many ways JSON may write them (whitespace, escapes, number forms, member
// orders), then sometimes broken (a byte changed, dropped or cut off).
class JsonGenerator {
 public:
  explicit JsonGenerator(std::uint32_t seed) : rng_(seed) {}

  std::string text() {
    std::string out;
    value(&out, 0);
    if (chance(10)) mutate(&out);
    return out;
  }

 private:
  bool chance(int percent) { return std::uniform_int_distribution<int>(0, 99)(rng_) < percent; }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  void space(std::string* out) {
    static const char* const kSpaces[] = {"", "", "", " ", "\n", "\t", "\r", "  "};
    out->append(kSpaces[pick(8)]);
  }

  void character(std::string* out) {
    static const char* const kPieces[] = {
        "a", "Z", "0", " ", "-", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0000", "\\u001f",
        "\\u0008", "\\u000A", "\\u00e9", "\\u20ac", "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\xef\xbd\xa1", "\x7f", "\\u007f", "'", "~"};
    out->append(kPieces[pick(sizeof kPieces / sizeof kPieces[0])]);
  }

  void string(std::string* out, int length_max) {
    out->push_back('"');
    const int n = pick(length_max + 1);
    for (int i = 0; i < n; ++i) character(out);
    out->push_back('"');
  }

  void number(std::string* out) {
    static const char* const kNumbers[] = {"0", "-0", "1", "-1", "42", "2020", "999999999999999", "1000000000000000",
                                           "9007199254740993", "-123456789012345", "1.5", "1.50", "0.1", "1e3",
                                           "1E+2", "2e-7", "-0.0", "1e21", "1e-7", "123.456e5", "5e-324", "1e309"};
    if (chance(30)) {
      out->append(std::to_string(std::uniform_int_distribution<std::int64_t>(-(std::int64_t{1} << 60), std::int64_t{1} << 60)(rng_) >> pick(60)));
    } else {
      out->append(kNumbers[pick(sizeof kNumbers / sizeof kNumbers[0])]);
    }
  }

  void value(std::string* out, int depth) {
    space(out);
    const int kind = depth > 4 ? pick(4) : pick(6);
    switch (kind) {
      case 0: string(out, 6); break;
      case 1: number(out); break;
      case 2: out->append(pick(3) == 0 ? "null" : pick(2) == 0 ? "true" : "false"); break;
      case 3: string(out, 1); break;
      case 4: {
        out->push_back('[');
        const int n = pick(4);
        for (int i = 0; i < n; ++i) {
          if (i > 0) out->push_back(',');
          value(out, depth + 1);
        }
        space(out);
        out->push_back(']');
        break;
      }
      default: {
        out->push_back('{');
        const int n = pick(6);
        std::vector<std::string> names;
        for (int i = 0; i < n; ++i) {
          if (i > 0) out->push_back(',');
          space(out);
          std::string name;
          if (!names.empty() && chance(5)) {
            name = names[pick(static_cast<int>(names.size()))];  // a duplicate
          } else {
            string(&name, 3);
          }
          names.push_back(name);
          out->append(name);
          space(out);
          out->push_back(':');
          value(out, depth + 1);
        }
        space(out);
        out->push_back('}');
      }
    }
    space(out);
  }

  void mutate(std::string* out) {
    if (out->empty()) return;
    const std::size_t at = static_cast<std::size_t>(pick(static_cast<int>(out->size())));
    switch (pick(3)) {
      case 0: (*out)[at] = static_cast<char>(pick(256)); break;
      case 1: out->erase(at, 1); break;
      default: out->resize(at); break;
    }
  }

  std::mt19937 rng_;
};

TEST(CanonicalJsonFastPath, AgreesWithRapidJsonOnGeneratedTexts) {
  JsonGenerator generate(20261203);
  for (int i = 0; i < 200000; ++i) {
    expect_paths_agree(generate.text());
    if (HasFatalFailure()) return;
  }
}

// Every byte that needs an escape (and a few that do not), at every offset of strings longer than the eight
// bytes the scan takes at a time: the escaped text is the byte-by-byte one, and both canonicalization paths
// agree on the string as a JSON value.
// Zero with an exponent is 0, and so is what is too small for a double (RapidJSON 1.1.0's own conversion,
// found by the fuzzer's J target, made 3.7092061506874214e-68 of -0.0e308). RapidJSON refuses exponents past
// 308 outright (both paths do).
TEST(CanonicalJsonFastPath, ZeroWithAnExponentIsZero) {
  expect_paths_agree("[0e400]");
  expect_paths_agree("[1e400]");
  for (const std::string text : {"[-0.0e308]", "[0.000e-400]", "[-0E+5]", "[0.0e308, 1]", "[1e-400]", "[-2.5e-330]"}) {
    std::string out;
    ASSERT_TRUE(canonicalize_json(text, &out).ok()) << text;
    EXPECT_EQ(out, text.find(", 1") == std::string::npos ? "[0]" : "[0,1]") << text;
    expect_paths_agree(text);
  }
}

TEST(CanonicalJsonFastPath, StringsWithASpecialByteAtEveryOffset) {
  auto reference = [](std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (const char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\b') out += "\\b";
      else if (c == '\f') out += "\\f";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c < 0x20) out += std::string("\\u00") + kHex[c >> 4] + kHex[c & 15];
      else out += ch;
    }
    return out + "\"";
  };
  for (const char special : {'"', '\\', '\n', '\x01', '\x1f', '\x7f', ' ', '\x80'}) {
    for (std::size_t length = 1; length <= 40; ++length) {
      for (std::size_t at = 0; at < length; ++at) {
        std::string text(length, 'x');
        text[at] = special;
        if (special == '\x80') text.replace(at, 1, "\xc3\xa9");  // a whole UTF-8 sequence
        std::string out;
        append_canonical_json_string(text, &out);
        ASSERT_EQ(out, reference(text)) << "byte " << int(static_cast<unsigned char>(special)) << " at " << at;
        expect_paths_agree("[" + out + "]");
        if (special != '\x01' && special != '\x1f' && special != '\n') expect_paths_agree("[\"" + text + "\"]");
      }
    }
  }
}

TEST(MerkleRootsAtSizes, AreTheRootsOfEachPrefixOnAnyNumberOfThreads) {
  std::vector<MerkleHash> leaves;
  for (int i = 0; i < 20000; ++i) leaves.push_back(merkle_leaf_hash("leaf " + std::to_string(i)));
  // Sizes at and around chunk boundaries (chunks are powers of two, at least 4096), repeated, and the ends.
  std::vector<std::uint64_t> sizes = {0, 0, 1, 2, 3, 4095, 4096, 4096, 4097, 8191, 8192, 8193, 12288, 16383, 16384,
                                      16385, 19999, 20000};
  std::mt19937 rng(7);
  for (int i = 0; i < 40; ++i) sizes.push_back(std::uniform_int_distribution<std::uint64_t>(0, 20000)(rng));
  std::sort(sizes.begin(), sizes.end());
  for (const std::size_t threads : {1, 2, 3, 8}) {
    const std::vector<MerkleHash> roots = merkle_roots_at_sizes(leaves, sizes, threads);
    ASSERT_EQ(roots.size(), sizes.size());
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_EQ(roots[i], merkle_root(std::span<const MerkleHash>(leaves).subspan(0, sizes[i])))
          << "size " << sizes[i] << ", " << threads << " threads";
    }
  }
  EXPECT_TRUE(merkle_roots_at_sizes({}, std::vector<std::uint64_t>{0}, 2) == std::vector<MerkleHash>{merkle_empty_root()});
}

std::string be64(std::int64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(static_cast<std::uint64_t>(v) & 0xff);
    v = static_cast<std::int64_t>(static_cast<std::uint64_t>(v) >> 8);
  }
  return out;
}

std::string rfc3339(std::int64_t micros_since_2000) {
  char out[kRfc3339MicrosSize];
  if (!binary_copy_timestamp_rfc3339(be64(micros_since_2000), out)) return "refused";
  return std::string(out, sizeof out);
}

TEST(BinaryCopyDecoders, TimestampsAsRfc3339UtcWithMicroseconds) {
  constexpr std::int64_t kDay = 86'400'000'000;
  EXPECT_EQ(rfc3339(0), "2000-01-01T00:00:00.000000Z");
  EXPECT_EQ(rfc3339(-1), "1999-12-31T23:59:59.999999Z");
  EXPECT_EQ(rfc3339(59 * kDay + 1), "2000-02-29T00:00:00.000001Z");  // a leap day
  // 2026-12-01T21:29:23.123456Z: 9831 days after 2000-01-01.
  EXPECT_EQ(rfc3339(9831 * kDay + ((21 * 60 + 29) * 60 + 23) * std::int64_t{1'000'000} + 123456), "2026-12-01T21:29:23.123456Z");
  EXPECT_EQ(rfc3339(-730119 * kDay), "0001-01-01T00:00:00.000000Z");
  EXPECT_EQ(rfc3339(-730119 * kDay - 1), "refused");  // year 0
  EXPECT_EQ(rfc3339(2921940 * kDay - 1), "9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(rfc3339(2921940 * kDay), "refused");  // year 10000
  EXPECT_EQ(rfc3339(INT64_MAX), "refused");        // 'infinity'
  EXPECT_EQ(rfc3339(INT64_MIN), "refused");        // '-infinity'
  char out[kRfc3339MicrosSize];
  EXPECT_FALSE(binary_copy_timestamp_rfc3339("1234567", out));  // not 8 bytes
}

TEST(BinaryCopyDecoders, UuidsAsUuidOutWritesThem) {
  const std::string bytes("\x0b\x9a\x7f\x62\x3c\x1e\x4d\x8f\x9a\x40\x5b\x6f\x1f\x3e\x2d\x10", 16);
  char out[kUuidTextSize];
  ASSERT_TRUE(binary_copy_uuid_text(bytes, out));
  EXPECT_EQ(std::string(out, sizeof out), "0b9a7f62-3c1e-4d8f-9a40-5b6f1f3e2d10");
  EXPECT_FALSE(binary_copy_uuid_text(bytes.substr(1), out));
}

}  // namespace
}  // namespace ledger

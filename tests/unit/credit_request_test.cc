// Tests for decoding and validating credit request bodies (command/credit_request.h).
#include "command/credit_request.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ledger {
namespace {

enum class Expect { kOk, kMalformed, kInvalid };

struct RequestCase {
  std::string name;
  std::string body;
  Expect expect;
  std::vector<FieldError> errors;  // kInvalid: exactly these, in this order
  std::string value;               // kOk: describe() of the parsed value
  std::string detail_contains;     // kMalformed: a phrase the detail must contain
};

std::string describe(const RegisterCredit& c) {
  const CreditAttributes& a = c.attributes;
  return a.project_name + "|" + a.registry + "|" + std::to_string(a.vintage) + "|" + std::to_string(a.quantity) +
         "|" + a.serial_number;
}
std::string describe(const SellCredit& c) { return c.buyer; }
std::string describe(const RetireCredit& c) {
  return "beneficiary=" + c.beneficiary.value_or("(absent)") + " reason=" + c.reason.value_or("(absent)");
}

template <typename T>
void run_cases(const std::vector<RequestCase>& cases, ParsedRequest<T> (*parse)(std::string_view)) {
  using Outcome = typename ParsedRequest<T>::Outcome;
  for (const RequestCase& c : cases) {
    SCOPED_TRACE(c.name + ": " + c.body);
    const ParsedRequest<T> r = parse(c.body);
    switch (c.expect) {
      case Expect::kOk:
        ASSERT_EQ(r.outcome, Outcome::kOk) << r.detail << (r.errors.empty() ? "" : " / " + r.errors[0].message);
        EXPECT_EQ(describe(r.value), c.value);
        EXPECT_TRUE(r.errors.empty());
        break;
      case Expect::kMalformed:
        ASSERT_EQ(r.outcome, Outcome::kMalformed);
        EXPECT_NE(r.detail.find(c.detail_contains), std::string::npos) << r.detail;
        EXPECT_TRUE(r.errors.empty());
        break;
      case Expect::kInvalid:
        ASSERT_EQ(r.outcome, Outcome::kInvalid) << r.detail;
        ASSERT_EQ(r.errors.size(), c.errors.size());
        for (std::size_t i = 0; i < c.errors.size(); ++i) {
          EXPECT_EQ(r.errors[i].field, c.errors[i].field) << i;
          // Messages may go on to name the offending code point: "must not contain ... (U+200B at character 3)".
          EXPECT_EQ(r.errors[i].message.rfind(c.errors[i].message, 0), 0u) << i << ": " << r.errors[i].message;
        }
        EXPECT_FALSE(r.detail.empty());
        break;
    }
  }
}

std::string quoted(const std::string& raw) { return "\"" + raw + "\""; }
std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// Messages, as the API documents them.
const char kRequired[] = "is required";
const char kMustBeString[] = "must be a string";
const char kText200[] = "must be between 1 and 200 characters after trimming";
const char kText256[] = "must be between 1 and 256 characters after trimming";
const char kNoControl[] = "must not contain control characters";
const char kNoFormat[] = "must not contain invisible or format characters";
const char kVintageRange[] = "must be between 1990 and 2100";
const char kVintageDigits[] = "must be a 4-digit year";
const char kVintageWhole[] = "must be a whole number between 1990 and 2100";
const char kVintageType[] = "must be an integer or a 4-digit string";
const char kQuantityWhole[] = "must be a whole number between 1 and 1000000000000";
const char kMustBeInteger[] = "must be an integer";

// --- register ---

const char* const kRegisterFields[] = {"project_name", "registry", "vintage", "quantity", "serial_number"};

// A valid register body whose `field` holds the raw JSON `raw` (omitted when raw is null).
std::string register_body(const std::string& field, const char* raw) {
  std::map<std::string, std::string> values = {{"project_name", "\"Kasigau Corridor\""},
                                               {"registry", "\"Verra\""},
                                               {"vintage", "2023"},
                                               {"quantity", "100"},
                                               {"serial_number", "\"VCS-1\""}};
  std::string body = "{";
  for (const char* name : kRegisterFields) {
    const std::string value = name == field ? (raw ? raw : "") : values[name];
    if (name == field && raw == nullptr) continue;
    if (body.size() > 1) body += ",";
    body += quoted(name) + ":" + value;
  }
  return body + "}";
}
std::string register_body(const std::string& field, const std::string& raw) {
  return register_body(field, raw.c_str());
}

// describe() of the valid body with `field` parsed as `value`.
std::string register_value(const std::string& field, const std::string& value) {
  std::map<std::string, std::string> values = {{"project_name", "Kasigau Corridor"},
                                               {"registry", "Verra"},
                                               {"vintage", "2023"},
                                               {"quantity", "100"},
                                               {"serial_number", "VCS-1"}};
  values[field] = value;
  return values["project_name"] + "|" + values["registry"] + "|" + values["vintage"] + "|" + values["quantity"] +
         "|" + values["serial_number"];
}

RequestCase ok_field(const std::string& name, const std::string& field, const std::string& raw,
                     const std::string& value) {
  return {name, register_body(field, raw), Expect::kOk, {}, register_value(field, value), ""};
}
RequestCase bad_field(const std::string& name, const std::string& field, const char* raw, const char* message) {
  return {name, register_body(field, raw), Expect::kInvalid, {{field, message}}, "", ""};
}
RequestCase bad_field(const std::string& name, const std::string& field, const std::string& raw,
                      const char* message) {
  return bad_field(name, field, raw.c_str(), message);
}

// The string rule, applied to every text field of the register body.
std::vector<RequestCase> text_field_cases(const std::string& field, int max_chars) {
  const char* too_long = max_chars == 200 ? kText200 : kText256;
  const std::string n = std::to_string(max_chars);
  return {
      ok_field(field + " plain", field, "\"abc\"", "abc"),
      ok_field(field + " trimmed of spaces and tabs", field, "\" \\t abc \\t \"", "abc"),
      ok_field(field + " inner spaces kept", field, "\"a  b\"", "a  b"),
      ok_field(field + " 1 char", field, "\"x\"", "x"),
      ok_field(field + " " + n + " chars", field, quoted(repeat("a", max_chars)), repeat("a", max_chars)),
      ok_field(field + " " + n + " chars plus trimmed spaces", field, quoted("  " + repeat("a", max_chars) + "\\t"),
               repeat("a", max_chars)),
      ok_field(field + " " + n + " two-byte chars", field, quoted(repeat("\xC3\xA9", max_chars)),
               repeat("\xC3\xA9", max_chars)),
      ok_field(field + " " + n + " four-byte chars", field, quoted(repeat("\xF0\x9F\x98\x80", max_chars)),
               repeat("\xF0\x9F\x98\x80", max_chars)),
      ok_field(field + " escaped surrogate pair is one char", field,
               quoted(repeat("a", max_chars - 1) + "\\ud83d\\ude00"), repeat("a", max_chars - 1) + "\xF0\x9F\x98\x80"),
      ok_field(field + " escaped non-ASCII", field, "\"\\u00e9\"", "\xC3\xA9"),
      ok_field(field + " NO-BREAK SPACE is not a control character", field, "\"a\\u00a0b\"", "a\xC2\xA0" "b"),
      ok_field(field + " escaped quote and backslash", field, "\"A\\\"B\\\\C\"", "A\"B\\C"),
      bad_field(field + " " + std::to_string(max_chars + 1) + " chars", field, quoted(repeat("a", max_chars + 1)),
                too_long),
      bad_field(field + " " + std::to_string(max_chars + 1) + " two-byte chars", field,
                quoted(repeat("\xC3\xA9", max_chars + 1)), too_long),
      bad_field(field + " empty", field, "\"\"", too_long),
      bad_field(field + " only spaces and tabs", field, "\"  \\t \"", too_long),
      bad_field(field + " missing", field, nullptr, kRequired),
      bad_field(field + " null", field, "null", kMustBeString),
      bad_field(field + " number", field, "5", kMustBeString),
      bad_field(field + " boolean", field, "true", kMustBeString),
      bad_field(field + " array", field, "[\"a\"]", kMustBeString),
      bad_field(field + " object", field, "{}", kMustBeString),
      bad_field(field + " U+0000", field, "\"a\\u0000b\"", kNoControl),
      bad_field(field + " U+001F", field, "\"a\\u001fb\"", kNoControl),
      bad_field(field + " inner tab", field, "\"a\\tb\"", kNoControl),
      bad_field(field + " inner newline", field, "\"a\\nb\"", kNoControl),
      bad_field(field + " leading zero-width space", field, "\"\\u200bab\"", kNoFormat),
      bad_field(field + " right-to-left override", field, "\"a\\u202eb\"", kNoFormat),
      bad_field(field + " line separator", field, "\"a\\u2028b\"", "must not contain line or paragraph separators"),
      bad_field(field + " private use", field, "\"a\\ue000b\"", "must not contain private-use characters"),
      bad_field(field + " noncharacter", field, "\"a\\ufdd0b\"", "must not contain noncharacters"),
      bad_field(field + " U+007F escaped", field, "\"a\\u007fb\"", kNoControl),
      bad_field(field + " U+007F raw", field, "\"a\x7f" "b\"", kNoControl),
      bad_field(field + " U+0080", field, "\"a\\u0080b\"", kNoControl),
      bad_field(field + " U+0085 escaped", field, "\"a\\u0085b\"", kNoControl),
      bad_field(field + " U+0085 raw", field, "\"a\xC2\x85" "b\"", kNoControl),
      bad_field(field + " U+009F", field, "\"a\\u009fb\"", kNoControl),
  };
}

TEST(ParseRegisterRequestTest, ValidBody) {
  run_cases<RegisterCredit>(
      {
          {"all fields", register_body("", ""), Expect::kOk, {}, "Kasigau Corridor|Verra|2023|100|VCS-1", ""},
          {"all trimmed, vintage as string, keys reordered",
           "{\"serial_number\":\" GS-1 \",\"quantity\":1,\"vintage\":\" 2021\\t\",\"registry\":\"\\tGold "
           "Standard \",\"project_name\":\"  P  \"}",
           Expect::kOk, {}, "P|Gold Standard|2021|1|GS-1", ""},
          {"registry case kept", register_body("registry", "\"VERRA\""), Expect::kOk, {},
           register_value("registry", "VERRA"), ""},
          {"unknown fields ignored",
           "{\"note\":{\"x\":[1,2,null]},\"project_name\":\"P\",\"registry\":\"R\",\"vintage\":2023,"
           "\"quantity\":5,\"serial_number\":\"S\",\"note\":1}",
           Expect::kOk, {}, "P|R|2023|5|S", ""},
          {"surrounding whitespace", "\n " + register_body("", "") + " \r\n", Expect::kOk, {},
           "Kasigau Corridor|Verra|2023|100|VCS-1", ""},
      },
      parse_register_request);
}

TEST(ParseRegisterRequestTest, TextFields) {
  std::vector<RequestCase> cases = text_field_cases("project_name", 200);
  for (auto& c : text_field_cases("registry", 200)) cases.push_back(c);
  for (auto& c : text_field_cases("serial_number", 256)) cases.push_back(c);
  run_cases<RegisterCredit>(cases, parse_register_request);
}

TEST(ParseRegisterRequestTest, Vintage) {
  run_cases<RegisterCredit>(
      {
          ok_field("integer", "vintage", "2023", "2023"),
          ok_field("string", "vintage", "\"2023\"", "2023"),
          ok_field("string with spaces", "vintage", "\" 2023 \"", "2023"),
          ok_field("string with tabs", "vintage", "\"\\t2023\\t\"", "2023"),
          ok_field("lowest", "vintage", "1990", "1990"),
          ok_field("highest", "vintage", "2100", "2100"),
          ok_field("lowest as string", "vintage", "\"1990\"", "1990"),
          ok_field("highest as string", "vintage", "\"2100\"", "2100"),
          bad_field("below range", "vintage", "1989", kVintageRange),
          bad_field("above range", "vintage", "2101", kVintageRange),
          bad_field("below range as string", "vintage", "\"1989\"", kVintageRange),
          bad_field("above range as string", "vintage", "\"2101\"", kVintageRange),
          bad_field("zero", "vintage", "0", kVintageRange),
          bad_field("negative", "vintage", "-2023", kVintageRange),
          bad_field("beyond int64", "vintage", "18446744073709551615", kVintageRange),
          bad_field("two-digit string", "vintage", "\"23\"", kVintageDigits),
          bad_field("five-digit string", "vintage", "\"02023\"", kVintageDigits),
          bad_field("empty string", "vintage", "\"\"", kVintageDigits),
          bad_field("signed string", "vintage", "\"+202\"", kVintageDigits),
          bad_field("string with inner space", "vintage", "\"20 23\"", kVintageDigits),
          bad_field("string with zero-width space", "vintage", "\"2023\\u200b\"", kVintageDigits),
          bad_field("fractional string", "vintage", "\"2023.0\"", kVintageDigits),
          bad_field("full-width digits", "vintage", "\"\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x93\"",
                    kVintageDigits),
          bad_field("2023.0", "vintage", "2023.0", kVintageWhole),
          bad_field("2023.5", "vintage", "2023.5", kVintageWhole),
          bad_field("exponent", "vintage", "2.023e3", kVintageWhole),
          bad_field("huge", "vintage", "123456789012345678901234567890", kVintageWhole),
          bad_field("missing", "vintage", nullptr, kRequired),
          bad_field("null", "vintage", "null", kVintageType),
          bad_field("boolean", "vintage", "true", kVintageType),
          bad_field("array", "vintage", "[2023]", kVintageType),
      },
      parse_register_request);
}

TEST(ParseRegisterRequestTest, Quantity) {
  run_cases<RegisterCredit>(
      {
          ok_field("one", "quantity", "1", "1"),
          ok_field("10^12", "quantity", "1000000000000", "1000000000000"),
          bad_field("zero", "quantity", "0", kQuantityWhole),
          bad_field("minus zero", "quantity", "-0", kQuantityWhole),
          bad_field("negative", "quantity", "-1", kQuantityWhole),
          bad_field("10^12 + 1", "quantity", "1000000000001", kQuantityWhole),
          bad_field("int64 max", "quantity", "9223372036854775807", kQuantityWhole),
          bad_field("uint64 max", "quantity", "18446744073709551615", kQuantityWhole),
          bad_field("huge", "quantity", "123456789012345678901234567890", kQuantityWhole),
          bad_field("fraction", "quantity", "1.5", kQuantityWhole),
          bad_field("2.0", "quantity", "2.0", kQuantityWhole),
          bad_field("1e3", "quantity", "1e3", kQuantityWhole),
          bad_field("1E0", "quantity", "1E0", kQuantityWhole),
          bad_field("string", "quantity", "\"100\"", kMustBeInteger),
          bad_field("boolean", "quantity", "true", kMustBeInteger),
          bad_field("null", "quantity", "null", kMustBeInteger),
          bad_field("object", "quantity", "{\"n\":1}", kMustBeInteger),
          bad_field("missing", "quantity", nullptr, kRequired),
      },
      parse_register_request);
}

TEST(ParseRegisterRequestTest, ReportsEveryBadFieldInFieldOrder) {
  run_cases<RegisterCredit>(
      {
          {"several bad fields", "{\"quantity\":\"100\",\"vintage\":\"23\",\"project_name\":\"\"}", Expect::kInvalid,
           {{"project_name", kText200},
            {"registry", kRequired},
            {"vintage", kVintageDigits},
            {"quantity", kMustBeInteger},
            {"serial_number", kRequired}},
           "", ""},
          {"every field wrong type",
           "{\"project_name\":1,\"registry\":null,\"vintage\":false,\"quantity\":1.5,\"serial_number\":[]}",
           Expect::kInvalid,
           {{"project_name", kMustBeString},
            {"registry", kMustBeString},
            {"vintage", kVintageType},
            {"quantity", kQuantityWhole},
            {"serial_number", kMustBeString}},
           "", ""},
          {"empty object", "{}", Expect::kInvalid,
           {{"project_name", kRequired},
            {"registry", kRequired},
            {"vintage", kRequired},
            {"quantity", kRequired},
            {"serial_number", kRequired}},
           "", ""},
          {"empty body counts as no fields", "", Expect::kInvalid,
           {{"project_name", kRequired},
            {"registry", kRequired},
            {"vintage", kRequired},
            {"quantity", kRequired},
            {"serial_number", kRequired}},
           "", ""},
      },
      parse_register_request);
}

TEST(ParseRegisterRequestTest, InvalidDetailNamesTheFields) {
  const auto r = parse_register_request(register_body("quantity", "0"));
  ASSERT_EQ(r.outcome, ParsedRequest<RegisterCredit>::Outcome::kInvalid);
  EXPECT_NE(r.detail.find("quantity"), std::string::npos) << r.detail;
}

TEST(ParseRegisterRequestTest, Malformed) {
  run_cases<RegisterCredit>(
      {
          {"not JSON", "project_name=P", Expect::kMalformed, {}, "", "not valid JSON"},
          {"truncated", "{\"project_name\":\"P\"", Expect::kMalformed, {}, "", "offset 19"},
          {"trailing comma", "{\"project_name\":\"P\",}", Expect::kMalformed, {}, "", "not valid JSON"},
          {"trailing garbage", register_body("", "") + " {}", Expect::kMalformed, {}, "", "not valid JSON"},
          {"single quotes", "{'project_name':'P'}", Expect::kMalformed, {}, "", "not valid JSON"},
          {"NaN", register_body("quantity", "NaN"), Expect::kMalformed, {}, "", "not valid JSON"},
          {"number beyond double", register_body("quantity", "1e400"), Expect::kMalformed, {}, "",
           "not valid JSON"},
          {"array body", "[" + register_body("", "") + "]", Expect::kMalformed, {}, "", "must be a JSON object"},
          {"string body", "\"x\"", Expect::kMalformed, {}, "", "must be a JSON object"},
          {"number body", "42", Expect::kMalformed, {}, "", "must be a JSON object"},
          {"null body", "null", Expect::kMalformed, {}, "", "must be a JSON object"},
          {"duplicate key", "{\"quantity\":1," + register_body("", "").substr(1), Expect::kMalformed, {}, "",
           "\"quantity\" is given more than once"},
          {"duplicate key with equal values", "{\"project_name\":\"P\"," + register_body("project_name", "\"P\"").substr(1),
           Expect::kMalformed, {}, "", "more than once"},
          {"invalid UTF-8 byte", register_body("project_name", "\"a\xFF" "b\""), Expect::kMalformed, {}, "",
           "invalid UTF-8"},
          {"truncated UTF-8 sequence", register_body("registry", "\"a\xC3\""), Expect::kMalformed, {}, "",
           "invalid UTF-8"},
          {"bad continuation byte", register_body("registry", "\"\xC3\x28\""), Expect::kMalformed, {}, "",
           "invalid UTF-8"},
          {"overlong encoding", register_body("serial_number", "\"\xC0\xAF\""), Expect::kMalformed, {}, "",
           "invalid UTF-8"},
          {"raw surrogate", register_body("serial_number", "\"\xED\xA0\x80\""), Expect::kMalformed, {}, "",
           "invalid UTF-8"},
          {"invalid UTF-8 in an unknown field", "{\"x\":\"\xFF\"}", Expect::kMalformed, {}, "", "invalid UTF-8"},
          {"escaped lone high surrogate", register_body("project_name", "\"\\ud800\""), Expect::kMalformed, {},
           "", ""},
          {"escaped lone low surrogate", register_body("project_name", "\"\\udc00\""), Expect::kMalformed, {},
           "", "invalid UTF-8"},
          {"deeply nested", std::string(100000, '['), Expect::kMalformed, {}, "", "not valid JSON"},
      },
      parse_register_request);
}

TEST(ParseRegisterRequestTest, DeeplyNestedUnknownFieldIsHarmless) {
  const std::string body = "{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "," +
                           register_body("", "").substr(1);
  EXPECT_EQ(parse_register_request(body).outcome, ParsedRequest<RegisterCredit>::Outcome::kOk);
}

// --- sell ---

TEST(ParseSellRequestTest, Table) {
  run_cases<SellCredit>(
      {
          {"buyer", "{\"buyer\":\"Acme Airlines\"}", Expect::kOk, {}, "Acme Airlines", ""},
          {"buyer trimmed", "{\"buyer\":\" \\tAcme \"}", Expect::kOk, {}, "Acme", ""},
          {"unknown field ignored", "{\"price\":5,\"buyer\":\"B\"}", Expect::kOk, {}, "B", ""},
          {"200 chars", "{\"buyer\":" + quoted(repeat("b", 200)) + "}", Expect::kOk, {}, repeat("b", 200), ""},
          {"200 three-byte chars", "{\"buyer\":" + quoted(repeat("\xE2\x82\xAC", 200)) + "}", Expect::kOk, {},
           repeat("\xE2\x82\xAC", 200), ""},
          {"201 chars", "{\"buyer\":" + quoted(repeat("b", 201)) + "}", Expect::kInvalid, {{"buyer", kText200}},
           "", ""},
          {"empty string", "{\"buyer\":\"\"}", Expect::kInvalid, {{"buyer", kText200}}, "", ""},
          {"control character", "{\"buyer\":\"a\\u0085b\"}", Expect::kInvalid, {{"buyer", kNoControl}}, "", ""},
          {"null", "{\"buyer\":null}", Expect::kInvalid, {{"buyer", kMustBeString}}, "", ""},
          {"number", "{\"buyer\":1}", Expect::kInvalid, {{"buyer", kMustBeString}}, "", ""},
          {"missing", "{}", Expect::kInvalid, {{"buyer", kRequired}}, "", ""},
          {"empty body", "", Expect::kInvalid, {{"buyer", kRequired}}, "", ""},
          {"whitespace body", " \t\r\n ", Expect::kInvalid, {{"buyer", kRequired}}, "", ""},
          {"not JSON", "buyer=B", Expect::kMalformed, {}, "", "not valid JSON"},
          {"array body", "[\"B\"]", Expect::kMalformed, {}, "", "must be a JSON object"},
          {"duplicate buyer", "{\"buyer\":\"A\",\"buyer\":\"B\"}", Expect::kMalformed, {}, "", "more than once"},
          {"invalid UTF-8", "{\"buyer\":\"\xE2\x82\"}", Expect::kMalformed, {}, "", "invalid UTF-8"},
      },
      parse_sell_request);
}

// --- retire ---

TEST(ParseRetireRequestTest, Table) {
  run_cases<RetireCredit>(
      {
          {"empty body", "", Expect::kOk, {}, "beneficiary=(absent) reason=(absent)", ""},
          {"whitespace body", "  \n", Expect::kOk, {}, "beneficiary=(absent) reason=(absent)", ""},
          {"empty object", "{}", Expect::kOk, {}, "beneficiary=(absent) reason=(absent)", ""},
          {"nulls are absent", "{\"beneficiary\":null,\"reason\":null}", Expect::kOk, {},
           "beneficiary=(absent) reason=(absent)", ""},
          {"both", "{\"beneficiary\":\" Acme \",\"reason\":\"\\t2023 flights\"}", Expect::kOk, {},
           "beneficiary=Acme reason=2023 flights", ""},
          {"reason only", "{\"reason\":\"R\"}", Expect::kOk, {}, "beneficiary=(absent) reason=R", ""},
          {"unknown field ignored", "{\"when\":\"now\"}", Expect::kOk, {}, "beneficiary=(absent) reason=(absent)",
           ""},
          {"200 chars", "{\"reason\":" + quoted(repeat("r", 200)) + "}", Expect::kOk, {},
           "beneficiary=(absent) reason=" + repeat("r", 200), ""},
          {"201 chars", "{\"reason\":" + quoted(repeat("r", 201)) + "}", Expect::kInvalid, {{"reason", kText200}},
           "", ""},
          {"empty beneficiary", "{\"beneficiary\":\"\"}", Expect::kInvalid, {{"beneficiary", kText200}}, "", ""},
          {"blank beneficiary", "{\"beneficiary\":\" \\t \"}", Expect::kInvalid, {{"beneficiary", kText200}}, "",
           ""},
          {"reason not a string", "{\"reason\":5}", Expect::kInvalid, {{"reason", kMustBeString}}, "", ""},
          {"both bad", "{\"reason\":\"a\\u0000\",\"beneficiary\":false}", Expect::kInvalid,
           {{"beneficiary", kMustBeString}, {"reason", kNoControl}}, "", ""},
          {"not JSON", "{beneficiary}", Expect::kMalformed, {}, "", "not valid JSON"},
          {"array body", "[]", Expect::kMalformed, {}, "", "must be a JSON object"},
          {"null body", "null", Expect::kMalformed, {}, "", "must be a JSON object"},
          {"duplicate reason", "{\"reason\":\"a\",\"reason\":null}", Expect::kMalformed, {}, "", "more than once"},
          {"invalid UTF-8", "{\"reason\":\"\xF8\x88\x80\x80\x80\"}", Expect::kMalformed, {}, "", "invalid UTF-8"},
      },
      parse_retire_request);
}

}  // namespace
}  // namespace ledger

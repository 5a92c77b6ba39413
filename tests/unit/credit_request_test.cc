// Tests for decoding and validating credit request bodies (command/credit_request.h).
#include "command/credit_request.h"

#include <map>
#include <optional>
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

// "project|registry|vintage|quantity|serial|start..end|stated or unstated".
std::string describe(const RegisterCredit& c) {
  const CreditAttributes& a = c.attributes;
  return a.project_name + "|" + a.registry + "|" + std::to_string(a.vintage) + "|" + std::to_string(a.quantity) +
         "|" + a.serial_number + "|" + std::to_string(a.block_start) + ".." + std::to_string(a.block_end) + "|" +
         (c.range_stated ? "stated" : "unstated");
}
std::string describe_quantity(const std::optional<std::int64_t>& quantity) {
  return quantity ? " quantity=" + std::to_string(*quantity) : "";
}
std::string describe(const SellCredit& c) { return c.buyer + describe_quantity(c.quantity); }
// Category and details only when present, so the older cases read as before.
std::string describe(const RetireCredit& c) {
  const Retirement& r = c.retirement;
  return "beneficiary=" + r.beneficiary.value_or("(absent)") + " reason=" + r.reason.value_or("(absent)") +
         (r.category ? " category=" + *r.category : "") + (r.details ? " details=" + *r.details : "") +
         describe_quantity(c.quantity);
}
std::string describe(const CancelCredit& c) { return "reason=" + c.reason + describe_quantity(c.quantity); }

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
         "|" + values["serial_number"] + "|1.." + values["quantity"] + "|unstated";
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
          {"all fields", register_body("", ""), Expect::kOk, {}, "Kasigau Corridor|Verra|2023|100|VCS-1|1..100|unstated", ""},
          {"all trimmed, vintage as string, keys reordered",
           "{\"serial_number\":\" GS-1 \",\"quantity\":1,\"vintage\":\" 2021\\t\",\"registry\":\"\\tGold "
           "Standard \",\"project_name\":\"  P  \"}",
           Expect::kOk, {}, "P|Gold Standard|2021|1|GS-1|1..1|unstated", ""},
          {"registry case kept", register_body("registry", "\"VERRA\""), Expect::kOk, {},
           register_value("registry", "VERRA"), ""},
          {"unknown fields ignored",
           "{\"note\":{\"x\":[1,2,null]},\"project_name\":\"P\",\"registry\":\"R\",\"vintage\":2023,"
           "\"quantity\":5,\"serial_number\":\"S\",\"note\":1}",
           Expect::kOk, {}, "P|R|2023|5|S|1..5|unstated", ""},
          {"surrounding whitespace", "\n " + register_body("", "") + " \r\n", Expect::kOk, {},
           "Kasigau Corridor|Verra|2023|100|VCS-1|1..100|unstated", ""},
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
          // null is absent (as for every optional field): without a block the quantity is then required.
          bad_field("null", "quantity", "null", kRequired),
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
            {"serial_number", kRequired},
            {"quantity", kMustBeInteger}},
           "", ""},
          {"every field wrong type",
           "{\"project_name\":1,\"registry\":null,\"vintage\":false,\"quantity\":1.5,\"serial_number\":[]}",
           Expect::kInvalid,
           {{"project_name", kMustBeString},
            {"registry", kMustBeString},
            {"vintage", kVintageType},
            {"serial_number", kMustBeString},
            {"quantity", kQuantityWhole}},
           "", ""},
          {"empty object", "{}", Expect::kInvalid,
           {{"project_name", kRequired},
            {"registry", kRequired},
            {"vintage", kRequired},
            {"serial_number", kRequired},
            {"quantity", kRequired}},
           "", ""},
          {"empty body counts as no fields", "", Expect::kInvalid,
           {{"project_name", kRequired},
            {"registry", kRequired},
            {"vintage", kRequired},
            {"serial_number", kRequired},
            {"quantity", kRequired}},
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
          // A number beyond a double's range is well-formed JSON RapidJSON cannot scan: in a known field it is
          // that field's fault (422, below); elsewhere the body is refused whole.
          {"number beyond double in an unknown field", "{\"x\":1e400," + register_body("", "").substr(1),
           Expect::kMalformed, {}, "", "not valid JSON"},
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

// --- register: the block ---

const char kUnitWhole[] = "must be a whole number between 0 and 999999999999999";
const std::string kVerraSerial = "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1";
const std::string kOldVerraSerial = "8046-6186523-6188522-VCU-004-MER-CN-1-1310-01012013-31122013-0";
const std::string kGsSerial = "GS1-1-KE-GS11603-16-2025-30256-110-5463";

// A register body from the common fields plus `rest` (raw JSON members, e.g. "\"block_start\":1").
std::string block_body(const std::string& registry, const std::string& serial, const std::string& rest) {
  return "{\"project_name\":\"P\",\"registry\":\"" + registry + "\",\"vintage\":2021,\"serial_number\":\"" + serial +
         "\"" + (rest.empty() ? "" : "," + rest) + "}";
}

TEST(ParseRegisterRequestTest, BlockFields) {
  run_cases<RegisterCredit>(
      {
          {"block with agreeing quantity", block_body("R", "S", "\"quantity\":10,\"block_start\":5,\"block_end\":14"),
           Expect::kOk, {}, "P|R|2021|10|S|5..14|stated", ""},
          {"block without quantity", block_body("R", "S", "\"block_start\":5,\"block_end\":14"), Expect::kOk, {},
           "P|R|2021|10|S|5..14|stated", ""},
          {"block with quantity null", block_body("R", "S", "\"quantity\":null,\"block_start\":5,\"block_end\":14"),
           Expect::kOk, {}, "P|R|2021|10|S|5..14|stated", ""},
          {"one unit", block_body("R", "S", "\"block_start\":7,\"block_end\":7"), Expect::kOk, {},
           "P|R|2021|1|S|7..7|stated", ""},
          {"unit 0", block_body("R", "S", "\"block_start\":0,\"block_end\":0"), Expect::kOk, {},
           "P|R|2021|1|S|0..0|stated", ""},
          {"the highest unit", block_body("R", "S", "\"block_start\":999999999999999,\"block_end\":999999999999999"),
           Expect::kOk, {}, "P|R|2021|1|S|999999999999999..999999999999999|stated", ""},
          {"the largest block", block_body("R", "S", "\"block_start\":1,\"block_end\":1000000000000"), Expect::kOk, {},
           "P|R|2021|1000000000000|S|1..1000000000000|stated", ""},
          {"null block fields are absent", block_body("R", "S", "\"quantity\":3,\"block_start\":null,\"block_end\":null"),
           Expect::kOk, {}, "P|R|2021|3|S|1..3|unstated", ""},
          {"quantity only: 1..quantity", block_body("R", "S", "\"quantity\":3"), Expect::kOk, {},
           "P|R|2021|3|S|1..3|unstated", ""},
          {"quantity disagreeing", block_body("R", "S", "\"quantity\":9,\"block_start\":5,\"block_end\":14"),
           Expect::kInvalid, {{"quantity", "must be 10, the number of units in 5..14"}}, "", ""},
          {"only block_start", block_body("R", "S", "\"quantity\":10,\"block_start\":5"), Expect::kInvalid,
           {{"block_end", "is required with block_start"}}, "", ""},
          {"only block_end", block_body("R", "S", "\"block_end\":5"), Expect::kInvalid,
           {{"block_start", "is required with block_end"}}, "", ""},
          {"start above end", block_body("R", "S", "\"block_start\":6,\"block_end\":5"), Expect::kInvalid,
           {{"block_end", "must not be below block_start"}}, "", ""},
          {"negative start", block_body("R", "S", "\"block_start\":-1,\"block_end\":5"), Expect::kInvalid,
           {{"block_start", kUnitWhole}}, "", ""},
          {"end at the unit limit", block_body("R", "S", "\"block_start\":1,\"block_end\":1000000000000000"),
           Expect::kInvalid, {{"block_end", kUnitWhole}}, "", ""},
          {"start a string", block_body("R", "S", "\"block_start\":\"1\",\"block_end\":5"), Expect::kInvalid,
           {{"block_start", kMustBeInteger}}, "", ""},
          {"end a fraction", block_body("R", "S", "\"block_start\":1,\"block_end\":5.5"), Expect::kInvalid,
           {{"block_end", kUnitWhole}}, "", ""},
          {"end a boolean", block_body("R", "S", "\"block_start\":1,\"block_end\":true"), Expect::kInvalid,
           {{"block_end", kMustBeInteger}}, "", ""},
          {"both bad, and the quantity", block_body("R", "S", "\"quantity\":0,\"block_start\":-1,\"block_end\":\"x\""),
           Expect::kInvalid, {{"quantity", kQuantityWhole}, {"block_start", kUnitWhole}, {"block_end", kMustBeInteger}},
           "", ""},
          {"more units than a block may hold", block_body("R", "S", "\"block_start\":0,\"block_end\":1000000000000"),
           Expect::kInvalid, {{"block_end", "the block may hold at most 1000000000000 units"}}, "", ""},
          {"neither quantity nor block", block_body("R", "S", ""), Expect::kInvalid,
           {{"quantity", "is required (or block_start and block_end)"}}, "", ""},
          {"block errors come after the other fields", "{\"block_start\":1,\"registry\":\"R\"}", Expect::kInvalid,
           {{"project_name", kRequired},
            {"vintage", kRequired},
            {"serial_number", kRequired},
            {"block_end", "is required with block_start"}},
           "", ""},
          {"duplicate block_start", block_body("R", "S", "\"block_start\":1,\"block_start\":1,\"block_end\":2"),
           Expect::kMalformed, {}, "", "\"block_start\" is given more than once"},
      },
      parse_register_request);
}

TEST(ParseRegisterRequestTest, SerialNumbersThatStateTheirRange) {
  const std::string v = kVerraSerial;
  run_cases<RegisterCredit>(
      {
          {"Verra, no quantity", block_body("Verra", v, ""), Expect::kOk, {},
           "P|Verra|2021|425|" + v + "|941467007..941467431|stated", ""},
          {"Verra in lower case", block_body("verra", v, ""), Expect::kOk, {},
           "P|verra|2021|425|" + v + "|941467007..941467431|stated", ""},
          {"Verra, agreeing quantity", block_body("Verra", v, "\"quantity\":425"), Expect::kOk, {},
           "P|Verra|2021|425|" + v + "|941467007..941467431|stated", ""},
          {"Verra, agreeing block fields",
           block_body("Verra", v, "\"block_start\":941467007,\"block_end\":941467431"), Expect::kOk, {},
           "P|Verra|2021|425|" + v + "|941467007..941467431|stated", ""},
          {"Verra, quantity disagreeing", block_body("Verra", v, "\"quantity\":100"), Expect::kInvalid,
           {{"quantity", "must be 425, the number of units in 941467007..941467431"}}, "", ""},
          {"Verra, block_start disagreeing", block_body("Verra", v, "\"block_start\":941467008"), Expect::kInvalid,
           {{"block_start", "must be 941467007, the first unit the serial number states"}}, "", ""},
          {"Verra, block_end disagreeing", block_body("Verra", v, "\"block_start\":941467007,\"block_end\":941467430"),
           Expect::kInvalid, {{"block_end", "must be 941467431, the last unit the serial number states"}}, "", ""},
          {"Verra, both disagreeing", block_body("Verra", v, "\"block_start\":1,\"block_end\":2"), Expect::kInvalid,
           {{"block_start", "must be 941467007"}, {"block_end", "must be 941467431"}}, "", ""},
          {"older Verra serial without VCS", block_body("Verra", kOldVerraSerial, ""), Expect::kOk, {},
           "P|Verra|2021|2000|" + kOldVerraSerial + "|6186523..6188522|stated", ""},
          {"Gold Standard", block_body("Gold Standard", kGsSerial, ""), Expect::kOk, {},
           "P|Gold Standard|2021|5354|" + kGsSerial + "|110..5463|stated", ""},
          {"Gold Standard in upper case, agreeing quantity", block_body("GOLD STANDARD", kGsSerial, "\"quantity\":5354"),
           Expect::kOk, {}, "P|GOLD STANDARD|2021|5354|" + kGsSerial + "|110..5463|stated", ""},
          {"Gold Standard, quantity disagreeing", block_body("Gold Standard", kGsSerial, "\"quantity\":5353"),
           Expect::kInvalid, {{"quantity", "must be 5354"}}, "", ""},
          {"a Verra serial under another registry is opaque", block_body("Registry1", v, "\"quantity\":5"),
           Expect::kOk, {}, "P|Registry1|2021|5|" + v + "|1..5|unstated", ""},
          {"an opaque serial under another registry needs a quantity", block_body("Registry1", v, ""),
           Expect::kInvalid, {{"quantity", kRequired}}, "", ""},
          {"a Gold Standard serial under Verra is opaque", block_body("Verra", kGsSerial, "\"quantity\":5"),
           Expect::kOk, {}, "P|Verra|2021|5|" + kGsSerial + "|1..5|unstated", ""},
      },
      parse_register_request);
}

// --- sell, retire and cancel: quantities and the new fields ---

const char kUnitsQuantity[] = "must be a whole number between 1 and 1000000000000000";

TEST(ParseSellRequestTest, Quantity) {
  run_cases<SellCredit>(
      {
          {"quantity", "{\"buyer\":\"B\",\"quantity\":5}", Expect::kOk, {}, "B quantity=5", ""},
          {"quantity null is absent", "{\"buyer\":\"B\",\"quantity\":null}", Expect::kOk, {}, "B", ""},
          {"quantity 1", "{\"buyer\":\"B\",\"quantity\":1}", Expect::kOk, {}, "B quantity=1", ""},
          {"quantity 10^15", "{\"buyer\":\"B\",\"quantity\":1000000000000000}", Expect::kOk, {},
           "B quantity=1000000000000000", ""},
          {"quantity 0", "{\"buyer\":\"B\",\"quantity\":0}", Expect::kInvalid, {{"quantity", kUnitsQuantity}}, "", ""},
          {"quantity negative", "{\"buyer\":\"B\",\"quantity\":-5}", Expect::kInvalid, {{"quantity", kUnitsQuantity}},
           "", ""},
          {"quantity fraction", "{\"buyer\":\"B\",\"quantity\":2.5}", Expect::kInvalid,
           {{"quantity", kUnitsQuantity}}, "", ""},
          {"quantity a string", "{\"buyer\":\"B\",\"quantity\":\"5\"}", Expect::kInvalid,
           {{"quantity", kMustBeInteger}}, "", ""},
          {"buyer and quantity bad", "{\"quantity\":0}", Expect::kInvalid,
           {{"buyer", kRequired}, {"quantity", kUnitsQuantity}}, "", ""},
          {"duplicate quantity", "{\"buyer\":\"B\",\"quantity\":1,\"quantity\":2}", Expect::kMalformed, {}, "",
           "\"quantity\" is given more than once"},
      },
      parse_sell_request);
}

TEST(ParseRetireRequestTest, CategoryDetailsAndQuantity) {
  std::vector<RequestCase> cases = {
      {"details", "{\"details\":\" Scope 3 \"}", Expect::kOk, {},
       "beneficiary=(absent) reason=(absent) details=Scope 3", ""},
      {"details 1000 chars", "{\"details\":" + quoted(repeat("d", 1000)) + "}", Expect::kOk, {},
       "beneficiary=(absent) reason=(absent) details=" + repeat("d", 1000), ""},
      {"details 1001 chars", "{\"details\":" + quoted(repeat("d", 1001)) + "}", Expect::kInvalid,
       {{"details", "must be between 1 and 1000 characters after trimming"}}, "", ""},
      {"details empty", "{\"details\":\"\"}", Expect::kInvalid,
       {{"details", "must be between 1 and 1000 characters after trimming"}}, "", ""},
      {"details null", "{\"details\":null}", Expect::kOk, {}, "beneficiary=(absent) reason=(absent)", ""},
      {"details a number", "{\"details\":1}", Expect::kInvalid, {{"details", kMustBeString}}, "", ""},
      {"category null", "{\"category\":null}", Expect::kOk, {}, "beneficiary=(absent) reason=(absent)", ""},
      {"category unknown", "{\"category\":\"carbon_neutral\"}", Expect::kInvalid,
       {{"category", "must be one of environmental_benefit, person_or_organization, corporate_inventory, other"}}, "",
       ""},
      {"category in upper case", "{\"category\":\"OTHER\"}", Expect::kInvalid, {{"category", "must be one of"}}, "",
       ""},
      {"category padded", "{\"category\":\" other\"}", Expect::kInvalid, {{"category", "must be one of"}}, "", ""},
      {"category a number", "{\"category\":1}", Expect::kInvalid, {{"category", "must be one of"}}, "", ""},
      {"quantity", "{\"quantity\":3}", Expect::kOk, {}, "beneficiary=(absent) reason=(absent) quantity=3", ""},
      {"quantity 0", "{\"quantity\":0}", Expect::kInvalid, {{"quantity", kUnitsQuantity}}, "", ""},
      {"quantity a string", "{\"quantity\":\"3\"}", Expect::kInvalid, {{"quantity", kMustBeInteger}}, "", ""},
      {"everything",
       "{\"beneficiary\":\"B\",\"reason\":\"R\",\"category\":\"person_or_organization\",\"details\":\"D\","
       "\"quantity\":7}",
       Expect::kOk, {}, "beneficiary=B reason=R category=person_or_organization details=D quantity=7", ""},
      {"every field bad, in field order",
       "{\"quantity\":-1,\"details\":\"\",\"category\":\"x\",\"reason\":5,\"beneficiary\":\"\"}", Expect::kInvalid,
       {{"beneficiary", kText200},
        {"reason", kMustBeString},
        {"category", "must be one of"},
        {"details", "must be between 1 and 1000"},
        {"quantity", kUnitsQuantity}},
       "", ""},
      {"duplicate category", "{\"category\":\"other\",\"category\":\"other\"}", Expect::kMalformed, {}, "",
       "more than once"},
      {"duplicate details", "{\"details\":\"a\",\"details\":\"b\"}", Expect::kMalformed, {}, "", "more than once"},
  };
  for (const char* category : kRetirementCategories) {
    cases.push_back({std::string("category ") + category, "{\"category\":\"" + std::string(category) + "\"}",
                     Expect::kOk, {}, std::string("beneficiary=(absent) reason=(absent) category=") + category, ""});
  }
  run_cases<RetireCredit>(cases, parse_retire_request);
}

TEST(ParseCancelRequestTest, Table) {
  run_cases<CancelCredit>(
      {
          {"reason", "{\"reason\":\" issued in error \"}", Expect::kOk, {}, "reason=issued in error", ""},
          {"reason and quantity", "{\"reason\":\"r\",\"quantity\":4}", Expect::kOk, {}, "reason=r quantity=4", ""},
          {"quantity null", "{\"reason\":\"r\",\"quantity\":null}", Expect::kOk, {}, "reason=r", ""},
          {"unknown field ignored", "{\"reason\":\"r\",\"note\":1}", Expect::kOk, {}, "reason=r", ""},
          {"reason missing", "{\"quantity\":4}", Expect::kInvalid, {{"reason", kRequired}}, "", ""},
          {"empty body", "", Expect::kInvalid, {{"reason", kRequired}}, "", ""},
          {"reason empty", "{\"reason\":\"\"}", Expect::kInvalid, {{"reason", kText200}}, "", ""},
          {"reason 201 chars", "{\"reason\":" + quoted(repeat("r", 201)) + "}", Expect::kInvalid,
           {{"reason", kText200}}, "", ""},
          {"reason null", "{\"reason\":null}", Expect::kInvalid, {{"reason", kMustBeString}}, "", ""},
          {"reason a control character", "{\"reason\":\"a\\u0000\"}", Expect::kInvalid, {{"reason", kNoControl}}, "",
           ""},
          {"both bad", "{\"reason\":1,\"quantity\":0}", Expect::kInvalid,
           {{"reason", kMustBeString}, {"quantity", kUnitsQuantity}}, "", ""},
          {"not JSON", "reason=r", Expect::kMalformed, {}, "", "not valid JSON"},
          {"array body", "[]", Expect::kMalformed, {}, "", "must be a JSON object"},
          {"duplicate reason", "{\"reason\":\"a\",\"reason\":\"b\"}", Expect::kMalformed, {}, "", "more than once"},
          {"invalid UTF-8", "{\"reason\":\"\xFF\"}", Expect::kMalformed, {}, "", "invalid UTF-8"},
      },
      parse_cancel_request);
}

const char kBeyondDouble[] = "must be a number within the range of a double";

TEST(ParseRequestTest, NumberBeyondADoubleNamesItsField) {
  run_cases<RegisterCredit>(
      {
          {"quantity", register_body("quantity", "1e400"), Expect::kInvalid, {{"quantity", kBeyondDouble}}, "", ""},
          {"vintage", register_body("vintage", "-1e400"), Expect::kInvalid, {{"vintage", kBeyondDouble}}, "", ""},
          {"block_start", block_body("R", "S", "\"block_start\":1e999,\"block_end\":2"), Expect::kInvalid,
           {{"block_start", kBeyondDouble}}, "", ""},
      },
      parse_register_request);
  run_cases<SellCredit>({{"quantity", "{\"buyer\":\"B\",\"quantity\":1e400}", Expect::kInvalid,
                          {{"quantity", kBeyondDouble}}, "", ""}},
                        parse_sell_request);
  run_cases<RetireCredit>({{"quantity", "{\"quantity\":1e400}", Expect::kInvalid, {{"quantity", kBeyondDouble}}, "", ""}},
                          parse_retire_request);
  run_cases<CancelCredit>({{"quantity", "{\"reason\":\"r\",\"quantity\":1e400}", Expect::kInvalid,
                            {{"quantity", kBeyondDouble}}, "", ""}},
                          parse_cancel_request);
}

TEST(ValidateNameTest, NormalisesOrSaysWhatIsWrong) {
  std::string name = " Acme\t";
  EXPECT_EQ(validate_name(&name), "");
  EXPECT_EQ(name, "Acme");
  std::string empty = "  ";
  EXPECT_EQ(validate_name(&empty), kText200);
  EXPECT_EQ(empty, "  ");
  std::string control = "a\x01";
  EXPECT_EQ(validate_name(&control).rfind(kNoControl, 0), 0u);
}

}  // namespace
}  // namespace ledger

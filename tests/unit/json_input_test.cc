// Tests for parsing outside JSON without RapidJSON's number conversion (command/json_input.h), and for
// the request parsers on the number texts that crashed serve (CVE-2024-38517) and their relatives.
#include "command/json_input.h"

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "command/credit.h"
#include "command/credit_request.h"

namespace ledger {
namespace {

// Number texts whose exponent plus fraction digits overflow an int, or that are just huge, tiny or long.
std::vector<std::string> hostile_numbers() {
  std::vector<std::string> numbers = {
      "1.0000000000e-2147483639",  // the reported crash
      "1.0000000000e-2147483648", "1.0000000000e+2147483639", "1.0000000000e2147483647",
      "-1.0000000000e-2147483639", "0.0000000001e-2147483647", "9.99999999999999999999e-2147483600",
      "1e-2147483648", "1e-99999999999999999999", "1e-4294967296", "-0.0e-2147483648",
      "123456789012345678901234567890e-2147483640", "1.7976931348623157e308", "2.2250738585072014e-308",
      "4.9e-324", "1e-400", "1e400", "18446744073709551616", "-9223372036854775809", "9223372036854775808",
      "0.1e-2147483647", "1E-2147483639", "1.5E+2147483600", "1.0000000000000000000000000000001",
  };
  numbers.push_back("1." + std::string(30, '0') + "e-2147483639");
  numbers.push_back("0." + std::string(40, '0') + "1e-2147483630");
  return numbers;
}

TEST(JsonInputTest, IntegersKeepTheirType) {
  EXPECT_TRUE(json_number_value("0").IsInt64());
  EXPECT_EQ(json_number_value("-9223372036854775808").GetInt64(), INT64_MIN);
  EXPECT_EQ(json_number_value("9223372036854775807").GetInt64(), INT64_MAX);
  const rapidjson::Value big = json_number_value("18446744073709551615");
  EXPECT_TRUE(big.IsUint64() && !big.IsInt64());
  EXPECT_TRUE(json_number_value("18446744073709551616").IsDouble());
  EXPECT_TRUE(json_number_value("-9223372036854775809").IsDouble());
}

TEST(JsonInputTest, FractionsAndExponentsAreDoubles) {
  EXPECT_TRUE(json_number_value("2.0").IsDouble());
  EXPECT_TRUE(json_number_value("1e3").IsDouble());
  EXPECT_DOUBLE_EQ(json_number_value("1.5e2").GetDouble(), 150.0);
  EXPECT_TRUE(std::isinf(json_number_value("1e400").GetDouble()));
  EXPECT_EQ(json_number_value("1.0000000000e-2147483639").GetDouble(), 0.0);
  EXPECT_TRUE(std::signbit(json_number_value("-1e-2147483639").GetDouble()));
}

TEST(JsonInputTest, HostileNumbersParseWithoutCrashing) {
  for (const std::string& number : hostile_numbers()) {
    SCOPED_TRACE(number);
    rapidjson::Document document;
    const JsonParseError error = parse_json("{\"n\": " + number + ", \"a\": [" + number + "]}", &document);
    if (error.kind == JsonParseError::Kind::kNone) {
      ASSERT_TRUE(document.IsObject());
      EXPECT_TRUE(document["n"].IsNumber());
      EXPECT_TRUE(document["a"][0].IsNumber());
    } else {
      EXPECT_FALSE(error.message.empty());
    }
  }
}

TEST(JsonInputTest, OverlongNumbersAreRefused) {
  rapidjson::Document document;
  const JsonParseError error = parse_json("{\"n\": 1" + std::string(kJsonNumberCharsMax, '0') + "}", &document);
  EXPECT_EQ(error.kind, JsonParseError::Kind::kNumberTooLong);
  EXPECT_EQ(parse_json("{\"n\": 1" + std::string(kJsonNumberCharsMax - 1, '0') + "}", &document).kind,
            JsonParseError::Kind::kNone);
}

TEST(JsonInputTest, SyntaxAndEncodingErrorsAreReported) {
  rapidjson::Document document;
  EXPECT_EQ(parse_json("{\"a\": }", &document).kind, JsonParseError::Kind::kSyntax);
  EXPECT_EQ(parse_json("{\"a\": \"\xff\"}", &document).kind, JsonParseError::Kind::kInvalidEncoding);
  EXPECT_EQ(parse_json("{\"a\": 01}", &document).kind, JsonParseError::Kind::kSyntax);
  EXPECT_EQ(parse_json(std::string(100000, '['), &document).kind, JsonParseError::Kind::kSyntax);
}

// Every field of every body, with every hostile number: a clean 400 or 422, never a crash, never a number
// taken for text.
TEST(JsonInputTest, RequestParsersRefuseHostileNumbersInEveryField) {
  const char* const register_fields[] = {"project_name", "registry", "vintage", "quantity", "serial_number", "extra"};
  for (const std::string& number : hostile_numbers()) {
    for (const char* field : register_fields) {
      std::string body = "{";
      for (const char* f : register_fields) {
        if (f != register_fields[0]) body += ",";
        body += std::string("\"") + f + "\":";
        if (f == field) {
          body += number;
        } else if (std::string(f) == "vintage") {
          body += "2023";
        } else if (std::string(f) == "quantity") {
          body += "100";
        } else {
          body += "\"X\"";
        }
      }
      body += "}";
      SCOPED_TRACE(body);
      const auto r = parse_register_request(body);
      if (std::string(field) == "extra") continue;  // unknown fields are ignored, whatever they hold
      EXPECT_NE(r.outcome, ParsedRequest<RegisterCredit>::Outcome::kOk);
    }
    for (const char* field : {"buyer"}) {
      const auto r = parse_sell_request(std::string("{\"") + field + "\":" + number + "}");
      EXPECT_NE(r.outcome, ParsedRequest<SellCredit>::Outcome::kOk) << number;
    }
    for (const char* field : {"beneficiary", "reason"}) {
      const auto r = parse_retire_request(std::string("{\"") + field + "\":" + number + "}");
      EXPECT_NE(r.outcome, ParsedRequest<RetireCredit>::Outcome::kOk) << number;
      const auto nested = parse_retire_request(std::string("{\"x\":[{\"y\":") + number + "}],\"" + field + "\":\"ok\"}");
      (void)nested;  // must merely not crash
    }
    CreditEvent event;
    EXPECT_FALSE(decode_event("CREATED",
                              "{\"project_name\":\"P\",\"registry\":\"R\",\"vintage\":" + number +
                                  ",\"quantity\":1,\"serial_number\":\"S\"}",
                              &event)
                     .ok())
        << number;
  }
}

}  // namespace
}  // namespace ledger

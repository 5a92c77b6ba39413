// Log lines in both formats (eventstore/log_line.h): text as before, JSON always one valid object per line
// whatever bytes a client put in a field.
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "eventstore/log_line.h"

namespace ledger {
namespace {

struct FormatGuard {
  explicit FormatGuard(LogFormat f) { set_log_format(f); }
  ~FormatGuard() { set_log_format(LogFormat::kText); }
};

TEST(LogLine, ParsesOnlyTheTwoFormats) {
  LogFormat f = LogFormat::kText;
  EXPECT_TRUE(parse_log_format("json", &f));
  EXPECT_EQ(f, LogFormat::kJson);
  EXPECT_TRUE(parse_log_format("text", &f));
  EXPECT_EQ(f, LogFormat::kText);
  for (const char* bad : {"", "JSON", "Text", "xml", "json "}) EXPECT_FALSE(parse_log_format(bad, &f)) << bad;
}

TEST(LogLine, TextIsProcessMessageAndFields) {
  FormatGuard guard(LogFormat::kText);
  EXPECT_EQ(format_log_line("serve", LogLevel::kInfo, "listening on http://127.0.0.1:1"),
            "serve: listening on http://127.0.0.1:1");
  EXPECT_EQ(format_log_line("projector", LogLevel::kWarn, "behind",
                            {LogField::num("position", 42), LogField::str("who", ""), LogField::dbl("lag_ms", 1.25)}),
            "projector: behind position=42 who=- lag_ms=1.2");
}

TEST(LogLine, JsonIsOneObjectWithTimeLevelProcessMessageAndTypedFields) {
  FormatGuard guard(LogFormat::kJson);
  const std::string line = format_log_line(
      "serve", LogLevel::kError, "request",
      {LogField::str("target", "/records/\"x\"\\\n\t\x01\x7f\xc3\xa9\xff"), LogField::num("status", 503),
       LogField::dbl("duration_ms", 12.5)});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.c_str());
  ASSERT_FALSE(doc.HasParseError()) << line;
  EXPECT_STREQ(doc["level"].GetString(), "error");
  EXPECT_STREQ(doc["process"].GetString(), "serve");
  EXPECT_STREQ(doc["message"].GetString(), "request");
  // The invalid byte 0xFF becomes U+FFFD; everything else comes back as sent.
  EXPECT_EQ(std::string(doc["target"].GetString(), doc["target"].GetStringLength()),
            "/records/\"x\"\\\n\t\x01\x7f\xc3\xa9\xef\xbf\xbd");
  EXPECT_EQ(doc["status"].GetInt(), 503);
  EXPECT_DOUBLE_EQ(doc["duration_ms"].GetDouble(), 12.5);
  const std::string time = doc["time"].GetString();
  ASSERT_EQ(time.size(), 24u) << time;  // 2026-12-02T06:30:01.234Z
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time.back(), 'Z');
}

}  // namespace
}  // namespace ledger

// The one shape of a log line, for every process (serve, project, rebuild, migrate, keys, registries):
// plain text (`serve: message key=value`) or, with LEDGER_LOG_FORMAT=json, one JSON object per line
// ({"time", "level", "process", "message", then the fields}). Formatting only: where the line goes
// (stderr at once, or serve's AccessLog thread) is the caller's business.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ledger {

enum class LogFormat { kText, kJson };
enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Parses a LEDGER_LOG_FORMAT value ("text" or "json"); false otherwise.
bool parse_log_format(std::string_view text, LogFormat* out);
// The format every line of this process takes: set once at startup (from LEDGER_LOG_FORMAT), text until.
void set_log_format(LogFormat format);
LogFormat log_format();

// One named value of a log line. A number is written bare in JSON; text is always a JSON string.
struct LogField {
  std::string_view name;
  std::string_view text;
  std::int64_t number = 0;
  bool is_number = false;
  double real = 0;
  bool is_real = false;
  static LogField str(std::string_view name, std::string_view value) { return {name, value}; }
  static LogField num(std::string_view name, std::int64_t value) { return {name, {}, value, true}; }
  static LogField dbl(std::string_view name, double value) { return {name, {}, 0, false, value, true}; }
};

// The line, without its newline, in the process's format. Text: "<process>: <message>[ name=value...]".
// JSON: time as RFC 3339 UTC with milliseconds; text values escaped (invalid UTF-8 replaced by U+FFFD).
std::string format_log_line(std::string_view process, LogLevel level, std::string_view message,
                            std::initializer_list<LogField> fields = {});

// format_log_line, then one write of it and a newline to stderr (for processes without a log thread).
void log_to_stderr(std::string_view process, LogLevel level, std::string_view message,
                   std::initializer_list<LogField> fields = {});

}  // namespace ledger

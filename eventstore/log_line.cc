#include "eventstore/log_line.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace ledger {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one (overlong, surrogate, > U+10FFFF).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  if (n == 3 && ((c == 0xE0 && b(i + 1) < 0xA0) || (c == 0xED && b(i + 1) >= 0xA0))) return 0;
  if (n == 4 && ((c == 0xF0 && b(i + 1) < 0x90) || (c == 0xF4 && b(i + 1) >= 0x90))) return 0;
  return n;
}

void append_json_string(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
      ++i;
    } else {
      const std::size_t n = utf8_length(s, i);
      if (n == 0) {
        out->append("\\ufffd");
        ++i;
      } else {
        out->append(s.substr(i, n));
        i += n;
      }
    }
  }
  out->push_back('"');
}

void append_time(std::string* out) {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  out->append(buf, n);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms % 1000));
  out->append(frac);
}

}  // namespace

bool parse_log_format(std::string_view text, LogFormat* out) {
  if (text == "text") {
    *out = LogFormat::kText;
    return true;
  }
  if (text == "json") {
    *out = LogFormat::kJson;
    return true;
  }
  return false;
}

void set_log_format(LogFormat format) { g_format.store(format); }
LogFormat log_format() { return g_format.load(); }

std::string format_log_line(std::string_view process, LogLevel level, std::string_view message,
                            std::initializer_list<LogField> fields) {
  std::string out;
  out.reserve(64 + message.size() + 32 * fields.size());
  if (log_format() == LogFormat::kText) {
    out.append(process).append(": ").append(message);
    for (const LogField& f : fields) {
      out.push_back(' ');
      out.append(f.name).push_back('=');
      if (f.is_number) {
        out.append(std::to_string(f.number));
      } else if (f.is_real) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.1f", f.real);
        out.append(buf);
      } else {
        out.append(f.text.empty() ? std::string_view("-") : f.text);
      }
    }
    return out;
  }
  out.append("{\"time\":\"");
  append_time(&out);
  out.append("\",\"level\":\"").append(level_name(level)).append("\",\"process\":");
  append_json_string(&out, process);
  out.append(",\"message\":");
  append_json_string(&out, message);
  for (const LogField& f : fields) {
    out.push_back(',');
    append_json_string(&out, f.name);
    out.push_back(':');
    if (f.is_number) {
      out.append(std::to_string(f.number));
    } else if (f.is_real) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", f.real);
      out.append(buf);
    } else {
      append_json_string(&out, f.text);
    }
  }
  out.push_back('}');
  return out;
}

void log_to_stderr(std::string_view process, LogLevel level, std::string_view message,
                   std::initializer_list<LogField> fields) {
  std::string line = format_log_line(process, level, message, fields);
  line.push_back('\n');
  // One write(2) per line, so lines of other threads never interleave inside it.
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace ledger

#include "command/json_input.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <system_error>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/reader.h>

namespace ledger {

namespace {

constexpr unsigned kParseFlags = rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseNumbersAsStringsFlag;

// Forwards every SAX event to the document being populated, except numbers, which arrive as text
// (RawNumber) and are converted by json_number_value().
class SafeNumberHandler {
 public:
  explicit SafeNumberHandler(rapidjson::Document* document) : document_(document) {}

  bool Null() { return document_->Null(); }
  bool Bool(bool b) { return document_->Bool(b); }
  // With kParseNumbersAsStringsFlag the reader never calls these; refusing them keeps it that way.
  bool Int(int) { return false; }
  bool Uint(unsigned) { return false; }
  bool Int64(std::int64_t) { return false; }
  bool Uint64(std::uint64_t) { return false; }
  bool Double(double) { return false; }
  bool RawNumber(const char* text, rapidjson::SizeType length, bool) {
    if (length > kJsonNumberCharsMax) {
      number_too_long_ = true;
      return false;
    }
    const rapidjson::Value number = json_number_value(std::string_view(text, length));
    if (number.IsInt64()) return document_->Int64(number.GetInt64());
    if (number.IsUint64()) return document_->Uint64(number.GetUint64());
    return document_->Double(number.GetDouble());
  }
  bool String(const char* text, rapidjson::SizeType length, bool copy) {
    return document_->String(text, length, copy);
  }
  bool StartObject() { return document_->StartObject(); }
  bool Key(const char* text, rapidjson::SizeType length, bool copy) { return document_->Key(text, length, copy); }
  bool EndObject(rapidjson::SizeType members) { return document_->EndObject(members); }
  bool StartArray() { return document_->StartArray(); }
  bool EndArray(rapidjson::SizeType elements) { return document_->EndArray(elements); }

  bool number_too_long() const { return number_too_long_; }

 private:
  rapidjson::Document* document_;
  bool number_too_long_ = false;
};

// The generator GenericDocument::Populate() calls: runs the reader over the input into the handler.
struct Generator {
  std::string_view text;
  rapidjson::ParseResult result;
  bool number_too_long = false;

  bool operator()(rapidjson::Document& document) {
    SafeNumberHandler handler(&document);
    rapidjson::MemoryStream memory(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> input(memory);
    rapidjson::Reader reader;
    result = reader.Parse<kParseFlags>(input, handler);
    number_too_long = handler.number_too_long();
    return !result.IsError();
  }
};

bool is_integer_text(std::string_view text) {
  return text.find_first_of(".eE") == std::string_view::npos;
}

}  // namespace

rapidjson::Value json_number_value(std::string_view number_text) {
  const char* const begin = number_text.data();
  const char* const end = begin + number_text.size();
  if (is_integer_text(number_text)) {
    std::int64_t signed_value = 0;
    auto [ptr, ec] = std::from_chars(begin, end, signed_value);
    if (ec == std::errc() && ptr == end) return rapidjson::Value(static_cast<int64_t>(signed_value));
    if (!number_text.empty() && number_text.front() != '-') {
      std::uint64_t unsigned_value = 0;
      auto [uptr, uec] = std::from_chars(begin, end, unsigned_value);
      if (uec == std::errc() && uptr == end) return rapidjson::Value(static_cast<uint64_t>(unsigned_value));
    }
  }
  // from_chars does not accept a leading '+', but JSON numbers never have one; it is locale-independent
  // and reports out-of-range magnitudes instead of misbehaving.
  double value = 0;
  auto [ptr, ec] = std::from_chars(begin, end, value, std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    // Too large or too small for a double: which one is told by the exponent's sign.
    const bool negative = !number_text.empty() && number_text.front() == '-';
    const std::size_t e = number_text.find_first_of("eE");
    const bool tiny = e != std::string_view::npos && e + 1 < number_text.size() && number_text[e + 1] == '-';
    value = tiny ? (negative ? -0.0 : 0.0)
                 : (negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity());
  } else if (ec != std::errc()) {
    value = std::numeric_limits<double>::quiet_NaN();  // cannot happen for text RapidJSON accepted
  }
  return rapidjson::Value(value);
}

std::string member_name_at(std::string_view text, std::size_t offset) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  if (offset > text.size()) return "";
  std::size_t i = offset;
  while (i > 0 && is_space(text[i - 1])) --i;
  if (i == 0 || text[i - 1] != ':') return "";
  --i;
  while (i > 0 && is_space(text[i - 1])) --i;
  if (i == 0 || text[i - 1] != '"') return "";
  const std::size_t end = --i;
  while (i > 0 && text[i - 1] != '"') {
    if (text[i - 1] == '\\') return "";  // escapes: not worth decoding for an error message
    --i;
  }
  if (i == 0) return "";
  return std::string(text.substr(i, end - i));
}

JsonParseError parse_json(std::string_view text, rapidjson::Document* document) {
  Generator generator{text, {}, false};
  document->Populate(generator);
  JsonParseError error;
  if (!generator.result.IsError()) return error;
  error.offset = generator.result.Offset();
  if (generator.number_too_long) {
    error.kind = JsonParseError::Kind::kNumberTooLong;
    error.message = "a number is longer than " + std::to_string(kJsonNumberCharsMax) + " characters";
  } else if (generator.result.Code() == rapidjson::kParseErrorNumberTooBig) {
    error.kind = JsonParseError::Kind::kNumberTooBig;
    error.message = "a number is beyond the range of a double";
  } else if (generator.result.Code() == rapidjson::kParseErrorStringInvalidEncoding) {
    error.kind = JsonParseError::Kind::kInvalidEncoding;
    error.message = "invalid UTF-8 in a string";
  } else {
    error.kind = JsonParseError::Kind::kSyntax;
    error.message = rapidjson::GetParseError_En(generator.result.Code());
  }
  return error;
}

}  // namespace ledger

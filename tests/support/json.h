// JSON helpers for the integration tests (RapidJSON): parse response bodies, build request bodies.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ledger::test {

// Parses `text`; throws std::runtime_error (quoting the text) when it is not valid JSON.
inline rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.c_str(), text.size());
  if (doc.HasParseError()) {
    throw std::runtime_error(std::string("response body is not JSON (") +
                             rapidjson::GetParseError_En(doc.GetParseError()) + "): " + text.substr(0, 500));
  }
  return doc;
}

// The string member `name` of an object, or "" when absent or not a string.
inline std::string string_member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return "";
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

inline bool has_int_member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return false;
  auto it = object.FindMember(name);
  return it != object.MemberEnd() && it->value.IsInt64();
}

// The integer member `name`; throws when absent or not an integer.
inline std::int64_t int_member(const rapidjson::Value& object, const char* name) {
  if (!has_int_member(object, name)) throw std::runtime_error(std::string("no integer member ") + name);
  return object[name].GetInt64();
}

// JSON text of a string (with quotes and escapes).
inline std::string json_string(const std::string& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

// {"k": <raw json>, ...}: values are JSON text, so tests can send wrong types (e.g. "\"100\"" or "1.5").
inline std::string json_object(const std::vector<std::pair<std::string, std::string>>& members) {
  std::string out = "{";
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out += ",";
    out += json_string(members[i].first) + ":" + members[i].second;
  }
  return out + "}";
}

}  // namespace ledger::test

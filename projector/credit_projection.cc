#include "projector/credit_projection.h"

#include <limits>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "command/json_input.h"

namespace ledger {

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

std::string describe(const RecordedEvent& e) {
  return e.event_type + " event " + e.event_id + " at position " + std::to_string(e.position) + " of stream " +
         e.stream_id + " (version " + std::to_string(e.stream_version) + ")";
}

Status version_error(const RecordedEvent& e, std::int64_t expected) {
  return Status::Internal(describe(e) + ": expected stream version " + std::to_string(expected) + ", got " +
                          std::to_string(e.stream_version));
}

// A string member of `data`, or nullptr when missing or not a string.
const rapidjson::Value* string_member(const rapidjson::Document& data, const char* name) {
  auto it = data.FindMember(name);
  if (it == data.MemberEnd() || !it->value.IsString()) return nullptr;
  return &it->value;
}

void write_string(JsonWriter& writer, const std::string& s) {
  writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

bool is_json_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// The history text must be a JSON array for append_history; checked before anything is changed.
bool is_array_text(std::string_view h) {
  while (!h.empty() && is_json_space(h.back())) h.remove_suffix(1);
  return h.size() >= 2 && h.front() == '[' && h.back() == ']';
}

// {"version": n, "type": t, "recorded_at": r, "data": <the event's data, verbatim>}. The data text is
// embedded as is (it already parsed as an object), so numbers keep the exact form the log stores.
std::string history_entry(const RecordedEvent& e) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("version");
  writer.Int64(e.stream_version);
  writer.Key("type");
  write_string(writer, e.event_type);
  writer.Key("recorded_at");
  write_string(writer, e.recorded_at);
  writer.Key("data");
  writer.RawValue(e.data_json.data(), e.data_json.size(), rapidjson::kObjectType);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// Appends `entry` to a JSON array text in place ("[]" -> "[e]", "[a]" -> "[a, e]"): amortized O(entry),
// not O(history). Requires is_array_text(*history_json).
void append_history(std::string* history_json, const std::string& entry) {
  std::string& h = *history_json;
  while (is_json_space(h.back())) h.pop_back();
  h.pop_back();  // the ']'
  const bool empty = h.find_last_not_of(" \n\t\r") == 0;  // only the '[' is left
  if (!empty) h += ", ";
  h += entry;
  h += ']';
}

}  // namespace

Status apply_event(const RecordedEvent& e, std::optional<CreditRecord>* record) {
  rapidjson::Document data;
  // parse_json(): the row's bytes never reach RapidJSON's number conversion (CVE-2024-38517).
  if (parse_json(e.data_json, &data).kind != JsonParseError::Kind::kNone || !data.IsObject()) {
    return Status::Internal(describe(e) + ": data is not a JSON object");
  }
  if (e.stream_id.empty() || e.recorded_at.empty()) {
    return Status::Internal(describe(e) + ": stream_id or recorded_at is empty");
  }

  const std::string_view type = e.event_type;
  if (type == "CREATED") {
    if (record->has_value()) {
      return Status::Internal(describe(e) + ": the credit already exists at version " +
                              std::to_string((*record)->version) + " (duplicate CREATED)");
    }
    if (e.stream_version != 1) return version_error(e, 1);
    const rapidjson::Value* project_name = string_member(data, "project_name");
    const rapidjson::Value* registry = string_member(data, "registry");
    const rapidjson::Value* serial_number = string_member(data, "serial_number");
    const auto vintage = data.FindMember("vintage");
    const auto quantity = data.FindMember("quantity");
    if (project_name == nullptr || registry == nullptr || serial_number == nullptr ||
        vintage == data.MemberEnd() || !vintage->value.IsInt() || quantity == data.MemberEnd() ||
        !quantity->value.IsInt64()) {
      return Status::Internal(describe(e) +
                              ": data needs strings project_name, registry, serial_number and integers "
                              "vintage, quantity; got " + e.data_json.substr(0, 200));
    }
    CreditRecord r;
    r.id = e.stream_id;
    r.project_name.assign(project_name->GetString(), project_name->GetStringLength());
    r.registry.assign(registry->GetString(), registry->GetStringLength());
    r.vintage = vintage->value.GetInt();
    r.quantity = quantity->value.GetInt64();
    r.serial_number.assign(serial_number->GetString(), serial_number->GetStringLength());
    r.status = e.event_type;
    r.version = 1;
    r.history_json = "[]";
    append_history(&r.history_json, history_entry(e));
    r.last_position = e.position;
    if (const rapidjson::Value* issuer = string_member(data, "issuer")) {
      r.holder.assign(issuer->GetString(), issuer->GetStringLength());
    }
    *record = std::move(r);
    return Status::Ok();
  }

  if (type == "SOLD" || type == "RETIRED") {
    if (!record->has_value()) {
      return Status::Internal(describe(e) + ": the credit has no record (expected its CREATED at version 1 "
                              "first, got version " + std::to_string(e.stream_version) + ")");
    }
    CreditRecord& r = **record;
    if (r.id != e.stream_id) return Status::Internal(describe(e) + ": offered the record of " + r.id);
    // Guards the addition below (real versions are far smaller).
    if (r.version == std::numeric_limits<std::int64_t>::max()) return version_error(e, r.version);
    if (e.stream_version != r.version + 1) return version_error(e, r.version + 1);
    if (!is_array_text(r.history_json)) {
      return Status::Internal("credit " + r.id + ": history is not a JSON array: " + r.history_json.substr(0, 80));
    }
    const rapidjson::Value* buyer = type == "SOLD" ? string_member(data, "buyer") : nullptr;
    if (type == "SOLD" && buyer == nullptr) {
      return Status::Internal(describe(e) + ": data needs a string buyer; got " + e.data_json.substr(0, 200));
    }
    // Nothing can fail from here on, so the record is either fully updated or untouched.
    append_history(&r.history_json, history_entry(e));
    if (buyer != nullptr) r.holder.assign(buyer->GetString(), buyer->GetStringLength());
    r.status = e.event_type;
    r.version = e.stream_version;
    r.last_position = e.position;
    return Status::Ok();
  }

  return Status::Internal(describe(e) + ": unknown event type '" + e.event_type +
                          "' (expected CREATED, SOLD or RETIRED)");
}

std::string encode_credit_records(const std::vector<const CreditRecord*>& records) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartArray();
  for (const CreditRecord* r : records) {
    writer.StartObject();
    writer.Key("id");
    write_string(writer, r->id);
    writer.Key("project_name");
    write_string(writer, r->project_name);
    writer.Key("registry");
    write_string(writer, r->registry);
    writer.Key("vintage");
    writer.Int(r->vintage);
    writer.Key("quantity");
    writer.Int64(r->quantity);
    writer.Key("serial_number");
    write_string(writer, r->serial_number);
    writer.Key("status");
    write_string(writer, r->status);
    writer.Key("version");
    writer.Int64(r->version);
    writer.Key("history");
    writer.RawValue(r->history_json.data(), r->history_json.size(), rapidjson::kArrayType);
    writer.Key("last_position");
    writer.Int64(r->last_position);
    writer.Key("holder");
    write_string(writer, r->holder);
    writer.EndObject();
  }
  writer.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace ledger

#include "command/credit_record.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "command/json_input.h"

namespace ledger {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(JsonWriter& writer, const std::string& s) {
  writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_optional(JsonWriter& writer, const char* key, const std::optional<std::string>& value) {
  writer.Key(key);
  if (value) write_string(writer, *value);
  else writer.Null();
}

void write_retirement_object(JsonWriter& writer, const Retirement& r) {
  writer.StartObject();
  write_optional(writer, "beneficiary", r.beneficiary);
  write_optional(writer, "reason", r.reason);
  write_optional(writer, "category", r.category);
  write_optional(writer, "details", r.details);
  writer.EndObject();
}

void write_cancellation_object(JsonWriter& writer, const std::string& reason) {
  writer.StartObject();
  writer.Key("reason");
  write_string(writer, reason);
  writer.EndObject();
}

// The members of a block as the API shows it (credit_json) and as credit_records' recordset reads it.
void write_record_members(JsonWriter& writer, const std::string& id, const CreditState& state) {
  const CreditAttributes& a = state.attributes;
  writer.Key("id");
  write_string(writer, id);
  writer.Key("project_name");
  write_string(writer, a.project_name);
  writer.Key("registry");
  write_string(writer, a.registry);
  writer.Key("vintage");
  writer.Int(a.vintage);
  writer.Key("quantity");
  writer.Int64(a.quantity);
  writer.Key("serial_number");
  write_string(writer, a.serial_number);
  writer.Key("status");
  writer.String(status_name(state.status));
  writer.Key("version");
  writer.Int64(state.version);
  writer.Key("holder");
  write_string(writer, state.holder);
  writer.Key("issuer");
  write_string(writer, state.issuer);
  writer.Key("block_start");
  writer.Int64(a.block_start);
  writer.Key("block_end");
  writer.Int64(a.block_end);
  writer.Key("parent");
  if (state.parent.empty()) writer.Null();
  else write_string(writer, state.parent);
  writer.Key("children_count");
  writer.Int64(state.children_count);
  writer.Key("retirement");
  if (state.retirement) write_retirement_object(writer, *state.retirement);
  else writer.Null();
  writer.Key("cancellation");
  if (state.cancel_reason) write_cancellation_object(writer, *state.cancel_reason);
  else writer.Null();
}

std::string to_text(const rapidjson::StringBuffer& buffer) { return std::string(buffer.GetString(), buffer.GetSize()); }

// A string member of a parsed object ("" and false when absent or null).
bool optional_member(const rapidjson::Value& object, const char* name, std::optional<std::string>* out) {
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return true;
  if (!it->value.IsString()) return false;
  out->emplace(it->value.GetString(), it->value.GetStringLength());
  return true;
}

}  // namespace

std::string encode_credit_records(const std::vector<const CreditRecord*>& records) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartArray();
  for (const CreditRecord* r : records) {
    // The recordset reads members by name: the API's members plus where in the log the row was changed.
    writer.StartObject();
    write_record_members(writer, r->id, r->state);
    writer.Key("last_position");
    writer.Int64(r->last_position);
    writer.EndObject();
  }
  writer.EndArray();
  return to_text(buffer);
}

std::string encode_credit_history(const std::vector<CreditHistoryEntry>& entries) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartArray();
  for (const CreditHistoryEntry& h : entries) {
    writer.StartObject();
    writer.Key("credit_id");
    write_string(writer, h.credit_id);
    writer.Key("version");
    writer.Int64(h.version);
    writer.Key("event_type");
    write_string(writer, h.event_type);
    writer.Key("recorded_at");
    write_string(writer, h.recorded_at);
    writer.Key("data");
    writer.RawValue(h.data_json.data(), h.data_json.size(), rapidjson::kObjectType);
    writer.EndObject();
  }
  writer.EndArray();
  return to_text(buffer);
}

CreditRecordFields record_fields(const CreditRecord& record) {
  CreditRecordFields fields;
  const CreditState& s = record.state;
  fields.parent = s.parent;
  if (s.retirement) {
    rapidjson::StringBuffer buffer;
    JsonWriter writer(buffer);
    write_retirement_object(writer, *s.retirement);
    fields.retirement_json = to_text(buffer);
  }
  if (s.cancel_reason) {
    rapidjson::StringBuffer buffer;
    JsonWriter writer(buffer);
    write_cancellation_object(writer, *s.cancel_reason);
    fields.cancellation_json = to_text(buffer);
  }
  return fields;
}

Status record_from_row(const pqxx::row& row, CreditRecord* out, int first) {
  CreditRecord r;
  CreditState& s = r.state;
  CreditAttributes& a = s.attributes;
  const auto at = [&](int i) { return row[first + i]; };
  r.id = at(0).as<std::string>();
  a.project_name = at(1).as<std::string>();
  a.registry = at(2).as<std::string>();
  a.vintage = at(3).as<int>();
  a.quantity = at(4).as<std::int64_t>();
  a.serial_number = at(5).as<std::string>();
  const std::optional<CreditStatus> status = parse_status(at(6).as<std::string>());
  s.version = at(7).as<std::int64_t>();
  r.last_position = at(8).as<std::int64_t>();
  s.holder = at(9).as<std::string>();
  s.issuer = at(10).as<std::string>();
  a.block_start = at(11).as<std::int64_t>();
  a.block_end = at(12).as<std::int64_t>();
  s.parent = at(13).as<std::string>();
  s.children_count = at(14).as<std::int64_t>();
  const std::string retirement = at(15).as<std::string>();
  const std::string cancellation = at(16).as<std::string>();
  if (!status.has_value()) return Status::Internal("credit_records row " + r.id + " has an unknown status");
  s.status = *status;
  if (!retirement.empty()) {
    rapidjson::Document doc;
    Retirement value;
    if (parse_json(retirement, &doc).kind != JsonParseError::Kind::kNone || !doc.IsObject() ||
        !optional_member(doc, "beneficiary", &value.beneficiary) || !optional_member(doc, "reason", &value.reason) ||
        !optional_member(doc, "category", &value.category) || !optional_member(doc, "details", &value.details)) {
      return Status::Internal("credit_records row " + r.id + " has a malformed retirement");
    }
    s.retirement = std::move(value);
  }
  if (!cancellation.empty()) {
    rapidjson::Document doc;
    std::optional<std::string> reason;
    if (parse_json(cancellation, &doc).kind != JsonParseError::Kind::kNone || !doc.IsObject() ||
        !optional_member(doc, "reason", &reason)) {
      return Status::Internal("credit_records row " + r.id + " has a malformed cancellation");
    }
    s.cancel_reason = reason.value_or("");
  }
  *out = std::move(r);
  return Status::Ok();
}

std::string credit_json(const std::string& id, const CreditState& state, const std::string& extra_members_json) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  write_record_members(writer, id, state);
  writer.EndObject();
  std::string json = to_text(buffer);
  if (!extra_members_json.empty()) {
    json.pop_back();  // the closing brace
    json += ',';
    json += extra_members_json;
    json += '}';
  }
  return json;
}

}  // namespace ledger

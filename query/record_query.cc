#include "query/record_query.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ledger {
namespace {

void write_string(rapidjson::Writer<rapidjson::StringBuffer>& writer, const char* key, const pqxx::field& field) {
  writer.Key(key);
  const std::string_view value(field.c_str(), field.size());
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

}  // namespace

RecordLookup find_record(WorkerConnection& connection, const std::string& id) {
  RecordLookup lookup;
  Status error;
  pqxx::connection* conn = connection.get(&error);
  if (conn == nullptr) {
    lookup.kind = RecordLookup::Kind::kUnavailable;
    lookup.detail = error.message();
    return lookup;
  }
  try {
    // Declaring the same statement again is a no-op in libpqxx; the server parses it once per connection.
    conn->prepare("find_credit_record",
                  "SELECT id::text, project_name, registry, vintage, quantity, serial_number, status, version,"
                  " history::text FROM credit_records WHERE id = $1::uuid");
    pqxx::nontransaction tx(*conn);  // one statement: no BEGIN/COMMIT round trips
    const pqxx::result result = tx.exec_prepared("find_credit_record", id);
    if (result.empty()) {
      lookup.kind = RecordLookup::Kind::kNotFound;
      return lookup;
    }
    const pqxx::row row = result[0];
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.StartObject();
    write_string(writer, "id", row[0]);
    write_string(writer, "project_name", row[1]);
    write_string(writer, "registry", row[2]);
    writer.Key("vintage");
    writer.Int(row[3].as<int>());
    writer.Key("quantity");
    writer.Int64(row[4].as<std::int64_t>());
    write_string(writer, "serial_number", row[5]);
    write_string(writer, "status", row[6]);
    writer.Key("version");
    lookup.version = row[7].as<std::int64_t>();
    writer.Int64(lookup.version);
    writer.Key("history");
    writer.RawValue(row[8].c_str(), row[8].size(), rapidjson::kArrayType);
    writer.EndObject();
    lookup.kind = RecordLookup::Kind::kFound;
    lookup.json.assign(buffer.GetString(), buffer.GetSize());
    return lookup;
  } catch (const std::exception& e) {
    if (is_connection_failure(e)) connection.discard();
    const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
    const bool transient = is_connection_failure(e) || (sql != nullptr && (sql->sqlstate() == "57014" ||
                                                                           sql->sqlstate() == "55P03"));
    lookup.kind = transient ? RecordLookup::Kind::kUnavailable : RecordLookup::Kind::kInternal;
    lookup.detail = e.what();
    return lookup;
  }
}

Status ping_database(WorkerConnection& connection) {
  Status error;
  pqxx::connection* conn = connection.get(&error);
  if (conn == nullptr) return error;
  try {
    pqxx::nontransaction tx(*conn);
    tx.exec1("SELECT 1");
    return Status::Ok();
  } catch (const std::exception& e) {
    connection.discard();
    return Status::Unavailable(e.what());
  }
}

}  // namespace ledger

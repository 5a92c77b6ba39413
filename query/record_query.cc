#include "query/record_query.h"

#include <unordered_map>

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

namespace {

// One attempt; `connection_lost` tells the caller a pooled session had died (worth one retry).
std::vector<RecordLookup> find_records_once(WorkerConnection& connection, const std::vector<std::string>& ids,
                                            bool* connection_lost) {
  *connection_lost = false;
  std::vector<RecordLookup> lookups(ids.size());
  Status error;
  pqxx::connection* conn = connection.get(&error);
  if (conn == nullptr) {
    for (RecordLookup& lookup : lookups) {
      lookup.kind = RecordLookup::Kind::kUnavailable;
      lookup.detail = error.message();
    }
    return lookups;
  }
  try {
    // Declaring the same statement again is a no-op in libpqxx; the server parses it once per connection.
    conn->prepare("find_credit_records",
                  "SELECT id::text, project_name, registry, vintage, quantity, serial_number, status, version,"
                  " history::text, holder FROM credit_records WHERE id = ANY($1::uuid[])");
    pqxx::nontransaction tx(*conn);  // one statement: no BEGIN/COMMIT round trips
    const pqxx::result result = tx.exec_prepared("find_credit_records", uuid_array_literal(ids));
    std::unordered_map<std::string, pqxx::result::size_type> rows;  // id -> row index
    for (pqxx::result::size_type r = 0; r < result.size(); ++r) rows.emplace(result[r][0].as<std::string>(), r);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto it = rows.find(ids[i]);
      if (it == rows.end()) {
        lookups[i].kind = RecordLookup::Kind::kNotFound;
        continue;
      }
      const pqxx::row row = result[it->second];
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
      lookups[i].version = row[7].as<std::int64_t>();
      writer.Int64(lookups[i].version);
      write_string(writer, "holder", row[9]);
      writer.Key("history");
      writer.RawValue(row[8].c_str(), row[8].size(), rapidjson::kArrayType);
      writer.EndObject();
      lookups[i].kind = RecordLookup::Kind::kFound;
      lookups[i].json.assign(buffer.GetString(), buffer.GetSize());
    }
    return lookups;
  } catch (const std::exception& e) {
    if (is_connection_failure(e)) {
      connection.discard();
      *connection_lost = true;
    }
    const bool transient = is_connection_failure(e) || is_timeout(e);
    for (RecordLookup& lookup : lookups) {
      lookup.kind = transient ? RecordLookup::Kind::kUnavailable : RecordLookup::Kind::kInternal;
      lookup.detail = single_line(e.what());
    }
    return lookups;
  }
}

}  // namespace

std::vector<RecordLookup> find_records(WorkerConnection& connection, const std::vector<std::string>& ids) {
  bool connection_lost = false;
  std::vector<RecordLookup> lookups = find_records_once(connection, ids, &connection_lost);
  // PostgreSQL may have ended an idle pooled session (restart, terminate): that is not an outage.
  if (connection_lost) lookups = find_records_once(connection, ids, &connection_lost);
  return lookups;
}

RecordReader::RecordReader(const std::string& database_url, const DatabaseLimits& limits,
                           const BatchOptions& options)
    : BatchWorkers(database_url, limits, options, find_records, [](const std::string& what) {
        RecordLookup lookup;
        lookup.kind = RecordLookup::Kind::kInternal;
        lookup.detail = what;
        return lookup;
      }) {}

Status ping_database(WorkerConnection& connection, std::optional<std::string>* projector_halted_reason) {
  Status status;
  for (int attempt = 1; attempt <= 2; ++attempt) {  // a second try replaces a session PostgreSQL ended
    pqxx::connection* conn = connection.get(&status);
    if (conn == nullptr) return status;
    try {
      pqxx::nontransaction tx(*conn);
      const pqxx::row row = tx.exec1(
          "SELECT string_agg(projection_name || ': ' || halted_reason, '; ' ORDER BY projection_name)"
          " FROM projection_checkpoints WHERE halted_reason IS NOT NULL");
      if (row[0].is_null()) {
        projector_halted_reason->reset();
      } else {
        *projector_halted_reason = row[0].as<std::string>();
      }
      return Status::Ok();
    } catch (const std::exception& e) {
      connection.discard();
      status = Status::Unavailable(single_line(e.what()));
    }
  }
  return status;
}

}  // namespace ledger

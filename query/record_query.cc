#include "query/record_query.h"

#include <unordered_map>

#include "command/credit_record.h"
#include "command/serial_numbers.h"
#include "eventstore/database.h"

namespace ledger {
namespace {

// Every kById query of a batch in one statement: each id with its own history page (limit + 1 entries
// read, so the answer knows whether there are more).
const std::string kFindByIdSql =
    std::string("SELECT w.ord, ") + kCreditRecordSelect +
    ", h.history, h.more, h.last_version"
    " FROM unnest($1::uuid[], $2::bigint[], $3::integer[]) WITH ORDINALITY AS w(wanted_id, after, lim, ord)"
    " JOIN credit_records r ON r.id = w.wanted_id"
    " CROSS JOIN LATERAL ("
    "   SELECT coalesce(json_agg(json_build_object('version', p.version, 'type', p.event_type,"
    "            'recorded_at', p.recorded_at, 'data', p.data) ORDER BY p.version) FILTER (WHERE p.n <= w.lim),"
    "            '[]')::text AS history,"
    "          count(*) > w.lim AS more,"
    "          max(p.version) FILTER (WHERE p.n <= w.lim) AS last_version"
    "   FROM (SELECT x.*, row_number() OVER (ORDER BY x.version) AS n FROM credit_history x"
    "         WHERE x.credit_id = w.wanted_id AND x.version > w.after ORDER BY x.version LIMIT w.lim + 1) AS p"
    " ) AS h";

std::string list_sql(pqxx::transaction_base& tx, const RecordFilter& f) {
  std::string sql = std::string("SELECT ") + kCreditRecordSelect + " FROM credit_records WHERE true";
  if (f.holder) sql += " AND holder = " + tx.quote(*f.holder);
  if (f.status) sql += " AND status = " + tx.quote(*f.status);
  if (f.registry) sql += " AND lower(registry) = lower(" + tx.quote(*f.registry) + ")";
  // The expression of the credit_records_serial index.
  if (f.serial_number) sql += " AND serial_number = " + tx.quote(*f.serial_number);
  if (f.vintage) sql += " AND vintage = " + std::to_string(*f.vintage);
  if (f.parent) sql += " AND parent = " + tx.quote(*f.parent) + "::uuid";
  // The expression of the credit_records_units index, so that index answers it.
  if (f.unit) {
    sql += " AND int8range(block_start, block_end, '[]') @> " + std::to_string(*f.unit) + "::bigint";
    if (f.registry && registry_kind(*f.registry) != RegistryKind::kOther) {
      sql += std::string(" AND ") + kUnitNumberedRegistriesSql;
    }
  }
  if (f.after) sql += " AND id > " + tx.quote(*f.after) + "::uuid";
  sql += " ORDER BY id LIMIT " + std::to_string(f.limit + 1);
  return sql;
}

RecordLookup list_records(pqxx::transaction_base& tx, const RecordFilter& filter) {
  RecordLookup lookup;
  const pqxx::result rows = tx.exec(list_sql(tx, filter));
  std::string json = "{\"records\":[";
  const std::size_t shown = std::min<std::size_t>(rows.size(), static_cast<std::size_t>(filter.limit));
  std::string last_id;
  for (std::size_t i = 0; i < shown; ++i) {
    CreditRecord record;
    Status read = record_from_row(rows[static_cast<pqxx::result::size_type>(i)], &record);
    if (!read.ok()) {
      lookup.kind = RecordLookup::Kind::kInternal;
      lookup.detail = read.message();
      return lookup;
    }
    if (i > 0) json += ',';
    json += credit_json(record.id, record.state);
    last_id = record.id;
  }
  json += "],\"next\":";
  if (rows.size() > shown) {
    lookup.next_cursor = last_id;
    json += "\"" + last_id + "\"";
  } else {
    json += "null";
  }
  json += '}';
  lookup.kind = RecordLookup::Kind::kFound;
  lookup.json = std::move(json);
  return lookup;
}

// One attempt; `connection_lost` tells the caller a pooled session had died (worth one retry).
std::vector<RecordLookup> find_records_once(WorkerConnection& connection, const std::vector<RecordQuery>& queries,
                                            bool* connection_lost) {
  *connection_lost = false;
  std::vector<RecordLookup> lookups(queries.size());
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
    conn->prepare("find_credit_records", kFindByIdSql);
    pqxx::nontransaction tx(*conn);  // one statement at a time: no BEGIN/COMMIT round trips
    std::vector<std::string> ids;
    std::string afters = "{", limits = "{";
    std::vector<std::size_t> by_id;  // index in `queries` of each id
    for (std::size_t i = 0; i < queries.size(); ++i) {
      const RecordQuery& q = queries[i];
      if (q.kind == RecordQuery::Kind::kList) {
        lookups[i] = list_records(tx, q.filter);
        continue;
      }
      afters += (by_id.empty() ? "" : ",") + std::to_string(q.history_after);
      limits += (by_id.empty() ? "" : ",") + std::to_string(q.history_limit);
      ids.push_back(q.id);
      by_id.push_back(i);
      lookups[i].kind = RecordLookup::Kind::kNotFound;
    }
    if (by_id.empty()) return lookups;
    afters += '}';
    limits += '}';
    const pqxx::result result = tx.exec_prepared("find_credit_records", uuid_array_literal(ids), afters, limits);
    for (const pqxx::row& row : result) {
      const std::size_t i = by_id.at(row[0].as<std::size_t>() - 1);
      RecordLookup& lookup = lookups[i];
      CreditRecord record;
      Status read = record_from_row(row, &record, 1);
      if (!read.ok()) {
        lookup.kind = RecordLookup::Kind::kInternal;
        lookup.detail = read.message();
        continue;
      }
      const int h = 1 + kCreditRecordSelectColumns;
      const bool more = row[h + 1].as<bool>();
      std::string extra = "\"history\":" + row[h].as<std::string>() + ",\"history_next\":" +
                          (more && !row[h + 2].is_null() ? row[h + 2].as<std::string>() : std::string("null"));
      lookup.kind = RecordLookup::Kind::kFound;
      lookup.version = record.state.version;
      lookup.json = credit_json(record.id, record.state, extra);
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

std::vector<RecordLookup> find_records(WorkerConnection& connection, const std::vector<RecordQuery>& ids) {
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

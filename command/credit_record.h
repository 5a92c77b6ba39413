// The credit read model's one definition: the row of credit_records (a block's decider state, as evolve()
// made it, plus where in the log it was last changed), its columns, how rows travel to and from
// PostgreSQL, and the one JSON form of a block that command responses, GET /records/{id} and GET /records
// all answer with. projector/ writes these rows; query/ reads them; neither lists the columns itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "command/credit.h"
#include "eventstore/status.h"

namespace ledger {

// The projection's name in projection_checkpoints, and its table.
inline constexpr const char* kCreditRecordsProjection = "credit_records";
// The history rows of the records: one per event, never rewritten.
inline constexpr const char* kCreditHistoryTable = "credit_history";
// The projector notifies this channel in each batch's transaction (payload: its new checkpoint position),
// so serve wakes the GETs waiting for a record version (?min_version=N) when the batch commits.
inline constexpr const char* kRecordsProjectedChannel = "credit_records_projected";

struct CreditRecord {
  std::string id;                  // the stream id (UUID text as PostgreSQL prints it)
  CreditState state;               // the stream folded with evolve()
  std::int64_t last_position = 0;  // log position of the last applied event

  bool operator==(const CreditRecord&) const = default;
};

// One entry of a record's history: one event of its stream, as the log has it.
struct CreditHistoryEntry {
  std::string credit_id;
  std::int64_t version = 0;
  std::string event_type;
  std::string recorded_at;  // RFC 3339 UTC text
  std::string data_json;    // the event's data, verbatim

  bool operator==(const CreditHistoryEntry&) const = default;
};

// credit_records' columns, in order, for INSERT and COPY.
inline constexpr const char* kCreditRecordColumns =
    "id, project_name, registry, vintage, quantity, serial_number, status, version, last_position, holder, issuer,"
    " block_start, block_end, parent, children_count, retirement, cancellation";
// The same columns for SELECT, as record_from_row() reads them (NULLs as empty text). Prefix-free: use in
// "SELECT <kCreditRecordSelect> FROM credit_records".
inline constexpr const char* kCreditRecordSelect =
    "id::text, project_name, registry, vintage, quantity, serial_number, status, version, last_position, holder,"
    " issuer, block_start, block_end, coalesce(parent::text, ''), children_count, coalesce(retirement::text, ''),"
    " coalesce(cancellation::text, '')";
inline constexpr int kCreditRecordSelectColumns = 17;
// One JSON array parameter ($1) as rows of credit_records: INSERT INTO credit_records (<columns>)
// SELECT <columns> FROM <kCreditRecordsRecordset>, one statement whatever the batch size.
inline constexpr const char* kCreditRecordsRecordset =
    "jsonb_to_recordset($1::jsonb) AS r(id uuid, project_name text, registry text, vintage integer, "
    "quantity bigint, serial_number text, status text, version bigint, last_position bigint, holder text, "
    "issuer text, block_start bigint, block_end bigint, parent uuid, children_count bigint, retirement jsonb, "
    "cancellation jsonb)";
// The upsert's SET list: every column but id.
inline constexpr const char* kCreditRecordUpdates =
    "project_name = EXCLUDED.project_name, registry = EXCLUDED.registry, vintage = EXCLUDED.vintage,"
    " quantity = EXCLUDED.quantity, serial_number = EXCLUDED.serial_number, status = EXCLUDED.status,"
    " version = EXCLUDED.version, last_position = EXCLUDED.last_position, holder = EXCLUDED.holder,"
    " issuer = EXCLUDED.issuer, block_start = EXCLUDED.block_start, block_end = EXCLUDED.block_end,"
    " parent = EXCLUDED.parent, children_count = EXCLUDED.children_count, retirement = EXCLUDED.retirement,"
    " cancellation = EXCLUDED.cancellation";

// credit_history's columns and recordset, as above.
inline constexpr const char* kCreditHistoryColumns = "credit_id, version, event_type, recorded_at, data";
inline constexpr const char* kCreditHistoryRecordset =
    "jsonb_to_recordset($1::jsonb) AS h(credit_id uuid, version bigint, event_type text, recorded_at text, "
    "data jsonb)";

// The predicate of the credit_records_units index (migration 0008): the registries registry_kind()
// (command/serial_numbers.h) numbers units across serials. A unit lookup in one of them adds it, so the
// planner may use that partial index.
inline constexpr const char* kUnitNumberedRegistriesSql =
    "lower(registry) IN ('verra', 'vcs', 'gold standard', 'goldstandard', 'gold-standard', 'gold_standard', 'gs')";

// The records / history entries as the JSON array their recordset reads.
std::string encode_credit_records(const std::vector<const CreditRecord*>& records);
std::string encode_credit_history(const std::vector<CreditHistoryEntry>& entries);

// The values of one record in kCreditRecordColumns order, as COPY text fields ("\N" for NULL is the
// caller's: parent, retirement and cancellation are returned "" when absent).
struct CreditRecordFields {
  std::string parent, retirement_json, cancellation_json;  // "" = NULL
};
CreditRecordFields record_fields(const CreditRecord& record);

// A row selected with kCreditRecordSelect (starting at column `first`) back into a record. Internal when
// the row holds what no projector writes.
Status record_from_row(const pqxx::row& row, CreditRecord* out, int first = 0);

// The block as the API shows it:
// {"id","project_name","registry","vintage","quantity","serial_number","status","version","holder","issuer",
//  "block_start","block_end","parent","children_count","retirement","cancellation"}.
// `extra_members_json`, when not empty, is spliced in before the closing brace (e.g. "\"history\":[...]").
std::string credit_json(const std::string& id, const CreditState& state, const std::string& extra_members_json = "");

}  // namespace ledger

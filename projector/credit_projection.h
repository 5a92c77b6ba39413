// The credit_records projection as a pure function: folds one recorded event into the read-model row of its
// credit. No I/O, so the live projector and the rebuild apply events identically and a rebuild reproduces
// the live read model byte for byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eventstore/event_store.h"
#include "eventstore/status.h"

namespace ledger {

// The projection's name in projection_checkpoints and its table.
inline constexpr const char* kCreditRecordsProjection = "credit_records";

// One row of credit_records. Every field derives from events only (never from the clock).
struct CreditRecord {
  std::string id;             // the stream id (UUID text as PostgreSQL prints it)
  std::string project_name;   // from CREATED
  std::string registry;       // from CREATED
  std::int32_t vintage = 0;   // from CREATED
  std::int64_t quantity = 0;  // from CREATED
  std::string serial_number;  // from CREATED
  std::string status;         // CREATED, SOLD or RETIRED: the type of the last applied event
  std::int64_t version = 0;   // the stream_version of the last applied event
  // JSON array text, oldest first: [{"version": n, "type": t, "recorded_at": r, "data": {...}}, ...].
  // Kept as text so appending an entry does not re-serialize the whole history.
  std::string history_json = "[]";
  std::int64_t last_position = 0;  // log position of the last applied event
  std::string holder;              // CREATED's "issuer", then each SOLD's "buyer" ("" when never named)

  bool operator==(const CreditRecord&) const = default;
};

// Applies `e` to `*record` (nullopt = the credit has no row yet). On success `*record` holds the new row.
// Returns Internal, leaving `*record` unchanged, when the event cannot follow the record: CREATED for an
// existing credit or with stream_version != 1, SOLD/RETIRED without a record or out of version order
// (gap or replay), a stream id that is not the record's, malformed data, or an unknown event type. The
// caller must stop: applying past such an event would build a wrong read model.
Status apply_event(const RecordedEvent& e, std::optional<CreditRecord>* record);

// How rows travel to PostgreSQL: one JSON array parameter per statement, unpacked by jsonb_to_recordset,
// so writing a batch of any size is one statement and one round trip.
//   INSERT INTO credit_records (<kCreditRecordColumns>)
//   SELECT <kCreditRecordColumns> FROM <kCreditRecordsRecordset>
inline constexpr const char* kCreditRecordColumns =
    "id, project_name, registry, vintage, quantity, serial_number, status, version, history, last_position, holder";
inline constexpr const char* kCreditRecordsRecordset =
    "jsonb_to_recordset($1::jsonb) AS r(id uuid, project_name text, registry text, vintage integer, "
    "quantity bigint, serial_number text, status text, version bigint, history jsonb, last_position bigint, "
    "holder text)";

// The records as the JSON array kCreditRecordsRecordset reads. history_json is embedded as is.
std::string encode_credit_records(const std::vector<const CreditRecord*>& records);

}  // namespace ledger

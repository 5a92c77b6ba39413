// Reading credit records from the read model (credit_records, credit_history) for GET /records/{id} and
// GET /records. Never appends and never reads the event log: what it serves is what the projector has
// written. Blocking (libpqxx): runs on the RecordReader's threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eventstore/batch_workers.h"
#include "eventstore/database_workers.h"

namespace ledger {

// History paging bounds of GET /records/{id}.
inline constexpr int kHistoryLimitDefault = 100;
inline constexpr int kHistoryLimitMax = 1000;
// Page size bounds of GET /records.
inline constexpr int kListLimitDefault = 100;
inline constexpr int kListLimitMax = 500;

// The filters of GET /records (all optional, combined with AND), already validated.
struct RecordFilter {
  std::optional<std::string> holder, status, registry, parent;  // parent: canonical UUID
  std::optional<int> vintage;
  std::optional<std::string> serial_number;  // with registry: the blocks of this serial (a parent and its children)
  std::optional<std::int64_t> unit;    // with registry: the block whose current range holds this unit
  std::optional<std::string> after;    // the cursor: the last id of the previous page (canonical UUID)
  int limit = kListLimitDefault;
};

// One read: a record by id (with a page of its history), or a page of records.
struct RecordQuery {
  enum class Kind { kById, kList };
  Kind kind = Kind::kById;
  std::string id;                 // kById: canonical lowercase UUID
  std::int64_t history_after = 0;  // kById: history entries with a version above this
  int history_limit = kHistoryLimitDefault;
  RecordFilter filter;            // kList
};

struct RecordLookup {
  enum class Kind { kFound, kNotFound, kUnavailable, kInternal };
  Kind kind = Kind::kInternal;
  std::string json;          // the record document (kById) or {"records": [...], "next": ...} (kList)
  std::int64_t version = 0;  // kById: for the ETag
  std::optional<std::string> next_cursor;  // kList: the cursor of the next page, when there is one
  std::string detail;        // for failures
};

// Answers many queries: every kById in one statement, each kList in one of its own; one result per query,
// in order.
std::vector<RecordLookup> find_records(WorkerConnection& connection, const std::vector<RecordQuery>& queries);

// Coalesces concurrent GETs: lookups queued while a query runs are answered by the next single query.
class RecordReader : public BatchWorkers<RecordQuery, RecordLookup> {
 public:
  RecordReader(const std::string& database_url, const DatabaseLimits& limits, const BatchOptions& options);
};

// A cheap round trip proving PostgreSQL answers (for /healthz); also reads whether a projector has halted
// on a row it cannot apply (projection_checkpoints.halted_reason): *projector_halted_reason is then set to
// "<projection>: <reason>", else reset.
Status ping_database(WorkerConnection& connection, std::optional<std::string>* projector_halted_reason);

}  // namespace ledger

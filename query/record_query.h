// Reading credit records from the read model (credit_records) for GET /records/{id}. Never appends and
// never reads the event log: what it serves is what the projector has written.
// Blocking (libpqxx): runs on a DatabaseWorkers thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <vector>

#include "eventstore/batch_workers.h"
#include "eventstore/database_workers.h"

namespace ledger {

struct RecordLookup {
  enum class Kind { kFound, kNotFound, kUnavailable, kInternal };
  Kind kind = Kind::kInternal;
  std::string json;          // the record document, when found
  std::int64_t version = 0;  // for the ETag
  std::string detail;        // for failures
};

// Looks up many records in one query (`WHERE id = ANY(...)`); one result per id, in order. Ids must be
// canonical lowercase UUIDs.
std::vector<RecordLookup> find_records(WorkerConnection& connection, const std::vector<std::string>& ids);

// Coalesces concurrent GETs: lookups queued while a query runs are answered by the next single query.
class RecordReader : public BatchWorkers<std::string, RecordLookup> {
 public:
  RecordReader(const std::string& database_url, const DatabaseLimits& limits, const BatchOptions& options);
};

// A cheap round trip proving PostgreSQL answers (for /healthz); also reads whether a projector has halted
// on a row it cannot apply (projection_checkpoints.halted_reason): *projector_halted_reason is then set to
// "<projection>: <reason>", else reset.
Status ping_database(WorkerConnection& connection, std::optional<std::string>* projector_halted_reason);

}  // namespace ledger

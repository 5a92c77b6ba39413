// Reading credit records from the read model (credit_records) for GET /records/{id}. Never appends and
// never reads the event log: what it serves is what the projector has written.
// Blocking (libpqxx): runs on a DatabaseWorkers thread.
#pragma once

#include <cstdint>
#include <string>

#include "eventstore/database_workers.h"

namespace ledger {

struct RecordLookup {
  enum class Kind { kFound, kNotFound, kUnavailable, kInternal };
  Kind kind = Kind::kInternal;
  std::string json;          // the record document, when found
  std::int64_t version = 0;  // for the ETag
  std::string detail;        // for failures
};

// `id` must be a canonical lowercase UUID.
RecordLookup find_record(WorkerConnection& connection, const std::string& id);

// A cheap round trip proving PostgreSQL answers (for /healthz).
Status ping_database(WorkerConnection& connection);

}  // namespace ledger

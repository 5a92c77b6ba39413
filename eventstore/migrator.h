// Schema migrations: numbered SQL files applied in order, each in its own transaction, recorded with a
// checksum in schema_migrations. Concurrent migrators serialize on an advisory lock.
#pragma once

#include <string>
#include <vector>

#include "eventstore/status.h"

namespace ledger {

struct Migration {
  std::string name;  // file name, e.g. "0001_event_store.sql"; sorted order is apply order
  std::string sql;
};

// The migrations compiled into this binary (generated from migrations/*.sql by CMake).
const std::vector<Migration>& embedded_migrations();

// Applies pending migrations. Refuses (Invalid) when an applied migration's checksum differs from the file
// (it was edited after being applied) or the database has migrations this binary does not know.
// `log` receives one line per applied migration.
Status migrate(const std::string& database_url, const std::vector<Migration>& migrations,
               std::vector<std::string>* log);

// Ok when every migration is applied with a matching checksum; Invalid with a message saying what to do
// ("run carbon-ledger migrate") when the schema is behind or differs; Unavailable when unreachable.
Status check_schema_current(const std::string& database_url, const std::vector<Migration>& migrations);

}  // namespace ledger

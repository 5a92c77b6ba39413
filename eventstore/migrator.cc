#include "eventstore/migrator.h"

#include <map>

#include "eventstore/database.h"

namespace ledger {
namespace {

// Any fixed 64-bit number: concurrent `carbon-ledger migrate` runs queue on it instead of racing.
constexpr std::int64_t kMigrationLockKey = 0x4c65646765724d47;  // "LedgerMG"

// Checksums a migration file had in a release before it was edited in place, accepted as well as its
// current one. Only for edits that change no applied effect: 0003 now creates its roles only when they are
// missing, so a schema owner without CREATEROLE can run it after the bootstrap made them (README, "Database
// roles"). A database that applied the original keeps its recorded checksum; a fresh one records the new.
struct SupersededChecksum {
  const char* migration;
  const char* checksum;
};
constexpr SupersededChecksum kSupersededChecksums[] = {
    {"0003_database_roles.sql", "10b1af40b3d506fad39427330c07b400a150427cfdd7c4d3dab8f4d24221f8b6"},
};

bool is_superseded_checksum(const std::string& migration, const std::string& checksum) {
  for (const SupersededChecksum& s : kSupersededChecksums) {
    if (migration == s.migration && checksum == s.checksum) return true;
  }
  return false;
}

DatabaseLimits migration_limits() {
  DatabaseLimits limits;
  limits.statement_timeout_ms = 0;       // a migration may legitimately take long
  limits.lock_timeout_ms = 60000;        // waiting for another migrator is bounded
  limits.idle_in_transaction_timeout_ms = 60000;
  limits.key_lookups_only = false;       // migrations may rewrite whole tables
  return limits;
}

std::string checksum_of(pqxx::transaction_base& tx, const std::string& sql) {
  return tx.exec_params1("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", sql)[0].as<std::string>();
}

// name -> checksum of every applied migration; empty when the bookkeeping table does not exist yet.
std::map<std::string, std::string> applied_migrations(pqxx::transaction_base& tx) {
  std::map<std::string, std::string> applied;
  if (tx.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL")[0].as<bool>()) {
    for (const auto& row : tx.exec("SELECT name, checksum FROM schema_migrations")) {
      applied[row[0].as<std::string>()] = row[1].as<std::string>();
    }
  }
  return applied;
}

// Compares what the database has applied with what this binary carries. `pending` gets the ones to apply.
Status compare(pqxx::transaction_base& tx, const std::vector<Migration>& migrations,
               std::vector<const Migration*>* pending) {
  std::map<std::string, std::string> applied = applied_migrations(tx);
  for (const Migration& m : migrations) {
    auto it = applied.find(m.name);
    if (it == applied.end()) {
      pending->push_back(&m);
      continue;
    }
    if (!pending->empty()) {
      return Status::Invalid("migration " + m.name + " is applied but the earlier " + pending->front()->name +
                             " is not: the database was migrated out of order");
    }
    const std::string checksum = checksum_of(tx, m.sql);
    if (checksum != it->second && !is_superseded_checksum(m.name, it->second)) {
      return Status::Invalid("migration " + m.name + " was edited after it was applied (checksum " + checksum +
                             " differs from the recorded " + it->second +
                             "): restore the original file and add a new migration instead");
    }
    applied.erase(it);
  }
  if (!applied.empty()) {
    return Status::Invalid("the database has migration " + applied.begin()->first +
                           " which this binary does not know: it was migrated by a newer version");
  }
  return Status::Ok();
}

Status to_status(const std::exception& e) {
  if (is_connection_failure(e)) return Status::Unavailable(std::string("cannot reach PostgreSQL: ") + e.what());
  return Status::Internal(e.what());
}

}  // namespace

Status migrate(const std::string& database_url, const std::vector<Migration>& migrations,
               std::vector<std::string>* log) {
  try {
    auto conn = open_connection(database_url, migration_limits());
    {
      pqxx::nontransaction tx(*conn);
      tx.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
    }
    // The session lock is released when the connection closes, also on every early return below.
    {
      pqxx::work tx(*conn);
      tx.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " name text PRIMARY KEY,"
          " checksum text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())");
      tx.commit();
    }
    std::vector<const Migration*> pending;
    {
      pqxx::read_transaction tx(*conn);
      Status status = compare(tx, migrations, &pending);
      if (!status.ok()) return status;
    }
    for (const Migration* m : pending) {
      pqxx::work tx(*conn);
      try {
        tx.exec(m->sql);
      } catch (const pqxx::sql_error& e) {
        return Status::Invalid("migration " + m->name + " failed and was rolled back: " + e.what());
      }
      tx.exec_params("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", m->name,
                     checksum_of(tx, m->sql));
      tx.commit();
      if (log != nullptr) log->push_back("applied " + m->name);
    }
    if (log != nullptr && pending.empty()) log->push_back("schema is up to date");
    return Status::Ok();
  } catch (const std::exception& e) {
    return to_status(e);
  }
}

Status check_schema_current(const std::string& database_url, const std::vector<Migration>& migrations) {
  try {
    auto conn = open_connection(database_url, DatabaseLimits());
    pqxx::read_transaction tx(*conn);
    std::vector<const Migration*> pending;
    Status status = compare(tx, migrations, &pending);
    if (!status.ok()) return status;
    if (!pending.empty()) {
      return Status::Invalid("the database schema is behind (" + std::to_string(pending.size()) +
                             " pending, first " + pending.front()->name + "): run `carbon-ledger migrate`");
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return to_status(e);
  }
}

}  // namespace ledger

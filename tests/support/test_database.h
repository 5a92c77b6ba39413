// Throwaway PostgreSQL databases for the integration tests, one per test, on the cluster that `make test`
// starts and describes in LEDGER_TEST_PGHOST / LEDGER_TEST_PGPORT / LEDGER_TEST_PGUSER (a superuser). Each
// belongs to ledger_owner, as scripts/bootstrap.sql makes them (make test runs it on its cluster), and every
// carbon-ledger process a test starts logs in as the role `make run` gives it (role_for_command); the
// tests' own checks connect as the superuser.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tests/support/process.h"

namespace ledger::test {

// The path of the carbon-ledger binary under test (CARBON_LEDGER_BINARY from CMake).
const std::string& ledger_binary();

// The database roles of scripts/bootstrap.sql.
inline constexpr const char* kOwnerRole = "ledger_owner";      // migrate, rebuild, keys
inline constexpr const char* kServeRole = "ledger_serve";      // serve
inline constexpr const char* kProjectRole = "ledger_project";  // project
// The role a `carbon-ledger <command>` process logs in as (ledger_owner for anything but serve / project).
const char* role_for_command(const std::string& command);
// `conninfo` with its user replaced by `role` (a later user= wins in a libpq conninfo).
std::string conninfo_as(const std::string& conninfo, const std::string& role);

struct AdminEnv {
  std::string host;  // a unix socket directory (or a host name)
  std::string port;
  std::string user;

  // libpq conninfo for `dbname` on this cluster.
  std::string conninfo(const std::string& dbname) const;
};

// The cluster from the environment, or nullopt with `error` saying which variable is missing and that the
// tests are meant to be run with `make test`.
std::optional<AdminEnv> admin_env_from_env(std::string* error);

// Creates a uniquely named database (ledger_t_<pid>_<n>) on construction and drops it WITH (FORCE) on
// destruction. Throws std::runtime_error when the cluster cannot be reached.
class TestDatabase {
 public:
  explicit TestDatabase(AdminEnv admin);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  const AdminEnv& admin() const { return admin_; }
  // As the cluster's superuser: for the tests' own queries.
  std::string conninfo() const { return admin_.conninfo(name_); }
  // As `role` (kOwnerRole, kServeRole, kProjectRole, ...): what the binary gets as DATABASE_URL.
  std::string conninfo_as(const std::string& role) const { return ledger::test::conninfo_as(conninfo(), role); }

  // Runs a statement outside any transaction on the maintenance database (postgres), e.g. ALTER DATABASE.
  void exec_admin(const std::string& sql) const;
  void drop();

  // Runs `carbon-ledger migrate` against this database as ledger_owner (output files go to `work_dir`).
  RunResult migrate(const std::string& work_dir) const;

 private:
  AdminEnv admin_;
  std::string name_;
  bool dropped_ = false;
};

// One-shot queries on a database (a fresh session each, so a test can never be left holding one).
// The first column of the first row as text; "" for NULL; throws when there is no row.
std::string query_scalar(const std::string& conninfo, const std::string& sql);
std::int64_t query_int(const std::string& conninfo, const std::string& sql);
// Runs statements in one transaction and commits.
void exec_sql(const std::string& conninfo, const std::string& sql);

}  // namespace ledger::test

#include "tests/support/test_database.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include <pqxx/pqxx>

namespace ledger::test {
namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// A conninfo value in single quotes, with \ and ' escaped.
std::string quote_conninfo_value(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

}  // namespace

const std::string& ledger_binary() {
  static const std::string path = CARBON_LEDGER_BINARY;
  return path;
}

const char* role_for_command(const std::string& command) {
  if (command == "serve") return kServeRole;
  if (command == "project") return kProjectRole;
  return kOwnerRole;
}

std::string conninfo_as(const std::string& conninfo, const std::string& role) {
  return conninfo + " user=" + quote_conninfo_value(role);
}

std::string AdminEnv::conninfo(const std::string& dbname) const {
  return "host=" + quote_conninfo_value(host) + " port=" + quote_conninfo_value(port) +
         " user=" + quote_conninfo_value(user) + " dbname=" + quote_conninfo_value(dbname);
}

std::optional<AdminEnv> admin_env_from_env(std::string* error) {
  AdminEnv env{env_or_empty("LEDGER_TEST_PGHOST"), env_or_empty("LEDGER_TEST_PGPORT"),
               env_or_empty("LEDGER_TEST_PGUSER")};
  std::string missing;
  if (env.host.empty()) missing += " LEDGER_TEST_PGHOST";
  if (env.port.empty()) missing += " LEDGER_TEST_PGPORT";
  if (env.user.empty()) missing += " LEDGER_TEST_PGUSER";
  if (!missing.empty()) {
    *error = "the integration tests need a throwaway PostgreSQL cluster, but these variables are not set:" +
             missing + ". Run them with `make test`, which starts one and sets them.";
    return std::nullopt;
  }
  return env;
}

TestDatabase::TestDatabase(AdminEnv admin) : admin_(std::move(admin)) {
  static std::atomic<int> counter{0};
  name_ = "ledger_t_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1));
  exec_admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");  // a leftover of a recycled pid
  {
    pqxx::connection connection(admin_.conninfo("postgres"));
    pqxx::nontransaction tx(connection);
    const int roles = tx.exec1("SELECT count(*) FROM pg_roles WHERE rolcanlogin AND NOT rolsuper AND rolname IN "
                               "('ledger_owner', 'ledger_serve', 'ledger_project')")[0]
                          .as<int>();
    if (roles != 3) {
      throw std::runtime_error("the test cluster lacks the login roles ledger_owner, ledger_serve and ledger_project: "
                               "run scripts/bootstrap.sql on it (make test does, through scripts/pg-cluster.sh start)");
    }
  }
  // As scripts/bootstrap.sql makes the ledger's database; TEMP is revoked by migration 0005.
  exec_admin("CREATE DATABASE " + name_ + " OWNER ledger_owner");
}

TestDatabase::~TestDatabase() {
  try {
    drop();
  } catch (const std::exception&) {
    // The cluster is gone; nothing left to clean.
  }
}

void TestDatabase::exec_admin(const std::string& sql) const {
  pqxx::connection connection(admin_.conninfo("postgres"));
  pqxx::nontransaction tx(connection);
  tx.exec(sql);
}

void TestDatabase::drop() {
  if (dropped_) return;
  dropped_ = true;
  exec_admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
}

RunResult TestDatabase::migrate(const std::string& work_dir) const {
  return run_to_completion(ledger_binary(), {"migrate"}, {{"DATABASE_URL", conninfo_as(kOwnerRole)}}, work_dir,
                           std::chrono::seconds(60));
}

std::string query_scalar(const std::string& conninfo, const std::string& sql) {
  pqxx::connection connection(conninfo);
  pqxx::work tx(connection);
  const pqxx::result rows = tx.exec(sql);
  tx.commit();
  if (rows.empty() || rows.columns() == 0) throw std::runtime_error("query returned no rows: " + sql);
  return rows[0][0].is_null() ? std::string() : rows[0][0].as<std::string>();
}

std::int64_t query_int(const std::string& conninfo, const std::string& sql) {
  const std::string text = query_scalar(conninfo, sql);
  if (text.empty()) throw std::runtime_error("query returned NULL: " + sql);
  return std::stoll(text);
}

void exec_sql(const std::string& conninfo, const std::string& sql) {
  pqxx::connection connection(conninfo);
  pqxx::work tx(connection);
  tx.exec(sql);
  tx.commit();
}

}  // namespace ledger::test

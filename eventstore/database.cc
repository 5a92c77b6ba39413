#include "eventstore/database.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <mutex>
#include <string>

namespace ledger {

Status database_url_from_env(std::string* url) {
  const char* value = std::getenv("DATABASE_URL");
  if (value == nullptr || *value == '\0') {
    return Status::Invalid(
        "DATABASE_URL is not set (e.g. DATABASE_URL='host=/tmp/pg port=5432 user=postgres dbname=ledger' "
        "or postgresql://user@localhost/ledger)");
  }
  *url = value;
  return Status::Ok();
}

std::unique_ptr<pqxx::connection> open_connection(const std::string& url, const DatabaseLimits& limits) {
  // libpq reads PGCONNECT_TIMEOUT when the URL does not say: bound every connect attempt. Set once, before
  // any other thread connects; an explicit connect_timeout in the URL still wins.
  static std::once_flag connect_timeout_once;
  std::call_once(connect_timeout_once, [&] {
    setenv("PGCONNECT_TIMEOUT", std::to_string(limits.connect_timeout_s).c_str(), /*overwrite=*/0);
  });
  auto conn = std::make_unique<pqxx::connection>(url);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  // A silent reconnect would lose session settings and LISTENs; callers reconnect explicitly instead.
  conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
  pqxx::nontransaction tx(*conn);
  // Left to itself, the planner caches a generic plan for a prepared statement after five calls; made
  // while a table was small and unanalyzed (a fresh database), it is a sequential scan of events that
  // then grows with the log until the next ANALYZE. Key-lookup sessions rule scans out and plan once;
  // the others are planned on every call.
  const char* planning = limits.key_lookups_only ? "; SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan"
                                                 : "; SET plan_cache_mode = force_custom_plan";
  tx.exec("SET statement_timeout = " + std::to_string(limits.statement_timeout_ms) +
          "; SET lock_timeout = " + std::to_string(limits.lock_timeout_ms) +
          "; SET idle_in_transaction_session_timeout = " +
          std::to_string(limits.idle_in_transaction_timeout_ms) + planning + "; SET TIME ZONE 'UTC'");
  return conn;
}

bool is_connection_failure(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) return true;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    // Class 08: connection exception; 57P01..57P03: admin shutdown, crash shutdown, cannot connect now.
    if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") return true;
  }
  return false;
}

bool is_session_lost(const std::exception& e) {
  return is_connection_failure(e) || dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr ||
         dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr;
}

void sleep_unless_stopped(int ms, const std::atomic<bool>& stop_requested) {
  constexpr auto kStopCheckInterval = std::chrono::milliseconds(100);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!stop_requested.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(deadline - now, kStopCheckInterval));
  }
}

bool is_timeout(const std::exception& e) {
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  if (sql == nullptr) return false;
  const std::string& state = sql->sqlstate();
  return state == "57014" || state == "55P03" || state == "25P03";
}

std::string uuid_array_literal(const std::vector<std::string>& ids) {
  std::string array = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) array += ',';
    array += ids[i];
  }
  array += '}';
  return array;
}

std::string text_array_literal(const std::vector<std::string>& values) {
  std::string array = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) array += ',';
    array += '"';
    for (const char c : values[i]) {
      if (c == '"' || c == '\\') array += '\\';
      array += c;
    }
    array += '"';
  }
  array += '}';
  return array;
}

std::string rfc3339_utc_sql(std::string_view column) {
  return "to_char(" + std::string(column) + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
}

std::string single_line(std::string_view message) {
  std::string s;
  for (char c : message) {
    const bool space = c == '\n' || c == ' ' || c == '\t' || c == '\r';
    if (space && (s.empty() || s.back() == ' ')) continue;  // collapse runs of blanks and line breaks
    s += space ? ' ' : c;
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace ledger

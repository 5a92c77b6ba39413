// Opening PostgreSQL sessions for the service: every session gets bounded waits, so no statement, lock or
// idle transaction can hang a caller or hold back the projector's transaction horizon.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/status.h"

namespace ledger {

struct DatabaseLimits {
  int connect_timeout_s = 5;
  int statement_timeout_ms = 5000;      // 0 = none (rebuild and migrate)
  int lock_timeout_ms = 2000;
  int idle_in_transaction_timeout_ms = 10000;
  // The service's sessions only ever look rows up by key, never read a whole table. With sequential scans
  // priced out (enable_seqscan = off), a plan made once for a prepared statement is an index lookup even
  // when made while a table was small and unanalyzed, so statements are planned once per session
  // (plan_cache_mode = force_generic_plan) instead of on every call. False for sessions that read whole
  // tables (rebuild, replay, migrate): they keep the planner's full choice, planned per call.
  bool key_lookups_only = true;
};

// DATABASE_URL from the environment, or an error naming the variable.
Status database_url_from_env(std::string* url);

// Connects and applies `limits` to the session (see key_lookups_only for how statements are planned).
// Throws pqxx::broken_connection when unreachable.
std::unique_ptr<pqxx::connection> open_connection(const std::string& url, const DatabaseLimits& limits);

// True when the exception is a connection-level failure (server down, socket closed, admin shutdown),
// as opposed to an error in the statement itself.
bool is_connection_failure(const std::exception& e);

// True when a long-running loop (the projector, the sealer) can no longer trust its session and must
// reconnect rather than retry on it: a connection failure, or a commit whose outcome is unknown (the
// checkpoint, committed with what it covers, tells the truth after reconnecting).
bool is_session_lost(const std::exception& e);

// Sleeps `ms`, waking every 100 ms to honor a stop request (set from a signal handler).
void sleep_unless_stopped(int ms, const std::atomic<bool>& stop_requested);

// True when the statement was cut off by statement_timeout, lock_timeout or the idle-in-transaction
// timeout: nothing was committed, and retrying later may well succeed.
bool is_timeout(const std::exception& e);

// A uuid[] literal ({a,b,c}) for one array parameter. The ids must be canonical UUID text (no quoting).
std::string uuid_array_literal(const std::vector<std::string>& ids);

// A text[] literal ({"a","b"}) for one array parameter: each element quoted, '"' and '\' escaped.
std::string text_array_literal(const std::vector<std::string>& values);

// libpq/libpqxx messages span lines ("ERROR: ...\nDETAIL: ...\n"); logs and answers want one line.
std::string single_line(std::string_view message);

// SQL that renders a timestamptz column as RFC 3339 in UTC with microseconds ("2026-11-25T18:53:46.766594Z"),
// the one form timestamps take in API responses and tool output.
std::string rfc3339_utc_sql(std::string_view column);

}  // namespace ledger

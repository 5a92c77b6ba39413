#include "projector/projector.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/assert.h"
#include "eventstore/database.h"
#include "eventstore/event_store.h"
#include "eventstore/log_line.h"
#include "eventstore/status.h"
#include "projector/credit_projection.h"

namespace ledger {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kBackoffMinMs = 100;
constexpr int kLagLogIntervalMs = 1000;          // at most one lag line per second
constexpr int kConnectFailureLogIntervalMs = 60'000;  // while PostgreSQL stays unreachable
constexpr int kHeldCheckIntervalMs = 1000;       // how often a caught-up projector asks whether it is held back
constexpr int kHeldLogIntervalMs = 10'000;       // and, while it stays held, how often it says by whom
constexpr std::size_t kHaltReasonMaxBytes = 2000;   // what halted_reason keeps of the message

constexpr const char* kTryLockStatement = "projector_try_lock";
constexpr const char* kHeldBackStatement = "projector_held_back";
constexpr const char* kHorizonHoldersStatement = "projector_horizon_holders";
constexpr const char* kLockHoldersStatement = "projector_lock_holders";
constexpr const char* kHaltStatement = "projector_halt";
constexpr const char* kClearHaltStatement = "projector_clear_halt";

// Committed events the projector may not read yet: they lie at or beyond the snapshot horizon, the oldest
// transaction still open anywhere in the cluster. One index probe on (transaction_id, position).
constexpr const char* kHeldBackSql = "SELECT EXISTS (SELECT 1 FROM events WHERE transaction_id >= $1::xid8)";
// Who holds the horizon: the session whose transaction is the horizon (pg_stat_activity shows 32-bit xids),
// or a prepared transaction. Sessions of other roles show their details only to pg_read_all_stats members
// (the bootstrap grants it to ledger_project); otherwise pid and role still show.
constexpr const char* kHorizonHoldersSql = R"sql(
SELECT pid::text, coalesce(usename, '?'), coalesce(application_name, ''), coalesce(datname, ''),
       coalesce(state, '?'), coalesce(to_char(xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '?'),
       coalesce(client_addr::text, 'local')
  FROM pg_stat_activity
 WHERE backend_xid IS NOT NULL AND backend_xid::text::bigint = ($1::text::numeric % 4294967296)::bigint
UNION ALL
SELECT 'prepared transaction ' || quote_literal(gid), owner::text, '', database::text, 'prepared',
       to_char(prepared AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''
  FROM pg_prepared_xacts
 WHERE transaction::text::bigint = ($1::text::numeric % 4294967296)::bigint
LIMIT 5
)sql";
// Who holds the projection lock: sessions with a row lock (FOR UPDATE takes RowShareLock on the table)
// on projection_checkpoints, other than this one.
constexpr const char* kLockHoldersSql = R"sql(
SELECT a.pid::text, coalesce(a.usename, '?'), coalesce(a.application_name, ''), coalesce(a.datname, ''),
       coalesce(a.state, '?'), coalesce(to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '?'),
       coalesce(a.client_addr::text, 'local')
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.relation = 'projection_checkpoints'::regclass AND l.mode = 'RowShareLock'
   AND l.granted AND l.pid <> pg_backend_pid()
 LIMIT 5
)sql";
constexpr const char* kHaltSql =
    "UPDATE projection_checkpoints SET halted_reason = $2, halted_at = clock_timestamp() WHERE projection_name = $1";
constexpr const char* kClearHaltSql =
    "UPDATE projection_checkpoints SET halted_reason = NULL, halted_at = NULL"
    " WHERE projection_name = $1 AND halted_reason IS NOT NULL";

constexpr const char* kLoadRecordsStatement = "projector_load_records";
constexpr const char* kUpsertRecordsStatement = "projector_upsert_records";
constexpr const char* kInsertHistoryStatement = "projector_insert_history";

// One write per line (log_to_stderr) so lines from other threads do not interleave mid-line; text or JSON as
// LEDGER_LOG_FORMAT says.
void log_line(LogLevel level, const std::string& message, std::initializer_list<LogField> fields = {}) {
  log_to_stderr("projector", level, message, fields);
}



// Milliseconds since the Unix epoch of a timestamp as RecordedEvent::recorded_at gives it
// ("2026-11-25T15:29:53.123456Z"), or nullopt when it has another shape.
std::optional<std::int64_t> recorded_at_unix_ms(const std::string& s) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second,
                  &consumed) != 6) {
    return std::nullopt;
  }
  std::int64_t fraction_ms = 0;
  std::size_t i = static_cast<std::size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    int digits = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
      if (digits < 3) fraction_ms = fraction_ms * 10 + (s[i] - '0');
    }
    for (; digits < 3; ++digits) fraction_ms *= 10;
  }
  const std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  const auto midnight = std::chrono::sys_days{date};
  const auto t = midnight + std::chrono::hours{hour} + std::chrono::minutes{minute} + std::chrono::seconds{second};
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() + fraction_ms;
}

// `text` with NUL and every byte that is not part of a well-formed UTF-8 sequence replaced by '?', cut to at most
// `max_bytes` on a character boundary: the message quotes event data cut at a byte count, and PostgreSQL
// refuses text that is not UTF-8.
std::string valid_utf8(const std::string& text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    std::size_t n = c == 0 ? 0 : c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = n != 0 && i + n <= text.size() && !(n == 2 && c < 0xC2) && !(n == 4 && c > 0xF4);
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (ok && n == 3) {  // no overlong forms, no surrogates
      const unsigned char d = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d >= 0xA0);
    }
    if (ok && n == 4) {  // no overlong forms, nothing above U+10FFFF
      const unsigned char d = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xF0 && d < 0x90) && !(c == 0xF4 && d >= 0x90);
    }
    if (!ok) n = 1;
    if (out.size() + (ok ? n : 1) > max_bytes) break;
    if (ok) {
      out.append(text, i, n);
    } else {
      out += '?';
    }
    i += n;
  }
  return out;
}

// The notification carries nothing: its arrival (counted by await_notification) is the whole message.
class WakeReceiver final : public pqxx::notification_receiver {
 public:
  explicit WakeReceiver(pqxx::connection_base& conn) : pqxx::notification_receiver(conn, kEventsChannel) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override {}
};

struct BatchResult {
  enum class Kind { kLockBusy, kCommitted, kInvariantViolation };
  Kind kind = Kind::kCommitted;
  std::size_t events = 0;  // applied and committed (access events passed over are not counted)
  bool full = false;       // the batch hit batch_size_max: more events are probably waiting
  Checkpoint checkpoint;   // after the batch
  std::string last_recorded_at;
  Status violation;        // for kInvariantViolation
  std::string horizon;     // the snapshot horizon the batch read below
  double duration_s = 0;   // from the transaction's start to its commit
};

// (transaction_id, position) as a comparable pair; xid8 text is decimal.
std::pair<unsigned long long, std::int64_t> log_order(const std::string& transaction_id, std::int64_t position) {
  return {std::stoull(transaction_id), position};
}

std::string format_checkpoint(const Checkpoint& c) { return c.transaction_id + "/" + std::to_string(c.position); }

class Projector {
 public:
  Projector(const ProjectorOptions& options, const std::atomic<bool>& stop_requested)
      : options_(options),
        stop_requested_(stop_requested),
        stats_(options.stats != nullptr ? *options.stats : own_stats_) {}

  ~Projector() { disconnect(); }

  int run() {
    int backoff_ms = 0;  // 0 while the last attempt succeeded
    auto next_backoff_ms = [&] {
      backoff_ms = backoff_ms == 0 ? kBackoffMinMs : std::min(backoff_ms * 2, options_.reconnect_backoff_max_ms);
      return backoff_ms;
    };
    bool lock_busy_logged = false;

    while (!stop_requested_.load()) {
      try {
        if (conn_ == nullptr) connect();
        const BatchResult result = run_batch();
        backoff_ms = 0;
        switch (result.kind) {
          case BatchResult::Kind::kInvariantViolation:
            log_line(LogLevel::kError, "FATAL: invariant violated, stopping without applying the batch (rolled back): " +
                     result.violation.ToString());
            log_line(LogLevel::kError, "the read model stays at checkpoint " + format_checkpoint(checkpoint_) +
                     "; the log holds an event this projector cannot apply: investigate before restarting"
                     " (README, \"When the projector halts\")");
            stats_.halted.store(true);
            record_halt(result.violation.ToString());
            return 1;
          case BatchResult::Kind::kLockBusy:
            if (!lock_busy_logged) {
              log_line(LogLevel::kWarn, "the credit_records projection lock is held (a rebuild or another projector); "
                       "retrying every " + std::to_string(options_.poll_interval_ms) + " ms");
              lock_busy_logged = true;
              lock_busy_since_ = SteadyClock::now();
              last_held_log_ = {};
            }
            stats_.held_by_lock.store(true);
            note_lock_busy();
            sleep_unless_stopped(options_.poll_interval_ms, stop_requested_);
            continue;
          case BatchResult::Kind::kCommitted:
            if (lock_busy_logged) {
              log_line(LogLevel::kInfo, "projection lock free again, checkpoint now " +
                       format_checkpoint(result.checkpoint));
              lock_busy_logged = false;
            }
            stats_.held_by_lock.store(false);
            stats_.halted.store(false);
            if (!result.full) note_held_back(result.horizon);
            checkpoint_ = result.checkpoint;
            stats_.position.store(checkpoint_.position);
            if (result.events > 0) {
              events_applied_ += result.events;
              stats_.events_applied.fetch_add(result.events);
              stats_.batches.fetch_add(1);
              stats_.last_batch_duration_s.store(result.duration_s);
              stats_.batch_duration_s.observe(result.duration_s);
              note_lag(result.last_recorded_at);
            } else {
              stats_.lag_s.store(0);  // caught up
            }
            if (!result.full) wait_for_wake();
            continue;
        }
      } catch (const std::exception& e) {
        if (is_session_lost(e)) {
          const bool was_connected = conn_ != nullptr;
          disconnect();
          handle_connection_failure(e, was_connected, next_backoff_ms());
        } else {
          const int delay_ms = next_backoff_ms();
          log_line(LogLevel::kWarn, "batch failed, retrying in " + std::to_string(delay_ms) + " ms: " + single_line(e.what()));
          sleep_unless_stopped(delay_ms, stop_requested_);
        }
      }
    }
    log_line(LogLevel::kInfo, "stopped at checkpoint " + format_checkpoint(checkpoint_) + " after applying " +
             std::to_string(events_applied_) + " events");
    return 0;
  }

 private:
  // Opens the session, prepares statements, LISTENs, and reads the checkpoint for the log. Throws on failure.
  void connect() {
    conn_ = open_connection(options_.database_url, DatabaseLimits{});
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    // open_connection already does this; restated because the reconnect logic depends on it: a silent
    // libpqxx reactivation would drop the LISTEN and the prepared statements.
    conn_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    // The read model and its checkpoint commit together and derive from the durable log, so a commit
    // PostgreSQL loses in a crash of its own is only re-projected afterwards: no need to wait for the
    // WAL flush, which took the projector's turn for each batch and lengthened the lag under load.
    pqxx::nontransaction(*conn_).exec("SET synchronous_commit = off");
    conn_->prepare(kTryLockStatement, kLockCheckpointSkipLockedSql);
    conn_->prepare(kHeldBackStatement, kHeldBackSql);
    conn_->prepare(kHorizonHoldersStatement, kHorizonHoldersSql);
    conn_->prepare(kLockHoldersStatement, kLockHoldersSql);
    conn_->prepare(kHaltStatement, kHaltSql);
    conn_->prepare(kClearHaltStatement, kClearHaltSql);
    conn_->prepare(kLoadRecordsStatement, std::string("SELECT ") + kCreditRecordSelect +
                                              " FROM credit_records WHERE id = ANY($1::uuid[])");
    conn_->prepare(kUpsertRecordsStatement,
                   std::string("INSERT INTO credit_records (") + kCreditRecordColumns + ") SELECT " +
                       kCreditRecordColumns + " FROM " + kCreditRecordsRecordset + " ON CONFLICT (id) DO UPDATE SET " +
                       kCreditRecordUpdates);
    // History only grows: one row per event, so an entry costs the same on a block's 10,000th event.
    // The batch's history rows, and the notification that wakes serve's reads waiting for a version (sent at
    // COMMIT, so a listener woken by it reads a read model at least this far), in one round trip.
    conn_->prepare(kInsertHistoryStatement, std::string("WITH added AS (INSERT INTO credit_history (") +
                                                kCreditHistoryColumns + ") SELECT " + kCreditHistoryColumns +
                                                " FROM " + kCreditHistoryRecordset +
                                                " RETURNING 1) SELECT (SELECT count(*) FROM added), "
                                                "pg_catalog.pg_notify('" + kProjectedChannel + "', $2::text)");
    // LISTEN before the first read of the checkpoint, so no append can slip between the read and the LISTEN.
    receiver_ = std::make_unique<WakeReceiver>(*conn_);
    pqxx::work tx(*conn_, "projector_start");
    checkpoint_ = read_checkpoint(tx, kCreditRecordsProjection);
    tx.commit();
    stats_.position.store(checkpoint_.position);
    stats_.connected.store(true);
    log_line(LogLevel::kInfo, std::string(started_ ? "reconnected, " : "") + "listening on " + kEventsChannel +
             ", checkpoint " + format_checkpoint(checkpoint_));
    started_ = true;
    connect_failures_ = 0;
  }

  void disconnect() {
    // Close the socket first so the receiver's destructor does not try to UNLISTEN on a dead session; the
    // receiver must go before the connection it registered with.
    if (conn_ != nullptr) conn_->disconnect();
    receiver_.reset();
    conn_.reset();
    stats_.connected.store(false);
  }

  void handle_connection_failure(const std::exception& e, bool was_connected, int delay_ms) {
    const auto now = SteadyClock::now();
    if (was_connected) {
      log_line(LogLevel::kWarn, "connection lost, reconnecting (backoff up to " +
               std::to_string(options_.reconnect_backoff_max_ms) + " ms): " + single_line(e.what()));
      connect_failures_ = 0;
    } else {
      ++connect_failures_;
      // One line when PostgreSQL first turns out unreachable, then a reminder a minute, not one per attempt.
      if (connect_failures_ == 1 ||
          now - last_connect_failure_log_ >= std::chrono::milliseconds(kConnectFailureLogIntervalMs)) {
        log_line(LogLevel::kWarn, "cannot connect (attempt " + std::to_string(connect_failures_) + "), retrying: " +
                 single_line(e.what()));
        last_connect_failure_log_ = now;
      }
    }
    sleep_unless_stopped(delay_ms, stop_requested_);
  }

  // One transaction: lock, checkpoint, horizon, events, records, apply, write, checkpoint, commit.
  BatchResult run_batch() {
    const auto started = SteadyClock::now();
    BatchResult result;
    // Returning this rolls the transaction back (~work): nothing of the batch is written.
    auto violation = [&result](Status status) {
      result.kind = BatchResult::Kind::kInvariantViolation;
      result.violation = std::move(status);
      return result;
    };
    pqxx::work tx(*conn_, "projector_batch");
    // The horizon before any write in this transaction, the row lock included: once it writes, it has an
    // xid of its own, and the horizon could not pass it. Read before the lock, it is still a bound below
    // which every transaction has ended; the checkpoint is read after the lock, so a rebuild's is seen.
    const std::string horizon = read_horizon(tx);
    if (tx.exec_prepared(kTryLockStatement, std::string(kCreditRecordsProjection)).empty()) {
      result.kind = BatchResult::Kind::kLockBusy;
      return result;  // ~work rolls back
    }
    const Checkpoint checkpoint = read_checkpoint(tx, kCreditRecordsProjection);
    const std::vector<RecordedEvent> events = read_events_after(tx, checkpoint, horizon, options_.batch_size_max);
    result.checkpoint = checkpoint;
    result.horizon = horizon;
    if (events.empty()) {
      clear_halt_once(tx);
      tx.commit();
      halt_cleared_ = true;
      return result;
    }
    if (events.size() > options_.batch_size_max) {
      return violation(Status::Internal("read_events_after returned " + std::to_string(events.size()) +
                                        " events, limit " + std::to_string(options_.batch_size_max)));
    }

    // The records this batch touches, in first-touched order; one query for those that exist. Access events
    // (key and binding changes) touch none.
    std::unordered_map<std::string, std::optional<CreditRecord>> records;
    std::vector<std::string> touched;
    std::string id_array = "{";
    for (const RecordedEvent& e : events) {
      if (is_access_event(e)) continue;
      if (records.try_emplace(e.stream_id).second) {
        if (touched.size() > 0) id_array += ',';
        id_array += e.stream_id;  // uuid text needs no quoting in an array literal
        touched.push_back(e.stream_id);
      }
    }
    id_array += '}';
    for (const pqxx::row& row : tx.exec_prepared(kLoadRecordsStatement, id_array)) {
      CreditRecord r;
      Status read = record_from_row(row, &r);
      if (!read.ok()) return violation(std::move(read));
      auto it = records.find(r.id);
      if (it == records.end()) return violation(Status::Internal("credit_records returned unrequested id " + r.id));
      it->second = std::move(r);
    }

    std::vector<CreditHistoryEntry> history;
    history.reserve(events.size());
    std::size_t skipped = 0;  // access events
    auto previous = log_order(checkpoint.transaction_id, checkpoint.position);
    for (const RecordedEvent& e : events) {
      const auto order = log_order(e.transaction_id, e.position);
      if (order <= previous) {
        return violation(Status::Internal("event at position " + std::to_string(e.position) + " is not after " +
                                          std::to_string(previous.first) + "/" + std::to_string(previous.second) +
                                          " in log order"));
      }
      previous = order;
      if (is_access_event(e)) {
        ++skipped;  // no credit: the checkpoint passes it, nothing else changes
        continue;
      }
      CreditHistoryEntry entry;
      Status s = apply_event(e, &records[e.stream_id], &entry);
      if (!s.ok()) return violation(std::move(s));
      history.push_back(std::move(entry));
    }

    std::vector<const CreditRecord*> changed;
    changed.reserve(touched.size());
    for (const std::string& id : touched) {
      const std::optional<CreditRecord>& r = records.at(id);
      // Every touched stream had an event applied, so it has a record now.
      if (!r.has_value()) return violation(Status::Internal("credit " + id + " has no record after its events"));
      changed.push_back(&*r);
    }
    const pqxx::result written = tx.exec_prepared(kUpsertRecordsStatement, encode_credit_records(changed));
    if (written.affected_rows() != changed.size()) {
      return violation(Status::Internal("upsert wrote " + std::to_string(written.affected_rows()) + " of " +
                                        std::to_string(changed.size()) + " credit records"));
    }
    const RecordedEvent& last = events.back();
    result.checkpoint = Checkpoint{last.transaction_id, last.position};
    const pqxx::result added = tx.exec_prepared(kInsertHistoryStatement, encode_credit_history(history),
                                                std::to_string(result.checkpoint.position));
    const std::size_t added_rows = added[0][0].as<std::size_t>();
    if (added_rows != history.size()) {
      return violation(Status::Internal("history insert wrote " + std::to_string(added_rows) + " of " +
                                        std::to_string(history.size()) + " entries"));
    }
    LEDGER_ASSERT(history.size() + skipped == events.size(), "every event of the batch applied or skipped");
    // events_applied counts what the read model reflects: credit events, not the access events passed over.
    write_checkpoint(tx, kCreditRecordsProjection, result.checkpoint, static_cast<std::int64_t>(history.size()));
    clear_halt_once(tx);
    tx.commit();
    halt_cleared_ = true;
    result.duration_s = std::chrono::duration<double>(SteadyClock::now() - started).count();

    result.events = history.size();
    result.full = events.size() == options_.batch_size_max;
    result.last_recorded_at = last.recorded_at;
    return result;
  }

  // The first committed batch of this process clears a halt an earlier run recorded: the event that
  // stopped it was applied (or is gone), so the projection runs again.
  void clear_halt_once(pqxx::work& tx) {
    if (!halt_cleared_) tx.exec_prepared(kClearHaltStatement, std::string(kCreditRecordsProjection));
  }

  // Writes why the projector stopped where /healthz and operators read it. Best effort: the log line above
  // says it anyway.
  void record_halt(const std::string& reason) {
    try {
      pqxx::work tx(*conn_, "projector_halt");
      const pqxx::result r = tx.exec_prepared(kHaltStatement, std::string(kCreditRecordsProjection),
                                              valid_utf8(reason, kHaltReasonMaxBytes));
      tx.commit();
      if (r.affected_rows() == 1) {
        log_line(LogLevel::kError, "recorded in projection_checkpoints.halted_reason (projection credit_records)");
      }
    } catch (const std::exception& e) {
      log_line(LogLevel::kError, "could not record the halt in projection_checkpoints: " + single_line(e.what()));
    }
  }

  // Sessions as "pid 123 (role alice, application 'psql', database ledger, state 'idle in transaction',
  // transaction since 2026-12-01T23:00:00Z, client local)", from kHorizonHoldersSql / kLockHoldersSql rows.
  static std::string describe_holders(const pqxx::result& rows) {
    std::string text;
    for (const pqxx::row& row : rows) {
      if (!text.empty()) text += "; ";
      const std::string pid = row[0].as<std::string>();
      text += (pid.find_first_not_of("0123456789") == std::string::npos ? "pid " : "") + pid + " (role " +
              row[1].as<std::string>() + ", application_name '" + row[2].as<std::string>() + "', database " +
              row[3].as<std::string>() + ", state '" + row[4].as<std::string>() + "', xact_start " +
              row[5].as<std::string>() + (row[6].as<std::string>().empty() ? "" : ", client " + row[6].as<std::string>()) +
              ")";
    }
    return text;
  }

  // After a caught-up batch: committed events beyond its horizon mean an open transaction holds the
  // projector back. The same horizon for held_log_threshold_ms gets a line naming who, every 10 s.
  void note_held_back(const std::string& horizon) {
    const auto now = SteadyClock::now();
    if (now - last_held_check_ < std::chrono::milliseconds(kHeldCheckIntervalMs)) return;
    last_held_check_ = now;
    pqxx::read_transaction tx(*conn_, "projector_held_back");
    const bool held = tx.exec_prepared1(kHeldBackStatement, horizon)[0].as<bool>();
    stats_.held_by_horizon.store(held);
    if (!held) {
      if (!held_horizon_.empty() && held_logged_) {
        log_line(LogLevel::kInfo, "no longer held back (transaction horizon was " + held_horizon_ + ")");
      }
      held_horizon_.clear();
      held_logged_ = false;
      tx.commit();
      return;
    }
    if (held_horizon_ != horizon) {
      held_horizon_ = horizon;
      held_since_ = now;
      held_logged_ = false;
      last_held_log_ = {};
    }
    const auto held_for = now - held_since_;
    if (held_for >= std::chrono::milliseconds(options_.held_log_threshold_ms) &&
        (!held_logged_ || now - last_held_log_ >= std::chrono::milliseconds(kHeldLogIntervalMs))) {
      const pqxx::result holders = tx.exec_prepared(kHorizonHoldersStatement, horizon);
      log_line(LogLevel::kWarn, "held back for " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(held_for).count()) +
               " s: committed events wait behind open transaction " + horizon + " (the snapshot horizon), held by " +
               (holders.empty() ? std::string("no session this role can see (another database's prepared transaction?)")
                                : describe_holders(holders)));
      held_logged_ = true;
      last_held_log_ = now;
    }
    tx.commit();
  }

  // While the projection lock stays taken: after held_log_threshold_ms, who has it, every 10 s.
  void note_lock_busy() {
    const auto now = SteadyClock::now();
    if (now - lock_busy_since_ < std::chrono::milliseconds(options_.held_log_threshold_ms)) return;
    if (last_held_log_ != SteadyClock::time_point{} &&
        now - last_held_log_ < std::chrono::milliseconds(kHeldLogIntervalMs)) {
      return;
    }
    last_held_log_ = now;
    pqxx::read_transaction tx(*conn_, "projector_lock_holders");
    const pqxx::result holders = tx.exec_prepared(kLockHoldersStatement);
    tx.commit();
    log_line(LogLevel::kWarn, "the projection lock has been held for " +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - lock_busy_since_).count()) +
             " s by " + (holders.empty() ? std::string("a session this role cannot see") : describe_holders(holders)));
  }

  // Blocks until a notification arrives or the poll interval passes, whichever is first.
  void wait_for_wake() {
    const long seconds = options_.poll_interval_ms / 1000;
    const long microseconds = static_cast<long>(options_.poll_interval_ms % 1000) * 1000;
    conn_->await_notification(seconds, microseconds);
  }

  // Logs position, events applied and lag when the last applied event is older than the threshold.
  void note_lag(const std::string& last_recorded_at) {
    const std::optional<std::int64_t> recorded_ms = recorded_at_unix_ms(last_recorded_at);
    if (!recorded_ms.has_value()) return;
    const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    const std::int64_t lag_ms = now_ms - *recorded_ms;
    stats_.lag_s.store(lag_ms > 0 ? static_cast<double>(lag_ms) / 1000.0 : 0.0);
    if (lag_ms <= options_.lag_log_threshold_ms) return;
    const auto now = SteadyClock::now();
    if (lag_logged_ && now - last_lag_log_ < std::chrono::milliseconds(kLagLogIntervalMs)) return;
    lag_logged_ = true;
    last_lag_log_ = now;
    log_line(LogLevel::kInfo, "behind: position " + std::to_string(checkpoint_.position) + ", events_applied " +
             std::to_string(events_applied_) + ", read_model_lag_ms " + std::to_string(lag_ms));
  }

  const ProjectorOptions options_;
  const std::atomic<bool>& stop_requested_;
  ProjectorStats own_stats_;  // when options_.stats is null
  ProjectorStats& stats_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<WakeReceiver> receiver_;  // destroyed before conn_ (see disconnect)
  Checkpoint checkpoint_;
  std::uint64_t events_applied_ = 0;  // since this process started
  bool started_ = false;
  int connect_failures_ = 0;
  SteadyClock::time_point last_connect_failure_log_{};
  bool lag_logged_ = false;
  SteadyClock::time_point last_lag_log_{};
  bool halt_cleared_ = false;             // this process has committed a batch (and so cleared any halt)
  SteadyClock::time_point last_held_check_{};
  std::string held_horizon_;              // the horizon events have waited behind since held_since_
  SteadyClock::time_point held_since_{};
  bool held_logged_ = false;
  SteadyClock::time_point last_held_log_{};
  SteadyClock::time_point lock_busy_since_{};
};

Status validate(const ProjectorOptions& o) {
  if (o.database_url.empty()) return Status::Invalid("database_url is empty");
  if (o.poll_interval_ms < 1 || o.poll_interval_ms > kProjectorPollIntervalMsMax) {
    return Status::Invalid("poll_interval_ms must be in [1, " + std::to_string(kProjectorPollIntervalMsMax) + "]");
  }
  if (o.batch_size_max < 1 || o.batch_size_max > kProjectorBatchSizeMax) {
    return Status::Invalid("batch_size_max must be in [1, " + std::to_string(kProjectorBatchSizeMax) + "]");
  }
  if (o.lag_log_threshold_ms < 0) return Status::Invalid("lag_log_threshold_ms must be >= 0");
  if (o.held_log_threshold_ms < 0) return Status::Invalid("held_log_threshold_ms must be >= 0");
  if (o.reconnect_backoff_max_ms < kBackoffMinMs || o.reconnect_backoff_max_ms > kProjectorBackoffMsMax) {
    return Status::Invalid("reconnect_backoff_max_ms must be in [" + std::to_string(kBackoffMinMs) + ", " +
                           std::to_string(kProjectorBackoffMsMax) + "]");
  }
  return Status::Ok();
}

}  // namespace

int run_projector(const ProjectorOptions& options, const std::atomic<bool>& stop_requested) {
  const Status valid = validate(options);
  if (!valid.ok()) {
    log_line(LogLevel::kError, valid.ToString());
    return 2;
  }
  try {
    Projector projector(options, stop_requested);
    return projector.run();
  } catch (const std::exception& e) {
    // run() handles database errors itself; this is a bug or an allocation failure.
    log_line(LogLevel::kError, std::string("FATAL: unexpected error: ") + single_line(e.what()));
    return 1;
  } catch (...) {
    log_line(LogLevel::kError, "FATAL: unexpected non-standard exception");
    return 1;
  }
}

}  // namespace ledger

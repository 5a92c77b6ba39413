#include "projector/projector.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/database.h"
#include "eventstore/event_store.h"
#include "eventstore/status.h"
#include "projector/credit_projection.h"

namespace ledger {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kBackoffMinMs = 100;
constexpr int kStopCheckIntervalMs = 100;        // sleeps wake this often to notice a stop request
constexpr int kLagLogIntervalMs = 1000;          // at most one lag line per second
constexpr int kConnectFailureLogIntervalMs = 60'000;  // while PostgreSQL stays unreachable

constexpr const char* kTryLockStatement = "projector_try_lock";
constexpr const char* kLoadRecordsStatement = "projector_load_records";
constexpr const char* kUpsertRecordsStatement = "projector_upsert_records";

void log_line(const std::string& line) {
  // One fprintf per line so lines from other threads do not interleave mid-line.
  std::fprintf(stderr, "%s\n", line.c_str());
}

// True when the session can no longer be trusted: reconnect rather than retry on it. A commit whose outcome
// is unknown counts too; the checkpoint, committed with the read model, tells the truth after reconnecting.
bool lost_connection(const std::exception& e) {
  return is_connection_failure(e) || dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr ||
         dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr;
}

// Sleeps `ms`, waking every kStopCheckIntervalMs to honor a stop request.
void sleep_unless_stopped(int ms, const std::atomic<bool>& stop_requested) {
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(ms);
  while (!stop_requested.load()) {
    const auto now = SteadyClock::now();
    if (now >= deadline) return;
    std::this_thread::sleep_for(
        std::min<SteadyClock::duration>(deadline - now, std::chrono::milliseconds(kStopCheckIntervalMs)));
  }
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

// The notification carries nothing: its arrival (counted by await_notification) is the whole message.
class WakeReceiver final : public pqxx::notification_receiver {
 public:
  explicit WakeReceiver(pqxx::connection_base& conn) : pqxx::notification_receiver(conn, kEventsChannel) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override {}
};

struct BatchResult {
  enum class Kind { kLockBusy, kCommitted, kInvariantViolation };
  Kind kind = Kind::kCommitted;
  std::size_t events = 0;  // applied and committed
  bool full = false;       // the batch hit batch_size_max: more events are probably waiting
  Checkpoint checkpoint;   // after the batch
  std::string last_recorded_at;
  Status violation;        // for kInvariantViolation
};

// (transaction_id, position) as a comparable pair; xid8 text is decimal.
std::pair<unsigned long long, std::int64_t> log_order(const std::string& transaction_id, std::int64_t position) {
  return {std::stoull(transaction_id), position};
}

std::string format_checkpoint(const Checkpoint& c) { return c.transaction_id + "/" + std::to_string(c.position); }

CreditRecord record_from_row(const pqxx::row& row) {
  CreditRecord r;
  r.id = row[0].as<std::string>();
  r.project_name = row[1].as<std::string>();
  r.registry = row[2].as<std::string>();
  r.vintage = row[3].as<std::int32_t>();
  r.quantity = row[4].as<std::int64_t>();
  r.serial_number = row[5].as<std::string>();
  r.status = row[6].as<std::string>();
  r.version = row[7].as<std::int64_t>();
  r.history_json = row[8].as<std::string>();
  r.last_position = row[9].as<std::int64_t>();
  r.holder = row[10].as<std::string>();
  return r;
}

class Projector {
 public:
  Projector(const ProjectorOptions& options, const std::atomic<bool>& stop_requested)
      : options_(options), stop_requested_(stop_requested) {}

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
            log_line("projector: FATAL: invariant violated, stopping without applying the batch (rolled back): " +
                     result.violation.ToString());
            log_line("projector: the read model stays at checkpoint " + format_checkpoint(checkpoint_) +
                     "; the log holds an event this projector cannot apply: investigate before restarting");
            return 1;
          case BatchResult::Kind::kLockBusy:
            if (!lock_busy_logged) {
              log_line("projector: the credit_records projection lock is held (a rebuild or another projector); "
                       "retrying every " + std::to_string(options_.poll_interval_ms) + " ms");
              lock_busy_logged = true;
            }
            sleep_unless_stopped(options_.poll_interval_ms, stop_requested_);
            continue;
          case BatchResult::Kind::kCommitted:
            if (lock_busy_logged) {
              log_line("projector: projection lock free again, checkpoint now " +
                       format_checkpoint(result.checkpoint));
              lock_busy_logged = false;
            }
            checkpoint_ = result.checkpoint;
            if (result.events > 0) {
              events_applied_ += result.events;
              note_lag(result.last_recorded_at);
            }
            if (!result.full) wait_for_wake();
            continue;
        }
      } catch (const std::exception& e) {
        if (lost_connection(e)) {
          const bool was_connected = conn_ != nullptr;
          disconnect();
          handle_connection_failure(e, was_connected, next_backoff_ms());
        } else {
          const int delay_ms = next_backoff_ms();
          log_line("projector: batch failed, retrying in " + std::to_string(delay_ms) + " ms: " + single_line(e.what()));
          sleep_unless_stopped(delay_ms, stop_requested_);
        }
      }
    }
    log_line("projector: stopped at checkpoint " + format_checkpoint(checkpoint_) + " after applying " +
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
    conn_->prepare(kTryLockStatement, "SELECT pg_try_advisory_xact_lock($1::bigint)");
    conn_->prepare(kLoadRecordsStatement,
                   "SELECT id::text, project_name, registry, vintage, quantity, serial_number, status, version,"
                   " history::text, last_position, holder FROM credit_records WHERE id = ANY($1::uuid[])");
    conn_->prepare(kUpsertRecordsStatement,
                   std::string("INSERT INTO credit_records (") + kCreditRecordColumns + ") SELECT " +
                       kCreditRecordColumns + " FROM " + kCreditRecordsRecordset +
                       " ON CONFLICT (id) DO UPDATE SET project_name = EXCLUDED.project_name,"
                       " registry = EXCLUDED.registry, vintage = EXCLUDED.vintage, quantity = EXCLUDED.quantity,"
                       " serial_number = EXCLUDED.serial_number, status = EXCLUDED.status,"
                       " version = EXCLUDED.version, history = EXCLUDED.history,"
                       " last_position = EXCLUDED.last_position, holder = EXCLUDED.holder");
    // LISTEN before the first read of the checkpoint, so no append can slip between the read and the LISTEN.
    receiver_ = std::make_unique<WakeReceiver>(*conn_);
    pqxx::work tx(*conn_, "projector_start");
    checkpoint_ = read_checkpoint(tx, kCreditRecordsProjection);
    tx.commit();
    log_line(std::string("projector: ") + (started_ ? "reconnected, " : "") + "listening on " + kEventsChannel +
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
  }

  void handle_connection_failure(const std::exception& e, bool was_connected, int delay_ms) {
    const auto now = SteadyClock::now();
    if (was_connected) {
      log_line("projector: connection lost, reconnecting (backoff up to " +
               std::to_string(options_.reconnect_backoff_max_ms) + " ms): " + single_line(e.what()));
      connect_failures_ = 0;
    } else {
      ++connect_failures_;
      // One line when PostgreSQL first turns out unreachable, then a reminder a minute, not one per attempt.
      if (connect_failures_ == 1 ||
          now - last_connect_failure_log_ >= std::chrono::milliseconds(kConnectFailureLogIntervalMs)) {
        log_line("projector: cannot connect (attempt " + std::to_string(connect_failures_) + "), retrying: " +
                 single_line(e.what()));
        last_connect_failure_log_ = now;
      }
    }
    sleep_unless_stopped(delay_ms, stop_requested_);
  }

  // One transaction: lock, checkpoint, horizon, events, records, apply, write, checkpoint, commit.
  BatchResult run_batch() {
    BatchResult result;
    // Returning this rolls the transaction back (~work): nothing of the batch is written.
    auto violation = [&result](Status status) {
      result.kind = BatchResult::Kind::kInvariantViolation;
      result.violation = std::move(status);
      return result;
    };
    pqxx::work tx(*conn_, "projector_batch");
    if (!tx.exec_prepared1(kTryLockStatement, kCreditRecordsLockKey)[0].as<bool>()) {
      result.kind = BatchResult::Kind::kLockBusy;
      return result;  // ~work rolls back
    }
    const Checkpoint checkpoint = read_checkpoint(tx, kCreditRecordsProjection);
    // The horizon before any write in this transaction: once it writes, it has an xid of its own.
    const std::string horizon = read_horizon(tx);
    const std::vector<RecordedEvent> events = read_events_after(tx, checkpoint, horizon, options_.batch_size_max);
    result.checkpoint = checkpoint;
    if (events.empty()) {
      tx.commit();
      return result;
    }
    if (events.size() > options_.batch_size_max) {
      return violation(Status::Internal("read_events_after returned " + std::to_string(events.size()) +
                                        " events, limit " + std::to_string(options_.batch_size_max)));
    }

    // The records this batch touches, in first-touched order; one query for those that exist.
    std::unordered_map<std::string, std::optional<CreditRecord>> records;
    std::vector<std::string> touched;
    std::string id_array = "{";
    for (const RecordedEvent& e : events) {
      if (records.try_emplace(e.stream_id).second) {
        if (touched.size() > 0) id_array += ',';
        id_array += e.stream_id;  // uuid text needs no quoting in an array literal
        touched.push_back(e.stream_id);
      }
    }
    id_array += '}';
    for (const pqxx::row& row : tx.exec_prepared(kLoadRecordsStatement, id_array)) {
      CreditRecord r = record_from_row(row);
      auto it = records.find(r.id);
      if (it == records.end()) return violation(Status::Internal("credit_records returned unrequested id " + r.id));
      it->second = std::move(r);
    }

    auto previous = log_order(checkpoint.transaction_id, checkpoint.position);
    for (const RecordedEvent& e : events) {
      const auto order = log_order(e.transaction_id, e.position);
      if (order <= previous) {
        return violation(Status::Internal("event at position " + std::to_string(e.position) + " is not after " +
                                          std::to_string(previous.first) + "/" + std::to_string(previous.second) +
                                          " in log order"));
      }
      previous = order;
      Status s = apply_event(e, &records[e.stream_id]);
      if (!s.ok()) return violation(std::move(s));
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
    write_checkpoint(tx, kCreditRecordsProjection, result.checkpoint, static_cast<std::int64_t>(events.size()));
    tx.commit();

    result.events = events.size();
    result.full = events.size() == options_.batch_size_max;
    result.last_recorded_at = last.recorded_at;
    return result;
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
    if (lag_ms <= options_.lag_log_threshold_ms) return;
    const auto now = SteadyClock::now();
    if (lag_logged_ && now - last_lag_log_ < std::chrono::milliseconds(kLagLogIntervalMs)) return;
    lag_logged_ = true;
    last_lag_log_ = now;
    log_line("projector: behind: position " + std::to_string(checkpoint_.position) + ", events_applied " +
             std::to_string(events_applied_) + ", read_model_lag_ms " + std::to_string(lag_ms));
  }

  const ProjectorOptions options_;
  const std::atomic<bool>& stop_requested_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<WakeReceiver> receiver_;  // destroyed before conn_ (see disconnect)
  Checkpoint checkpoint_;
  std::uint64_t events_applied_ = 0;  // since this process started
  bool started_ = false;
  int connect_failures_ = 0;
  SteadyClock::time_point last_connect_failure_log_{};
  bool lag_logged_ = false;
  SteadyClock::time_point last_lag_log_{};
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
    log_line("projector: " + valid.ToString());
    return 2;
  }
  try {
    Projector projector(options, stop_requested);
    return projector.run();
  } catch (const std::exception& e) {
    // run() handles database errors itself; this is a bug or an allocation failure.
    log_line(std::string("projector: FATAL: unexpected error: ") + single_line(e.what()));
    return 1;
  } catch (...) {
    log_line("projector: FATAL: unexpected non-standard exception");
    return 1;
  }
}

}  // namespace ledger

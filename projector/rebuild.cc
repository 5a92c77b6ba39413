#include "projector/rebuild.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>
#include <pqxx/stream_to>

#include "eventstore/database.h"
#include "eventstore/event_store.h"
#include "eventstore/log_line.h"
#include "eventstore/replay_reader.h"
#include "eventstore/status.h"
#include "projector/credit_projection.h"
#include "projector/projector.h"

namespace ledger {
// A COPY field that may be NULL (libpqxx 6.4 has no string_traits for std::optional).
struct NullableText {
  std::optional<std::string> value;
};
}  // namespace ledger

namespace pqxx {
template <>
struct string_traits<ledger::NullableText> {
  static constexpr const char* name() noexcept { return "ledger::NullableText"; }
  static constexpr bool has_null() noexcept { return true; }
  static bool is_null(const ledger::NullableText& t) { return !t.value.has_value(); }
  static ledger::NullableText null() { return {}; }
  static void from_string(const char[], ledger::NullableText&) {}
  static std::string to_string(const ledger::NullableText& t) { return t.value.value_or(""); }
};
}  // namespace pqxx

namespace ledger {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kProgressIntervalMs = 1000;
constexpr int kLockTimeoutS = 30;
constexpr const char* kRebuildTable = "credit_records_rebuild";
constexpr const char* kRebuildHistoryTable = "credit_history_rebuild";

// A table the rebuild replaces: built beside the original, swapped in at the end.
struct RebuiltTable {
  std::string table;    // the original
  std::string rebuild;  // the new one, until the swap
  std::string old_shape;
  std::vector<std::pair<std::string, std::string>> index_renames;  // rebuilt name -> original name
};
// Bounds each wait for the reader's next page; the first one waits for PostgreSQL to sort the whole log.
constexpr int kReplayPageWaitTimeoutMs = 600'000;

// "a, b,c" -> {"a", "b", "c"}.
std::vector<std::string> column_names(std::string_view list) {
  std::vector<std::string> names;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    names.emplace_back(name);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return names;
}

// One write per line, text or JSON as LEDGER_LOG_FORMAT says.
void log_line(LogLevel level, const std::string& message) { log_to_stderr("rebuild", level, message); }

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

std::string per_second(std::int64_t count, double seconds) {
  return std::to_string(static_cast<std::int64_t>(seconds > 0 ? static_cast<double>(count) / seconds : 0));
}

std::string format_fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

// Everything about a table that must come out of the swap unchanged: owner, grants, comment, options,
// columns, indexes, constraints, triggers, policies. Compared before and after; a difference aborts the
// rebuild, so a schema feature the swap does not carry over fails loudly instead of vanishing.
constexpr const char* kTableShapeSql = R"sql(
SELECT concat_ws(E'\n',
  'owner ' || pg_get_userbyid(c.relowner),
  'acl ' || coalesce(c.relacl::text, 'default'),
  'comment ' || coalesce(obj_description(c.oid, 'pg_class'), ''),
  'options ' || coalesce(c.reloptions::text, 'none'),
  'kind ' || c.relkind::text || c.relpersistence::text ||
    ' rls ' || c.relrowsecurity::text || ' ' || c.relforcerowsecurity::text,
  (SELECT string_agg('column ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||
                     CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||
                     coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') ||
                     coalesce(' acl ' || a.attacl::text, '') ||
                     coalesce(' comment ' || col_description(c.oid, a.attnum), ''), E'\n' ORDER BY a.attnum)
     FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  (SELECT string_agg(pg_get_indexdef(i.indexrelid), E'\n' ORDER BY pg_get_indexdef(i.indexrelid))
     FROM pg_index i WHERE i.indrelid = c.oid),
  (SELECT string_agg('constraint ' || k.conname || ' ' || pg_get_constraintdef(k.oid), E'\n' ORDER BY k.conname)
     FROM pg_constraint k WHERE k.conrelid = c.oid),
  (SELECT string_agg(pg_get_triggerdef(t.oid), E'\n' ORDER BY t.tgname)
     FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
  (SELECT string_agg('policy ' || p.polname, E'\n' ORDER BY p.polname) FROM pg_policy p WHERE p.polrelid = c.oid))
FROM pg_class c WHERE c.oid = $1::regclass
)sql";

// A table's indexes with the index and table names cut out of the definition, so the indexes LIKE ...
// INCLUDING ALL created can be paired with the originals whose names they must take.
constexpr const char* kIndexesSql = R"sql(
SELECT c.relname, regexp_replace(pg_get_indexdef(i.indexrelid), ' INDEX \S+ ON \S+ ', ' INDEX ON ')
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = $1::regclass ORDER BY 2, 1
)sql";

// What LIKE does not copy but a migrated table may have: owner, table comment, grants.
constexpr const char* kOwnerCommentSql = R"sql(
SELECT pg_get_userbyid(c.relowner), obj_description(c.oid, 'pg_class'), current_user::text
  FROM pg_class c WHERE c.oid = $1::regclass
)sql";
constexpr const char* kGrantsSql = R"sql(
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
       a.privilege_type, a.is_grantable
  FROM pg_class c, aclexplode(c.relacl) WITH ORDINALITY AS a(grantor, grantee, privilege_type, is_grantable, n)
 WHERE c.oid = $1::regclass ORDER BY a.n
)sql";

// The constraints of a table that an index backs (primary key, unique, exclusion), as ADD CONSTRAINT takes them.
constexpr const char* kIndexConstraintsSql = R"sql(
SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k
 WHERE k.conrelid = $1::regclass AND k.contype IN ('p', 'u', 'x') ORDER BY k.conname
)sql";
// The other indexes of a table, as CREATE INDEX statements.
constexpr const char* kPlainIndexesSql = R"sql(
SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
 WHERE i.indrelid = $1::regclass
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
 ORDER BY 1
)sql";

struct IndexName {
  std::string name;
  std::string shape;  // definition without names
};

std::vector<IndexName> read_indexes(pqxx::work& tx, const std::string& table) {
  std::vector<IndexName> indexes;
  for (const pqxx::row& row : tx.exec_params(kIndexesSql, table)) {
    indexes.push_back({row[0].as<std::string>(), row[1].as<std::string>()});
  }
  return indexes;
}

std::string read_shape(pqxx::work& tx, const std::string& table) {
  return tx.exec_params1(kTableShapeSql, table)[0].as<std::string>();
}

class Rebuild {
 public:
  Rebuild(const RebuildOptions& options, const std::atomic<bool>& stop_requested)
      : options_(options), stop_requested_(stop_requested) {}

  // Errors of the database itself are thrown; everything else comes back as a Status.
  Status run() {
    start_ = SteadyClock::now();
    DatabaseLimits limits;
    limits.statement_timeout_ms = 0;  // replay and the final swap can be long
    limits.lock_timeout_ms = kLockTimeoutS * 1000;
    limits.key_lookups_only = false;  // counts and copies whole tables
    // Generous but bounded: between two statements this session waits for the reader's next page (the
    // first one sorts the whole log) and sorts and encodes records.
    limits.idle_in_transaction_timeout_ms = kReplayPageWaitTimeoutMs + 60'000;
    std::unique_ptr<pqxx::connection> conn = open_connection(options_.database_url, limits);
    pqxx::work tx(*conn, "rebuild");
    tx.exec("SET LOCAL lock_timeout = '" + std::to_string(kLockTimeoutS) + "s'");
    tx.exec("SET LOCAL statement_timeout = 0");

    Status locked = take_lock(tx);
    if (!locked.ok()) return locked;

    const std::string horizon = read_horizon(tx);
    // Reading starts at once: PostgreSQL sorts the whole log for the reader while this session counts the
    // events and creates the new table.
    ReplayOptions replay_options;
    replay_options.page_size_max = options_.batch_size_max;
    replay_options.page_wait_timeout_ms = kReplayPageWaitTimeoutMs;
    ReplayReader reader(options_.database_url, horizon, replay_options);
    const std::int64_t total = count_events_below(tx, horizon);
    log_line(LogLevel::kInfo, "replaying " + std::to_string(total) + " events below transaction horizon " + horizon);

    std::vector<RebuiltTable> tables = {{kCreditRecordsProjection, kRebuildTable, "", {}},
                                        {kCreditHistoryTable, kRebuildHistoryTable, "", {}}};
    // Without indexes until the rows are in: building each index once, sorted, beat maintaining seven of
    // them row by row during the COPY (rebuild of 1,000,002 events: see docs/benchmarks.md, issue 10).
    for (RebuiltTable& t : tables) {
      t.old_shape = read_shape(tx, t.table);
      tx.exec("CREATE TABLE " + t.rebuild + " (LIKE " + t.table + " INCLUDING ALL EXCLUDING INDEXES)");
    }

    const Checkpoint last = last_checkpoint_below(tx, horizon);
    std::int64_t replayed = 0;  // every event below the horizon
    std::int64_t applied = 0;   // those of credits (the access stream's are passed over)
    Status replay_status = replay_and_write(tx, reader, total, &replayed, &applied);
    if (!replay_status.ok()) return replay_status;
    if (replayed != total) {
      return Status::Internal("replayed " + std::to_string(replayed) + " events but " + std::to_string(total) +
                              " are below the horizon: the log changed under the rebuild");
    }
    for (RebuiltTable& t : tables) {
      create_indexes_like(tx, t.table, t.rebuild);
      Status paired = pair_indexes(t.table, read_indexes(tx, t.table), read_indexes(tx, t.rebuild), &t.index_renames);
      if (!paired.ok()) return paired;
    }
    // Planner statistics for what the new table is searched by (id = ANY(...) in the projector); the other
    // columns wait for autovacuum. All columns took 0.5 s of a 1,000,002-event rebuild, mostly for history.
    tx.exec(std::string("ANALYZE ") + kRebuildTable + " (id)");

    for (const RebuiltTable& t : tables) {
      Status swapped = swap_table(tx, t);
      if (!swapped.ok()) return swapped;
    }

    // The rebuilt model reflects exactly the replayed events: the checkpoint restarts from them.
    // A projector halted by an event it could not apply: the rebuild applied every event, so that is over.
    tx.exec_params("UPDATE projection_checkpoints SET events_applied = 0, halted_reason = NULL, halted_at = NULL"
                   " WHERE projection_name = $1",
                   std::string(kCreditRecordsProjection));
    // events_applied counts credit events, as the live projector does.
    write_checkpoint(tx, kCreditRecordsProjection, last, applied);
    if (stop_requested_.load()) return stopped();
    tx.commit();

    const double elapsed_s = seconds_since(start_);
    // The credit events, into records; the access stream's (key and binding changes) were read and passed over.
    log_line(LogLevel::kInfo, "replayed " + std::to_string(applied) + " events into " +
             std::to_string(records_written_) + " records (and passed over " + std::to_string(replayed - applied) +
             " of the access stream) in " + format_fixed(elapsed_s, 2) + " s (" + per_second(replayed, elapsed_s) +
             " events/s)");
    return Status::Ok();
  }

 private:
  static Status stopped() {
    return Status::Unavailable("stopped by request; rolled back, the old read model is unchanged");
  }

  // The checkpoint row lock the live projector takes per batch (kLockCheckpoint*), so no batch interleaves
  // with the rebuild; waits at most lock_timeout.
  Status take_lock(pqxx::work& tx) {
    const std::string projection = kCreditRecordsProjection;
    if (!tx.exec_params(kLockCheckpointSkipLockedSql, projection).empty()) return Status::Ok();
    log_line(LogLevel::kWarn, "waiting up to " + std::to_string(kLockTimeoutS) +
             " s for the credit_records projection lock (held by a projector batch or another rebuild)");
    try {
      if (tx.exec_params(kLockCheckpointWaitSql, projection).empty()) {
        return Status::Internal("projection_checkpoints has no row for credit_records: run carbon-ledger migrate");
      }
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "55P03") throw;  // lock_not_available: lock_timeout expired
      return Status::Unavailable("the credit_records projection lock stayed held for " +
                                 std::to_string(kLockTimeoutS) +
                                 " s: another rebuild is probably running; try again when it has finished");
    }
    return Status::Ok();
  }

  // Gives `rebuild` every index of `table`: its primary key, unique and exclusion constraints (under
  // temporary names; the swap renames them) and its other indexes, each built once over the loaded rows.
  static void create_indexes_like(pqxx::work& tx, const std::string& table, const std::string& rebuild) {
    int n = 0;
    for (const pqxx::row& row : tx.exec_params(kIndexConstraintsSql, table)) {
      tx.exec("ALTER TABLE " + rebuild + " ADD CONSTRAINT " + rebuild + "_c" + std::to_string(++n) + " " +
              row[0].as<std::string>());
    }
    for (const pqxx::row& row : tx.exec_params(kPlainIndexesSql, table)) {
      const std::string name = rebuild + "_i" + std::to_string(++n);
      tx.exec(tx.exec_params1("SELECT regexp_replace($1, ' INDEX \\S+ ON \\S+ ', ' INDEX ' || $2 || ' ON ' || $3 || ' ')",
                              row[0].as<std::string>(), name, "public." + rebuild)[0]
                  .as<std::string>());
    }
  }

  static Status pair_indexes(const std::string& table, const std::vector<IndexName>& originals,
                             std::vector<IndexName> rebuilt, std::vector<std::pair<std::string, std::string>>* renames) {
    if (originals.size() != rebuilt.size()) {
      return Status::Internal("LIKE INCLUDING ALL created " + std::to_string(rebuilt.size()) + " indexes, " +
                              table + " has " + std::to_string(originals.size()));
    }
    for (const IndexName& original : originals) {
      auto match = std::find_if(rebuilt.begin(), rebuilt.end(),
                                [&](const IndexName& r) { return r.shape == original.shape; });
      if (match == rebuilt.end()) {
        return Status::Internal("no rebuilt index matches " + original.name + " (" + original.shape + ")");
      }
      renames->emplace_back(match->name, original.name);
      rebuilt.erase(match);
    }
    return Status::Ok();
  }

  // Reads the log below the horizon stream by stream (each stream's events in version order: streams are
  // independent, so this replays exactly what (transaction_id, position) order would) and writes each
  // record with COPY as soon as its stream ends. The reading happens on a session of its own, a page
  // ahead; memory holds a few pages of events, not the whole model.
  Status replay_and_write(pqxx::work& tx, ReplayReader& reader, std::int64_t total, std::int64_t* replayed,
                          std::int64_t* applied) {
    auto last_progress = SteadyClock::now();
    const auto replay_start = last_progress;
    std::optional<CreditRecord> current;  // the stream being replayed; complete once the next one starts
    std::vector<CreditRecord> finished;
    std::vector<CreditHistoryEntry> history;
    for (;;) {
      if (stop_requested_.load()) return stopped();
      const ReplayPage page = reader.next(stop_requested_);
      if (!page.status.ok()) return stop_requested_.load() ? stopped() : page.status;
      for (const RecordedEvent& e : page.events) {
        if (is_access_event(e)) continue;  // no credit (key and binding changes): no record, no history
        if (current.has_value() && current->id != e.stream_id) {
          finished.push_back(std::move(*current));
          current.reset();
        }
        CreditHistoryEntry entry;
        Status s = apply_event(e, &current, &entry);
        if (!s.ok()) return s;
        history.push_back(std::move(entry));
        ++*applied;
      }
      *replayed += static_cast<std::int64_t>(page.events.size());
      if (*replayed > total) {
        return Status::Internal("more events below the horizon than counted (" + std::to_string(total) + ")");
      }
      if (page.last && current.has_value()) {
        finished.push_back(std::move(*current));
        current.reset();
      }
      write_records(tx, finished);
      write_history(tx, history);
      records_written_ += static_cast<std::int64_t>(finished.size());
      finished.clear();
      history.clear();
      const auto now = SteadyClock::now();
      if (now - last_progress >= std::chrono::milliseconds(kProgressIntervalMs)) {
        last_progress = now;
        const double percent =
            total > 0 ? 100.0 * static_cast<double>(*replayed) / static_cast<double>(total) : 100.0;
        log_line(LogLevel::kInfo, std::to_string(*replayed) + "/" + std::to_string(total) + " events (" +
                 format_fixed(percent, 1) + "%), " + per_second(*replayed, seconds_since(replay_start)) +
                 " events/s");
      }
      if (page.last) break;
    }
    return Status::Ok();
  }

  // COPY: the cheapest way into a table, one stream per page of finished records.
  static void write_records(pqxx::work& tx, const std::vector<CreditRecord>& records) {
    if (records.empty()) return;
    // kCreditRecordColumns order, the one list of the read model's columns.
    static const std::vector<std::string> columns = column_names(kCreditRecordColumns);
    pqxx::stream_to copy(tx, kRebuildTable, columns);
    const auto nullable = [](const std::string& text) {
      return text.empty() ? NullableText{} : NullableText{text};
    };
    for (const CreditRecord& r : records) {
      const CreditState& s = r.state;
      const CreditAttributes& a = s.attributes;
      const CreditRecordFields f = record_fields(r);
      copy << std::make_tuple(r.id, a.project_name, a.registry, a.vintage, a.quantity, a.serial_number,
                              std::string(status_name(s.status)), s.version, r.last_position, s.holder, s.issuer,
                              a.block_start, a.block_end, nullable(f.parent), s.children_count,
                              nullable(f.retirement_json), nullable(f.cancellation_json));
    }
    copy.complete();
  }

  static void write_history(pqxx::work& tx, const std::vector<CreditHistoryEntry>& entries) {
    if (entries.empty()) return;
    static const std::vector<std::string> columns = column_names(kCreditHistoryColumns);
    pqxx::stream_to copy(tx, kRebuildHistoryTable, columns);
    for (const CreditHistoryEntry& h : entries) {
      copy << std::make_tuple(h.credit_id, h.version, h.event_type, h.recorded_at, h.data_json);
    }
    copy.complete();
  }

  // Replaces a table by its rebuild and gives it back everything LIKE does not carry: the original index
  // and constraint names, owner, comment and grants. The end state must match a migrated database; the
  // shape comparison proves it before the commit.
  Status swap_table(pqxx::work& tx, const RebuiltTable& rebuilt_table) {
    const std::string& table = rebuilt_table.table;
    const std::string& old_shape = rebuilt_table.old_shape;
    const auto& index_renames = rebuilt_table.index_renames;
    const pqxx::row owner_comment = tx.exec_params1(kOwnerCommentSql, table);
    const std::string owner = owner_comment[0].as<std::string>();
    const std::optional<std::string> comment =
        owner_comment[1].is_null() ? std::nullopt : std::optional<std::string>(owner_comment[1].as<std::string>());
    const std::string current_user = owner_comment[2].as<std::string>();
    const pqxx::result grants = tx.exec_params(kGrantsSql, table);

    try {
      tx.exec("DROP TABLE " + tx.quote_name(table));
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "55P03") throw;  // lock_not_available
      return Status::Unavailable("could not get exclusive access to " + table + " within " +
                                 std::to_string(kLockTimeoutS) + " s to swap in the rebuilt table (a long "
                                 "transaction is reading it?); rolled back, the old read model is unchanged");
    }
    tx.exec("ALTER TABLE " + rebuilt_table.rebuild + " RENAME TO " + tx.quote_name(table));
    // Renaming an index that backs a constraint (the primary key) renames the constraint with it.
    for (const auto& [rebuilt, original] : index_renames) {
      if (rebuilt == original) continue;
      tx.exec("ALTER INDEX " + tx.quote_name(rebuilt) + " RENAME TO " + tx.quote_name(original));
    }
    if (owner != current_user) tx.exec("ALTER TABLE " + tx.quote_name(table) + " OWNER TO " + tx.quote_name(owner));
    if (comment.has_value()) tx.exec("COMMENT ON TABLE " + tx.quote_name(table) + " IS " + tx.quote(*comment));
    for (const pqxx::row& grant : grants) {
      // grantee is already quoted (or PUBLIC); privilege_type is an SQL keyword from the catalog.
      tx.exec("GRANT " + grant[1].as<std::string>() + " ON " + tx.quote_name(table) + " TO " +
              grant[0].as<std::string>() + (grant[2].as<bool>() ? " WITH GRANT OPTION" : ""));
    }

    const std::string new_shape = read_shape(tx, table);
    if (new_shape != old_shape) {
      return Status::Internal("the rebuilt table would differ from the original (the swap does not carry "
                              "this over):\n--- original:\n" + old_shape + "\n--- rebuilt:\n" + new_shape);
    }
    return Status::Ok();
  }

  const RebuildOptions options_;
  const std::atomic<bool>& stop_requested_;
  SteadyClock::time_point start_;
  std::int64_t records_written_ = 0;
};

}  // namespace

int run_rebuild(const RebuildOptions& options, const std::atomic<bool>& stop_requested) {
  if (options.database_url.empty()) {
    log_line(LogLevel::kError, "database_url is empty");
    return 2;
  }
  if (options.batch_size_max < 1 || options.batch_size_max > kRebuildBatchSizeMax) {
    log_line(LogLevel::kError, "batch_size_max must be in [1, " + std::to_string(kRebuildBatchSizeMax) + "]");
    return 2;
  }
  try {
    Rebuild rebuild(options, stop_requested);
    const Status status = rebuild.run();
    if (status.ok()) return 0;
    if (status.IsInternal()) {
      log_line(LogLevel::kError, "FATAL: invariant violated, rolled back (the old read model is unchanged): " +
               status.message());
    } else {
      log_line(LogLevel::kError, status.message());
    }
    return 1;
  } catch (const pqxx::in_doubt_error& e) {
    log_line(LogLevel::kError, "the connection was lost during COMMIT, so whether the rebuild took effect is unknown; "
             "check projection_checkpoints and rerun if needed: " + single_line(e.what()));
    return 1;
  } catch (const std::exception& e) {
    if (is_connection_failure(e)) {
      log_line(LogLevel::kError, "lost the connection to PostgreSQL; rolled back, the old read model is unchanged: " +
               single_line(e.what()));
    } else {
      log_line(LogLevel::kError, "failed; rolled back, the old read model is unchanged: " + single_line(e.what()));
    }
    return 1;
  } catch (...) {
    log_line(LogLevel::kError, "FATAL: unexpected non-standard exception; rolled back");
    return 1;
  }
}

}  // namespace ledger

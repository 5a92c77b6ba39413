// The append-only event log in PostgreSQL: appends with optimistic version checks, stream reads, and
// gap-safe catch-up reads for projections. Knows nothing about what the events mean.
//
// The per-request and per-batch functions run statements prepared on the transaction's connection
// (libpqxx names "event_store_*", sent to the server on first use per session), so PostgreSQL parses each
// once per session; on open_connection() sessions they are still planned per call. Do not DEALLOCATE or
// DISCARD them behind libpqxx's back.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/status.h"

namespace ledger {

// The single NOTIFY channel appends wake projectors on. The payload is always empty: a wake-up only.
inline constexpr const char* kEventsChannel = "events_appended";

// Upper bound on events one append may carry (one round trip).
inline constexpr std::size_t kAppendBatchSizeMax = 4096;

struct NewEvent {
  std::string stream_id;       // UUID text
  std::int64_t stream_version; // expected_version + 1, + 2, ... for this stream
  std::string event_id;        // UUID text, unique across the log
  std::string event_type;
  std::string data_json;       // a JSON object
  std::string metadata_json;   // a JSON object
};

// A unique key a stream takes when it is appended to: no two streams may ever hold the same (kind, key).
// Lets a domain enforce set-wide uniqueness (beyond one stream) with the database's own unique index,
// in the append's transaction, so two concurrent appends can never both take it. Claims are append-only.
struct StreamClaim {
  std::string kind;       // what the key means, e.g. "credit_confusable"; 1..64 characters
  std::string key;        // 1..256 characters
  std::string stream_id;  // UUID text of the stream that holds (or takes) it
};

// A range of numbers a stream takes when it is appended to: no two streams may ever hold overlapping ranges
// under the same (kind, key). Enforced by an exclusion constraint in the append's transaction, so of two
// concurrent appends taking overlapping ranges exactly one commits. Range claims are append-only.
struct StreamRangeClaim {
  std::string kind;       // what the numbers are, e.g. "credit_units"; 1..64 characters
  std::string key;        // the numbering they belong to; 1..512 characters
  std::int64_t low = 0;   // inclusive
  std::int64_t high = 0;  // inclusive, >= low
  std::string stream_id;  // UUID text of the stream that holds (or takes) it
};

// A stream's state as its owner encodes it, at a version: lets a reader skip the events up to it.
// Snapshots are append-only; the newest one per stream is what reads start from.
struct StreamSnapshot {
  std::string stream_id;
  std::int64_t stream_version = 0;
  std::string state_json;  // a JSON object
};

// What an append writes besides its events, in the same statement.
struct AppendExtras {
  std::vector<StreamClaim> claims;
  std::vector<StreamRangeClaim> range_claims;
  std::vector<StreamSnapshot> snapshots;
};

struct RecordedEvent {
  std::int64_t position = 0;
  std::string transaction_id;  // xid8 as decimal text
  std::string stream_id;
  std::int64_t stream_version = 0;
  std::string event_id;
  std::string event_type;
  std::string data_json;
  std::string metadata_json;
  std::string recorded_at;     // RFC 3339 UTC with microseconds, e.g. 2026-11-25T15:29:53.123456Z
};

// Where a projection has got to: the last (transaction_id, position) it applied.
struct Checkpoint {
  std::string transaction_id = "0";  // xid8 as decimal text
  std::int64_t position = 0;
};

// A fresh random UUID (v4) text for event ids.
std::string new_event_id();

// All events of one stream, oldest first. Call before appending in the same transaction: the append must
// be the transaction's first write so the transaction id orders streams correctly.
std::vector<RecordedEvent> read_stream(pqxx::transaction_base& tx, const std::string& stream_id);

// All events of several streams, ordered by stream then version: one round trip for a whole batch.
std::vector<RecordedEvent> read_streams(pqxx::transaction_base& tx, const std::vector<std::string>& stream_ids);

// Several streams from their newest snapshots: each stream's newest snapshot (if any) and its events after
// it, ordered by stream then version. One round trip.
struct StreamsFromSnapshots {
  std::vector<StreamSnapshot> snapshots;
  std::vector<RecordedEvent> events;
};
StreamsFromSnapshots read_streams_from_snapshots(pqxx::transaction_base& tx,
                                                 const std::vector<std::string>& stream_ids);

// The current version of a stream (0 when it has no events).
std::int64_t read_stream_version(pqxx::transaction_base& tx, const std::string& stream_id);

// Appends events (possibly of several streams) in one statement and NOTIFYs kEventsChannel once, and in
// the same statement, after the events, inserts `claims`. Returns Conflict when any (stream_id,
// stream_version) or any claim is taken: a concurrent writer won; the transaction is then aborted and must
// be rolled back (read again and decide again). Other database errors are thrown.
Status append_events(pqxx::transaction_base& tx, const std::vector<NewEvent>& events,
                     const std::vector<StreamClaim>& claims = {});
// The same, also taking range claims (Conflict when one overlaps a range already held) and writing
// snapshots.
Status append_events(pqxx::transaction_base& tx, const std::vector<NewEvent>& events, const AppendExtras& extras);

// The range claims of `kind` that overlap any of `wanted` (same key, overlapping numbers): one round trip.
std::vector<StreamRangeClaim> read_overlapping_range_claims(pqxx::transaction_base& tx, const std::string& kind,
                                                            const std::vector<StreamRangeClaim>& wanted);

// The holders of those of `keys` (of one kind) that are claimed: one round trip.
std::vector<StreamClaim> read_claims(pqxx::transaction_base& tx, const std::string& kind,
                                     const std::vector<std::string>& keys);

// True when an event with this id is in the log (used to learn the outcome of an in-doubt commit).
bool event_exists(pqxx::transaction_base& tx, const std::string& event_id);

// The transaction horizon: every transaction with an id below it has ended, so rows below it can no
// longer appear. Returned as xid8 decimal text.
std::string read_horizon(pqxx::transaction_base& tx);

// Up to `limit` events after `after` in (transaction_id, position) order, only from transactions below
// `horizon` (read_horizon()). Never skips an event that commits late.
std::vector<RecordedEvent> read_events_after(pqxx::transaction_base& tx, const Checkpoint& after,
                                             const std::string& horizon, std::size_t limit);

// For replays, where streams are independent: every event below `horizon`, stream by stream, each stream
// in version order, so a consumer can finish a stream as soon as the next one starts. Streams the rows
// with COPY and hands each event to `on_event` as it is parsed; stops early when on_event returns false.
// Returns the events handed over. Its events carry no transaction_id and metadata_json "{}": a replay
// folds data and needs neither. Turns index scans off for the rest of `tx` (a whole-log read is faster
// sorted), so give it a transaction of its own. Throws on database errors and malformed rows.
std::int64_t stream_events_in_stream_order(pqxx::transaction_base& tx, const std::string& horizon,
                                           const std::function<bool(RecordedEvent&&)>& on_event);

// One field of a COPY text-format row with its backslash escapes decoded into *out. False for a NULL
// (\N) or a malformed escape.
bool decode_copy_text_field(std::string_view field, std::string* out);

// The last event below `horizon` in (transaction_id, position) order: where a replay of everything below
// the horizon leaves a projection's checkpoint. The zero checkpoint when there is none.
Checkpoint last_checkpoint_below(pqxx::transaction_base& tx, const std::string& horizon);

// Number of events below `horizon`, for progress reports.
std::int64_t count_events_below(pqxx::transaction_base& tx, const std::string& horizon);

// The checkpoint row of a projection (created by migrations). Locks nothing.
Checkpoint read_checkpoint(pqxx::transaction_base& tx, const std::string& projection_name);

// Advances a projection's checkpoint; call in the same transaction that changed its read model.
void write_checkpoint(pqxx::transaction_base& tx, const std::string& projection_name,
                      const Checkpoint& checkpoint, std::int64_t events_applied_delta);

}  // namespace ledger

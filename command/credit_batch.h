// Deciding a batch of credit commands against one read of the database, as a pure function: the streams'
// states, the claims and facts the batch needs, in; the results to give, the events, claims, snapshots and
// idempotency answers to write, out. Commands are decided in order, so a later one sees an earlier one's
// effect. command/credit_commands.h does the reading and writing around it.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "command/credit.h"
#include "command/credit_commands.h"
#include "eventstore/event_store.h"

namespace ledger {

// A stream's state as the decider sees it, or why it cannot be read (a broken invariant).
struct StreamState {
  CreditState state;
  Status status;
};

// Folds snapshots and events (ordered by stream, then version) into decider states. The access stream's
// (auth/access_events.h) are skipped: it is no credit, so it stays at version 0 like an unknown id.
std::map<std::string, StreamState> load_states(const StreamsFromSnapshots& read);

// The numbering a registration's units belong to, the key of its units claim: Verra numbers units
// registry-wide, Gold Standard within the serial's prefix before the range. nullopt when the units are
// the serial number's alone (any other registry, or a block without a stated range): then the credit id,
// which is derived from the serial number, already keeps them from being issued twice.
std::optional<std::string> unit_numbering(const RegisterCredit& command);

// A stored idempotency answer, as read.
struct StoredIdempotency {
  std::string request_sha256;
  StoredResponse response;
};

// What the batch knows besides the streams, read in its transaction.
struct BatchFacts {
  std::map<std::string, std::string> confusable_holders;  // confusable key -> credit holding it (when read)
  std::vector<StreamRangeClaim> units_held;               // unit claims overlapping the batch's (when read)
  std::map<std::string, CreditState> units_holders;       // their streams, to name the overlapped block
  std::set<std::string> known_accounts;                   // buyers that have or had a key
  std::set<std::pair<std::string, std::string>> bindings;  // (account, ASCII-lowercased registry)
  std::map<std::pair<std::string, std::string>, StoredIdempotency> idempotency;  // (account, key) -> answer
};

// An idempotency answer to store with the batch.
struct IdempotencyRow {
  std::string account, key, request_sha256;
  StoredResponse response;
};

struct DecidedBatch {
  std::vector<CreditCommandResult> results;  // one per request, in order: what to answer if it commits
  std::vector<NewEvent> events;
  AppendExtras extras;                        // claims and snapshots the events take
  std::vector<IdempotencyRow> idempotency;    // answers to store with them
};

// Every this many events a stream gets a snapshot, so reading it costs at most this many events.
inline constexpr std::int64_t kSnapshotIntervalEvents = 64;

// `keys`: confusable_key() of each registration's (registry, serial number), "" for other commands.
// new_event_id() is the only impurity: event ids are random.
DecidedBatch decide_batch(const std::vector<CreditCommandRequest>& requests, const std::vector<std::string>& keys,
                          std::map<std::string, StreamState> states, const BatchFacts& facts);

// "account\nregistry" style lowercasing used for bindings: ASCII letters only, as in credit ids.
std::string ascii_lowercase(std::string text);

}  // namespace ledger

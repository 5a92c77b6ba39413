// Executing credit commands against the event store, a batch per transaction: load the streams, decide each
// command in order (a later command sees an earlier one's effect), append every event in one statement
// with optimistic version checks, commit once; retry on a lost race, and find out the truth when a
// commit's outcome is unknown. Blocking (libpqxx): runs on its own threads, never on an Asio thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "command/credit.h"
#include "eventstore/database_workers.h"

namespace ledger {

// An If-Match precondition: `*` (any existing version) or a list of versions.
struct VersionPrecondition {
  bool any = false;
  std::vector<std::int64_t> versions;
  bool matches(std::int64_t current_version) const;
};

struct CreditCommandRequest {
  std::string credit_id;  // canonical lowercase UUID
  CreditCommand command;
  std::optional<VersionPrecondition> if_match;
  std::string request_id;  // recorded in each event's metadata
};

struct CreditCommandResult {
  enum class Kind {
    kCreated,             // 201: a new credit
    kApplied,             // 200: events appended, or an identical registration (no new event)
    kNotFound,            // 404
    kRejected,            // 409: the decider refused (wrong status, differing attributes)
    kPreconditionFailed,  // 412: If-Match did not match; nothing appended
    kContended,           // 409: lost the optimistic race on every attempt
    kUnavailable,         // 503: PostgreSQL unreachable or timed out; nothing was committed
    kOutcomeUnknown,      // 503: the connection died during COMMIT and the outcome could not be learnt in time
    kInternal,            // 500
  };
  Kind kind = Kind::kInternal;
  CreditState state;                 // the credit after the command (or as found, for refusals)
  std::optional<DecideError> error;  // for kRejected / kNotFound
  std::string detail;
};

// Attempts per command when a concurrent writer wins the version race; each retry decides against fresh
// state, so a retried retire of a just-retired credit is answered "already retired".
inline constexpr int kCommandAttemptsMax = 5;

// Executes `requests` in one transaction and returns one result per request, in order. Nothing is answered
// as applied unless the transaction committed. When another writer wins a version race the batch is
// decided again against fresh state; if that keeps failing, each command runs in a transaction of its own,
// so a conflict fails only the commands it touches.
std::vector<CreditCommandResult> execute_credit_batch(WorkerConnection& connection,
                                                      const std::vector<CreditCommandRequest>& requests);

// A batch of one.
CreditCommandResult execute_credit_command(WorkerConnection& connection, const CreditCommandRequest& request);

}  // namespace ledger

// Executing credit commands against the event store, a batch per transaction: load the streams, decide each
// command in order (a later command sees an earlier one's effect), append every event in one statement
// with optimistic version checks, commit once; retry on a lost race, and find out the truth when a
// commit's outcome is unknown. Blocking (libpqxx): runs on its own threads, never on an Asio thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
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

struct CreditCommandResult;

// An answer as the HTTP side gives it, stored with an idempotency key so that a retry gets it again.
struct StoredResponse {
  int status = 0;
  std::string body;
  std::string location;  // "" when none
  std::string etag;      // "" when none
};

// An Idempotency-Key sent with a command (README, "Idempotency-Key").
struct IdempotencyRequest {
  std::string key;             // 1..255 printable ASCII, as sent; scoped to the actor's account
  std::string request_sha256;  // hex SHA-256 of the method, target and body: what "the same request" means
  // The answer the HTTP side would give for a result, or nullopt when that answer must not be stored (an
  // outage or a fault: a retry should execute). Pure; runs on the appender thread before COMMIT.
  std::function<std::optional<StoredResponse>(const CreditCommandResult&)> render;
};

struct CreditCommandRequest {
  std::string credit_id;  // canonical lowercase UUID
  CreditCommand command;
  std::optional<VersionPrecondition> if_match;
  Actor actor;             // who sends it (decides what it may do); recorded in each event's metadata
  std::string request_id;  // recorded in each event's metadata
  std::optional<IdempotencyRequest> idempotency;
};

// A batch whose connection died after COMMIT was sent: it either committed or it did not, and only the
// database can say which. Finding out waits for the old backend to end, which can take as long as an
// outage, so it is done apart from the appender threads (they keep answering new commands meanwhile).
struct InDoubtCommit {
  int backend_pid = 0;                             // the session that sent COMMIT
  std::string server_started_at;                   // pg_postmaster_start_time() seen by that session
  std::string event_id;                            // one event of the batch: present iff it committed
  int kind_if_committed = 0;                       // CreditCommandResult::Kind to answer if it did
  std::chrono::steady_clock::time_point deadline;  // give up (kOutcomeUnknown) after this
};

struct CreditCommandResult {
  enum class Kind {
    kCreated,             // 201: a new credit
    kApplied,             // 200: events appended, or an identical registration (no new event)
    kNotFound,            // 404
    kRejected,            // 409: the decider refused (wrong status, differing attributes)
    kForbidden,           // 403: the actor may not do this to this credit
    kPreconditionFailed,  // 412: If-Match did not match; nothing appended
    kContended,           // 409: lost the optimistic race on every attempt
    kUnavailable,         // 503: PostgreSQL unreachable or timed out; nothing was committed
    kOutcomeUnknown,      // 503: the connection died during COMMIT and the outcome could not be learnt in time
    kInternal,            // 500
    kInDoubt,             // internal, never answered: see InDoubtCommit and resolve_in_doubt_commits()
    kReplayed,            // the idempotency key's first answer, in `replayed`: nothing executed
    kIdempotencyKeyReused,  // 422: the idempotency key was used for a different request
  };
  Kind kind = Kind::kInternal;
  std::string record_id;             // the block answered: the command's credit, or the child a partial carved
  CreditState state;                 // that block after the command (or as found, for refusals)
  std::optional<DecideError> error;  // for kRejected / kNotFound / kForbidden
  std::string detail;
  std::optional<InDoubtCommit> in_doubt;  // set exactly when kind == kInDoubt
  // A partial command: the parent after the carve (it keeps the units the child did not take).
  std::string remainder_id;
  std::optional<CreditState> remainder;
  std::optional<StoredResponse> replayed;  // set exactly when kind == kReplayed
};

// The claim kind under which each credit holds its confusable_key (command/text_rules.h).
inline constexpr const char* kConfusableClaimKind = "credit_confusable";
// The range-claim kind under which each issued block holds its units, keyed by its numbering.
inline constexpr const char* kUnitsClaimKind = "credit_units";

// How long an idempotency key's answer is kept (LEDGER_IDEMPOTENCY_TTL_S); set once at start-up.
void set_idempotency_ttl_s(std::int64_t ttl_s);
inline constexpr std::int64_t kIdempotencyTtlDefaultS = 86400;

// Attempts per command when a concurrent writer wins the version race; each retry decides against fresh
// state, so a retried retire of a just-retired credit is answered "already retired".
inline constexpr int kCommandAttemptsMax = 5;

// Executes `requests` in one transaction and returns one result per request, in order. Nothing is answered
// as applied unless the transaction committed; when the connection died during COMMIT the results are
// kInDoubt, for resolve_in_doubt_commits() to settle. When another writer wins a version race the batch is
// decided again against fresh state; if that keeps failing, each command runs in a transaction of its own,
// so a conflict fails only the commands it touches.
std::vector<CreditCommandResult> execute_credit_batch(WorkerConnection& connection,
                                                      const std::vector<CreditCommandRequest>& requests);

// Turns every kInDoubt result into the truth: applied (the batch's event is in the log), kUnavailable (it
// is not, and the old session is gone so it never will be) or kOutcomeUnknown (not learnt by its deadline).
// Blocks until each is settled; waits are bounded by the deadlines.
void resolve_in_doubt_commits(WorkerConnection& connection, std::vector<CreditCommandResult>* results);

// How long finding out an in-doubt commit may take before answering kOutcomeUnknown.
inline constexpr int kInDoubtResolveTimeoutMs = 10000;

// A batch of one, in-doubt outcome resolved before returning.
CreditCommandResult execute_credit_command(WorkerConnection& connection, const CreditCommandRequest& request);

}  // namespace ledger

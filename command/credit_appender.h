// CreditAppender: group commit for credit commands. The HTTP side hands validated commands to a bounded
// queue; appender threads drain it into batches and run each batch as one transaction (one read, one
// append, one NOTIFY, one commit: execute_credit_batch), completing each command only after that.
// Amortises the commit fsync and the NOTIFY lock over many commands. A batch whose COMMIT outcome is in
// doubt goes to a resolver thread of its own, so finding out (which may take an outage's length) never
// stalls the appenders: they keep answering new commands, with 503 while PostgreSQL is away.
#pragma once

#include <string>

#include "command/credit_commands.h"
#include "eventstore/batch_workers.h"

namespace ledger {

class CreditAppender {
 public:
  using Completion = std::function<void(CreditCommandResult)>;

  CreditAppender(const std::string& database_url, const DatabaseLimits& limits, const BatchOptions& options);

  // Queues a command; `done` runs on a database thread with its final answer (never kInDoubt). Returns
  // false, without queueing or calling `done`, when the queue is full or the appender is stopping.
  bool submit(CreditCommandRequest request, Completion done);

  // Stops taking commands; queued ones are still answered. Idempotent.
  void stop() { appenders_.stop(); }

  // For metrics: cheap, lock-free, any thread. Connections count the appenders' and the in-doubt resolver's.
  std::size_t queue_length() const { return appenders_.queue_length(); }
  const AtomicHistogram& batch_sizes() const { return appenders_.batch_sizes(); }
  std::size_t connections_in_use() const { return appenders_.batches_running() + resolver_.batches_running(); }
  std::uint64_t reconnects() const { return appenders_.reconnects() + resolver_.reconnects(); }

 private:
  // Declared first so it is destroyed last: the appenders, draining on destruction, may still hand it work.
  BatchWorkers<CreditCommandResult, CreditCommandResult> resolver_;
  BatchWorkers<CreditCommandRequest, CreditCommandResult> appenders_;
};

}  // namespace ledger

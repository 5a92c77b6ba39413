// CreditAppender: group commit for credit commands. The HTTP side hands validated commands to a bounded
// queue; appender threads drain it into batches and run each batch as one transaction (one read, one
// append, one NOTIFY, one commit: execute_credit_batch), completing each command only after that.
// Amortises the commit fsync and the NOTIFY lock over many commands.
#pragma once

#include <string>

#include "command/credit_commands.h"
#include "eventstore/batch_workers.h"

namespace ledger {

class CreditAppender : public BatchWorkers<CreditCommandRequest, CreditCommandResult> {
 public:
  CreditAppender(const std::string& database_url, const DatabaseLimits& limits, const BatchOptions& options);
};

}  // namespace ledger

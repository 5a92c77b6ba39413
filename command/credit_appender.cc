#include "command/credit_appender.h"

namespace ledger {

CreditAppender::CreditAppender(const std::string& database_url, const DatabaseLimits& limits,
                               const BatchOptions& options)
    : BatchWorkers(database_url, limits, options, execute_credit_batch, [](const std::string& what) {
        CreditCommandResult result;
        result.kind = CreditCommandResult::Kind::kInternal;
        result.detail = what;
        return result;
      }) {}

}  // namespace ledger

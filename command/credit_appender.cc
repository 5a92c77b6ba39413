#include "command/credit_appender.h"

namespace ledger {
namespace {

CreditCommandResult internal_error(const std::string& what) {
  CreditCommandResult result;
  result.kind = CreditCommandResult::Kind::kInternal;
  result.detail = what;
  return result;
}

BatchOptions resolver_options() {
  BatchOptions options;
  options.threads = 1;
  options.queue_length_max = kBatchSizeMax;
  options.batch_size_max = kBatchSizeMax;
  return options;
}

}  // namespace

CreditAppender::CreditAppender(const std::string& database_url, const DatabaseLimits& limits,
                               const BatchOptions& options)
    : resolver_(database_url, limits, resolver_options(),
                [](WorkerConnection& connection, const std::vector<CreditCommandResult>& in_doubt) {
                  std::vector<CreditCommandResult> results = in_doubt;
                  resolve_in_doubt_commits(connection, &results);
                  return results;
                },
                internal_error),
      // Commands on one credit go to one batch at a time, decided there in order, instead of racing each other
      // from two appenders (a hot block's partial retirements would otherwise mostly be version conflicts).
      appenders_(database_url, limits, options, execute_credit_batch, internal_error,
                 [](const CreditCommandRequest& request) { return request.credit_id; }) {}

bool CreditAppender::submit(CreditCommandRequest request, Completion done) {
  return appenders_.submit(std::move(request), [this, done = std::move(done)](CreditCommandResult result) {
    if (result.kind != CreditCommandResult::Kind::kInDoubt) {
      done(std::move(result));
      return;
    }
    Completion resolved = done;  // submit() leaves its completion untouched when it refuses
    if (!resolver_.submit(std::move(result), std::move(resolved))) {
      CreditCommandResult unknown;
      unknown.kind = CreditCommandResult::Kind::kOutcomeUnknown;
      unknown.detail = "the connection to PostgreSQL was lost during commit and too many outcomes are being "
                       "confirmed to confirm this one; re-send the command: it cannot apply twice";
      done(std::move(unknown));
    }
  });
}

}  // namespace ledger

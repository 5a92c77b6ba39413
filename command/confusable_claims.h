// Giving credits registered before confusable claims existed (migration 0007) the claim a new credit
// takes, so that their lookalikes are refused as well. Run by `carbon-ledger migrate` after the migrations,
// as the schema owner; idempotent (only credits without a claim are visited), one transaction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/status.h"

namespace ledger {

struct ClaimsBackfill {
  std::int64_t claimed = 0;           // credits that got their claim
  std::vector<std::string> twins;     // "<id> looks like <id>": credits whose claim another already held
};

// Claims, in log order, the confusable key of every CREATED stream that holds none. A credit whose key an
// earlier credit already holds (lookalikes registered before the rule existed) is reported in `twins`
// and left as it is: the log is the truth, and an operator decides what such a pair means.
Status backfill_confusable_claims(pqxx::connection& connection, ClaimsBackfill* out);

}  // namespace ledger

// Giving credits registered before confusable claims existed (migration 0007) the claim a new credit
// takes, so that their lookalikes are refused as well; and credits registered before blocks existed
// (migration 0008) under a Verra or Gold Standard serial that states their units, the units claim of that
// range, so that no later block can issue those units again. Run by `carbon-ledger migrate` after the migrations,
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
  std::int64_t units_claimed = 0;     // earlier credits whose serial's units were claimed
  std::vector<std::string> overlaps;  // "<id> overlaps <id>": earlier credits issuing the same units
};

// Claims, in log order, the confusable key of every CREATED stream that holds none. A credit whose key an
// earlier credit already holds (lookalikes registered before the rule existed) is reported in `twins`
// and left as it is: the log is the truth, and an operator decides what such a pair means.
// Then, likewise, the units claims of earlier CREATED events without a block whose serial states a range of
// exactly their quantity (command/serial_numbers.h); an overlap with a claim already held goes to
// `overlaps`, untouched.
Status backfill_confusable_claims(pqxx::connection& connection, ClaimsBackfill* out);

}  // namespace ledger

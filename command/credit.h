// The carbon credit decider: the credit's state, the commands and events of its lifecycle
// (CREATED -> SOLD -> RETIRED), decide() which turns a command into events or an error, evolve() which
// folds events into state, and the JSON form of event data. Pure functions: no I/O, no exceptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/role.h"
#include "eventstore/status.h"

namespace ledger {

enum class CreditStatus { kUnregistered, kCreated, kSold, kRetired };

// "UNREGISTERED", "CREATED", "SOLD" or "RETIRED".
const char* status_name(CreditStatus status);

struct CreditAttributes {
  std::string project_name;
  std::string registry;  // as the registrant wrote it (trimmed); the credit id lower-cases it
  std::string serial_number;
  int vintage = 0;
  std::int64_t quantity = 0;
};

// A credit as its events have made it. version is the number of events applied (the stream version).
struct CreditState {
  CreditStatus status = CreditStatus::kUnregistered;
  std::int64_t version = 0;
  CreditAttributes attributes;
  std::string issuer;  // the account that registered it ("" for credits registered before accounts existed)
  std::string holder;  // the account that holds it now: the issuer, then each buyer
  std::string buyer;
  std::optional<std::string> beneficiary, reason;
};

// Commands. Their fields are already validated and trimmed (see command/credit_request.h).
struct RegisterCredit {
  CreditAttributes attributes;
};
struct SellCredit {
  std::string buyer;
};
struct RetireCredit {
  std::optional<std::string> beneficiary, reason;
};
using CreditCommand = std::variant<RegisterCredit, SellCredit, RetireCredit>;

// Events: facts that happened to one credit.
struct CreditCreated {
  CreditAttributes attributes;
  std::string issuer;  // the registering account, the first holder
};
struct CreditSold {
  std::string buyer;   // the new holder
  std::string seller;  // the holder before the sale
};
struct CreditRetired {
  std::optional<std::string> beneficiary, reason;
};
using CreditEvent = std::variant<CreditCreated, CreditSold, CreditRetired>;

// Why a command was refused.
struct DecideError {
  enum class Kind {
    kNotFound,          // the credit has not been registered
    kWrongStatus,       // the lifecycle does not allow the command now
    kAttributesDiffer,  // registered again with different attributes (or by another issuer)
    kForbidden,         // the actor's role or account may not do this to this credit
    kConfusable,        // a new credit whose (registry, serial number) looks like another credit's
  };
  Kind kind;
  std::string detail;  // a sentence for the API client
  CreditStatus current_status = CreditStatus::kUnregistered;
  std::vector<std::string> differing_fields;  // for kAttributesDiffer, e.g. {"project_name", "quantity"}
  std::string confusable_with;                // for kConfusable: the id of the credit it looks like
};

// Either events to append, or an error (never both). No events and no error means the command had
// already taken effect (an identical re-registration): an idempotent no-op.
struct Decision {
  std::vector<CreditEvent> events;
  std::optional<DecideError> error;
};

// Who may do what: registering takes the issuer (or admin) role and makes the actor the holder; selling
// and retiring take being the credit's holder (issuer or holder role), or admin; an auditor changes
// nothing. Permission is checked before the lifecycle, after existence (an unknown credit is 404).
Decision decide(const CreditCommand& command, const CreditState& state, const Actor& actor);

// Applies one event and increments the version. Total: an event that decide() would never have
// emitted in this state is still recorded, since the log is the truth and the decider is the guard.
CreditState evolve(CreditState state, const CreditEvent& event);

// The event_type stored in the log: "CREATED", "SOLD" or "RETIRED".
const char* event_type_name(const CreditEvent& event);

// The event's data as a compact JSON object:
//   CREATED {"project_name","registry","vintage","quantity","serial_number","issuer"}
//   SOLD    {"buyer","seller"}
// ("issuer" and "seller" are omitted when empty, as in events recorded before accounts existed.)
//   RETIRED {"beneficiary","reason"}, each omitted when absent (so {} is valid)
std::string encode_event_data(const CreditEvent& event);

// The inverse of event_type_name() + encode_event_data(). Returns Invalid for an unknown event type,
// data that is not a JSON object, or a missing, repeated or wrongly typed field; *out is then
// untouched. Unknown fields are ignored so that events may gain fields later.
Status decode_event(std::string_view event_type, std::string_view data_json, CreditEvent* out);

}  // namespace ledger

// The carbon credit decider. A credit is a block of units (an inclusive range of serial numbers); its
// lifecycle is CREATED -> SOLD (-> SOLD again, resold) -> RETIRED, or CREATED -> CANCELLED, and a command
// on fewer units than the block holds carves the lowest units off into a child block that takes the
// command, while the parent keeps the rest. decide() turns a command into events or an error, evolve()
// folds events into state, and encode_event_data()/decode_event() are the one strict JSON form of event
// data, used by the command side and the projector alike. Pure functions: no I/O, no exceptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "command/role.h"
#include "eventstore/status.h"

namespace ledger {

enum class CreditStatus { kUnregistered, kCreated, kSold, kRetired, kCancelled };

// "UNREGISTERED", "CREATED", "SOLD", "RETIRED" or "CANCELLED".
const char* status_name(CreditStatus status);
// The inverse of status_name() for the four statuses a record can have; nullopt otherwise.
std::optional<CreditStatus> parse_status(std::string_view name);

// A block of units. quantity == block_end - block_start + 1 always.
struct CreditAttributes {
  std::string project_name;
  std::string registry;  // as the registrant wrote it (trimmed); the credit id lower-cases it
  std::string serial_number;
  int vintage = 0;
  std::int64_t quantity = 0;
  std::int64_t block_start = 1;
  std::int64_t block_end = 0;

  bool operator==(const CreditAttributes&) const = default;
};

// The reasons registries publish for a retirement.
inline constexpr const char* kRetirementCategories[] = {"environmental_benefit", "person_or_organization",
                                                        "corporate_inventory", "other"};

struct Retirement {
  std::optional<std::string> beneficiary, reason, category, details;
  bool operator==(const Retirement&) const = default;
};

// A credit as its events have made it. version is the number of events applied (the stream version).
struct CreditState {
  CreditStatus status = CreditStatus::kUnregistered;
  std::int64_t version = 0;
  CreditAttributes attributes;  // the block as it is now: what was carved off is no longer in it
  std::string issuer;  // the account that registered it ("" for credits registered before accounts existed)
  std::string holder;  // the account that holds it now: the issuer, then each buyer
  std::string parent;  // the block it was carved from, "" for an issued block
  // The block as registered (or carved), before anything was carved from it: what a re-registration is
  // compared with. Decider state only (snapshots keep it; the read model does not show it).
  std::int64_t issued_block_start = 0, issued_block_end = 0;
  std::int64_t children_count = 0;         // blocks carved from it
  std::optional<Retirement> retirement;    // once RETIRED
  std::optional<std::string> cancel_reason;  // once CANCELLED (may be empty)

  bool operator==(const CreditState&) const = default;
};

// Commands. Their fields are already validated and trimmed (see command/credit_request.h). A quantity
// absent, or equal to the block's, means the whole block.
struct RegisterCredit {
  CreditAttributes attributes;
  // The range was stated (by the serial number or block_start/block_end), not the default 1..quantity:
  // only then do the units belong to a numbering wider than the serial number (see unit_numbering()).
  bool range_stated = false;
};
struct SellCredit {
  std::string buyer;
  std::optional<std::int64_t> quantity;
};
struct RetireCredit {
  Retirement retirement;
  std::optional<std::int64_t> quantity;
};
struct CancelCredit {
  std::string reason;
  std::optional<std::int64_t> quantity;
};
using CreditCommand = std::variant<RegisterCredit, SellCredit, RetireCredit, CancelCredit>;

// "register", "sell", "retire" or "cancel".
const char* command_name(const CreditCommand& command);

// Events: facts that happened to one block.
struct CreditCreated {  // CREATED: a block was issued
  CreditAttributes attributes;
  std::string issuer;  // the registering account, the first holder
};
struct CreditSold {  // SOLD
  std::string buyer;   // the new holder
  std::string seller;  // the holder before the sale
};
struct CreditRetired {  // RETIRED
  Retirement retirement;
};
struct CreditCancelled {  // CANCELLED
  std::string reason;
};
struct CreditSplit {  // SPLIT, on the parent: its lowest units went to `child`
  std::string child;
  std::int64_t block_start = 0, block_end = 0, quantity = 0;
};
struct CreditCarved {  // CARVED, a child's first event: what it took over from its parent
  std::string parent;
  CreditAttributes attributes;  // the child's block
  std::string issuer, holder;
  CreditStatus status = CreditStatus::kCreated;  // the parent's status at the carve
};
using CreditEvent =
    std::variant<CreditCreated, CreditSold, CreditRetired, CreditCancelled, CreditSplit, CreditCarved>;

// Why a command was refused.
struct DecideError {
  enum class Kind {
    kNotFound,          // the credit has not been registered
    kWrongStatus,       // the lifecycle does not allow the command now
    kAttributesDiffer,  // registered again with different attributes (or by another issuer)
    kForbidden,         // the actor's role or account may not do this to this credit
    kRegistryNotBound,  // an issuer registering under a registry not bound to its account
    kConfusable,        // a new credit whose (registry, serial number) looks like another credit's
    kUnitsIssued,       // a new block whose units overlap a block issued before
    kQuantityExceeds,   // a partial command asking for more units than the block holds
    kUnknownBuyer,      // selling to an account that never had a key
  };
  Kind kind;
  std::string detail;  // a sentence for the API client
  CreditStatus current_status = CreditStatus::kUnregistered;
  std::vector<std::string> differing_fields;  // for kAttributesDiffer, e.g. {"project_name", "quantity"}
  std::string confusable_with;                // for kConfusable: the id of the credit it looks like
  std::int64_t available = 0;                 // for kQuantityExceeds: the block's quantity
  // For kUnitsIssued: the earlier block the new one overlaps, as it was issued.
  std::string overlapping_id, overlapping_serial_number;
  std::int64_t overlapping_start = 0, overlapping_end = 0;
};

// What decide() needs to know beyond the stream's own state, read by the caller from the database.
struct DecideFacts {
  std::string credit_id;        // the stream the command is for (a carve's child names it as parent)
  bool registry_bound = true;   // register by an issuer: is the registry bound to its account?
  bool buyer_known = true;      // sell: has the buyer's account ever had a key?
};

// Events for another stream than the command's: the child a partial command carves. Its stream is new.
struct ChildEvents {
  std::string id;
  std::vector<CreditEvent> events;
};

// Either events to append, or an error (never both). No events and no error means the command had
// already taken effect (an identical re-registration): an idempotent no-op.
struct Decision {
  std::vector<CreditEvent> events;    // for the command's own stream
  std::optional<ChildEvents> child;   // set by a partial command: the carved child's events
  std::optional<DecideError> error;
};

// Who may do what: registering takes the issuer (or admin) role, and for an issuer a registry bound to its
// account, and makes the actor the holder; selling and retiring take being the block's holder, or admin;
// cancelling takes being its issuer, or admin; an auditor changes nothing. Permission is checked after
// existence (an unknown credit is 404) and before the lifecycle.
Decision decide(const CreditCommand& command, const CreditState& state, const Actor& actor,
                const DecideFacts& facts);

// Applies one event and increments the version. Total: an event that decide() would never have
// emitted in this state is still recorded, since the log is the truth and the decider is the guard.
CreditState evolve(CreditState state, const CreditEvent& event);

// Ok when `event` can follow `state` without breaking a block's invariants (a SPLIT takes the block's lowest
// units and leaves at least one); Internal, naming what is wrong, otherwise. evolve() itself is total; the
// command side and the projector check this before folding an event from the log.
Status check_event_follows(const CreditState& state, const CreditEvent& event);

// The event_type stored in the log: "CREATED", "SOLD", "RETIRED", "CANCELLED", "SPLIT" or "CARVED".
const char* event_type_name(const CreditEvent& event);

// The event's data as a compact JSON object:
//   CREATED   {"project_name","registry","vintage","quantity","serial_number","block_start","block_end","issuer"}
//   SOLD      {"buyer","seller"}
//   RETIRED   {"beneficiary","reason","category","details"}, each omitted when absent (so {} is valid)
//   CANCELLED {"reason"}
//   SPLIT     {"child","block_start","block_end","quantity"}
//   CARVED    {"parent","project_name","registry","vintage","serial_number","quantity","block_start",
//              "block_end","issuer","holder","status"}
// ("issuer" and "seller" are omitted when empty, as in events recorded before accounts existed.)
std::string encode_event_data(const CreditEvent& event);

// The inverse of event_type_name() + encode_event_data(), and the only decoder of event data. Returns
// Invalid for an unknown event type, data that is not a JSON object, a missing, repeated or wrongly typed
// field, or a block whose quantity does not match its range; *out is then untouched. CREATED without
// block_start/block_end (recorded before blocks existed) is the block 1..quantity. Unknown fields are
// ignored so that events may gain fields later.
Status decode_event(std::string_view event_type, std::string_view data_json, CreditEvent* out);

// The decider state as a JSON object (for stream snapshots), and back. decode_state returns Invalid on
// anything encode_state would not have written.
std::string encode_state(const CreditState& state);
Status decode_state(std::string_view json, CreditState* out);

}  // namespace ledger

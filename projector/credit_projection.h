// The credit_records projection as a pure function: folds one recorded event into the read-model row of its
// block (command/credit_record.h) with the decider's own decode_event() and evolve(), and gives the history
// entry the event adds. No I/O, so the live projector and the rebuild apply events identically and a
// rebuild reproduces the live read model exactly.
#pragma once

#include <optional>

#include "command/credit_record.h"
#include "eventstore/event_store.h"
#include "eventstore/status.h"

namespace ledger {

// Applies `e` to `*record` (nullopt = the block has no row yet) and sets *entry to its history entry. On
// success `*record` holds the new row. Returns Internal, leaving both unchanged, when the event cannot
// follow the record: a first event (CREATED, CARVED) for an existing block or with stream_version != 1,
// another event without a record or out of version order (gap or replay), a stream id that is not the
// record's, or data decode_event() refuses. The caller must stop: applying past such an event would build
// a wrong read model.
Status apply_event(const RecordedEvent& e, std::optional<CreditRecord>* record, CreditHistoryEntry* entry);

// True for an event of the access stream (auth/access_events.h: key and registry binding changes) of one of
// its types: no credit, so the projector and the rebuild pass over it (their checkpoint moves past it)
// without a record or a history entry. Anything else goes to apply_event(), which refuses what it cannot
// decode, an access-stream event of another type included.
bool is_access_event(const RecordedEvent& e);

}  // namespace ledger

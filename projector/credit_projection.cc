#include "projector/credit_projection.h"

#include <limits>
#include <string_view>

#include "auth/access_events.h"
#include "command/credit.h"

namespace ledger {

namespace {

std::string describe(const RecordedEvent& e) {
  return e.event_type + " event " + e.event_id + " at position " + std::to_string(e.position) + " of stream " +
         e.stream_id + " (version " + std::to_string(e.stream_version) + ")";
}

Status version_error(const RecordedEvent& e, std::int64_t expected) {
  return Status::Internal(describe(e) + ": expected stream version " + std::to_string(expected) + ", got " +
                          std::to_string(e.stream_version));
}

}  // namespace

Status apply_event(const RecordedEvent& e, std::optional<CreditRecord>* record, CreditHistoryEntry* entry) {
  if (e.stream_id.empty() || e.recorded_at.empty()) {
    return Status::Internal(describe(e) + ": stream_id or recorded_at is empty");
  }
  CreditEvent event;
  // The one strict decoder the command side uses too: what it refuses would make every command on the
  // block fail, so the read model must not show it either.
  Status decoded = decode_event(e.event_type, e.data_json, &event);
  if (!decoded.ok()) return Status::Internal(describe(e) + ": " + decoded.message());

  const bool first = std::holds_alternative<CreditCreated>(event) || std::holds_alternative<CreditCarved>(event);
  CreditRecord next;
  if (first) {
    if (record->has_value()) {
      return Status::Internal(describe(e) + ": the block already exists at version " +
                              std::to_string((*record)->state.version) + " (a second first event)");
    }
    if (e.stream_version != 1) return version_error(e, 1);
    next.id = e.stream_id;
  } else {
    if (!record->has_value()) {
      return Status::Internal(describe(e) + ": the block has no record (expected its CREATED or CARVED at "
                              "version 1 first, got version " + std::to_string(e.stream_version) + ")");
    }
    next = **record;
    if (next.id != e.stream_id) return Status::Internal(describe(e) + ": offered the record of " + next.id);
    // Guards the addition below (real versions are far smaller).
    if (next.state.version == std::numeric_limits<std::int64_t>::max()) return version_error(e, next.state.version);
    if (e.stream_version != next.state.version + 1) return version_error(e, next.state.version + 1);
  }
  if (Status follows = check_event_follows(next.state, event); !follows.ok()) {
    return Status::Internal(describe(e) + ": " + follows.message());
  }
  next.state = evolve(std::move(next.state), event);
  const CreditAttributes& a = next.state.attributes;
  if (a.quantity < 1 || a.block_end < a.block_start || a.quantity != a.block_end - a.block_start + 1) {
    return Status::Internal(describe(e) + ": leaves the block " + std::to_string(a.block_start) + ".." +
                            std::to_string(a.block_end) + " with quantity " + std::to_string(a.quantity));
  }
  next.last_position = e.position;
  *entry = CreditHistoryEntry{e.stream_id, e.stream_version, e.event_type, e.recorded_at, e.data_json};
  *record = std::move(next);
  return Status::Ok();
}

bool is_access_event(const RecordedEvent& e) {
  return is_access_stream(e.stream_id) && is_access_event_type(e.event_type);
}

}  // namespace ledger

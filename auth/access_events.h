// The access stream: every change of API keys (api_key_changes) and registry bindings
// (registry_binding_changes) is also an event of one stream of `events`, appended in the change's own
// transaction by migration 0010's triggers, so that whatever covers the event log (the Merkle log) covers
// who may do what as well. The database writes these events; nothing in C++ appends them. The credit side
// (command/, projector/) only needs to recognise the stream, to treat it as no credit: header-only, so
// those libraries use it without linking ledger_auth. The same literals are in migrations/0010.
#pragma once

#include <string_view>

namespace ledger {

// The access stream's id, fixed (the ASCII of "keys" in its first four bytes). Not a name-based (v5) UUID,
// so no credit id (command/credit_id.h) or carved child id can ever be it.
inline constexpr std::string_view kAccessStreamId = "6b657973-0000-4000-8000-000000000000";

// Its event types. Data: API_KEY_CREATED {key_id, account, role, changed_by, actor}; API_KEY_REVOKED
// {key_id, changed_by, actor}; REGISTRY_BOUND and REGISTRY_UNBOUND {account, registry, changed_by, actor}
// (actor may be null; never a secret or its hash). Metadata: {change_id, source} naming the change row.
inline constexpr std::string_view kApiKeyCreatedEvent = "API_KEY_CREATED";
inline constexpr std::string_view kApiKeyRevokedEvent = "API_KEY_REVOKED";
inline constexpr std::string_view kRegistryBoundEvent = "REGISTRY_BOUND";
inline constexpr std::string_view kRegistryUnboundEvent = "REGISTRY_UNBOUND";

// metadata.source of each event: the table whose change row (metadata.change_id) it records.
inline constexpr std::string_view kApiKeyChangesSource = "api_key_changes";
inline constexpr std::string_view kRegistryBindingChangesSource = "registry_binding_changes";

// `stream_id` as canonical (lowercase) UUID text, as the log and parse_uuid() give it.
inline bool is_access_stream(std::string_view stream_id) { return stream_id == kAccessStreamId; }

inline bool is_access_event_type(std::string_view event_type) {
  return event_type == kApiKeyCreatedEvent || event_type == kApiKeyRevokedEvent ||
         event_type == kRegistryBoundEvent || event_type == kRegistryUnboundEvent;
}

}  // namespace ledger

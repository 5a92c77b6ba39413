// UUID text helpers: validating and canonicalising UUID text, and making random (v4) and name-based
// (v5) UUIDs. Generic: knows nothing about what the UUIDs identify.
#pragma once

#include <string>
#include <string_view>

namespace ledger {

// Parses 8-4-4-4-12 hex UUID text (either case, no braces, no "urn:uuid:" prefix). On success writes
// the canonical lowercase form to *canonical (when not null) and returns true; otherwise returns false
// and leaves *canonical untouched.
bool parse_uuid(std::string_view text, std::string* canonical);

// A fresh random (version 4) UUID as lowercase text. Safe to call from any thread. Reads the operating
// system's random source; throws boost::uuids::entropy_error only if that source fails.
std::string new_uuid_v4();

// The name-based (version 5, SHA-1) UUID of `name` (raw bytes) in the namespace `namespace_uuid`, as
// lowercase text. Returns an empty string when namespace_uuid is not UUID text.
std::string uuid_v5(std::string_view namespace_uuid, std::string_view name);

}  // namespace ledger

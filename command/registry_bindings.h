// Registries bound to issuer accounts: an issuer may register credits only under a registry an admin has
// bound to its account (`carbon-ledger registries bind`). Kept as an append-only log of changes
// (registry_binding_changes, migration 0008); the bindings in force are the view registry_bindings, which
// the command side reads when an issuer registers. Blocking (libpqxx): for the CLI, run as the owner.
#pragma once

#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/status.h"

namespace ledger {

struct RegistryBinding {
  std::string account;
  std::string registry;
  std::string bound_at;  // RFC 3339 UTC
};

// Records that `account` may (bind) or may no longer (unbind) register under `registry` (compared ignoring
// ASCII case). `actor` is who the operator says they are. Invalid for names the text rules refuse;
// binding what is bound, or unbinding what is not, is Ok and records nothing (*changed = false).
Status change_registry_binding(pqxx::connection& connection, const std::string& account,
                               const std::string& registry, bool bind, const std::string& actor, bool* changed);

// The bindings in force, by account then registry.
Status list_registry_bindings(pqxx::connection& connection, std::vector<RegistryBinding>* out);

}  // namespace ledger

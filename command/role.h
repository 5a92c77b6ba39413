// Roles of API keys and the actor who sends a command: part of the credit domain (what an account may do),
// so the pure decider can use them; auth/ turns a key into an Actor. Header-only.
//   issuer  registers credits (it becomes their holder) and sells/retires the credits it holds
//   holder  sells and retires the credits it holds
//   auditor reads everything, changes nothing
//   admin   may do everything, on any credit
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ledger {

enum class Role { kIssuer, kHolder, kAuditor, kAdmin };

inline const char* role_name(Role role) {
  switch (role) {
    case Role::kIssuer: return "issuer";
    case Role::kHolder: return "holder";
    case Role::kAuditor: return "auditor";
    case Role::kAdmin: return "admin";
  }
  return "unknown";
}

inline std::optional<Role> parse_role(std::string_view name) {
  for (Role role : {Role::kIssuer, Role::kHolder, Role::kAuditor, Role::kAdmin}) {
    if (name == role_name(role)) return role;
  }
  return std::nullopt;
}

// Who sends a command: the account of the API key that authenticated the request, and its role.
struct Actor {
  std::string account;
  Role role = Role::kAuditor;  // the least privilege, for an Actor nobody filled in
};

}  // namespace ledger

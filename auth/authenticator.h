// Authenticator: turns an "Authorization: Bearer <key>" header into the Actor it stands for, checking the
// key against the active keys held in memory (auth/api_key_set.h), which an ApiKeyListener keeps current
// from the database on a thread of its own. A check never touches the database: a key that is not ours
// costs one SHA-256 and a map lookup, and a created or revoked key takes effect within milliseconds of
// its commit (the `keys` subcommand's NOTIFY). Thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "auth/api_key.h"
#include "auth/api_key_listener.h"
#include "auth/api_key_set.h"
#include "command/role.h"
#include "eventstore/status.h"

namespace ledger {

struct AuthResult {
  enum class Kind {
    kOk,           // actor is set
    kMissing,      // no Authorization header: 401
    kInvalid,      // not a Bearer key of ours, unknown, revoked, or a wrong secret: 401
    kUnavailable,  // the keys have not been loaded yet (database unreachable since start): 503
  };
  Kind kind = Kind::kInvalid;
  Actor actor;
  std::string detail;  // for failures, safe to show the client
};

struct AuthenticatorOptions {
  std::string database_url;
  int reload_interval_ms = 30000;   // full reload of the keys this often, besides the notifications
  std::size_t keys_max = 1000000;   // active keys held in memory at most; more refuses to start
  int load_timeout_ms = 30000;      // start() waits this long for the first load
};

class Authenticator {
 public:
  explicit Authenticator(const AuthenticatorOptions& options);

  // Loads the keys and starts following changes (see ApiKeyListener::start). Call before serving.
  Status start();
  void stop();

  // Never blocks on the database; the shared lock it takes is held for a map lookup.
  AuthResult verify(std::optional<std::string_view> authorization) const;

  std::size_t keys_loaded() const { return keys_.size(); }
  // Key-cache reloads so far (for metrics; lock-free): every key re-read, and the keys named by a NOTIFY.
  std::size_t key_reloads_full() const { return listener_.full_loads(); }
  std::size_t key_reloads_notified() const { return listener_.notified_loads(); }

 private:
  const AuthenticatorOptions options_;
  ApiKeySet keys_;
  ApiKeyListener listener_;
};

}  // namespace ledger

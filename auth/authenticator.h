// Authenticator: turns an "Authorization: Bearer <key>" header into the Actor it stands for, checking the
// key against the api_keys table. A small in-memory cache means most requests cost one SHA-256 and no
// database round trip; a revoked (or new) key takes effect within cache_ttl_ms. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/api_key.h"
#include "auth/api_key_store.h"
#include "auth/role.h"
#include "eventstore/database_workers.h"

namespace ledger {

struct AuthResult {
  enum class Kind {
    kOk,           // actor is set
    kMissing,      // no Authorization header: 401
    kInvalid,      // not a Bearer key of ours, unknown, revoked, or a wrong secret: 401
    kUnavailable,  // the key could not be looked up (database unreachable): 503
  };
  Kind kind = Kind::kInvalid;
  Actor actor;
  std::string detail;  // for failures, safe to show the client
};

class Authenticator {
 public:
  Authenticator(int cache_ttl_ms, std::size_t cache_entries_max);

  // The answer when the header alone or the cache settles it; nullopt when the key's row must be read
  // (then call verify_with_database on a database thread). `authorization` is nullopt without a header.
  std::optional<AuthResult> verify_cached(std::optional<std::string_view> authorization);

  // Reads the key's row (caching it, found or not) and answers. Blocking.
  AuthResult verify_with_database(WorkerConnection& connection, std::string_view authorization);

 private:
  struct CacheEntry {
    std::optional<ApiKeyRecord> key;  // nullopt: no such key id (cached too, so guessing costs no query)
    std::chrono::steady_clock::time_point fetched_at;
  };

  static AuthResult check(const ApiKeyParts& presented, const std::optional<ApiKeyRecord>& stored);

  const std::chrono::milliseconds cache_ttl_;
  const std::size_t cache_entries_max_;
  std::mutex mutex_;
  std::unordered_map<std::string, CacheEntry> cache_;  // by key id
};

}  // namespace ledger

// ApiKeySet: every active API key, in memory, so that checking a presented key, right or wrong, costs one
// SHA-256 and one map lookup and never a database round trip: a flood of made-up key ids does no database
// work and pushes no real key out of anything. Kept current by ApiKeyListener (auth/api_key_listener.h).
// Bounded by keys_max. Thread-safe: many readers (the HTTP threads) and one writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/api_key_store.h"
#include "command/role.h"
#include "eventstore/status.h"

namespace ledger {

class ApiKeySet {
 public:
  explicit ApiKeySet(std::size_t keys_max);

  // Replaces every key at once (a full reload). Invalid, changing nothing, beyond keys_max.
  Status replace_all(const std::unordered_map<std::string, ActiveKey>& keys);

  // Sets a key (active) or drops it (nullopt: revoked or unknown). Invalid, changing nothing, when adding
  // it would go beyond keys_max.
  Status update(std::string_view key_id, const std::optional<ActiveKey>& key);

  // The actor of the active key `key_id` when `presented_sha256` is its hash; nullopt otherwise. The
  // comparison runs in constant time, against a dummy hash when the id is unknown, so timing tells nothing.
  std::optional<Actor> check(std::string_view key_id, std::string_view presented_sha256) const;

  bool loaded() const;  // false until the first replace_all
  std::size_t size() const;
  std::size_t keys_max() const { return keys_max_; }

 private:
  const std::size_t keys_max_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::uint64_t, ActiveKey> keys_;  // by the key id's 64 bits
  bool loaded_ = false;
};

// The 64 bits of a 16-hex-digit key id; nullopt for anything else.
std::optional<std::uint64_t> key_id_bits(std::string_view key_id);

}  // namespace ledger

// The API keys in the database (migrations/0004_api_keys.sql, 0006_api_key_changes.sql): an append-only log
// of changes (api_key_changes: a key is created once and revoked at most once, each change stamped with
// who and when), and the api_keys view derived from it. Creating, listing, revoking, and reading the
// active keys for serve's in-memory set. Blocking (libpqxx): call from database threads or the command
// line, never from an Asio thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <pqxx/pqxx>

#include "command/role.h"
#include "eventstore/status.h"

namespace ledger {

// The channel every key change notifies (a trigger on api_key_changes; the payload is the key id).
inline constexpr const char* kApiKeysChannel = "api_keys_changed";
// serve's listener says on this channel (payload: the key id) that it has applied a change, so that
// `keys create` and `keys revoke` return only once every running serve accepts or refuses the key.
inline constexpr const char* kApiKeysAppliedChannel = "api_keys_applied";
// The application_name of serve's listening session (pg_stat_activity): how `keys` counts who to wait for.
inline constexpr const char* kApiKeyListenerApplicationName = "carbon-ledger serve: api keys";
// How long `keys` waits for those confirmations at most.
inline constexpr int kKeyChangeConfirmTimeoutMs = 2000;

// What became of a committed change in the running serve processes: `listening` of them followed the keys
// when it committed; `confirmed` said within kKeyChangeConfirmTimeoutMs that they had applied it.
struct KeyChangeApplied {
  int listening = 0;
  int confirmed = 0;
};

struct ApiKeyRecord {
  std::string key_id;
  std::string account;
  Role role = Role::kAuditor;
  std::string secret_sha256;  // 32 raw bytes
  std::string created_at;     // RFC 3339, UTC
  std::string created_by;     // "<database login>/<actor>"
  std::optional<std::string> revoked_at;
  std::optional<std::string> revoked_by;
};

// A key serve accepts: created and never revoked.
struct ActiveKey {
  std::string account;
  Role role = Role::kAuditor;
  std::string secret_sha256;  // 32 raw bytes
};

// Account names and actors: 1..200 characters after trimming spaces and tabs, no control characters
// (the same rules as every other name in the ledger, so any account can be a buyer).
Status validate_account_name(const std::string& account);
Status validate_actor(const std::string& actor);

// Creates a key for `account` with `role` and returns its full text in *key_text (the only time it exists).
// `actor` says who asked (recorded beside the database login). Returns after the running serve processes
// confirm (see KeyChangeApplied; a missing confirmation is not an error: the change is committed).
Status create_api_key(pqxx::connection& connection, const std::string& account, Role role,
                      const std::string& actor, std::string* key_text, KeyChangeApplied* applied);

// Every key, oldest first (hashes included; callers decide what to print).
Status list_api_keys(pqxx::connection& connection, std::vector<ApiKeyRecord>* keys);

// Records the key's revocation. NotFound for an unknown key id. Revoking twice keeps the first
// revocation (*already_revoked is set then). Waits for serve's confirmations like create_api_key.
Status revoke_api_key(pqxx::connection& connection, const std::string& key_id, const std::string& actor,
                      bool* already_revoked, KeyChangeApplied* applied);

// Every active key, by key id. Invalid (and *keys untouched) when there are more than keys_max.
Status read_active_keys(pqxx::transaction_base& tx, std::size_t keys_max,
                        std::unordered_map<std::string, ActiveKey>* keys);

// For each of `key_ids`: the key when it is active, nullopt when revoked or unknown.
Status read_keys(pqxx::transaction_base& tx, const std::vector<std::string>& key_ids,
                 std::unordered_map<std::string, std::optional<ActiveKey>>* keys);

}  // namespace ledger

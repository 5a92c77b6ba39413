// The api_keys table (migrations/0004_api_keys.sql): creating, listing, revoking and finding keys.
// Blocking (libpqxx): call from database threads or the command line, never from an Asio thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "auth/role.h"
#include "eventstore/status.h"

namespace ledger {

struct ApiKeyRecord {
  std::string key_id;
  std::string account;
  Role role = Role::kAuditor;
  std::string secret_sha256;  // 32 raw bytes
  std::string created_at;     // RFC 3339, UTC
  std::optional<std::string> revoked_at;
};

// Account names: 1..200 characters after trimming spaces and tabs, no control characters (the same
// rules as every other name in the ledger, so any account can be a buyer).
Status validate_account_name(const std::string& account);

// Creates a key for `account` with `role` and returns its full text in *key_text (the only time it exists).
Status create_api_key(pqxx::connection& connection, const std::string& account, Role role, std::string* key_text);

// Every key, oldest first (hashes included; callers decide what to print).
Status list_api_keys(pqxx::connection& connection, std::vector<ApiKeyRecord>* keys);

// Marks a key revoked. NotFound for an unknown key id; revoking twice keeps the first time.
Status revoke_api_key(pqxx::connection& connection, const std::string& key_id);

// The key with this id, revoked or not; nullopt when there is none.
std::optional<ApiKeyRecord> find_api_key(pqxx::transaction_base& tx, const std::string& key_id);

}  // namespace ledger

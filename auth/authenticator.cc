#include "auth/authenticator.h"

#include <cassert>

#include "eventstore/database.h"

namespace ledger {
namespace {

AuthResult failure(AuthResult::Kind kind, std::string detail) {
  AuthResult result;
  result.kind = kind;
  result.detail = std::move(detail);
  return result;
}

constexpr const char* kBadKey = "the API key is not valid (unknown, revoked or mistyped)";

}  // namespace

Authenticator::Authenticator(int cache_ttl_ms, std::size_t cache_entries_max)
    : cache_ttl_(cache_ttl_ms), cache_entries_max_(cache_entries_max) {
  assert(cache_ttl_ms >= 0 && cache_entries_max > 0);
}

AuthResult Authenticator::check(const ApiKeyParts& presented, const std::optional<ApiKeyRecord>& stored) {
  // Hash first and compare in constant time even for an unknown id, so timing tells nothing.
  const std::string presented_hash = secret_sha256(presented.secret);
  const bool secret_matches = stored.has_value() && constant_time_equal(presented_hash, stored->secret_sha256);
  if (!secret_matches || stored->revoked_at.has_value()) return failure(AuthResult::Kind::kInvalid, kBadKey);
  AuthResult result;
  result.kind = AuthResult::Kind::kOk;
  result.actor.account = stored->account;
  result.actor.role = stored->role;
  return result;
}

std::optional<AuthResult> Authenticator::verify_cached(std::optional<std::string_view> authorization) {
  if (!authorization.has_value()) {
    return failure(AuthResult::Kind::kMissing, "this endpoint needs an API key: Authorization: Bearer <key>");
  }
  const std::optional<std::string_view> token = bearer_token(*authorization);
  if (!token.has_value()) {
    return failure(AuthResult::Kind::kInvalid, "the Authorization header must be \"Bearer <key>\"");
  }
  const std::optional<ApiKeyParts> parts = parse_api_key(*token);
  if (!parts.has_value()) return failure(AuthResult::Kind::kInvalid, kBadKey);
  std::optional<ApiKeyRecord> stored;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(parts->key_id);
    if (it == cache_.end() || std::chrono::steady_clock::now() - it->second.fetched_at >= cache_ttl_) {
      return std::nullopt;
    }
    stored = it->second.key;
  }
  return check(*parts, stored);
}

AuthResult Authenticator::verify_with_database(WorkerConnection& connection, std::string_view authorization) {
  const std::optional<std::string_view> token = bearer_token(authorization);
  const std::optional<ApiKeyParts> parts = token ? parse_api_key(*token) : std::nullopt;
  if (!parts.has_value()) return failure(AuthResult::Kind::kInvalid, kBadKey);
  std::optional<ApiKeyRecord> stored;
  for (int attempt = 1;; ++attempt) {
    Status error;
    pqxx::connection* conn = connection.get(&error);
    if (conn == nullptr) return failure(AuthResult::Kind::kUnavailable, error.message());
    try {
      pqxx::nontransaction tx(*conn);
      stored = find_api_key(tx, parts->key_id);
      break;
    } catch (const std::exception& e) {
      const bool lost = is_connection_failure(e);
      if (lost) connection.discard();
      if (lost && attempt == 1) continue;  // a pooled session PostgreSQL had ended: one fresh try
      return failure(AuthResult::Kind::kUnavailable, "could not check the API key: " + single_line(e.what()));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cache_.size() >= cache_entries_max_) cache_.clear();  // bounded; refilled from the table as needed
    cache_[parts->key_id] = CacheEntry{stored, std::chrono::steady_clock::now()};
  }
  return check(*parts, stored);
}

}  // namespace ledger

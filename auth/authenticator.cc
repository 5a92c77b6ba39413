#include "auth/authenticator.h"

namespace ledger {
namespace {

AuthResult failure(AuthResult::Kind kind, std::string detail) {
  AuthResult result;
  result.kind = kind;
  result.detail = std::move(detail);
  return result;
}

constexpr const char* kBadKey = "the API key is not valid (unknown, revoked or mistyped)";

ApiKeyListenerOptions listener_options(const AuthenticatorOptions& options) {
  ApiKeyListenerOptions listener;
  listener.database_url = options.database_url;
  listener.reload_interval_ms = options.reload_interval_ms;
  return listener;
}

}  // namespace

Authenticator::Authenticator(const AuthenticatorOptions& options)
    : options_(options), keys_(options.keys_max), listener_(listener_options(options), &keys_) {}

Status Authenticator::start() { return listener_.start(options_.load_timeout_ms); }

void Authenticator::stop() { listener_.stop(); }

AuthResult Authenticator::verify(std::optional<std::string_view> authorization) const {
  if (!authorization.has_value()) {
    return failure(AuthResult::Kind::kMissing, "this endpoint needs an API key: Authorization: Bearer <key>");
  }
  const std::optional<std::string_view> token = bearer_token(*authorization);
  if (!token.has_value()) {
    return failure(AuthResult::Kind::kInvalid, "the Authorization header must be \"Bearer <key>\"");
  }
  const std::optional<ApiKeyParts> parts = parse_api_key(*token);
  if (!parts.has_value()) return failure(AuthResult::Kind::kInvalid, kBadKey);
  if (!keys_.loaded()) {
    return failure(AuthResult::Kind::kUnavailable, "the API keys could not be loaded from the database yet");
  }
  // Hash even for an unknown id, and compare in constant time, so timing tells nothing.
  const std::optional<Actor> actor = keys_.check(parts->key_id, secret_sha256(parts->secret));
  if (!actor.has_value()) return failure(AuthResult::Kind::kInvalid, kBadKey);
  AuthResult result;
  result.kind = AuthResult::Kind::kOk;
  result.actor = *actor;
  return result;
}

}  // namespace ledger

#include "auth/api_key.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace ledger {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  std::string hex;
  hex.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    hex.push_back(kHexDigits[bytes[i] >> 4]);
    hex.push_back(kHexDigits[bytes[i] & 0x0f]);
  }
  return hex;
}

bool is_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

Status generate_api_key(ApiKeyParts* parts) {
  unsigned char id[kApiKeyIdHexLength / 2];
  unsigned char secret[kApiKeySecretHexLength / 2];
  if (RAND_bytes(id, sizeof id) != 1 || RAND_bytes(secret, sizeof secret) != 1) {
    return Status::Internal("the system's random generator failed");
  }
  parts->key_id = to_hex(id, sizeof id);
  parts->secret = to_hex(secret, sizeof secret);
  OPENSSL_cleanse(secret, sizeof secret);
  return Status::Ok();
}

std::string api_key_text(const ApiKeyParts& parts) {
  return std::string(kApiKeyPrefix) + parts.key_id + "_" + parts.secret;
}

std::optional<ApiKeyParts> parse_api_key(std::string_view text) {
  if (text.size() != kApiKeyPrefix.size() + kApiKeyIdHexLength + 1 + kApiKeySecretHexLength) return std::nullopt;
  if (text.substr(0, kApiKeyPrefix.size()) != kApiKeyPrefix) return std::nullopt;
  text.remove_prefix(kApiKeyPrefix.size());
  const std::string_view id = text.substr(0, kApiKeyIdHexLength);
  if (text[kApiKeyIdHexLength] != '_') return std::nullopt;
  const std::string_view secret = text.substr(kApiKeyIdHexLength + 1);
  if (!is_lower_hex(id) || !is_lower_hex(secret)) return std::nullopt;
  return ApiKeyParts{std::string(id), std::string(secret)};
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() || authorization[kScheme.size()] != ' ') return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (ascii_lower(authorization[i]) != kScheme[i]) return std::nullopt;
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

std::string secret_sha256(std::string_view secret) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ledger

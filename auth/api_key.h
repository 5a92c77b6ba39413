// API keys in memory: their text form, how they are made and how a presented key is checked against a
// stored hash. Pure except for the random generator. The database side is auth/api_key_store.h.
//
// A key reads "clk_<key id: 16 hex>_<secret: 64 hex>". The key id is public (it names the key in
// `keys list` and `keys revoke`, and finds its row); the 256-bit secret is shown once, at creation, and
// only its SHA-256 is stored. A high-entropy secret needs no slow password hash: SHA-256 is preimage-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "eventstore/status.h"

namespace ledger {

inline constexpr std::size_t kApiKeyIdHexLength = 16;      // 64 bits, random
inline constexpr std::size_t kApiKeySecretHexLength = 64;  // 256 bits, random
inline constexpr std::string_view kApiKeyPrefix = "clk_";

struct ApiKeyParts {
  std::string key_id;  // 16 lowercase hex digits
  std::string secret;  // 64 lowercase hex digits
};

// A fresh key from the operating system's CSPRNG. Internal error if it cannot supply randomness.
Status generate_api_key(ApiKeyParts* parts);

// "clk_<id>_<secret>".
std::string api_key_text(const ApiKeyParts& parts);

// Splits a presented key; nullopt unless it has exactly the form above.
std::optional<ApiKeyParts> parse_api_key(std::string_view text);

// The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive, one or more
// spaces); nullopt for another scheme or an empty token.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// SHA-256 of `secret`, 32 raw bytes.
std::string secret_sha256(std::string_view secret);

// Equal contents, in time that depends only on the lengths (so a stored hash cannot be learnt byte by
// byte from response times).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace ledger

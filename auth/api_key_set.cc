#include "auth/api_key_set.h"

#include <mutex>

#include "auth/api_key.h"

namespace ledger {

std::optional<std::uint64_t> key_id_bits(std::string_view key_id) {
  if (key_id.size() != kApiKeyIdHexLength) return std::nullopt;
  std::uint64_t bits = 0;
  for (char c : key_id) {
    unsigned digit = 0;
    if (c >= '0' && c <= '9') digit = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') digit = static_cast<unsigned>(c - 'a' + 10);
    else return std::nullopt;
    bits = (bits << 4) | digit;
  }
  return bits;
}

ApiKeySet::ApiKeySet(std::size_t keys_max) : keys_max_(keys_max) {}

Status ApiKeySet::replace_all(const std::unordered_map<std::string, ActiveKey>& keys) {
  if (keys.size() > keys_max_) {
    return Status::Invalid(std::to_string(keys.size()) + " active API keys, more than the limit of " +
                           std::to_string(keys_max_));
  }
  std::unordered_map<std::uint64_t, ActiveKey> fresh;
  fresh.reserve(keys.size());
  for (const auto& [id, key] : keys) {
    const std::optional<std::uint64_t> bits = key_id_bits(id);
    if (bits.has_value()) fresh.emplace(*bits, key);  // the table's CHECK admits only well-formed ids
  }
  {
    std::unique_lock lock(mutex_);
    keys_.swap(fresh);
    loaded_ = true;
  }
  return Status::Ok();  // the old map is freed here, outside the lock
}

Status ApiKeySet::update(std::string_view key_id, const std::optional<ActiveKey>& key) {
  const std::optional<std::uint64_t> bits = key_id_bits(key_id);
  if (!bits.has_value()) return Status::Invalid("not a key id: " + std::string(key_id));
  std::unique_lock lock(mutex_);
  if (!key.has_value()) {
    keys_.erase(*bits);
    return Status::Ok();
  }
  auto it = keys_.find(*bits);
  if (it != keys_.end()) {
    it->second = *key;
    return Status::Ok();
  }
  if (keys_.size() >= keys_max_) {
    return Status::Invalid("key " + std::string(key_id) + " not loaded: already " + std::to_string(keys_max_) +
                           " active API keys, the limit");
  }
  keys_.emplace(*bits, *key);
  return Status::Ok();
}

std::optional<Actor> ApiKeySet::check(std::string_view key_id, std::string_view presented_sha256) const {
  static const std::string kDummyHash(32, '\0');
  const std::optional<std::uint64_t> bits = key_id_bits(key_id);
  std::shared_lock lock(mutex_);
  const auto it = bits.has_value() ? keys_.find(*bits) : keys_.end();
  const bool known = it != keys_.end();
  const bool matches = constant_time_equal(presented_sha256, known ? it->second.secret_sha256 : kDummyHash);
  if (!known || !matches) return std::nullopt;
  return Actor{it->second.account, it->second.role};
}

bool ApiKeySet::loaded() const {
  std::shared_lock lock(mutex_);
  return loaded_;
}

std::size_t ApiKeySet::size() const {
  std::shared_lock lock(mutex_);
  return keys_.size();
}

}  // namespace ledger

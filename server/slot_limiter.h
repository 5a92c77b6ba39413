// SlotLimiter: counts what each client holds (connections per peer address, commands in flight per API
// key) against a cap per key and a cap in total, so one client cannot take every slot. A key's entry
// exists only while it holds a slot, so the map is bounded by the total cap. Thread-safe.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace ledger {

class SlotLimiter {
 public:
  enum class Outcome { kAcquired, kTotalFull, kKeyFull };

  // `total_max`: slots over all keys; `per_key_max`: slots one key may hold at once.
  SlotLimiter(std::size_t total_max, std::size_t per_key_max) : total_max_(total_max), per_key_max_(per_key_max) {}
  SlotLimiter(const SlotLimiter&) = delete;
  SlotLimiter& operator=(const SlotLimiter&) = delete;

  // Takes a slot for `key` unless a cap is reached. Every kAcquired needs one release(key).
  Outcome try_acquire(std::string_view key);
  void release(std::string_view key);

  std::size_t total() const;
  std::size_t held_by(std::string_view key) const;
  std::size_t total_max() const { return total_max_; }
  std::size_t per_key_max() const { return per_key_max_; }

 private:
  const std::size_t total_max_;
  const std::size_t per_key_max_;
  mutable std::mutex mutex_;
  std::size_t total_ = 0;                               // guarded by mutex_
  std::unordered_map<std::string, std::size_t> held_;  // guarded by mutex_; no zero entries
};

// Holds one slot of a SlotLimiter until destroyed (movable, so it can live in a coroutine frame).
class SlotHold {
 public:
  SlotHold() = default;
  SlotHold(SlotLimiter* limiter, std::string key) : limiter_(limiter), key_(std::move(key)) {}
  SlotHold(SlotHold&& other) noexcept : limiter_(other.limiter_), key_(std::move(other.key_)) {
    other.limiter_ = nullptr;
  }
  SlotHold& operator=(SlotHold&&) = delete;
  SlotHold(const SlotHold&) = delete;
  ~SlotHold() {
    if (limiter_ != nullptr) limiter_->release(key_);
  }

 private:
  SlotLimiter* limiter_ = nullptr;
  std::string key_;
};

}  // namespace ledger

#include "server/slot_limiter.h"

namespace ledger {

SlotLimiter::Outcome SlotLimiter::try_acquire(std::string_view key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (total_ >= total_max_) return Outcome::kTotalFull;
  auto it = held_.find(std::string(key));
  if (it != held_.end() && it->second >= per_key_max_) return Outcome::kKeyFull;
  if (it == held_.end()) it = held_.emplace(std::string(key), 0).first;
  ++it->second;
  ++total_;
  return Outcome::kAcquired;
}

void SlotLimiter::release(std::string_view key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = held_.find(std::string(key));
  if (it == held_.end()) return;  // not held: a caller bug, but never underflow
  --total_;
  if (--it->second == 0) held_.erase(it);
}

std::size_t SlotLimiter::total() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return total_;
}

std::size_t SlotLimiter::held_by(std::string_view key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = held_.find(std::string(key));
  return it == held_.end() ? 0 : it->second;
}

}  // namespace ledger

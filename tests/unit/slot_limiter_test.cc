#include "server/slot_limiter.h"

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace ledger {
namespace {

TEST(SlotLimiter, OneKeyCannotTakeMoreThanItsShare) {
  SlotLimiter slots(10, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(slots.try_acquire("a"), SlotLimiter::Outcome::kAcquired);
  EXPECT_EQ(slots.try_acquire("a"), SlotLimiter::Outcome::kKeyFull);
  EXPECT_EQ(slots.try_acquire("b"), SlotLimiter::Outcome::kAcquired);
  EXPECT_EQ(slots.held_by("a"), 3u);
  slots.release("a");
  EXPECT_EQ(slots.try_acquire("a"), SlotLimiter::Outcome::kAcquired);
  EXPECT_EQ(slots.total(), 4u);
}

TEST(SlotLimiter, TotalCapHoldsAcrossKeysAndReleasedKeysLeaveNoEntry) {
  SlotLimiter slots(2, 2);
  EXPECT_EQ(slots.try_acquire("a"), SlotLimiter::Outcome::kAcquired);
  EXPECT_EQ(slots.try_acquire("b"), SlotLimiter::Outcome::kAcquired);
  EXPECT_EQ(slots.try_acquire("c"), SlotLimiter::Outcome::kTotalFull);
  slots.release("a");
  slots.release("a");  // not held any more: ignored, never underflows
  EXPECT_EQ(slots.total(), 1u);
  EXPECT_EQ(slots.held_by("a"), 0u);
  ASSERT_EQ(slots.try_acquire("c"), SlotLimiter::Outcome::kAcquired);
  {
    SlotHold hold(&slots, "c");  // gives the slot back when it goes
    SlotHold moved(std::move(hold));
    EXPECT_EQ(slots.held_by("c"), 1u);
  }
  EXPECT_EQ(slots.held_by("c"), 0u);
  EXPECT_EQ(slots.total(), 1u);
}

TEST(SlotLimiter, ConcurrentAcquiresNeverExceedTheCaps) {
  SlotLimiter slots(1000, 5);
  std::vector<std::thread> threads;
  std::atomic<int> acquired{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (slots.try_acquire("k") == SlotLimiter::Outcome::kAcquired) ++acquired;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(acquired.load(), 5);
  EXPECT_EQ(slots.held_by("k"), 5u);
}

}  // namespace
}  // namespace ledger

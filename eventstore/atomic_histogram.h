// AtomicHistogram: a fixed-bucket histogram of plain atomics, for the lower layers (batch workers, the
// projector) to record into cheaply from any thread without knowing how it is exported. The metrics code
// reads a snapshot at scrape time and turns it into a Prometheus histogram (cumulative buckets).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "eventstore/assert.h"

namespace ledger {

class AtomicHistogram {
 public:
  static constexpr std::size_t kBoundsMax = 24;

  struct Snapshot {
    std::vector<double> upper_bounds;    // ascending; the +Inf bucket is implicit
    std::vector<std::uint64_t> counts;   // per bucket, not cumulative; one more than upper_bounds (+Inf)
    std::uint64_t count = 0;             // sum of counts
    double sum = 0;
  };

  // `upper_bounds` ascending, at most kBoundsMax of them.
  explicit AtomicHistogram(const std::vector<double>& upper_bounds) : bounds_count_(upper_bounds.size()) {
    LEDGER_ASSERT(upper_bounds.size() > 0 && upper_bounds.size() <= kBoundsMax, "AtomicHistogram bounds count");
    std::size_t i = 0;
    for (double b : upper_bounds) {
      LEDGER_ASSERT(i == 0 || b > bounds_[i - 1], "AtomicHistogram bounds ascend");
      bounds_[i++] = b;
    }
  }

  AtomicHistogram(const AtomicHistogram&) = delete;
  AtomicHistogram& operator=(const AtomicHistogram&) = delete;

  // Lock-free; a few relaxed atomic operations.
  void observe(double value) {
    std::size_t i = 0;
    while (i < bounds_count_ && value > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    double sum = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
    }
  }

  // Counts read one by one while others may observe: each is exact, the set is at most a few samples apart.
  Snapshot snapshot() const {
    Snapshot s;
    s.upper_bounds.assign(bounds_.begin(), bounds_.begin() + static_cast<std::ptrdiff_t>(bounds_count_));
    s.counts.resize(bounds_count_ + 1);
    for (std::size_t i = 0; i <= bounds_count_; ++i) {
      s.counts[i] = counts_[i].load(std::memory_order_relaxed);
      s.count += s.counts[i];
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<double, kBoundsMax> bounds_{};
  const std::size_t bounds_count_;
  std::array<std::atomic<std::uint64_t>, kBoundsMax + 1> counts_{};
  std::atomic<double> sum_{0};
};

// Bucket bounds for batch sizes (items per batch): powers of two up to 4096 (kBatchSizeMax).
inline std::vector<double> batch_size_buckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
}

}  // namespace ledger

#include "server/access_log.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <optional>

namespace ledger {

AccessLog::AccessLog(int fd) : fd_(fd) {
  buffer_.reserve(kAccessLogFlushBytes);
  writer_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() { stop(); }

void AccessLog::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  stop_deadline_ticks_.store(
      (std::chrono::steady_clock::now() + std::chrono::milliseconds(kAccessLogStopGraceMs)).time_since_epoch().count());
  stopping_.store(true);
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();  // bounded: the writer gives up after kAccessLogStopGraceMs
}

void AccessLog::append(std::string_view line) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_ || buffer_.size() + line.size() + 1 > kAccessLogBufferBytesMax) {
      ++dropped_;
      ++dropped_unreported_;
      return;
    }
    buffer_.append(line);
    buffer_.push_back('\n');
    wake = buffer_.size() >= kAccessLogFlushBytes && !flush_asked_;
    if (wake) flush_asked_ = true;
  }
  if (wake) wake_.notify_one();
}

void AccessLog::flush() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    flush_asked_ = true;
  }
  wake_.notify_one();
}

std::uint64_t AccessLog::dropped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_;
}

void AccessLog::run() {
  std::string batch;
  batch.reserve(kAccessLogFlushBytes);
  bool broken = false;  // the fd is closed or failing: lines are dropped from then on
  // Drops are reported once their gap has ended (a swap finds no new ones) or at stop, so one stall of the
  // reader gives one report however the writer's swaps fall within it.
  std::uint64_t dropped_pending = 0;
  for (;;) {
    bool stopping = false;
    std::uint64_t dropped_before = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(kAccessLogFlushIntervalMs),
                     [this] { return stop_ || flush_asked_; });
      flush_asked_ = false;
      stopping = stop_;
      batch.swap(buffer_);
      const std::uint64_t dropped_new = dropped_unreported_;
      dropped_unreported_ = 0;
      dropped_pending += dropped_new;
      if (dropped_new == 0 || stopping) {
        dropped_before = dropped_pending;
        dropped_pending = 0;
      }
    }
    if (!batch.empty() && !broken) broken = !write_all(batch);
    batch.clear();
    if (dropped_before > 0 && !broken) {
      // Said once the gap has ended (after the lines that fitted before and since), so it shows where it was.
      char line[128];
      const int n = std::snprintf(line, sizeof line,
                                  "serve: access log: stderr did not keep up, %llu lines dropped\n",
                                  static_cast<unsigned long long>(dropped_before));
      if (n > 0) broken = !write_all(std::string(line, static_cast<std::size_t>(n)));
    }
    if (stopping) return;
  }
}

bool AccessLog::write_all(const std::string& bytes) {
  // A pipe or socket takes a write of at most PIPE_BUF bytes whole once poll says it is writable, so such
  // writes never block this thread for long; a file or terminal takes the whole batch at once.
  struct stat st {};
  const bool chunked = fstat(fd_, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
  std::size_t written = 0;
  while (written < bytes.size()) {
    pollfd p{fd_, POLLOUT, 0};
    const int ready = ::poll(&p, 1, kAccessLogWriteWaitMs);
    if (ready < 0 && errno != EINTR) return false;
    if (ready <= 0) {
      // Not writable yet. While serving, lines keep piling up in the buffer meanwhile (and get dropped
      // when it is full); at shutdown, give up after the grace.
      if (stopping_.load() &&
          std::chrono::steady_clock::now().time_since_epoch().count() >= stop_deadline_ticks_.load()) {
        return true;
      }
      continue;
    }
    if ((p.revents & (POLLERR | POLLNVAL)) != 0) return false;
    std::size_t size = bytes.size() - written;
    if (chunked && size > PIPE_BUF) size = PIPE_BUF;
    const ssize_t n = ::write(fd_, bytes.data() + written, size);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace ledger

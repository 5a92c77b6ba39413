// AccessLog: serve's log lines (one per answered request, and the server's own messages while it serves)
// go to stderr from a thread of their own, so a slow or stalled stderr (a full pipe nobody reads) never
// stalls an HTTP thread. append() only copies the line into a bounded in-memory buffer; the writer thread
// writes it out with one write(2) per batch (at 18,000 requests/s one write per line was a fifth of
// serve's system calls) every kAccessLogFlushIntervalMs, or sooner once kAccessLogFlushBytes are waiting.
// When kAccessLogBufferBytesMax are waiting the line is dropped and counted; once stderr takes lines
// again the writer logs how many were dropped. A crash loses at most what is buffered.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace ledger {

inline constexpr std::size_t kAccessLogBufferBytesMax = 1024 * 1024;  // waiting lines; beyond: dropped
inline constexpr std::size_t kAccessLogFlushBytes = 64 * 1024;        // wake the writer at once past this
inline constexpr int kAccessLogFlushIntervalMs = 100;
inline constexpr int kAccessLogWriteWaitMs = 100;      // one wait for a writable fd, then look again
inline constexpr int kAccessLogStopGraceMs = 1000;     // at shutdown, the last lines get this long

class AccessLog {
 public:
  explicit AccessLog(int fd);
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  // Writes what is buffered (waiting at most kAccessLogStopGraceMs for the fd) and stops the writer.
  ~AccessLog();

  // Adds one line (a newline is appended). Thread-safe; never blocks on the fd.
  void append(std::string_view line);
  // Asks the writer to write out what is buffered now. Thread-safe; does not wait for it.
  void flush();
  // Writes what is buffered (waiting at most kAccessLogStopGraceMs for the fd) and stops the writer; lines
  // appended later are dropped. Idempotent; not concurrent with itself.
  void stop();
  // Lines dropped so far because the buffer was full.
  std::uint64_t dropped() const;

 private:
  void run();
  // Writes `bytes` to fd_, waiting for it as long as it takes while serving and at most
  // kAccessLogStopGraceMs once stopping. False when the fd is closed or broken.
  bool write_all(const std::string& bytes);

  const int fd_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::string buffer_;        // guarded by mutex_
  bool flush_asked_ = false;  // guarded by mutex_
  bool stop_ = false;         // guarded by mutex_
  std::uint64_t dropped_ = 0;           // guarded by mutex_: all time
  std::uint64_t dropped_unreported_ = 0;  // guarded by mutex_: since the last "dropped" line
  std::atomic<bool> stopping_{false};   // stop_, readable without the mutex while writing
  // When the writer gives up at shutdown (steady_clock ticks), set before stopping_: one grace for every
  // write left (the batch in progress, the last lines, the drop report), not one each.
  std::atomic<std::int64_t> stop_deadline_ticks_{0};
  std::thread writer_;
};

}  // namespace ledger

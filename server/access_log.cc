#include "server/access_log.h"

#include <cerrno>

#include <unistd.h>

namespace ledger {

void AccessLog::append(std::string_view line) {
  std::lock_guard<std::mutex> lock(mutex_);
  buffer_.append(line);
  buffer_.push_back('\n');
  if (buffer_.size() >= kAccessLogBufferBytesMax) write_locked();
}

void AccessLog::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  write_locked();
}

void AccessLog::write_locked() {
  std::size_t written = 0;
  while (written < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + written, buffer_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // stderr closed or full: the lines are dropped rather than blocking requests
    written += static_cast<std::size_t>(n);
  }
  buffer_.clear();
}

}  // namespace ledger

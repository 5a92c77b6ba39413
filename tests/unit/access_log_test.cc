#include "server/access_log.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

namespace ledger {
namespace {

using Clock = std::chrono::steady_clock;

// Reads what the pipe holds for up to `ms`.
std::string drain(int fd, int ms) {
  std::string out;
  const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char buf[65536];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

TEST(AccessLog, AFullPipeNeverBlocksAppendAndDropsAreCountedThenReported) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    AccessLog log(fds[1]);
    const std::string line(100, 'x');
    // 5 MiB of lines into a 64 KiB pipe nobody reads: each append must still return at once.
    const auto started = Clock::now();
    for (int i = 0; i < 50000; ++i) log.append(line);
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(1));
    EXPECT_GT(log.dropped(), 0u);
    const std::string out = drain(fds[0], 1500);
    EXPECT_NE(out.find("lines dropped"), std::string::npos);
    EXPECT_EQ(out.find("lines dropped"), out.rfind("lines dropped")) << "reported once, after the gap";
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(AccessLog, LinesArriveWithinTheFlushIntervalAndAllAtStop) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto log = std::make_unique<AccessLog>(fds[1]);
  log->append("first");
  const std::string soon = drain(fds[0], kAccessLogFlushIntervalMs * 3);
  EXPECT_EQ(soon, "first\n");
  log->append("last");
  log->stop();
  EXPECT_EQ(drain(fds[0], 100), "last\n");
  log.reset();
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(AccessLog, StopIsBoundedWhenThePipeStaysFull) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  AccessLog log(fds[1]);
  const std::string line(1000, 'y');
  for (int i = 0; i < 500; ++i) log.append(line);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the writer is now waiting on the pipe
  const auto started = Clock::now();
  log.stop();
  EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(kAccessLogStopGraceMs + 1000));
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace ledger

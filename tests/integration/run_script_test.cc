// scripts/run.sh, what `make run` runs, on a test database: each process logs in as its own role, Ctrl-C is a
// clean, silent stop with exit 0, and the admin key is printed only when it is made.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/ledger_fixture.h"

namespace ledger::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path repo_root() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }

// A port nobody listens on right now (bound to 0, then released).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

class RunScript : public LedgerFixture {
 protected:
  RunScript() { start_services_in_setup_ = false; }

  std::unique_ptr<Process> StartRun(int n) {
    port_ = static_cast<std::uint16_t>(free_port());
    const std::string base = work_dir() + "/run" + std::to_string(n);
    auto run = Process::start("/bin/bash", {(repo_root() / "scripts" / "run.sh").string()},
                              {{"LEDGER_NO_BUILD", "1"},
                               {"LEDGER_BIN", ledger_binary()},
                               {"DATABASE_URL", database_url()},  // run.sh gives each process its role
                               {"LEDGER_HTTP_PORT", std::to_string(port_)},
                               {"LEDGER_ADMIN_KEY_FILE", work_dir() + "/admin-key"},
                               {"LEDGER_SIGNING_KEY_FILE", work_dir() + "/log-signing-key"}},
                              base + ".out", base + ".err");
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (run->running() && !contains(run->stderr_text(), "is running at") &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
    }
    return run;
  }
};

// Found: Ctrl-C printed "run.sh: error: project exited unexpectedly (exit 0)" and make said Error 1; and
// the admin key was printed at every start.
TEST_F(RunScript, EachProcessHasItsRoleCtrlCStopsCleanlyAndTheKeyIsPrintedOnce) {
  // As on a fresh database: no active admin key, so run.sh makes one.
  const RunResult revoked = run_ledger({"keys", "revoke", admin_key_.substr(4, 16)});
  ASSERT_TRUE(revoked.ok()) << revoked.describe();
  auto run = StartRun(0);
  ASSERT_TRUE(run->running()) << run->stderr_text();
  ASSERT_TRUE(contains(run->stderr_text(), "is running at")) << run->stderr_text();
  const std::string key = read_file(work_dir() + "/admin-key");
  ASSERT_FALSE(key.empty());
  EXPECT_TRUE(contains(run->stderr_text(), key.substr(0, key.size() - 1))) << "a new key is shown once";
  // Who is logged in to this database, apart from this query.
  const std::string logins = query_scalar(
      "SELECT string_agg(DISTINCT usename, ',' ORDER BY usename) FROM pg_stat_activity WHERE datname = "
      "current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'");
  EXPECT_EQ(logins, "ledger_project,ledger_serve");
  EXPECT_EQ(query_scalar("SELECT account FROM api_keys WHERE role = 'admin' AND account = 'admin'"), "admin");
  // The log's signing key is made on first start (mode 600), its public key logged, and the log sealed with it.
  struct stat key_stat{};
  ASSERT_EQ(::stat((work_dir() + "/log-signing-key").c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);
  const std::string public_key_line = "the log's public key: ";
  ASSERT_TRUE(contains(run->stderr_text(), public_key_line)) << run->stderr_text();
  EXPECT_TRUE(wait_until_sealed()) << "the projector make run starts seals the log";

  run->send_signal(SIGINT);
  const auto status = run->wait_for(30s);
  ASSERT_TRUE(status.has_value()) << "run.sh did not stop after SIGINT";
  EXPECT_TRUE(exited_zero(*status)) << describe_wait_status(*status) << "\n" << run->stderr_text();
  EXPECT_FALSE(contains(run->stderr_text(), "error")) << run->stderr_text();
  EXPECT_FALSE(contains(run->stderr_text(), "unexpectedly")) << run->stderr_text();
  EXPECT_EQ(query_int("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                      "usename IN ('ledger_serve', 'ledger_project')"),
            0);

  // The second start: the key stays where it is kept and is not printed again.
  auto second = StartRun(1);
  ASSERT_TRUE(second->running()) << second->stderr_text();
  EXPECT_FALSE(contains(second->stderr_text(), key.substr(0, key.size() - 1))) << second->stderr_text();
  EXPECT_TRUE(contains(second->stderr_text(), work_dir() + "/admin-key")) << second->stderr_text();
  // The same signing key: the second start logs the same public key.
  auto public_key_of = [&](const std::string& text) {
    const std::size_t at = text.find(public_key_line);
    return at == std::string::npos ? std::string() : text.substr(at, text.find('\n', at) - at);
  };
  EXPECT_EQ(public_key_of(second->stderr_text()), public_key_of(run->stderr_text()));
  // A SIGINT to the whole process group, as a terminal's Ctrl-C sends it, reaches serve and project too.
  // The children first: one may end before run.sh's own trap runs, which is what printed the error.
  std::istringstream children(read_file("/proc/" + std::to_string(second->pid()) + "/task/" +
                                        std::to_string(second->pid()) + "/children"));
  int children_signalled = 0;
  for (pid_t child; children >> child; ++children_signalled) ::kill(child, SIGINT);
  EXPECT_GE(children_signalled, 2) << "serve and project";
  std::this_thread::sleep_for(300ms);
  ::kill(second->pid(), SIGINT);
  const auto second_status = second->wait_for(30s);
  ASSERT_TRUE(second_status.has_value());
  EXPECT_TRUE(exited_zero(*second_status)) << describe_wait_status(*second_status) << "\n" << second->stderr_text();
  EXPECT_FALSE(contains(second->stderr_text(), "error")) << second->stderr_text();
}

}  // namespace
}  // namespace ledger::test

#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace ledger::test {
namespace {

constexpr std::chrono::milliseconds kPollInterval{10};

std::string signal_name(int sig) {
  switch (sig) {
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGPIPE: return "SIGPIPE";
    default: return "signal";
  }
}

// The child's environment: ours with `env` laid over it.
std::vector<std::string> merged_environment(const Environment& env) {
  std::vector<std::string> merged;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view item(*entry);
    const auto eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    bool overridden = false;
    for (const auto& [key, value] : env) {
      if (key == name) overridden = true;
    }
    if (!overridden) merged.emplace_back(item);
  }
  for (const auto& [key, value] : env) merged.push_back(key + "=" + value);
  return merged;
}

std::vector<char*> as_argv(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

std::string describe_wait_status(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    return "killed by signal " + std::to_string(sig) + " (" + signal_name(sig) + ")";
  }
  return "wait status " + std::to_string(wait_status);
}

bool exited_zero(int wait_status) { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string tail_of_file(const std::string& path, std::size_t max_lines) {
  std::istringstream in(read_file(path));
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > max_lines) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += "    | " + l + "\n";
  return out;
}

std::unique_ptr<Process> Process::start(const std::string& binary, const std::vector<std::string>& args,
                                        const Environment& env, const std::string& stdout_path,
                                        const std::string& stderr_path) {
  // Everything the child needs is prepared before fork: after fork only async-signal-safe calls.
  std::vector<std::string> argv_strings{binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = merged_environment(env);
  std::vector<char*> argv = as_argv(argv_strings);
  std::vector<char*> envp = as_argv(env_strings);

  const int out_fd = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int err_fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) {
    const std::string reason = std::strerror(errno);
    for (int fd : {out_fd, err_fd, null_fd}) {
      if (fd >= 0) ::close(fd);
    }
    throw std::runtime_error("cannot open output files for " + binary + ": " + reason);
  }
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    const std::string reason = std::strerror(errno);
    ::close(out_fd);
    ::close(err_fd);
    ::close(null_fd);
    throw std::runtime_error("fork failed: " + reason);
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the parent died before prctl took effect
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    // Test connections (HTTP sockets, database sessions) must not leak into the server.
    ::close_range(3, ~0U, 0);
    // Default dispositions and an empty mask, whatever the test runner set.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::execve(argv[0], argv.data(), envp.data());
    const char* message = "exec failed for carbon-ledger binary: ";
    (void)!::write(STDERR_FILENO, message, std::strlen(message));
    const char* reason = std::strerror(errno);
    (void)!::write(STDERR_FILENO, reason, std::strlen(reason));
    (void)!::write(STDERR_FILENO, "\n", 1);
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(null_fd);
  return std::unique_ptr<Process>(new Process(pid, stdout_path, stderr_path));
}

Process::~Process() {
  if (!status_) kill_now();
}

bool Process::running() {
  if (status_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = status;
    return false;
  }
  return true;
}

void Process::send_signal(int signal_number) {
  if (running()) ::kill(pid_, signal_number);
}

std::optional<int> Process::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
  return status_;
}

std::pair<int, bool> Process::terminate(std::chrono::milliseconds grace) {
  send_signal(SIGTERM);
  if (auto status = wait_for(grace)) return {*status, false};
  return {kill_now(), true};
}

int Process::kill_now() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = status;
  }
  return *status_;
}

bool RunResult::ok() const { return !timed_out && exited_zero(wait_status); }

std::string RunResult::describe() const {
  std::string text = timed_out ? "timed out and was killed" : describe_wait_status(wait_status);
  text += "\n  stderr:\n" + err + "\n  stdout:\n" + out;
  return text;
}

RunResult run_to_completion(const std::string& binary, const std::vector<std::string>& args,
                            const Environment& env, const std::string& work_dir,
                            std::chrono::milliseconds timeout) {
  static std::atomic<int> counter{0};
  const std::string base = work_dir + "/run" + std::to_string(counter.fetch_add(1));
  auto process = Process::start(binary, args, env, base + ".out", base + ".err");
  RunResult result;
  if (auto status = process->wait_for(timeout)) {
    result.wait_status = *status;
  } else {
    result.timed_out = true;
    result.wait_status = process->kill_now();
  }
  result.out = process->stdout_text();
  result.err = process->stderr_text();
  return result;
}

std::string make_temp_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + " failed: " + std::strerror(errno));
  }
  return pattern;
}

void remove_tree(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

}  // namespace ledger::test

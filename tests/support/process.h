// Child processes for the integration tests: the real carbon-ledger binary, started with fork/exec, its
// output sent to files, stopped with bounded waits. A child is killed when the test process dies
// (PR_SET_PDEATHSIG), so an aborted test leaves no server behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ledger::test {

// Variables set (or overridden) on top of the test process's own environment.
using Environment = std::vector<std::pair<std::string, std::string>>;

// "exited with status N" / "killed by signal N (SIGKILL)" for a waitpid status.
std::string describe_wait_status(int wait_status);
// True when the status says the process called exit(0).
bool exited_zero(int wait_status);

// Reads a whole file; "" when it does not exist.
std::string read_file(const std::string& path);
// The last `max_lines` lines of a file, for failure messages.
std::string tail_of_file(const std::string& path, std::size_t max_lines = 40);

class Process {
 public:
  // Starts `binary args...`. stdin is /dev/null; stdout and stderr are appended to the given files.
  // Must be called from the thread that will outlive the child (the test's main thread): the child gets
  // SIGKILL when that thread ends. Throws std::runtime_error when fork fails; a failed exec shows up as
  // exit status 127 with the reason in the stderr file.
  static std::unique_ptr<Process> start(const std::string& binary, const std::vector<std::string>& args,
                                        const Environment& env, const std::string& stdout_path,
                                        const std::string& stderr_path);

  // Kills (SIGKILL) and reaps the child if it still runs.
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& stdout_path() const { return stdout_path_; }
  const std::string& stderr_path() const { return stderr_path_; }

  // Reaps the child if it has exited. False once it has exited.
  bool running();
  // The wait status once the child has exited and been reaped.
  std::optional<int> exit_status() const { return status_; }

  void send_signal(int signal_number);
  // Waits up to `timeout` for the child to exit; its wait status, or nullopt when still running.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the wait status and whether SIGKILL was needed.
  std::pair<int, bool> terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(10000));
  // SIGKILL now and reap.
  int kill_now();

  std::string stderr_text() const { return read_file(stderr_path_); }
  std::string stdout_text() const { return read_file(stdout_path_); }

 private:
  Process(pid_t pid, std::string stdout_path, std::string stderr_path)
      : pid_(pid), stdout_path_(std::move(stdout_path)), stderr_path_(std::move(stderr_path)) {}

  pid_t pid_;
  std::string stdout_path_;
  std::string stderr_path_;
  std::optional<int> status_;
};

struct RunResult {
  int wait_status = -1;
  bool timed_out = false;  // killed after `timeout`
  std::string out;
  std::string err;
  bool ok() const;         // exited 0 in time
  std::string describe() const;  // status plus the tail of stderr, for failure messages
};

// Runs `binary args...` to completion (SIGKILL after `timeout`), capturing its output via files in
// `work_dir`.
RunResult run_to_completion(const std::string& binary, const std::vector<std::string>& args,
                            const Environment& env, const std::string& work_dir,
                            std::chrono::milliseconds timeout);

// A fresh private directory (mkdtemp) under $TMPDIR or /tmp; removed with remove_tree.
std::string make_temp_dir(const std::string& prefix);
void remove_tree(const std::string& path);

}  // namespace ledger::test

#include "server/pdf_renderer.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace ledger {
namespace {

constexpr std::size_t kStderrTailBytes = 600;  // of the browser's stderr, in an error message
constexpr int kExitPollMs = 20;

// Removes the render's directory (page, PDF, profile) however the render ends.
struct TempDir {
  std::string path;
  ~TempDir() {
    if (path.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// The last bytes of a file, on one line (what the browser said last before failing).
std::string file_tail(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff from = size > static_cast<std::streamoff>(kStderrTailBytes) ? size - kStderrTailBytes : 0;
  in.seekg(from);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : tail) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return tail;
}

// Whether the child has exited, without reaping it (so its pid, and its process group's id, stay taken while
// the group is killed).
bool exited_unreaped(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

}  // namespace

bool pdf_browser_available(const PdfRendererOptions& options) {
  struct stat st{};
  return ::stat(options.browser_path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(options.browser_path.c_str(), X_OK) == 0;
}

PdfRender render_pdf(const std::string& html, const PdfRendererOptions& options) {
  PdfRender render;
  if (!pdf_browser_available(options)) {
    render.status = Status::NotFound(options.browser_path + " (Chromium, Debian package `chromium`) is not installed");
    return render;
  }
  std::string root = options.temp_root;
  if (root.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    root = tmpdir != nullptr && tmpdir[0] != '\0' ? tmpdir : "/tmp";
  }
  std::string pattern = root + "/ledger-pdf-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    render.status = Status::Internal("cannot create a temporary directory under " + root + ": " + std::strerror(errno));
    return render;
  }
  TempDir dir{pattern};
  const std::string page = dir.path + "/certificate.html";
  const std::string pdf = dir.path + "/certificate.pdf";
  const std::string browser_stderr = dir.path + "/stderr.txt";
  {
    std::ofstream out(page, std::ios::binary | std::ios::trunc);
    out.write(html.data(), static_cast<std::streamsize>(html.size()));
    if (!out.flush()) {
      render.status = Status::Internal("cannot write " + page);
      return render;
    }
  }

  // The browser keeps its profile, caches and config in the render's directory: nothing of one render
  // survives into the next, and two renders never share a profile lock.
  std::vector<std::string> args = {options.browser_path,
                                   "--headless=new",
                                   "--no-sandbox",  // the server may run as root in a container
                                   "--disable-gpu",
                                   "--no-pdf-header-footer",
                                   "--no-first-run",
                                   "--no-default-browser-check",
                                   "--disable-extensions",
                                   "--disable-background-networking",
                                   "--disable-sync",
                                   "--user-data-dir=" + dir.path + "/profile",
                                   "--print-to-pdf=" + pdf,
                                   "file://" + page};
  std::vector<std::string> env = {"HOME=" + dir.path, "XDG_CONFIG_HOME=" + dir.path + "/config",
                                  "XDG_CACHE_HOME=" + dir.path + "/cache", "PATH=/usr/local/bin:/usr/bin:/bin",
                                  "LANG=C.UTF-8"};
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, browser_stderr.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // A process group of its own, so a timeout kills the browser's helpers too; default signal handling and an
  // empty mask (serve ignores SIGPIPE, and ignored signals survive exec).
  sigset_t no_signals, default_signals;
  sigemptyset(&no_signals);
  sigemptyset(&default_signals);
  sigaddset(&default_signals, SIGPIPE);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  posix_spawnattr_setsigdefault(&attributes, &default_signals);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, options.browser_path.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    render.status = Status::Internal("cannot start " + options.browser_path + ": " + std::strerror(spawned));
    return render;
  }

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
  bool timed_out = false;
  while (!exited_unreaped(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kExitPollMs));
  }
  // The leader is a zombie (or still running, on a timeout): its group id is still ours to kill, helpers and all.
  ::kill(-pid, SIGKILL);
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    render.status = Status::Unavailable(options.browser_path + " did not finish printing within " +
                                        std::to_string(options.timeout_ms) + " ms");
    return render;
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    render.status = Status::Internal(options.browser_path + " failed (" +
                                     (WIFEXITED(wait_status) ? "exit status " + std::to_string(WEXITSTATUS(wait_status))
                                                             : "signal " + std::to_string(WTERMSIG(wait_status))) +
                                     "): " + file_tail(browser_stderr));
    return render;
  }
  struct stat st{};
  if (::stat(pdf.c_str(), &st) != 0 || st.st_size <= 0) {
    render.status = Status::Internal(options.browser_path + " wrote no PDF: " + file_tail(browser_stderr));
    return render;
  }
  if (static_cast<std::size_t>(st.st_size) > options.pdf_bytes_max) {
    render.status = Status::Internal("the PDF is " + std::to_string(st.st_size) + " bytes, more than the " +
                                     std::to_string(options.pdf_bytes_max) + " allowed");
    return render;
  }
  std::ifstream in(pdf, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.gcount() != static_cast<std::streamsize>(bytes.size()) || bytes.rfind("%PDF-", 0) != 0) {
    render.status = Status::Internal(options.browser_path + " wrote something that is not a whole PDF");
    return render;
  }
  render.pdf = std::move(bytes);
  render.status = Status::Ok();
  return render;
}

PdfRenderer::PdfRenderer(PdfRendererOptions options) : options_(std::move(options)) {
  for (std::size_t i = 0; i < options_.renders_max; ++i) threads_.emplace_back([this] { run(); });
}

PdfRenderer::~PdfRenderer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  job_ready_.notify_all();
  for (std::thread& t : threads_) t.join();
}

bool PdfRenderer::submit(std::string html, Done done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // No queue beyond the threads: a render waiting behind two others would outlast the client's patience.
    if (stopping_ || running_ + jobs_.size() >= options_.renders_max) return false;
    jobs_.push_back(Job{std::move(html), std::move(done)});
  }
  job_ready_.notify_one();
  return true;
}

void PdfRenderer::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      job_ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and nothing left to render
      job = std::move(jobs_.front());
      jobs_.pop_front();
      ++running_;
    }
    PdfRender result;
    try {
      result = render_pdf(job.html, options_);
    } catch (const std::exception& e) {  // allocation or filesystem errors: an answer, not a dead thread
      result.status = Status::Internal(std::string("rendering failed: ") + e.what());
    }
    job.done(std::move(result));
    std::lock_guard<std::mutex> lock(mutex_);
    --running_;
  }
}

}  // namespace ledger

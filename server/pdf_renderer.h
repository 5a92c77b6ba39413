// Printing an HTML page to PDF with headless Chromium (GET /records/{id}/certificate?format=pdf). Each render
// is a child process of its own (its own temporary directory, profile and process group, stdin/stdout to
// /dev/null), run on one of the renderer's threads, never on the caller's: a browser takes seconds, and an
// Asio thread must not wait for it. Bounded everywhere: at most `renders_max` at once (no queue: a render
// beyond that is refused at once), a timeout that kills the whole process group, a cap on the PDF read back.
// The page must be self-contained: the browser is given a file:// URL and nothing else to fetch.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "eventstore/status.h"

namespace ledger {

struct PdfRendererOptions {
  std::string browser_path = "/usr/bin/chromium";  // Debian's `chromium` (scripts/install-deps.sh)
  std::size_t renders_max = 2;                      // browsers running at once (each takes ~100 MB, a core)
  int timeout_ms = 20000;                           // then SIGKILL to its process group
  std::size_t pdf_bytes_max = 16 * 1024 * 1024;     // a certificate is ~100 KB; more is a runaway
  std::string temp_root;                            // "" = $TMPDIR or /tmp
};

struct PdfRender {
  // Ok with `pdf` set; NotFound when the browser is not installed (the message names it); Unavailable when it
  // timed out; Internal when it failed or wrote no PDF (the message has the end of its stderr).
  Status status;
  std::string pdf;
};

// Renders `html` to PDF on the calling thread (blocking for up to options.timeout_ms). No limit on
// concurrency: PdfRenderer is the one to use from a server.
PdfRender render_pdf(const std::string& html, const PdfRendererOptions& options);

// True when options.browser_path is an executable file.
bool pdf_browser_available(const PdfRendererOptions& options);

class PdfRenderer {
 public:
  using Done = std::function<void(PdfRender)>;

  explicit PdfRenderer(PdfRendererOptions options);
  ~PdfRenderer();  // renders running finish (within the timeout); then joins

  PdfRenderer(const PdfRenderer&) = delete;
  PdfRenderer& operator=(const PdfRenderer&) = delete;

  // Starts rendering `html` on a renderer thread; `done` is called there with the result. False, without
  // calling `done`, when renders_max renders are already running (answer 503) or the renderer is stopping.
  bool submit(std::string html, Done done);

  const PdfRendererOptions& options() const { return options_; }

 private:
  struct Job {
    std::string html;
    Done done;
  };
  void run();

  const PdfRendererOptions options_;
  std::mutex mutex_;
  std::condition_variable job_ready_;
  std::deque<Job> jobs_;          // at most renders_max - running_ (submit refuses beyond)
  std::size_t running_ = 0;       // jobs taken by a thread and not finished
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // renders_max of them
};

}  // namespace ledger

// Tests for the PDF printer (server/pdf_renderer.h) with stand-in browsers (shell scripts): a missing browser
// is NotFound, one that hangs is killed at the timeout, a render beyond renders_max is refused at once, and
// every render's temporary directory is removed.
#include "server/pdf_renderer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace ledger {
namespace {

class PdfRendererTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "pdf-renderer-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    options_.temp_root = dir_ + "/tmp";
    std::filesystem::create_directory(options_.temp_root);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A stand-in browser: a shell script with this body.
  std::string browser(const std::string& name, const std::string& body) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }

  std::string dir_;
  PdfRendererOptions options_;
};

// Writes "%PDF-" and a line to the --print-to-pdf= file, as Chromium would.
constexpr const char* kPrintingBrowser =
    "for a in \"$@\"; do case \"$a\" in --print-to-pdf=*) printf '%%PDF-1.4 fake\\n' > \"${a#--print-to-pdf=}\";; "
    "esac; done";

TEST_F(PdfRendererTest, AMissingBrowserIsNotFoundNamingIt) {
  options_.browser_path = dir_ + "/no-such-chromium";
  const PdfRender render = render_pdf("<p>x</p>", options_);
  EXPECT_TRUE(render.status.IsNotFound());
  EXPECT_NE(render.status.message().find("no-such-chromium"), std::string::npos);
  EXPECT_FALSE(pdf_browser_available(options_));
}

TEST_F(PdfRendererTest, ThePdfIsReadBackAndTheTemporaryDirectoryRemoved) {
  options_.browser_path = browser("printing", kPrintingBrowser);
  const PdfRender render = render_pdf("<p>x</p>", options_);
  ASSERT_TRUE(render.status.ok()) << render.status.ToString();
  EXPECT_EQ(render.pdf, "%PDF-1.4 fake\n");
  EXPECT_TRUE(std::filesystem::is_empty(options_.temp_root));
}

TEST_F(PdfRendererTest, ABrowserThatFailsOrWritesNoPdfIsInternal) {
  options_.browser_path = browser("failing", "echo 'cannot print' >&2; exit 3");
  PdfRender render = render_pdf("<p>x</p>", options_);
  EXPECT_TRUE(render.status.IsInternal());
  EXPECT_NE(render.status.message().find("cannot print"), std::string::npos) << render.status.message();
  options_.browser_path = browser("silent", "exit 0");
  render = render_pdf("<p>x</p>", options_);
  EXPECT_TRUE(render.status.IsInternal());
  options_.browser_path = browser("huge", "for a in \"$@\"; do case \"$a\" in --print-to-pdf=*) head -c 2048 /dev/zero > \"${a#--print-to-pdf=}\";; esac; done");
  options_.pdf_bytes_max = 1024;
  render = render_pdf("<p>x</p>", options_);
  EXPECT_TRUE(render.status.IsInternal());
  EXPECT_TRUE(std::filesystem::is_empty(options_.temp_root));
}

TEST_F(PdfRendererTest, AHangingBrowserIsKilledAtTheTimeoutWithItsChildren) {
  // The script's child (sleep) is in its process group: killed too, so nothing keeps running.
  options_.browser_path = browser("hanging", "sleep 30 & wait");
  options_.timeout_ms = 300;
  const auto started = std::chrono::steady_clock::now();
  const PdfRender render = render_pdf("<p>x</p>", options_);
  EXPECT_TRUE(render.status.IsUnavailable()) << render.status.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_TRUE(std::filesystem::is_empty(options_.temp_root));
}

TEST_F(PdfRendererTest, RendersBeyondTheLimitAreRefusedAtOnce) {
  options_.browser_path = browser("slow", std::string("sleep 1; ") + kPrintingBrowser);
  options_.renders_max = 1;
  PdfRenderer renderer(options_);
  std::promise<PdfRender> first;
  ASSERT_TRUE(renderer.submit("<p>1</p>", [&first](PdfRender r) { first.set_value(std::move(r)); }));
  EXPECT_FALSE(renderer.submit("<p>2</p>", [](PdfRender) { ADD_FAILURE() << "a refused render ran"; }));
  const PdfRender done = first.get_future().get();
  EXPECT_TRUE(done.status.ok()) << done.status.ToString();
  // The slot is free again once the first has answered (the thread gives it back just after).
  std::promise<PdfRender> second;
  bool accepted = false;
  for (int i = 0; i < 100 && !accepted; ++i) {
    accepted = renderer.submit("<p>3</p>", [&second](PdfRender r) { second.set_value(std::move(r)); });
    if (!accepted) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(accepted);
  EXPECT_TRUE(second.get_future().get().status.ok());
}

}  // namespace
}  // namespace ledger

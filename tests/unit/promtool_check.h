// `promtool check metrics` on a text exposition, for the metrics tests: the text goes to promtool's stdin
// (popen), what it says to a temporary file. promtool exits 0 and says nothing when the text is valid and
// lint-clean (names, _total suffixes, units, HELP).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace ledger::test {

inline constexpr const char* kPromtool = "/usr/bin/promtool";

struct PromtoolResult {
  int exit_status = -1;
  std::string output;
};

inline PromtoolResult promtool_check_metrics(const std::string& text) {
  char path[] = "/tmp/promtool-out-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return {};
  close(fd);
  PromtoolResult result;
  const std::string command = std::string(kPromtool) + " check metrics >" + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "w");
  if (pipe == nullptr) return {};
  std::fwrite(text.data(), 1, text.size(), pipe);
  const int status = pclose(pipe);
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  result.output = out.str();
  std::remove(path);
  return result;
}

}  // namespace ledger::test

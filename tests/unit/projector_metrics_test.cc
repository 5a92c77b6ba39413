#include "projector/projector_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "server/metrics_endpoint.h"
#include "tests/unit/promtool_check.h"

namespace ledger {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(ProjectorMetrics, RendersTheStatsTheProjectorKeeps) {
  ProjectorStats stats;
  stats.position = 42;
  stats.events_applied = 40;
  stats.batches = 3;
  stats.batch_duration_s.observe(0.004);
  stats.batch_duration_s.observe(0.03);
  stats.batch_duration_s.observe(20);
  stats.last_batch_duration_s = 20;
  stats.lag_s = 1.5;
  stats.held_by_horizon = true;
  stats.connected = true;
  const std::string text = ProjectorMetrics(&stats).render();
  EXPECT_TRUE(has_line(text, "ledger_projector_position 42")) << text;
  EXPECT_TRUE(has_line(text, "ledger_projector_events_applied_total 40"));
  EXPECT_TRUE(has_line(text, "ledger_projector_batches_total 3"));
  EXPECT_TRUE(has_line(text, "ledger_projector_lag_seconds 1.5"));
  EXPECT_TRUE(has_line(text, "ledger_projector_last_batch_duration_seconds 20"));
  EXPECT_TRUE(has_line(text, R"(ledger_projector_held_back{reason="transaction_horizon"} 1)"));
  EXPECT_TRUE(has_line(text, R"(ledger_projector_held_back{reason="projection_lock"} 0)"));
  EXPECT_TRUE(has_line(text, "ledger_projector_halted 0"));
  EXPECT_TRUE(has_line(text, "ledger_projector_connected 1"));
  EXPECT_NE(text.find("# TYPE ledger_projector_batch_duration_seconds histogram"), std::string::npos);
  EXPECT_TRUE(has_line(text, R"(ledger_projector_batch_duration_seconds_bucket{le="0.001"} 0)"));
  EXPECT_TRUE(has_line(text, R"(ledger_projector_batch_duration_seconds_bucket{le="0.005"} 1)"));
  EXPECT_TRUE(has_line(text, R"(ledger_projector_batch_duration_seconds_bucket{le="0.05"} 2)"));
  EXPECT_TRUE(has_line(text, R"(ledger_projector_batch_duration_seconds_bucket{le="10"} 2)"));
  EXPECT_TRUE(has_line(text, R"(ledger_projector_batch_duration_seconds_bucket{le="+Inf"} 3)"));
  EXPECT_TRUE(has_line(text, "ledger_projector_batch_duration_seconds_count 3"));
}

TEST(ProjectorMetrics, PromtoolAcceptsTheExposition) {
  if (access(test::kPromtool, X_OK) != 0) GTEST_SKIP() << test::kPromtool << " is not installed";
  ProjectorStats stats;
  stats.position = 7;
  stats.batch_duration_s.observe(0.01);
  const std::string text = ProjectorMetrics(&stats).render();
  const test::PromtoolResult checked = test::promtool_check_metrics(text);
  EXPECT_EQ(checked.exit_status, 0) << checked.output << "\n" << text;
  EXPECT_EQ(checked.output, "") << text;
}

// One request on a fresh connection to 127.0.0.1:port; the whole response as received.
std::string exchange(unsigned short port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return response;
}

TEST(MetricsEndpoint, AnswersGetMetricsAndNotFoundOtherwise) {
  std::atomic<int> scrapes{0};
  MetricsEndpointOptions options;
  options.port = 0;
  MetricsEndpoint endpoint(options, [&scrapes] {
    ++scrapes;
    return std::string("# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n");
  });
  ASSERT_TRUE(endpoint.start().ok());
  ASSERT_NE(endpoint.port(), 0);
  EXPECT_EQ(endpoint.url(), "http://127.0.0.1:" + std::to_string(endpoint.port()) + "/metrics");

  const std::string ok = exchange(endpoint.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos) << ok;
  EXPECT_NE(ok.find("\r\n\r\n# HELP x_total X.\n"), std::string::npos) << ok;
  EXPECT_EQ(scrapes.load(), 1);

  const std::string missing = exchange(endpoint.port(), "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(missing.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << missing;
  EXPECT_NE(missing.find("application/problem+json"), std::string::npos) << missing;

  const std::string post = exchange(endpoint.port(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                                     "Connection: close\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << post;

  const std::string huge = exchange(endpoint.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nX: " +
                                                         std::string(16 * 1024, 'a') + "\r\n\r\n");
  // Over the header limit: a 400, unless the close (with the rest of the headers unread) reset it first.
  EXPECT_TRUE(huge.empty() || huge.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0) << huge.substr(0, 200);
  // Still serving after that.
  EXPECT_EQ(exchange(endpoint.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  endpoint.stop();
  endpoint.stop();  // idempotent
}

TEST(MetricsEndpoint, RefusesAnAddressThatIsNotLoopback) {
  MetricsEndpointOptions options;
  options.address = "0.0.0.0";
  options.port = 0;
  MetricsEndpoint endpoint(options, [] { return std::string(); });
  const Status started = endpoint.start();
  EXPECT_TRUE(started.IsInvalid()) << started.ToString();
}

}  // namespace
}  // namespace ledger

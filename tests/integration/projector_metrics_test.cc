// The projector's Prometheus endpoint (LEDGER_PROJECTOR_METRICS_PORT) against a real projector: its address
// line, position and events applied moving as events are projected, promtool accepting the scrape, and the
// credit_records_projected notification each batch sends for read-your-writes waits.
#include <unistd.h>

#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "projector/projector.h"
#include "tests/support/ledger_fixture.h"
#include "tests/unit/promtool_check.h"

namespace ledger::test {
namespace {

// The value of an unlabelled sample line "name value" in a text exposition; nullopt when absent.
std::optional<double> sample(const std::string& text, const std::string& name) {
  const std::regex line("(^|\n)" + name + " ([0-9.e+-]+)\n");
  std::smatch m;
  if (!std::regex_search(text, m, line)) return std::nullopt;
  return std::stod(m[2].str());
}

class ProjectorMetricsTest : public LedgerFixture {
 protected:
  // Replaces the fixture's projector by one with a metrics endpoint on a free port; returns that port.
  std::uint16_t start_projector_with_metrics() {
    stop_projector();
    Environment env = ledger_env("project");
    env.emplace_back("LEDGER_PROJECTOR_METRICS_PORT", "0");
    const std::string base = work_dir() + "/project-metrics";
    projector_ = Process::start(ledger_binary(), {"project"}, env, base + ".out", base + ".err");
    const std::regex address(R"(metrics on http://127\.0\.0\.1:([0-9]+)/metrics)");
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline && projector_->running()) {
      std::smatch m;
      const std::string err = projector_->stderr_text();
      if (std::regex_search(err, m, address)) {
        EXPECT_EQ(std::regex_search(m.suffix().str(), address), false) << "one address line only:\n" << err;
        return static_cast<std::uint16_t>(std::stoi(m[1].str()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ADD_FAILURE() << "no 'metrics on http://127.0.0.1:<port>/metrics' line; stderr:\n" << projector_->stderr_text();
    return 0;
  }

  std::string scrape(std::uint16_t metrics_port) {
    const HttpResponse r = http_request(metrics_port, "GET", "/metrics");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("Content-Type").value_or(""), "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
  }
};

TEST_F(ProjectorMetricsTest, PositionAndEventsAppliedMoveAndPromtoolAcceptsTheScrape) {
  const std::uint16_t metrics_port = start_projector_with_metrics();
  ASSERT_NE(metrics_port, 0);
  ASSERT_TRUE(wait_until_projected());
  const std::string before = scrape(metrics_port);
  const std::optional<double> position_before = sample(before, "ledger_projector_position");
  const std::optional<double> applied_before = sample(before, "ledger_projector_events_applied_total");
  ASSERT_TRUE(position_before.has_value()) << before;
  ASSERT_TRUE(applied_before.has_value()) << before;

  register_new("METRICS-1");
  register_new("METRICS-2");
  ASSERT_TRUE(wait_until_projected());
  // The stats are updated right after the commit wait_until_projected sees: allow a moment.
  std::string after;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    after = scrape(metrics_port);
  } while (sample(after, "ledger_projector_events_applied_total").value_or(0) < *applied_before + 2 &&
           std::chrono::steady_clock::now() < deadline &&
           (std::this_thread::sleep_for(std::chrono::milliseconds(50)), true));
  EXPECT_GE(sample(after, "ledger_projector_events_applied_total").value_or(-1), *applied_before + 2) << after;
  EXPECT_GT(sample(after, "ledger_projector_position").value_or(-1), *position_before) << after;
  EXPECT_EQ(sample(after, "ledger_projector_position").value_or(-1),
            static_cast<double>(query_int("SELECT max(position) FROM events")));
  EXPECT_GE(sample(after, "ledger_projector_batches_total").value_or(-1), 1) << after;
  EXPECT_GE(sample(after, "ledger_projector_batch_duration_seconds_count").value_or(-1), 1) << after;
  EXPECT_EQ(sample(after, "ledger_projector_connected").value_or(-1), 1) << after;
  EXPECT_EQ(sample(after, "ledger_projector_halted").value_or(-1), 0) << after;

  if (access(kPromtool, X_OK) == 0) {
    const PromtoolResult checked = promtool_check_metrics(after);
    EXPECT_EQ(checked.exit_status, 0) << checked.output << "\n" << after;
    EXPECT_EQ(checked.output, "") << after;
  } else {
    ADD_FAILURE() << kPromtool << " is not installed";
  }

  const HttpResponse missing = http_request(metrics_port, "GET", "/nothing-here");
  EXPECT_TRUE(IsProblem(missing, 404));
  EXPECT_EQ(stop_projector(), 0);
}

// Collects the payloads of credit_records_projected.
class ProjectedReceiver final : public pqxx::notification_receiver {
 public:
  explicit ProjectedReceiver(pqxx::connection_base& conn) : pqxx::notification_receiver(conn, kProjectedChannel) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override { payloads.push_back(payload); }
  std::vector<std::string> payloads;
};

TEST_F(ProjectorMetricsTest, EachBatchNotifiesItsNewCheckpointPosition) {
  ASSERT_TRUE(wait_until_projected());
  pqxx::connection listener(database_url());
  ProjectedReceiver receiver(listener);
  listener.get_notifs();  // the LISTEN is in place before the command
  register_new("NOTIFIED-1");
  const std::int64_t position = query_int("SELECT max(position) FROM events");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    listener.await_notification(0, 100'000);
    for (const std::string& p : receiver.payloads) seen = seen || p == std::to_string(position);
  }
  EXPECT_TRUE(seen) << "no credit_records_projected notification with position " << position << " within 5 s; got "
                    << receiver.payloads.size() << " notification(s)"
                    << (receiver.payloads.empty() ? std::string() : ", the last " + receiver.payloads.back());
}

}  // namespace
}  // namespace ledger::test

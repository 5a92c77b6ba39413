#include "server/serve_metrics.h"

#include <unistd.h>

#include <future>
#include <string>

#include <gtest/gtest.h>

#include "auth/authenticator.h"
#include "command/credit_appender.h"
#include "eventstore/atomic_histogram.h"
#include "eventstore/batch_workers.h"
#include "eventstore/database_workers.h"
#include "query/record_query.h"
#include "tests/unit/promtool_check.h"

namespace ledger {
namespace {

// Nothing listens here: the pools below never connect (connections open lazily, on a job's request).
constexpr const char* kNoDatabase = "postgresql://127.0.0.1:1/none?connect_timeout=1";

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

CreditCommandResult result_of(CreditCommandResult::Kind kind) {
  CreditCommandResult r;
  r.kind = kind;
  return r;
}

TEST(ServeMetrics, CountsRequestsByRouteTemplateMethodAndStatus) {
  ServeMetrics metrics;
  metrics.observe_request("/records/{id}", "GET", 200, 0.002);
  metrics.observe_request("/records/{id}", "GET", 200, 0.003);
  metrics.observe_request("/register", "POST", 201, 0.02);
  metrics.observe_request("/no/such/route", "BREW", 404, 0.0001);  // labels stay bounded
  metrics.observe_request("/healthz", "GET", 1000, 0.0001);        // nonsense status
  const std::string text = metrics.render();
  EXPECT_TRUE(has_line(text, R"(ledger_http_requests_total{method="GET",route="/records/{id}",status="200"} 2)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(ledger_http_requests_total{method="POST",route="/register",status="201"} 1)"));
  EXPECT_TRUE(has_line(text, R"(ledger_http_requests_total{method="other",route="unmatched",status="404"} 1)"));
  EXPECT_TRUE(has_line(text, R"(ledger_http_requests_total{method="GET",route="/healthz",status="other"} 1)"));
  EXPECT_NE(text.find("# HELP ledger_http_requests_total "), std::string::npos);
  EXPECT_NE(text.find("# TYPE ledger_http_requests_total counter"), std::string::npos);
}

TEST(ServeMetrics, LatencyHistogramHasTheBucketsOfEveryRoute) {
  ServeMetrics metrics;
  metrics.observe_request("/records/{id}", "GET", 200, 0.002);
  metrics.observe_request("/records/{id}", "GET", 200, 7);  // beyond the last bound: +Inf only
  const std::string text = metrics.render();
  EXPECT_NE(text.find("# TYPE ledger_http_request_duration_seconds histogram"), std::string::npos);
  const std::string prefix = R"(ledger_http_request_duration_seconds_bucket{route="/records/{id}",le=")";
  EXPECT_TRUE(has_line(text, prefix + R"(0.0005"} 0)")) << text;
  EXPECT_TRUE(has_line(text, prefix + R"(0.001"} 0)"));
  EXPECT_TRUE(has_line(text, prefix + R"(0.0025"} 1)"));
  EXPECT_TRUE(has_line(text, prefix + R"(5"} 1)"));
  EXPECT_TRUE(has_line(text, prefix + R"(+Inf"} 2)"));
  EXPECT_TRUE(has_line(text, R"(ledger_http_request_duration_seconds_count{route="/records/{id}"} 2)"));
  // Every route has its series from the start (zero), the prototype's /record/{id} spelling included.
  EXPECT_TRUE(has_line(text, R"(ledger_http_request_duration_seconds_count{route="/register"} 0)"));
  EXPECT_TRUE(has_line(text, R"(ledger_http_request_duration_seconds_count{route="/record/{id}"} 0)"));
  EXPECT_TRUE(has_line(text, R"(ledger_http_request_duration_seconds_count{route="unmatched"} 0)"));
}

TEST(ServeMetrics, CommandOutcomesComeFromTheResultKindOrTheStatus) {
  using Kind = CreditCommandResult::Kind;
  EXPECT_EQ(command_outcome(result_of(Kind::kCreated), 201), "created");
  EXPECT_EQ(command_outcome(result_of(Kind::kApplied), 200), "applied");
  EXPECT_EQ(command_outcome(result_of(Kind::kReplayed), 201), "replayed");
  EXPECT_EQ(command_outcome(result_of(Kind::kRejected), 409), "refused");
  EXPECT_EQ(command_outcome(result_of(Kind::kContended), 409), "conflict");
  EXPECT_EQ(command_outcome(result_of(Kind::kUnavailable), 503), "unavailable");
  EXPECT_EQ(command_outcome(result_of(Kind::kOutcomeUnknown), 503), "outcome_unknown");
  EXPECT_EQ(command_outcome(result_of(Kind::kPreconditionFailed), 412), "precondition_failed");
  EXPECT_EQ(command_outcome(result_of(Kind::kIdempotencyKeyReused), 422), "idempotency_key_reused");
  EXPECT_EQ(command_outcome(result_of(Kind::kInternal), 500), "internal");
  // Answered before the appender: a default result and the status.
  EXPECT_EQ(command_outcome(CreditCommandResult{}, 422), "invalid");
  EXPECT_EQ(command_outcome(CreditCommandResult{}, 400), "invalid");
  EXPECT_EQ(command_outcome(CreditCommandResult{}, 429), "throttled");
  EXPECT_EQ(command_outcome(CreditCommandResult{}, 503), "unavailable");
  EXPECT_EQ(command_outcome(CreditCommandResult{}, 401), "unauthenticated");

  ServeMetrics metrics;
  metrics.observe_command("register", result_of(Kind::kCreated), 201);
  metrics.observe_command("register", result_of(Kind::kCreated), 201);
  metrics.observe_command("retire", result_of(Kind::kRejected), 409);
  metrics.observe_command("sell", CreditCommandResult{}, 422);
  metrics.observe_command("transmogrify", result_of(Kind::kApplied), 200);
  const std::string text = metrics.render();
  EXPECT_TRUE(has_line(text, R"(ledger_commands_total{outcome="created",type="register"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(ledger_commands_total{outcome="refused",type="retire"} 1)"));
  EXPECT_TRUE(has_line(text, R"(ledger_commands_total{outcome="invalid",type="sell"} 1)"));
  EXPECT_TRUE(has_line(text, R"(ledger_commands_total{outcome="applied",type="other"} 1)"));
}

TEST(ServeMetrics, ReadsPoolsQueueAndKeyReloadsAtScrapeTime) {
  CreditAppender appender(kNoDatabase, DatabaseLimits(), BatchOptions{});
  RecordReader reader(kNoDatabase, DatabaseLimits(), BatchOptions{1, 16, 8, 0});
  DatabaseWorkers health(kNoDatabase, DatabaseLimits(), 1, 4);
  Authenticator auth(AuthenticatorOptions{kNoDatabase});
  ServeMetrics metrics;
  metrics.watch(&appender, &reader, &health, &auth);

  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> running;
  ASSERT_TRUE(health.submit([&running, released](WorkerConnection&) {
    running.set_value();
    released.wait();
  }));
  running.get_future().wait();
  const std::string text = metrics.render();
  release.set_value();
  EXPECT_TRUE(has_line(text, R"(ledger_db_connections_in_use{pool="health"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(ledger_db_connections_in_use{pool="appender"} 0)"));
  EXPECT_TRUE(has_line(text, R"(ledger_db_connections_in_use{pool="reader"} 0)"));
  EXPECT_TRUE(has_line(text, R"(ledger_db_reconnects_total{pool="health"} 0)"));
  EXPECT_TRUE(has_line(text, "ledger_command_queue_depth 0"));
  EXPECT_TRUE(has_line(text, R"(ledger_api_key_reloads_total{kind="full"} 0)"));
  EXPECT_TRUE(has_line(text, R"(ledger_api_key_reloads_total{kind="notify"} 0)"));
  EXPECT_TRUE(has_line(text, R"(ledger_append_batch_size_commands_bucket{le="1"} 0)"));
  EXPECT_TRUE(has_line(text, R"(ledger_append_batch_size_commands_bucket{le="+Inf"} 0)"));
  health.stop();
  appender.stop();
  reader.stop();
}

TEST(ServeMetrics, PromtoolAcceptsTheExposition) {
  if (access(test::kPromtool, X_OK) != 0) GTEST_SKIP() << test::kPromtool << " is not installed";
  CreditAppender appender(kNoDatabase, DatabaseLimits(), BatchOptions{});
  DatabaseWorkers health(kNoDatabase, DatabaseLimits(), 1, 4);
  Authenticator auth(AuthenticatorOptions{kNoDatabase});
  ServeMetrics metrics;
  metrics.watch(&appender, nullptr, &health, &auth);
  metrics.observe_request("/records/{id}", "GET", 200, 0.002);
  metrics.observe_request("unmatched", "GET", 404, 0.0001);
  metrics.observe_command("register", result_of(CreditCommandResult::Kind::kCreated), 201);
  const std::string text = metrics.render();
  const test::PromtoolResult checked = test::promtool_check_metrics(text);
  EXPECT_EQ(checked.exit_status, 0) << checked.output << "\n" << text;
  EXPECT_EQ(checked.output, "") << text;
  appender.stop();
  health.stop();
}

TEST(AtomicHistogram, CountsEachSampleInTheFirstBucketThatHoldsIt) {
  AtomicHistogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 4.0, 9.0}) h.observe(v);
  const AtomicHistogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.counts, (std::vector<std::uint64_t>{2, 1, 1, 1}));
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.sum, 16.0);
}

TEST(BatchWorkers, RecordsEachBatchSizeAndTheQueueDepth) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  BatchWorkers<int, int> workers(
      kNoDatabase, DatabaseLimits(), BatchOptions{1, 64, 8, 0},
      [released](WorkerConnection&, const std::vector<int>& items) {
        released.wait();
        return std::vector<int>(items.size(), 0);
      },
      [](const std::string&) { return -1; });
  std::atomic<int> done{0};
  ASSERT_TRUE(workers.submit(0, [&done](int) { ++done; }));
  while (workers.batches_running() == 0) std::this_thread::yield();  // the first batch (of 1) holds the worker
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(workers.submit(i, [&done](int) { ++done; }));
  EXPECT_EQ(workers.queue_length(), 10u);
  release.set_value();
  while (done.load() < 11) std::this_thread::yield();
  const AtomicHistogram::Snapshot s = workers.batch_sizes().snapshot();
  EXPECT_EQ(s.count, 3u);     // 1, then 8 (batch_size_max), then 2
  EXPECT_DOUBLE_EQ(s.sum, 11.0);
  EXPECT_EQ(workers.queue_length(), 0u);
}

}  // namespace
}  // namespace ledger

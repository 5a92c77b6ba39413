// ServeMetrics: the Prometheus metrics of `carbon-ledger serve`, for its GET /metrics. Requests and commands
// are counted as they are answered (cheap, from Asio threads: a hash lookup under a short mutex, never I/O);
// queue depths, batch sizes, key-cache reloads and database pools are read at scrape time from the plain
// atomic counters the lower layers keep (they know nothing of Prometheus). Every label value is from a fixed
// set, so a client cannot grow the series without bound.
//
//   ledger_http_requests_total{route,method,status}   counter  route: a kRoutes template or "unmatched"
//   ledger_http_request_duration_seconds{route}       histogram
//   ledger_commands_total{type,outcome}               counter  type: register|sell|retire|cancel|other
//   ledger_append_batch_size_commands                 histogram  commands per group-commit batch
//   ledger_command_queue_depth                        gauge    commands waiting for an appender
//   ledger_api_key_reloads_total{kind}                counter  kind: full|notify
//   ledger_db_connections_in_use{pool}                gauge    pool: appender|reader|health
//   ledger_db_reconnects_total{pool}                  counter
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "command/credit_commands.h"

namespace ledger {

class Authenticator;
class CreditAppender;
class DatabaseWorkers;
class RecordReader;

// The `outcome` label of a command: from the result's kind, or, for a command answered before it reached the
// appender (result left default: kInternal), from the HTTP status: created, applied, replayed, refused,
// not_found, forbidden, precondition_failed, conflict, idempotency_key_reused, invalid, unauthenticated,
// throttled, unavailable, outcome_unknown, internal, other.
std::string_view command_outcome(const CreditCommandResult& result, unsigned status);

// Bounds of ledger_http_request_duration_seconds.
std::vector<double> request_duration_buckets_s();

class ServeMetrics {
 public:
  ServeMetrics();
  ~ServeMetrics();
  ServeMetrics(const ServeMetrics&) = delete;
  ServeMetrics& operator=(const ServeMetrics&) = delete;

  // Called once per answered request (from Asio threads; cheap, never blocks on I/O). A route_template not in
  // kRoutes (nor "/metrics") counts as "unmatched"; a method other than the standard ones as "other".
  void observe_request(std::string_view route_template, std::string_view method, unsigned status, double duration_s);
  // Once per command answered (type: "register", "sell", "retire", "cancel"; anything else counts as "other").
  void observe_command(std::string_view type, const CreditCommandResult& result, unsigned status);
  // Gauges and counters read at scrape time from the lower layers (pointers outlive ServeMetrics; any may be
  // null: its metrics are then left out). Call before serving.
  void watch(const CreditAppender* appender, const RecordReader* reader, const DatabaseWorkers* health,
             const Authenticator* auth);
  // The Prometheus text exposition (version 0.0.4) of everything, for GET /metrics (Content-Type:
  // kMetricsContentType from projector/metric_families.h). Thread-safe.
  std::string render();

  std::vector<prometheus::MetricFamily> collect();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Counter>& commands_;
  std::vector<prometheus::Histogram*> duration_by_route_;  // by route index (see serve_metrics.cc)

  std::mutex mutex_;  // guards the caches and the watched pointers
  std::unordered_map<std::uint32_t, prometheus::Counter*> request_counters_;
  std::unordered_map<std::uint32_t, prometheus::Counter*> command_counters_;
  const CreditAppender* appender_ = nullptr;
  const RecordReader* reader_ = nullptr;
  const DatabaseWorkers* health_ = nullptr;
  const Authenticator* auth_ = nullptr;
};

}  // namespace ledger

#include "server/serve_metrics.h"

#include <array>

#include "auth/authenticator.h"
#include "command/credit_appender.h"
#include "eventstore/database_workers.h"
#include "projector/metric_families.h"
#include "query/record_query.h"
#include "server/http_api.h"

namespace ledger {
namespace {

constexpr std::size_t kRouteCount = std::size(kRoutes);
// Route indexes: 0..kRouteCount-1 the entries of kRoutes, then /metrics, then "unmatched".
constexpr std::size_t kMetricsRouteIndex = kRouteCount;
constexpr std::size_t kUnmatchedRouteIndex = kRouteCount + 1;
constexpr std::size_t kRouteLabelCount = kRouteCount + 2;

std::size_t route_index(std::string_view route_template) {
  for (std::size_t i = 0; i < kRouteCount; ++i) {
    if (route_template == kRoutes[i].path) return i;
  }
  return route_template == "/metrics" ? kMetricsRouteIndex : kUnmatchedRouteIndex;
}

// The first index of a path in kRoutes (a path may appear once per method; its label is the path).
std::size_t canonical_route_index(std::size_t index) {
  if (index >= kRouteCount) return index;
  for (std::size_t i = 0; i < index; ++i) {
    if (std::string_view(kRoutes[i].path) == kRoutes[index].path) return i;
  }
  return index;
}

std::string route_label(std::size_t index) {
  if (index < kRouteCount) return kRoutes[index].path;
  return index == kMetricsRouteIndex ? "/metrics" : "unmatched";
}

constexpr std::array<const char*, 8> kMethods = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"};

std::size_t method_index(std::string_view method) {
  for (std::size_t i = 0; i + 1 < kMethods.size(); ++i) {
    if (method == kMethods[i]) return i;
  }
  return kMethods.size() - 1;
}

constexpr std::array<const char*, 5> kCommandTypes = {"register", "sell", "retire", "cancel", "other"};

std::size_t command_type_index(std::string_view type) {
  for (std::size_t i = 0; i + 1 < kCommandTypes.size(); ++i) {
    if (type == kCommandTypes[i]) return i;
  }
  return kCommandTypes.size() - 1;
}

constexpr std::array<std::string_view, 16> kOutcomes = {
    "created", "applied", "replayed", "refused", "not_found", "forbidden", "precondition_failed", "conflict",
    "idempotency_key_reused", "invalid", "unauthenticated", "throttled", "unavailable", "outcome_unknown",
    "internal", "other"};

std::uint32_t outcome_index(std::string_view outcome) {
  for (std::size_t i = 0; i < kOutcomes.size(); ++i) {
    if (outcome == kOutcomes[i]) return static_cast<std::uint32_t>(i);
  }
  return static_cast<std::uint32_t>(kOutcomes.size() - 1);
}

// A status outside 100..599 is labelled "other" (stored as 0).
unsigned status_code(unsigned status) { return status >= 100 && status <= 599 ? status : 0; }

}  // namespace

std::string_view command_outcome(const CreditCommandResult& result, unsigned status) {
  using Kind = CreditCommandResult::Kind;
  if (result.kind == Kind::kInternal && status != 500) {
    // Answered without the appender's verdict: refused by validation, the caps or a full queue.
    switch (status) {
      case 400: case 411: case 413: case 415: case 422: return "invalid";
      case 401: return "unauthenticated";
      case 403: return "forbidden";
      case 404: return "not_found";
      case 409: return "conflict";
      case 412: return "precondition_failed";
      case 429: return "throttled";
      case 503: return "unavailable";
      default: return status >= 200 && status < 300 ? "applied" : "other";
    }
  }
  switch (result.kind) {
    case Kind::kCreated: return "created";
    case Kind::kApplied: return "applied";
    case Kind::kNotFound: return "not_found";
    case Kind::kRejected: return "refused";
    case Kind::kForbidden: return "forbidden";
    case Kind::kPreconditionFailed: return "precondition_failed";
    case Kind::kContended: return "conflict";
    case Kind::kUnavailable: return "unavailable";
    case Kind::kOutcomeUnknown: return "outcome_unknown";
    case Kind::kInternal: return "internal";
    case Kind::kInDoubt: return "outcome_unknown";  // never answered as such
    case Kind::kReplayed: return "replayed";
    case Kind::kIdempotencyKeyReused: return "idempotency_key_reused";
  }
  return "other";
}

std::vector<double> request_duration_buckets_s() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

ServeMetrics::ServeMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("ledger_http_requests_total")
                    .Help("HTTP requests answered, by route template (or unmatched), method and status.")
                    .Register(*registry_)),
      durations_(prometheus::BuildHistogram()
                     .Name("ledger_http_request_duration_seconds")
                     .Help("Time from a request read whole to its answer ready to write, by route template.")
                     .Register(*registry_)),
      commands_(prometheus::BuildCounter()
                    .Name("ledger_commands_total")
                    .Help("Credit commands answered, by type (register, sell, retire, cancel) and outcome.")
                    .Register(*registry_)) {
  // Every route's histogram up front: observing one is then a plain pointer, no lookup.
  duration_by_route_.resize(kRouteLabelCount, nullptr);
  for (std::size_t i = 0; i < kRouteLabelCount; ++i) {
    const std::size_t canonical = canonical_route_index(i);
    if (canonical != i) {
      duration_by_route_[i] = duration_by_route_[canonical];
      continue;
    }
    duration_by_route_[i] = &durations_.Add({{"route", route_label(i)}}, request_duration_buckets_s());
  }
}

ServeMetrics::~ServeMetrics() = default;

void ServeMetrics::observe_request(std::string_view route_template, std::string_view method, unsigned status,
                                   double duration_s) {
  const std::size_t route = canonical_route_index(route_index(route_template));
  const std::size_t verb = method_index(method);
  const unsigned code = status_code(status);
  const std::uint32_t key = static_cast<std::uint32_t>((route << 16) | (verb << 10) | code);
  prometheus::Counter* counter = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = request_counters_.find(key);
    if (it == request_counters_.end()) {
      // At most kRouteLabelCount x kMethods x 501 series; in practice a few dozen.
      prometheus::Counter& added = requests_.Add({{"route", route_label(route)},
                                                  {"method", kMethods[verb]},
                                                  {"status", code == 0 ? std::string("other") : std::to_string(code)}});
      it = request_counters_.emplace(key, &added).first;
    }
    counter = it->second;
  }
  counter->Increment();
  duration_by_route_[route]->Observe(duration_s < 0 ? 0 : duration_s);
}

void ServeMetrics::observe_command(std::string_view type, const CreditCommandResult& result, unsigned status) {
  const std::size_t type_index = command_type_index(type);
  const std::string_view outcome = command_outcome(result, status);
  const std::uint32_t key = static_cast<std::uint32_t>((type_index << 8) | outcome_index(outcome));
  prometheus::Counter* counter = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = command_counters_.find(key);
    if (it == command_counters_.end()) {
      prometheus::Counter& added =
          commands_.Add({{"type", kCommandTypes[type_index]}, {"outcome", std::string(outcome)}});
      it = command_counters_.emplace(key, &added).first;
    }
    counter = it->second;
  }
  counter->Increment();
}

void ServeMetrics::watch(const CreditAppender* appender, const RecordReader* reader, const DatabaseWorkers* health,
                         const Authenticator* auth) {
  std::lock_guard<std::mutex> lock(mutex_);
  appender_ = appender;
  reader_ = reader;
  health_ = health;
  auth_ = auth;
}

std::vector<prometheus::MetricFamily> ServeMetrics::collect() {
  std::vector<prometheus::MetricFamily> out = registry_->Collect();
  const CreditAppender* appender;
  const RecordReader* reader;
  const DatabaseWorkers* health;
  const Authenticator* auth;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    appender = appender_;
    reader = reader_;
    health = health_;
    auth = auth_;
  }
  if (appender != nullptr) {
    out.push_back(histogram_family("ledger_append_batch_size_commands",
                                   "Commands per group-commit batch (one transaction) of the appender."));
    add_histogram(&out.back(), appender->batch_sizes().snapshot());
    out.push_back(gauge_family("ledger_command_queue_depth", "Commands queued for the appender, not yet in a batch."));
    add_value(&out.back(), static_cast<double>(appender->queue_length()));
  }
  if (auth != nullptr) {
    out.push_back(counter_family("ledger_api_key_reloads_total",
                                 "API key cache reloads: every active key re-read (full), or the keys a NOTIFY "
                                 "named (notify)."));
    add_value(&out.back(), static_cast<double>(auth->key_reloads_full()), {{"kind", "full"}});
    add_value(&out.back(), static_cast<double>(auth->key_reloads_notified()), {{"kind", "notify"}});
  }
  if (appender != nullptr || reader != nullptr || health != nullptr) {
    out.push_back(gauge_family("ledger_db_connections_in_use",
                               "PostgreSQL connections running a job or batch now, by pool."));
    prometheus::MetricFamily reconnects =
        counter_family("ledger_db_reconnects_total", "PostgreSQL connections re-opened after a lost one, by pool.");
    if (appender != nullptr) {
      add_value(&out.back(), static_cast<double>(appender->connections_in_use()), {{"pool", "appender"}});
      add_value(&reconnects, static_cast<double>(appender->reconnects()), {{"pool", "appender"}});
    }
    if (reader != nullptr) {
      add_value(&out.back(), static_cast<double>(reader->batches_running()), {{"pool", "reader"}});
      add_value(&reconnects, static_cast<double>(reader->reconnects()), {{"pool", "reader"}});
    }
    if (health != nullptr) {
      add_value(&out.back(), static_cast<double>(health->jobs_running()), {{"pool", "health"}});
      add_value(&reconnects, static_cast<double>(health->reconnects()), {{"pool", "health"}});
    }
    out.push_back(std::move(reconnects));
  }
  return out;
}

std::string ServeMetrics::render() { return render_text(collect()); }

}  // namespace ledger

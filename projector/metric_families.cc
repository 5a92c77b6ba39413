#include "projector/metric_families.h"

#include <sstream>

#include <prometheus/text_serializer.h>

namespace ledger {
namespace {

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

prometheus::ClientMetric with_labels(MetricLabels labels) {
  prometheus::ClientMetric m;
  for (const auto& [name, value] : labels) m.label.push_back({name, value});
  return m;
}

}  // namespace

prometheus::MetricFamily gauge_family(std::string name, std::string help) {
  return family(std::move(name), std::move(help), prometheus::MetricType::Gauge);
}
prometheus::MetricFamily counter_family(std::string name, std::string help) {
  return family(std::move(name), std::move(help), prometheus::MetricType::Counter);
}
prometheus::MetricFamily histogram_family(std::string name, std::string help) {
  return family(std::move(name), std::move(help), prometheus::MetricType::Histogram);
}

void add_value(prometheus::MetricFamily* family, double value, MetricLabels labels) {
  prometheus::ClientMetric m = with_labels(labels);
  if (family->type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family->metric.push_back(std::move(m));
}

void add_histogram(prometheus::MetricFamily* family, const AtomicHistogram::Snapshot& snapshot,
                   MetricLabels labels) {
  prometheus::ClientMetric m = with_labels(labels);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < snapshot.upper_bounds.size(); ++i) {
    cumulative += snapshot.counts[i];
    m.histogram.bucket.push_back({cumulative, snapshot.upper_bounds[i]});
  }
  // The serializer writes the +Inf bucket from sample_count.
  m.histogram.sample_count = snapshot.count;
  m.histogram.sample_sum = snapshot.sum;
  family->metric.push_back(std::move(m));
}

std::string render_text(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace ledger

// Building Prometheus metric families by hand at scrape time, from values the lower layers keep as plain
// atomics (eventstore/atomic_histogram.h, ProjectorStats, pool counters), and rendering them in the text
// exposition format (version 0.0.4). Shared by projector/projector_metrics and server/serve_metrics; it lives
// in ledger_projector because ledger_server links that library (and both link prometheus-cpp::core).
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

#include "eventstore/atomic_histogram.h"

namespace ledger {

using MetricLabels = std::initializer_list<std::pair<const char*, std::string>>;

prometheus::MetricFamily gauge_family(std::string name, std::string help);
prometheus::MetricFamily counter_family(std::string name, std::string help);
prometheus::MetricFamily histogram_family(std::string name, std::string help);

// One sample (a label set) of a gauge or counter family.
void add_value(prometheus::MetricFamily* family, double value, MetricLabels labels = {});
// One histogram of a histogram family, from an AtomicHistogram snapshot (buckets made cumulative).
void add_histogram(prometheus::MetricFamily* family, const AtomicHistogram::Snapshot& snapshot,
                   MetricLabels labels = {});

// The text exposition of `families`, in order.
std::string render_text(const std::vector<prometheus::MetricFamily>& families);

// The Content-Type of render_text's output.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace ledger

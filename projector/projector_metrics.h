// ProjectorMetrics: the Prometheus metrics of `carbon-ledger project`, read at scrape time from the
// ProjectorStats the projector updates (plain atomics; the projector knows nothing of Prometheus). Rendered
// as text for the projector's GET /metrics (server/metrics_endpoint.h). Thread-safe; render() never blocks.
//
//   ledger_projector_position                    gauge    checkpoint position of the read model
//   ledger_projector_events_applied_total        counter  events applied since the process started
//   ledger_projector_batches_total               counter  committed batches that applied events
//   ledger_projector_batch_duration_seconds      histogram  such a batch, transaction start to commit
//   ledger_projector_last_batch_duration_seconds gauge
//   ledger_projector_lag_seconds                 gauge    now - recorded_at of the last applied event; 0 caught up
//   ledger_projector_held_back{reason}           gauge    1 while held back: reason="transaction_horizon" | "projection_lock"
//   ledger_projector_halted                      gauge    1 once it stopped on an event it cannot apply
//   ledger_projector_connected                   gauge    1 while it has a PostgreSQL session
#pragma once

#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "projector/projector.h"

namespace ledger {

class ProjectorMetrics {
 public:
  // `stats` is not owned and outlives this.
  explicit ProjectorMetrics(const ProjectorStats* stats);

  std::vector<prometheus::MetricFamily> collect() const;
  // The text exposition (version 0.0.4) of every metric above.
  std::string render() const;

 private:
  const ProjectorStats* const stats_;
};

}  // namespace ledger

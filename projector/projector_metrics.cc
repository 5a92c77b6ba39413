#include "projector/projector_metrics.h"

#include "eventstore/assert.h"
#include "projector/metric_families.h"

namespace ledger {

ProjectorMetrics::ProjectorMetrics(const ProjectorStats* stats) : stats_(stats) {
  LEDGER_ASSERT(stats != nullptr, "ProjectorMetrics needs the projector's stats");
}

std::vector<prometheus::MetricFamily> ProjectorMetrics::collect() const {
  const ProjectorStats& s = *stats_;
  std::vector<prometheus::MetricFamily> out;
  auto gauge = [&out](const char* name, const char* help, double value) {
    out.push_back(gauge_family(name, help));
    add_value(&out.back(), value);
  };
  gauge("ledger_projector_position", "Checkpoint position of the credit_records read model (the last applied event).",
        static_cast<double>(s.position.load()));
  out.push_back(counter_family("ledger_projector_events_applied_total",
                               "Events applied to the read model since this projector process started."));
  add_value(&out.back(), static_cast<double>(s.events_applied.load()));
  out.push_back(counter_family("ledger_projector_batches_total",
                               "Committed projector batches that applied at least one event."));
  add_value(&out.back(), static_cast<double>(s.batches.load()));
  out.push_back(histogram_family("ledger_projector_batch_duration_seconds",
                                 "Duration of a projector batch that applied events, transaction start to commit."));
  add_histogram(&out.back(), s.batch_duration_s.snapshot());
  gauge("ledger_projector_last_batch_duration_seconds", "Duration of the last projector batch that applied events.",
        s.last_batch_duration_s.load());
  gauge("ledger_projector_lag_seconds",
        "Now minus recorded_at of the last applied event, as of the last batch; 0 once caught up.", s.lag_s.load());
  out.push_back(gauge_family("ledger_projector_held_back",
                             "1 while the projector is held back: committed events wait behind an open transaction "
                             "(transaction_horizon), or the projection lock is taken by a rebuild or another "
                             "projector (projection_lock)."));
  add_value(&out.back(), s.held_by_horizon.load() ? 1 : 0, {{"reason", "transaction_horizon"}});
  add_value(&out.back(), s.held_by_lock.load() ? 1 : 0, {{"reason", "projection_lock"}});
  gauge("ledger_projector_halted", "1 once the projector stopped on an event it cannot apply (see halted_reason).",
        s.halted.load() ? 1 : 0);
  gauge("ledger_projector_connected", "1 while the projector has a session to PostgreSQL.",
        s.connected.load() ? 1 : 0);
  return out;
}

std::string ProjectorMetrics::render() const { return render_text(collect()); }

}  // namespace ledger

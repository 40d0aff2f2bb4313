// The operator's Prometheus metrics (prefix archway_):
//   archway_reconciles_total{result="success|error"}   counter, one per Reconcile call
//   archway_builder_jobs_created_total                  counter, Jobs this process created
//   archway_builder_jobs{state="pending|running|succeeded|failed"}  gauge, the Jobs
//                                                       archway manages, by state, now
//   archway_publishes_total{result="success|error"}    counter, list publications
#pragma once

#include <map>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace archway::op {

class Metrics {
 public:
  explicit Metrics(prometheus::Registry& registry);

  void Reconciled(bool ok);
  void JobCreated();
  void Published(bool ok);
  // Replaces the gauge values: state ("pending", ...) -> count.
  void SetJobsByState(const std::map<std::string, int>& counts);

  double ReconcileCount(bool ok);

 private:
  prometheus::Family<prometheus::Counter>& reconciles_;
  prometheus::Family<prometheus::Counter>& jobs_created_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Family<prometheus::Counter>& publishes_;
};

}  // namespace archway::op

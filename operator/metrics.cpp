#include "operator/metrics.h"

namespace archway::op {

Metrics::Metrics(prometheus::Registry& registry)
    : reconciles_(prometheus::BuildCounter()
                      .Name("archway_reconciles_total")
                      .Help("MultiArchImage reconciles by result")
                      .Register(registry)),
      jobs_created_(prometheus::BuildCounter()
                        .Name("archway_builder_jobs_created_total")
                        .Help("Builder Jobs created by this operator")
                        .Register(registry)),
      jobs_(prometheus::BuildGauge()
                .Name("archway_builder_jobs")
                .Help("Builder Jobs managed by archway, by state")
                .Register(registry)),
      publishes_(prometheus::BuildCounter()
                     .Name("archway_publishes_total")
                     .Help("Multi-arch list publications by result")
                     .Register(registry)) {
  // Create the series up front so they read 0 instead of being absent.
  for (const char* r : {"success", "error"}) {
    reconciles_.Add({{"result", r}});
    publishes_.Add({{"result", r}});
  }
  jobs_created_.Add({});
  for (const char* s : {"pending", "running", "succeeded", "failed"}) jobs_.Add({{"state", s}});
}

void Metrics::Reconciled(bool ok) { reconciles_.Add({{"result", ok ? "success" : "error"}}).Increment(); }
void Metrics::JobCreated() { jobs_created_.Add({}).Increment(); }
void Metrics::Published(bool ok) { publishes_.Add({{"result", ok ? "success" : "error"}}).Increment(); }

void Metrics::SetJobsByState(const std::map<std::string, int>& counts) {
  for (const char* s : {"pending", "running", "succeeded", "failed"}) {
    auto it = counts.find(s);
    jobs_.Add({{"state", s}}).Set(it == counts.end() ? 0 : it->second);
  }
}

double Metrics::ReconcileCount(bool ok) { return reconciles_.Add({{"result", ok ? "success" : "error"}}).Value(); }

}  // namespace archway::op

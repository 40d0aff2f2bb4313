#include "webhook/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <sstream>
#include <utility>
#include <vector>

namespace archway::webhook {

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& admissions = prometheus::BuildCounter()
                                                            .Name("archway_admission_requests_total")
                                                            .Help("Admission requests by result")
                                                            .Register(*registry);
  prometheus::Family<prometheus::Histogram>& admission_latency =
      prometheus::BuildHistogram()
          .Name("archway_admission_latency_seconds")
          .Help("Time from a request's body to its answer")
          .Register(*registry);
  prometheus::Histogram& admission_latency_all =
      admission_latency.Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                        0.05, 0.1, 0.25, 0.5, 1, 2, 5});
  prometheus::Family<prometheus::Counter>& registry_requests = prometheus::BuildCounter()
                                                                   .Name("archway_registry_requests_total")
                                                                   .Help("HTTP exchanges with registries")
                                                                   .Register(*registry);
  prometheus::Family<prometheus::Histogram>& registry_latency = prometheus::BuildHistogram()
                                                                    .Name("archway_registry_latency_seconds")
                                                                    .Help("Registry request latency")
                                                                    .Register(*registry);
  prometheus::Family<prometheus::Counter>& audited_pods =
      prometheus::BuildCounter()
          .Name("archway_audit_pods_total")
          .Help("Audit mode: pods enforce would have constrained, or whose images share no platform")
          .Register(*registry);
  std::array<prometheus::Counter*, kAdmissionResultCount> by_result{};
  std::vector<std::pair<std::string, std::function<uint64_t()>>> connections;  // listener, count
  prometheus::Counter& cache_hits = prometheus::BuildCounter()
                                        .Name("archway_cache_hits_total")
                                        .Help("Platform look-ups answered from the cache")
                                        .Register(*registry)
                                        .Add({});
  prometheus::Gauge& gated_pods = prometheus::BuildGauge()
                                      .Name("archway_gated_pods")
                                      .Help("Pods holding archway's scheduling gate now (on the gate controller's Lease holder)")
                                      .Register(*registry)
                                      .Add({});
  prometheus::Histogram& gate_wait =
      prometheus::BuildHistogram()
          .Name("archway_gate_wait_seconds")
          .Help("Time from a gated pod's creation to the removal of archway's gate")
          .Register(*registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600});
  prometheus::Family<prometheus::Counter>& gate_outcomes = prometheus::BuildCounter()
                                                               .Name("archway_gate_outcomes_total")
                                                               .Help("Gated pods released, by result")
                                                               .Register(*registry);
  std::array<prometheus::Counter*, kGateOutcomeCount> by_gate_outcome{};
  prometheus::Family<prometheus::Gauge>& skipped_nodes = prometheus::BuildGauge()
                                                            .Name("archway_daemonset_skipped_nodes")
                                                            .Help("Ready nodes a DaemonSet's template excludes because of archway")
                                                            .Register(*registry);
  prometheus::Family<prometheus::Counter>& template_patches =
      prometheus::BuildCounter()
          .Name("archway_daemonset_template_patches_total")
          .Help("DaemonSet templates patched after a look-up missed the budget, by result")
          .Register(*registry);
  prometheus::Counter& cache_misses = prometheus::BuildCounter()
                                          .Name("archway_cache_misses_total")
                                          .Help("Platform look-ups that needed the registry")
                                          .Register(*registry)
                                          .Add({});
  prometheus::Counter& arm_labels_missing =
      prometheus::BuildCounter()
          .Name("archway_arm_labels_missing_total")
          .Help("Admissions whose arm terms ignore arm variants: no node carries archway.dev/arm-variant")
          .Register(*registry)
          .Add({});
  prometheus::Counter& bad_namespace_preferences =
      prometheus::BuildCounter()
          .Name("archway_namespace_preferred_platforms_invalid_total")
          .Help("Namespace archway.dev/preferred-platforms values that do not parse (once per namespace and value)")
          .Register(*registry)
          .Add({});
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {
  // Resolved once: Family::Add hashes the labels under a lock on every call.
  for (size_t i = 0; i < kAdmissionResultCount; ++i) {
    impl_->by_result[i] = &impl_->admissions.Add({{"result", ResultName(static_cast<AdmissionResult>(i))}});
  }
  for (size_t i = 0; i < kGateOutcomeCount; ++i) {
    impl_->by_gate_outcome[i] = &impl_->gate_outcomes.Add({{"result", GateOutcomeName(static_cast<GateOutcome>(i))}});
  }
}
Metrics::~Metrics() = default;

void Metrics::Admission(AdmissionResult result, double seconds) {
  impl_->by_result[static_cast<size_t>(result)]->Increment();
  impl_->admission_latency_all.Observe(seconds);
}

void Metrics::RegistryRequest(const registry::RequestEvent& event) {
  impl_->registry_requests.Add({{"registry", event.registry}, {"status", std::to_string(event.status)}}).Increment();
  impl_->registry_latency
      .Add({{"registry", event.registry}},
           prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
      .Observe(static_cast<double>(event.latency.count()) / 1e6);
}

void Metrics::ArmLabelsMissing() { impl_->arm_labels_missing.Increment(); }
void Metrics::BadNamespacePreferredPlatforms() { impl_->bad_namespace_preferences.Increment(); }

void Metrics::CacheLookup(bool hit) { (hit ? impl_->cache_hits : impl_->cache_misses).Increment(); }

void Metrics::GatedPods(size_t count) { impl_->gated_pods.Set(static_cast<double>(count)); }

void Metrics::GateReleased(GateOutcome outcome, double waited_seconds) {
  impl_->by_gate_outcome[static_cast<size_t>(outcome)]->Increment();
  impl_->gate_wait.Observe(waited_seconds);
}

void Metrics::DaemonSetSkippedNodes(const std::string& ns, const std::string& name, size_t nodes) {
  impl_->skipped_nodes.Add({{"namespace", ns}, {"daemonset", name}}).Set(static_cast<double>(nodes));
}

void Metrics::TemplatePatch(const std::string& result) { impl_->template_patches.Add({{"result", result}}).Increment(); }

void Metrics::AuditedPod(const std::string& ns, AuditOutcome outcome) {
  if (outcome == AuditOutcome::kNone) return;
  impl_->audited_pods.Add({{"namespace", ns}, {"outcome", AuditOutcomeName(outcome)}}).Increment();
}

void Metrics::CountConnections(std::string listener, std::function<uint64_t()> count) {
  impl_->connections.emplace_back(std::move(listener), std::move(count));
}

std::string Metrics::Serialize() const {
  auto families = impl_->registry->Collect();
  if (!impl_->connections.empty()) {
    prometheus::MetricFamily connections{"archway_webhook_connections_total", "Connections accepted, by listener",
                                         prometheus::MetricType::Counter, {}};
    for (const auto& [listener, count] : impl_->connections) {
      prometheus::ClientMetric metric;
      metric.label.push_back({"listener", listener});
      metric.counter.value = static_cast<double>(count());
      connections.metric.push_back(std::move(metric));
    }
    families.push_back(std::move(connections));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace archway::webhook

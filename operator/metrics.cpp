#include "operator/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace archway::op {
namespace {

constexpr kube::JobPhase kPhases[] = {kube::JobPhase::kPending, kube::JobPhase::kRunning, kube::JobPhase::kSucceeded,
                                      kube::JobPhase::kFailed};

const char* Result(bool ok) { return ok ? "success" : "error"; }

prometheus::Family<prometheus::Counter>& Counter(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

}  // namespace

struct Metrics::Impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& reconciles =
      Counter(registry, "archway_reconciles_total", "MultiArchImage reconciles by result");
  prometheus::Family<prometheus::Counter>& jobs_created =
      Counter(registry, "archway_builder_jobs_created_total", "Builder Jobs created by this operator");
  prometheus::Family<prometheus::Gauge>& jobs = prometheus::BuildGauge()
                                                    .Name("archway_builder_jobs")
                                                    .Help("Builder Jobs managed by archway, by state")
                                                    .Register(registry);
  prometheus::Family<prometheus::Counter>& publishes =
      Counter(registry, "archway_publishes_total", "Multi-arch list publications by result");
  prometheus::Family<prometheus::Counter>& exec_format_errors =
      Counter(registry, "archway_exec_format_errors_total",
              "Containers that failed with exec format error, by namespace and evidence (reported once each)");
  prometheus::Counter& suspect_platforms =
      Counter(registry, "archway_suspect_image_platforms_total",
              "Image digests whose list named a platform that failed with exec format error on it")
          .Add({});
  prometheus::Family<prometheus::Counter>& base_lookups =
      Counter(registry, "archway_base_image_lookups_total", "Followed base image look-ups (HEAD of the tag) by result");
  prometheus::Family<prometheus::Counter>& base_rebuilds =
      Counter(registry, "archway_base_image_rebuilds_total", "Build runs started because a followed base image changed");
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {
  for (bool ok : {true, false}) {
    impl_->reconciles.Add({{"result", Result(ok)}});
    impl_->publishes.Add({{"result", Result(ok)}});
    impl_->base_lookups.Add({{"result", Result(ok)}});
  }
  impl_->jobs_created.Add({});
  impl_->base_rebuilds.Add({});
  for (auto phase : kPhases) impl_->jobs.Add({{"state", kube::JobPhaseName(phase)}});
}

Metrics::~Metrics() = default;

void Metrics::Reconciled(bool ok) { impl_->reconciles.Add({{"result", Result(ok)}}).Increment(); }
void Metrics::JobCreated() { impl_->jobs_created.Add({}).Increment(); }
void Metrics::Published(bool ok) { impl_->publishes.Add({{"result", Result(ok)}}).Increment(); }
void Metrics::ExecFormatError(const std::string& ns, const std::string& evidence) {
  impl_->exec_format_errors.Add({{"namespace", ns}, {"evidence", evidence}}).Increment();
}
void Metrics::SuspectImagePlatform() { impl_->suspect_platforms.Increment(); }
void Metrics::BaseImageLookedUp(bool ok) { impl_->base_lookups.Add({{"result", Result(ok)}}).Increment(); }
void Metrics::BaseImageRebuildStarted() { impl_->base_rebuilds.Add({}).Increment(); }

void Metrics::SetJobsByPhase(const std::map<kube::JobPhase, int>& counts) {
  for (auto phase : kPhases) {
    auto it = counts.find(phase);
    impl_->jobs.Add({{"state", kube::JobPhaseName(phase)}}).Set(it == counts.end() ? 0 : it->second);
  }
}

double Metrics::ReconcileCount(bool ok) const { return impl_->reconciles.Add({{"result", Result(ok)}}).Value(); }
double Metrics::ExecFormatErrorCount(const std::string& ns, const std::string& evidence) const {
  return impl_->exec_format_errors.Add({{"namespace", ns}, {"evidence", evidence}}).Value();
}

std::string Metrics::Exposition() const { return prometheus::TextSerializer().Serialize(impl_->registry.Collect()); }

}  // namespace archway::op

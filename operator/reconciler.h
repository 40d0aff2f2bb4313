// The MultiArchImage reconciler, in controller-runtime's model: Reconcile(key) reads the
// resource (informer cache), the Jobs it owns, the Nodes and the registry, converges
// them on the spec, and writes the status only when it differs from the stored one (a
// steady state makes no writes). It is level-based: it never remembers anything between
// calls that is not in the API or the registry, so a restarted operator carries on.
//
// Sources mode: HEAD each source (a moved tag is seen at once), read its platforms by
// digest (cached), check them against spec.platforms, and publish the list when the
// inputs changed, the generation changed, or the target tag no longer holds
// status.digest (someone overwrote it).
//
// Build mode: one Job per platform (job_builder.h), created when absent (AlreadyExists
// is success: the name is deterministic); a platform with no Ready node of its
// architecture waits (emulation: Never) or builds emulated (Allow); when every Job has
// succeeded, the list is published from the Jobs' child tags. Jobs of older specs are
// deleted. A Job that expired after finishing (ttlSecondsAfterFinished) keeps the state
// recorded in the status instead of being built again.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "base/result.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "operator/config.h"
#include "operator/metrics.h"
#include "operator/spec.h"
#include "operator/status.h"
#include "registry/client.h"
#include "registry/resolver.h"

namespace archway::op {

struct ReconcileResult {
  std::chrono::milliseconds requeue_after{0};  // 0 = only on changes and resync
};

struct ReconcilerDeps {
  kube::Client* kube = nullptr;
  kube::Informer* images = nullptr;  // multiarchimages
  kube::Informer* jobs = nullptr;    // jobs labelled app.kubernetes.io/managed-by=archway
  kube::Informer* nodes = nullptr;
  registry::Client* registry = nullptr;
  registry::Resolver* resolver = nullptr;
  kube::EventRecorder* events = nullptr;  // may be null
  Metrics* metrics = nullptr;             // may be null
  OperatorConfig config;
  std::function<std::chrono::system_clock::time_point()> clock;  // default system_clock
};

class Reconciler {
 public:
  explicit Reconciler(ReconcilerDeps deps);

  // An error means "retry with backoff" (the status already says why, where it could).
  Result<ReconcileResult> Reconcile(const std::string& key);

 private:
  Result<ReconcileResult> ReconcileSources(const Json& object, const MultiArchImage& mai);
  Result<ReconcileResult> ReconcileBuild(const Json& object, const MultiArchImage& mai);
  Result<std::optional<registry::Keychain>> PushKeychain(const MultiArchImage& mai);
  bool HasBuilderNode(const registry::Platform& platform, const BuildSpec& build) const;
  // Writes `desired` unless it equals the stored status; records an Event on a
  // transition of the Ready condition.
  Status WriteStatus(const Json& object, const DesiredStatus& desired);
  void RecordEvent(const Json& object, bool warning, const std::string& reason, const std::string& note);

  ReconcilerDeps deps_;
};

}  // namespace archway::op

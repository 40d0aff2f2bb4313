// The MultiArchImage reconciler, in controller-runtime's model: Reconcile(key) reads,
// plans, executes. It reads the resource, its Jobs, the Nodes and the push Secret from
// caches (ObjectReader) and asks the registry what the plan depends on (RegistryApi:
// each source's tag by HEAD, platforms by digest through the Resolver; the target tag
// only when the plan asks); the planners (planner.h) decide; it then creates and deletes
// Jobs, publishes, and writes the status once, only when it differs from the stored one
// (a steady state makes no writes). It is level-based: nothing is remembered between
// calls that is not in the API or the registry, so a restarted operator carries on.
//
// What build plans ask for besides: the pods of a Job that just finished (one list by
// the job-name label, once per Job: what it reported), the platforms of a new Job's
// images (the Resolver, cached), and each followed base image (one HEAD; the manifest
// only when its digest is new; a HEAD by digest for a reported digest the tag moved off).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "base/result.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/object_reader.h"
#include "operator/config.h"
#include "operator/metrics.h"
#include "operator/planner.h"
#include "operator/spec.h"
#include "operator/status.h"
#include "registry/credentials.h"
#include "registry/registry_api.h"
#include "registry/resolver.h"

namespace archway::op {

struct ReconcileResult {
  std::chrono::milliseconds requeue_after{0};  // 0 = only on changes and resync
};

struct ReconcilerDeps {
  kube::Client* kube = nullptr;           // writes: Jobs, the status subresource
  kube::ObjectReader* images = nullptr;   // multiarchimages
  kube::ObjectReader* jobs = nullptr;     // jobs labelled app.kubernetes.io/managed-by=archway
  kube::ObjectReader* nodes = nullptr;
  kube::ObjectReader* secrets = nullptr;  // secrets of type kubernetes.io/dockerconfigjson
  registry::RegistryApi* registry = nullptr;
  registry::Resolver* resolver = nullptr;  // over `registry`
  kube::EventRecorder* events = nullptr;   // may be null
  Metrics* metrics = nullptr;              // may be null
  OperatorConfig config;
  std::function<std::chrono::system_clock::time_point()> clock;  // default system_clock
};

class Reconciler {
 public:
  explicit Reconciler(ReconcilerDeps deps);

  // An error means "retry with backoff" (the status already says why, where it could).
  Result<ReconcileResult> Reconcile(const std::string& key);

 private:
  Plan PlanSourcesRun(const MultiArchImage& mai, const ObservedStatus& observed, const registry::Keychain* keychain,
                      const Status& push_secret);
  Plan PlanBuildRun(const MultiArchImage& mai, const ObservedStatus& observed, const registry::Keychain* keychain,
                    const Status& push_secret);
  SourceFacts ResolveSources(const MultiArchImageSpec& spec, const registry::Keychain* keychain);
  std::vector<BaseFact> ResolveBases(const std::vector<BaseQuery>& queries, const registry::Keychain* keychain);
  // The pods of `job` (a list by its job-name label), for what its containers reported.
  JobReport ReadReport(const std::string& ns, const std::string& job);
  // The keychain of spec.pushSecretRef (nullopt when none), from the Secret cache.
  Result<std::optional<registry::Keychain>> PushKeychain(const MultiArchImage& mai) const;

  void CreateJobs(const MultiArchImage& mai, const Json& object, Plan& plan);
  void DeleteJobs(const MultiArchImage& mai, const Plan& plan);
  void Publish(const MultiArchImage& mai, const ObservedStatus& observed, const registry::Keychain* keychain,
               Plan& plan);
  // Writes `plan.status` unless it renders to the stored status, then records the Events.
  Status WriteStatus(const Json& object, const ObservedStatus& observed, const Plan& plan);
  void RecordEvent(const Json& object, const EventNote& event);

  ReconcilerDeps deps_;
};

}  // namespace archway::op

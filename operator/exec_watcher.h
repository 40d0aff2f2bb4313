// The exec-format-error watcher (in `archway operator`, on while the replica leads): every
// container that still fails with `exec format error`, whatever archway decided (an image
// whose list lies, a pod admitted while the webhook was down or opted out, a binary fetched
// at run time), reported at once with the image and the node that caused it.
//
// Pods are watched cluster-wide (list + watch only) into a cache of compact records
// (operator/exec_format.h CachedPod: a healthy Pod keeps its namespace, name, uid and
// resourceVersion; 10,000 Pods add 3.7 MiB of RSS over the floor: bench/exec-watcher-rss.sh),
// Nodes into one that keeps their platform labels. A Pod whose record shows a failure is
// queued; ExecFormatReporter::Reconcile(key) then, once per pod and container:
//  - resolves the image through the operator's Resolver, by the digest the node ran
//    (status imageID) when there is one, with the pod's imagePullSecrets when the Secret
//    cache holds them (kubernetes.io/dockerconfigjson only);
//  - judges it (JudgeFailure); a crash with no words is reported only when the image has
//    no build for the node's platform;
//  - records a Warning Event `ExecFormatError` on the pod (image, its resolved platforms,
//    the node and its kubernetes.io/arch / archway.dev/arm-variant, what to do) and counts
//    archway_exec_format_errors_total{namespace,evidence};
//  - when the list said the node's platform runs (the list lies), marks the digest suspect
//    in the Resolver (registry/resolver.h) and, the first time for that digest and platform,
//    records a Warning Event `SuspectImageList` on the pod naming the digest;
//  - records the same `ExecFormatError` Event on the pod's workload: the Deployment (read
//    from the ReplicaSet's controller ownerReference: one GET, the pod names only its
//    ReplicaSet), DaemonSet, StatefulSet or Job; once per workload, container and image per
//    `owner_event_interval`, so 50 replicas crash-looping make one Event there.
// What it remembers (which containers it reported) is in memory: a restarted or newly
// elected operator reports a still-failing container once more. Pods it reported are
// forgotten when they are deleted.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/result.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/object_reader.h"
#include "kube/worker.h"
#include "operator/exec_format.h"
#include "operator/metrics.h"
#include "registry/resolver.h"

namespace archway::op {

// What the Pod cache holds of Pod `key` ("ns/name"): ReadCachedPod of its record; nullopt = not cached.
using CachedPodReader = std::function<std::optional<PodFailures>(const std::string& key)>;

struct ExecReporterDeps {
  kube::Client* kube = nullptr;  // GET replicasets (the Deployment above a pod's ReplicaSet)
  CachedPodReader pods;
  const kube::ObjectReader* nodes = nullptr;
  const kube::ObjectReader* secrets = nullptr;  // kubernetes.io/dockerconfigjson Secrets; may be null
  registry::Resolver* resolver = nullptr;
  kube::EventRecorder* events = nullptr;  // may be null (nothing recorded)
  Metrics* metrics = nullptr;             // may be null
  std::function<std::chrono::steady_clock::time_point()> clock;  // default steady_clock
};

struct ExecReporterOptions {
  std::chrono::milliseconds owner_event_interval{std::chrono::hours(1)};  // Events live 1 h by default
  int resolve_attempts = 5;  // a crash whose image cannot be resolved is asked about this often...
  std::chrono::milliseconds resolve_retry{std::chrono::minutes(1)};  // ...this far apart, then left
  size_t max_remembered = 100000;  // containers / owners remembered; beyond it the oldest half goes
};

class ExecFormatReporter {
 public:
  ExecFormatReporter(ExecReporterDeps deps, ExecReporterOptions options = {});

  // Reports what the cached Pod `key` shows that was not reported yet. An error (an Event
  // the API refused) is retried by the caller with backoff; a requeue asks again later.
  Result<kube::Requeue> Reconcile(const std::string& key);
  // The Pod with `uid` is gone: forget its containers.
  void Forget(const std::string& uid);

  // For tests: how many containers were reported so far.
  int64_t Reported() const;

 private:
  struct Seen {
    bool done = false;     // reported, or judged not an exec format error
    bool reported = false;
    int attempts = 0;
  };
  std::shared_ptr<const registry::Keychain> KeychainFor(const PodFailures& pod) const;
  Result<registry::ImagePlatforms> Resolve(const ContainerFailure& failure, const registry::Keychain* keychain);
  Status Report(const PodFailures& pod, const ContainerFailure& failure, const NodePlatform& node,
                const Judgement& judgement);
  void ReportOwner(const PodFailures& pod, const ContainerFailure& failure, const Judgement& judgement);
  std::optional<kube::OwnerReference> Workload(const std::string& ns, const kube::OwnerReference& controller);

  ExecReporterDeps deps_;
  ExecReporterOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Seen> seen_;  // "<pod uid>/<container>"
  std::map<std::string, std::chrono::steady_clock::time_point> owner_events_;  // "<owner uid>/<container>/<image>"
  int64_t reported_ = 0;
};

struct ExecWatcherOptions {
  std::chrono::milliseconds min_backoff{200};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
  ExecReporterOptions reporter;
};

// The component: the Pod and Node informers, a work queue and one worker.
class ExecFormatWatcher {
 public:
  // References must outlive the watcher; `events`, `metrics` and `secrets` may be null.
  ExecFormatWatcher(kube::Client& kube, registry::Resolver& resolver, kube::EventRecorder* events, Metrics* metrics,
                    const kube::ObjectReader* secrets, ExecWatcherOptions options = {});
  ~ExecFormatWatcher();  // Stop()s
  ExecFormatWatcher(const ExecFormatWatcher&) = delete;
  ExecFormatWatcher& operator=(const ExecFormatWatcher&) = delete;

  // Starts the informers and, once they have synced, the worker. Call once.
  void Start();
  void Stop();  // idempotent
  bool Synced() const;
  bool WaitForSync(std::chrono::milliseconds timeout) const;
  int64_t Reported() const;
  size_t CachedPods() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::op

// What happens to a DaemonSet after its admission answer (issue 14), off the request path
// and never for a dry run: its Events are recorded once it is stored (a CREATE's review
// has no uid yet, and `kubectl describe` finds Events by uid), and a template admitted
// without archway's requirement because a look-up did not finish within the budget is
// placed once the look-up has: patched through the API as its admission would have
// patched it. That patch is one more rollout of the DaemonSet (README).
//
// Level-based, as a controller-runtime Reconcile: Reconcile(key) reads the DaemonSet as
// stored and decides its template as an update that changes nothing would be decided
// (daemonset.h: archway's requirement kept, or put back, or looked up when the template
// has none), and patches only what that changes. The patch opens with `test` ops on the
// stored resourceVersion and on every image, so a patch computed from a stale read fails
// (and is computed again from a fresh read) instead of pinning new images to old
// platforms. So a duplicate (two webhook replicas each missed the same DaemonSet) writes
// nothing, and no leader is needed.
//
// Not kept across a restart: a key whose look-up was running when the webhook stopped.
// Such a DaemonSet is placed at its next update, whatever it changes (`kubectl annotate`
// will do): an update of a template that lacks archway.dev/platforms is looked up.
//
// Requests per key: one GET, at most one PATCH (more only after a conflict), Events;
// registry look-ups only for images the resolver does not have in memory. A key whose
// DaemonSet is not (yet) stored is retried a few times, then dropped.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "kube/workqueue.h"
#include "registry/resolver.h"
#include "webhook/cluster.h"
#include "webhook/decision.h"
#include "webhook/metrics.h"
#include "webhook/namespace_preferences.h"

namespace archway::webhook {

// The DaemonSets of the API, as the patcher uses them (kube_daemonsets.h implements it).
class DaemonSetApi {
 public:
  virtual ~DaemonSetApi() = default;
  // The DaemonSet as stored; kNotFound when there is none.
  virtual Result<Json> Get(const std::string& ns, const std::string& name) = 0;
  // A JSON Patch (RFC 6902) text; a failed `test` op answers an error (the API's 422).
  virtual Status Patch(const std::string& ns, const std::string& name, const std::string& json_patch) = 0;
  // An Event about the stored DaemonSet `daemon_set`; best effort.
  virtual Status RecordEvent(const Json& daemon_set, const std::string& type, const std::string& reason,
                             const std::string& note) = 0;
};

struct DaemonSetEvent {
  std::string type;  // "Normal" or "Warning"
  std::string reason;
  std::string note;
};

struct TemplatePatcherOptions {
  DecisionOptions decision;
  int attempts = 6;  // reconciles of one key before it is dropped (not stored, conflicts, API errors)
  kube::WorkQueueOptions queue{.base_delay = std::chrono::milliseconds(200), .max_delay = std::chrono::seconds(30)};
};

class TemplatePatcher {
 public:
  // Every reference must outlive the patcher; `secrets`, `nodes`, `namespaces` and
  // `metrics` may be null. A template is decided with its namespace's preferred platforms
  // (namespace_preferences.h), as admission decides it.
  TemplatePatcher(DaemonSetApi& api, registry::Resolver& resolver, const PullSecretSource* secrets,
                  const NodeInventory* nodes, const NamespacePreferences* namespaces, Metrics* metrics,
                  TemplatePatcherOptions options);
  ~TemplatePatcher();  // Stop()s
  TemplatePatcher(const TemplatePatcher&) = delete;
  TemplatePatcher& operator=(const TemplatePatcher&) = delete;

  void Start();  // one worker thread
  void Stop();

  // Record `events` on ns/name once it is stored with a template of `images` (sorted).
  void Report(const std::string& ns, const std::string& name, std::vector<std::string> images,
              std::vector<DaemonSetEvent> events);
  // The look-ups of ns/name's template have finished: place it.
  void Place(const std::string& ns, const std::string& name);

  // One reconcile of "ns/name" (what the worker runs; public for tests). An error means
  // "again, later".
  Status Reconcile(const std::string& key);

 private:
  struct Work {
    bool place = false;
    std::vector<std::pair<std::vector<std::string>, std::vector<DaemonSetEvent>>> reports;  // images, events
  };
  Status PlaceTemplate(const std::string& ns, const std::string& name, const Json& daemon_set);
  void Add(const std::string& key, Work work);

  DaemonSetApi& api_;
  registry::Resolver& resolver_;
  const PullSecretSource* secrets_;
  const NodeInventory* nodes_;
  const NamespacePreferences* namespaces_;
  Metrics* metrics_;
  TemplatePatcherOptions options_;
  kube::WorkQueue queue_;
  std::mutex mu_;
  std::map<std::string, Work> work_;  // by key; guarded by mu_
  std::thread worker_;
};

}  // namespace archway::webhook

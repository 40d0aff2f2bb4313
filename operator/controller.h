// The controller around the Reconciler: informers for MultiArchImages (resynced every
// config.resync), the Jobs archway manages, Nodes, and Secrets of type
// kubernetes.io/dockerconfigjson (push credentials: a watch, not a GET per reconcile);
// a rate-limited work queue of resource keys; worker threads (kube/worker.h). A Job
// change enqueues its MultiArchImage (label archway.dev/multiarchimage); a Node becoming
// Ready/unready, cordoned or relabelled enqueues every build-mode resource; a push Secret
// changing enqueues the resources naming it. Failed reconciles, and reconciles that
// throw, are retried with per-key exponential backoff; a success forgets the key's backoff.
#pragma once

#include <chrono>
#include <memory>

#include "kube/client.h"
#include "kube/events.h"
#include "kube/object_reader.h"
#include "operator/config.h"
#include "operator/metrics.h"
#include "registry/registry_api.h"
#include "registry/resolver.h"

namespace archway::op {

struct ControllerOptions {
  int workers = 2;
  std::string watch_namespace;  // "" = all namespaces
  std::chrono::milliseconds min_backoff{200};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
};

class Controller {
 public:
  // `events` and `metrics` may be null. All references must outlive the Controller.
  Controller(kube::Client& kube, registry::RegistryApi& registry, registry::Resolver& resolver,
             kube::EventRecorder* events, Metrics* metrics, OperatorConfig config, ControllerOptions options = {});
  ~Controller();  // Stop()s
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the informers and, once they have synced, the workers. Call once.
  void Start();
  // Stops the workers (after their current reconcile) and the informers. Idempotent.
  void Stop();
  // True once every informer has synced.
  bool Synced() const;
  bool WaitForSync(std::chrono::milliseconds timeout) const;
  // Reconciles so far (success + error), for tests and logs.
  int64_t ReconcileCount() const;
  // The cache of kubernetes.io/dockerconfigjson Secrets (valid while the Controller lives),
  // shared with other components that need pull credentials.
  const kube::ObjectReader& DockerConfigSecrets() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::op

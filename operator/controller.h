// The controller around the Reconciler: informers for MultiArchImages (resynced every
// config.resync), the Jobs archway manages and Nodes; a rate-limited work queue of
// resource keys; worker threads. A Job change enqueues its MultiArchImage (label
// archway.dev/multiarchimage); a Node becoming Ready/unready or changing os/arch labels
// enqueues every build-mode resource. Failed reconciles are retried with per-key
// exponential backoff; a success forgets the key's backoff.
#pragma once

#include <chrono>
#include <memory>

#include "kube/client.h"
#include "kube/events.h"
#include "operator/config.h"
#include "operator/metrics.h"
#include "registry/client.h"
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
  Controller(kube::Client& kube, registry::Client& registry, registry::Resolver& resolver, kube::EventRecorder* events,
             Metrics* metrics, OperatorConfig config, ControllerOptions options = {});
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::op

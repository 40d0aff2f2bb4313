// The gate controller: releases the pods admission gated (gates.h says what it writes),
// and writes the Events that had to wait for a pod's name. It runs inside `archway
// webhook`, in one replica at a time: the holder of the Lease gateLease (kube/leader.h);
// the other replicas only admit, and take over when the holder goes.
//
//  - Its caches hold only the pods it has work for: two label-selected pod informers,
//    archway.dev/gated=true and archway.dev/event. Their keys go through a WorkQueue to
//    `workers` kube::RunWorker threads (one pod is never worked on twice at once).
//  - Reconcile(ns/name) is level-based: the pod is the whole state (gateTimeout counts
//    from its creationTimestamp), so a replica that takes over, or one restarted, carries
//    on where the last one stopped, and a pod deleted while gated leaves nothing behind.
//  - A reconcile never waits on a registry. Images the resolver knows from memory
//    (Resolver::Cached) are decided at once; the others are looked up on a pool of
//    `lookup_threads` with the pod's pull secrets (look-ups of one image share one request,
//    admission's own background look-up included) and the pod is queued again when they
//    end. At most max(1, lookup_threads / 2) look-ups of one registry host run at once
//    (lookup_slots.h), so a hung registry never holds the whole pool. A transient failure is looked up again every `retry_transient` until gateTimeout.
//  - A release is one update (PUT, guarded by the pod's resourceVersion): on a 409 the
//    pod is read fresh from the API and the release planned again from that read
//    (kube::RetryOnConflict); then the release's Events are recorded on the pod.
//  - A pod labelled archway.dev/event gets that Event, named after the pod's uid (so a
//    second attempt, after a crash or by the next Lease holder, is refused as
//    AlreadyExists rather than written twice), then loses the label: one Event per pod.
//
// API requests: list + watch of the two label selections; per gated pod one update (plus
// one GET per conflict) and its Events; per labelled pod one Event create and one update.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "kube/client.h"
#include "registry/resolver.h"
#include "webhook/cluster.h"
#include "webhook/decision.h"
#include "webhook/metrics.h"
#include "webhook/namespace_preferences.h"

namespace archway::webhook {

struct GateControllerOptions {
  DecisionOptions decision;
  std::chrono::milliseconds gate_timeout{std::chrono::minutes(2)};
  std::string lease_namespace = "archway-system";
  std::string lease_name = "archway-webhook-gates";
  std::chrono::milliseconds lease_duration{15000};  // renew deadline 2/3 of it, retries every 2 s at most
  std::string identity;                              // unique per replica: "<pod name>_<random>"
  size_t workers = 2;
  size_t lookup_threads = 4;
  std::chrono::milliseconds retry_transient{5000};
};

// Optional collaborators: null = that feature is off (no pull secrets, no node facts, the
// config's preferred platforms in every namespace, no metrics).
struct GateControllerDeps {
  const PullSecretSource* secrets = nullptr;
  const NodeInventory* nodes = nullptr;
  const NamespacePreferences* namespaces = nullptr;  // a pod's namespace's preferred platforms, as admission's
  Metrics* metrics = nullptr;
};

class GateController {
 public:
  // `client` and `resolver` must outlive it.
  GateController(kube::Client& client, registry::Resolver& resolver, GateControllerOptions options,
                 GateControllerDeps deps);
  ~GateController();  // Stop()s, then waits for look-ups in flight
  GateController(const GateController&) = delete;
  GateController& operator=(const GateController&) = delete;

  // Campaigns for the Lease; works while holding it.
  void Start();
  // Ends the work and releases the Lease (a standby takes over at once). Idempotent.
  void Stop();

  bool Leading() const;
  // Leading, and both caches have listed once.
  bool Synced() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether the API server serves scheduling gates, from GET /version: 1.27 or later (beta
// and on by default from 1.27, GA in 1.30). It cannot see a feature gate turned off on
// 1.27-1.29: the README says so, and the controller then finds the labelled pods without
// their gate and leaves them as they are. `reason` says why not (or why it cannot tell).
struct GateSupport {
  bool supported = false;
  std::string version;  // gitVersion, when read
  std::string reason;
};
GateSupport DetectSchedulingGates(kube::Client& client);
// The same, from the body of GET /version: gitVersion ("v1.28.15", "v1.29.3+k3s1"), else
// the major and minor fields ("28+" reads 28).
GateSupport SchedulingGatesIn(const Json& version);

}  // namespace archway::webhook

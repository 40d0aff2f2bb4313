// The webhook's Prometheus metrics (prometheus-cpp), served as text on the metrics port.
//
//   archway_admission_requests_total{result}          counter; result is one of
//       mutated, skipped, unchanged, no_common_platform, denied, error (an image could
//       not be inspected or the budget ran out), ignored (not a Pod CREATE),
//       bad_request (HTTP 400: not an AdmissionReview; a body over the limit is refused
//       with 413 by the server before it is read, and not counted here)
//   archway_admission_latency_seconds                 histogram, body read -> answer ready
//   archway_registry_requests_total{registry,status}  counter, one per HTTP exchange with a
//       registry (status "0" when no answer arrived)
//   archway_registry_latency_seconds{registry}        histogram
//   archway_cache_hits_total, archway_cache_misses_total   the platform resolver's cache
//   archway_arm_labels_missing_total                  counter, admissions that needed an arm
//       variant or 32-bit-arm term while no node carries archway.dev/arm-variant (the
//       node labeler is not installed): they got the terms archway gave before those rules
//   archway_namespace_preferred_platforms_invalid_total  counter, Namespace values of
//       archway.dev/preferred-platforms that do not parse, once per namespace and value it
//       is changed to (namespace_preferences.h: its pods get the config's list and a warning)
//   archway_audit_pods_total{namespace,outcome}      counter, audit mode only: pods that
//       enforce mode would have constrained (outcome "constrained") or whose images share
//       no platform ("no_common_platform"); dry runs not counted
//   archway_webhook_connections_total{listener}       counter, connections accepted on the
//       https and metrics ports (the apiserver reuses one: a count that keeps climbing
//       with the admissions means connections are not kept alive)
//   archway_gated_pods                                gauge, pods holding archway's scheduling
//       gate now, as the gate controller's cache sees them (0 on replicas not holding its Lease)
//   archway_gate_wait_seconds                         histogram, creationTimestamp -> gate removed
//   archway_gate_outcomes_total{result}               counter, gated pods released, by gates.h
//       GateOutcomeName: placed, narrowed, no_common_platform, skipped, failed, timed_out,
//       released_elsewhere, malformed
//   archway_daemonset_skipped_nodes{namespace,daemonset}  gauge, Ready nodes the DaemonSet's
//       template excludes because of archway, as of its last admission or patch (a deleted
//       DaemonSet's series stays until the webhook restarts)
//   archway_daemonset_template_patches_total{result}  counter, templates patched after a
//       look-up missed the budget: patched, unchanged (nothing to write), gone (never
//       stored, or deleted), failed (given up after retries)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "registry/client.h"
#include "webhook/audit.h"
#include "webhook/decision.h"
#include "webhook/gates.h"

namespace prometheus {
class Registry;
}

namespace archway::webhook {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void Admission(AdmissionResult result, double seconds);
  void RegistryRequest(const registry::RequestEvent& event);
  void CacheLookup(bool hit);
  void ArmLabelsMissing();
  void BadNamespacePreferredPlatforms();
  void GatedPods(size_t count);
  void GateReleased(GateOutcome outcome, double waited_seconds);
  void DaemonSetSkippedNodes(const std::string& ns, const std::string& name, size_t nodes);
  void TemplatePatch(const std::string& result);
  // Counts one audited pod of `ns` (AuditOutcome::kNone is not counted).
  void AuditedPod(const std::string& ns, AuditOutcome outcome);
  // archway_webhook_connections_total{listener=`listener`} is read from `count` when scraped
  // (the server keeps the count). Call before serving.
  void CountConnections(std::string listener, std::function<uint64_t()> count);

  // Text exposition format (what GET /metrics answers).
  std::string Serialize() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::webhook

// Audit mode (config `mode: audit`): rolling archway into a running cluster without
// enforcing anything yet. Every pod is decided exactly as in enforce mode (decision.h);
// then AuditDecision() keeps only what tells, and drops everything the scheduler reads:
//
//  - the annotation archway.dev/would-require, when enforce would have constrained the
//    pod: the node requirement enforce would have ANDed into each of its required
//    nodeSelectorTerms, written as a Kubernetes label selector, e.g.
//        kubernetes.io/os in (linux),kubernetes.io/arch in (amd64,arm64)
//    so that `kubectl get nodes -l "<value>"` lists the nodes the pod could run on.
//    Images for several OSes give one selector per OS, joined by " OR " (the terms a
//    node must match one of). A pod whose images share no platform (policy pending) reads
//    `archway.dev/no-common-platform`: no node has that label;
//  - warnings: enforce's own ones marked as not enforced, plus one naming the requirement
//    (kubectl prints them when the pod is created);
//  - the outcome for archway_audit_pods_total{namespace,outcome} (the admitter counts
//    it; dry runs are not counted).
//
// Dropped: the node affinity, archway.dev/platforms and archway.dev/skipped-reason,
// labels, scheduling gates (a look-up that misses the budget in audit mode never gates
// a pod: it is admitted as it is), Events, and a denial (policy deny): the pod is
// admitted, with a warning that enforce would have refused it.
#pragma once

#include <string>

#include "webhook/decision.h"

namespace archway::webhook {

inline constexpr const char* kWouldRequireAnnotation = "archway.dev/would-require";

// What an audited pod counts as in archway_audit_pods_total.
enum class AuditOutcome {
  kNone,              // enforce would have changed nothing the scheduler reads
  kConstrained,       // enforce would have added a platform affinity
  kNoCommonPlatform,  // the images share no platform (whatever the policy would have done)
};

// "constrained", "no_common_platform" ("" for kNone: not counted).
const char* AuditOutcomeName(AuditOutcome outcome);

// The label-selector text of the required node affinity `mutation` adds (above); "" when
// it adds none.
std::string WouldRequire(const Mutation& mutation);

struct AuditedDecision {
  Decision decision;  // what is answered: only the annotation and warnings (never denied)
  AuditOutcome outcome = AuditOutcome::kNone;
};

// The audit-mode answer for what enforce mode decided. The result is kept (so
// archway_admission_requests_total still says what was decided), but kDenied becomes
// kNoCommonPlatform: the pod is admitted.
AuditedDecision AuditDecision(const Decision& enforced);

}  // namespace archway::webhook

// The node labeler's reconcile: read this node, plan its archway.dev labels from its
// facts (labels.h), and patch exactly the labels that differ. Level-based and
// idempotent: a Node that already carries the right labels costs one GET and no write.
//
// Requests per Reconcile(): GET /api/v1/nodes/<name>, then at most one PATCH of the same
// Node (application/merge-patch+json touching only metadata.labels keys of LabelPlan).
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "kube/client.h"
#include "nodeinfo/facts.h"
#include "nodeinfo/labels.h"

namespace archway::nodeinfo {

// Produces the facts for a node whose kubernetes.io/arch is `node_arch` (from the Node;
// "" when it has none). GatherLocalFacts in production, recorded facts in tests.
using FactsSource = std::function<NodeFacts(const std::string& node_arch)>;

struct ReconcileOutcome {
  NodeFacts facts{};
  LabelPlan plan{};
  nlohmann::json patch{};  // what was sent (or would be, with dry_run); null when nothing
  bool written = false;
};

// kNotFound / kForbidden / ... with messages naming the node and what to check.
Result<ReconcileOutcome> Reconcile(kube::Client& client, const std::string& node_name, const FactsSource& facts,
                                   bool dry_run = false);

// A DNS-1123 subdomain, as Node names are: "" when `name` is one, else why not.
std::string NodeNameProblem(const std::string& name);

}  // namespace archway::nodeinfo

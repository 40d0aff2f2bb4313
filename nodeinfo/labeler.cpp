#include "nodeinfo/labeler.h"

#include "kube/errors.h"

namespace archway::nodeinfo {
namespace {

constexpr char kArchLabel[] = "kubernetes.io/arch";

// The kube client's message ("nodes pi4: ... (HTTP 403 Forbidden)") with what to check.
Error Explain(const Error& error, const char* verb) {
  std::string hint;
  switch (error.code) {
    case ErrorCode::kNotFound:
      hint = ": no such Node; the labeler takes its node's name from NODE_NAME (the downward API's "
             "spec.nodeName) or --node-name";
      break;
    case ErrorCode::kForbidden:
      if (error.message.find("ValidatingAdmissionPolicy") != std::string::npos ||
          error.message.find("admission webhook") != std::string::npos) {
        hint = ": refused by admission; the chart's policy lets this ServiceAccount change only the "
               "archway.dev labels (and, on Kubernetes >= 1.30, only on the Node its pod runs on)";
      } else {
        hint = std::string(": the labeler's ServiceAccount may not ") + verb +
               " Nodes; it needs get and patch on nodes, which the chart's ClusterRole grants";
      }
      break;
    case ErrorCode::kUnauthorized:
      hint = ": the API did not accept the credentials (service-account token or kubeconfig)";
      break;
    default:
      break;
  }
  return Error(error.code, std::string("cannot ") + verb + " its Node: " + error.message + hint);
}

}  // namespace

std::string NodeNameProblem(const std::string& name) {
  if (name.empty()) return "empty";
  if (name.size() > 253) return "longer than 253 characters";
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (i == label_start) return "has an empty part between dots";
      if (name[label_start] == '-' || name[i - 1] == '-') return "has a part starting or ending with '-'";
      label_start = i + 1;
      continue;
    }
    const char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return std::string("has the character '") + c + "' (Node names are lower-case letters, digits, '-' and '.')";
    }
  }
  return "";
}

Result<ReconcileOutcome> Reconcile(kube::Client& client, const std::string& node_name, const FactsSource& facts,
                                   bool dry_run) {
  if (std::string problem = NodeNameProblem(node_name); !problem.empty()) {
    return Error(ErrorCode::kInvalidArgument, "node name \"" + node_name + "\" " + problem);
  }
  auto node = client.Get(kube::resources::kNodes, "", node_name);
  if (!node.ok()) return Explain(node.error(), "get");
  const nlohmann::json& metadata = (*node)["metadata"];
  nlohmann::json labels = metadata.is_object() && metadata.contains("labels") ? metadata["labels"] : nlohmann::json();
  std::string arch;
  if (labels.is_object() && labels.contains(kArchLabel) && labels[kArchLabel].is_string()) {
    arch = labels[kArchLabel].get<std::string>();
  }

  ReconcileOutcome outcome;
  outcome.facts = facts(arch);
  outcome.plan = PlanLabels(outcome.facts);
  outcome.patch = LabelPatch(labels, outcome.plan);
  if (outcome.patch.is_null() || dry_run) return outcome;
  auto patched = client.Patch(kube::resources::kNodes, "", node_name, kube::PatchType::kMerge, outcome.patch);
  if (!patched.ok()) return Explain(patched.error(), "patch");
  outcome.written = true;
  return outcome;
}

}  // namespace archway::nodeinfo

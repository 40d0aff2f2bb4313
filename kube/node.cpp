#include "kube/node.h"

namespace archway::kube {

std::string NodeState::Label(const std::string& key) const {
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}

NodeState ReadNode(const Json& node) {
  NodeState state;
  state.name = NameOf(node);
  state.labels = LabelsOf(node);
  auto ready = ConditionOf(node, "Ready");
  state.ready = ready && ready->status == "True";
  state.unschedulable = BoolAt(node, {"spec", "unschedulable"}).value_or(false);
  return state;
}

}  // namespace archway::kube

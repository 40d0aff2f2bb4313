// A Node as placement decisions read it: its labels, whether its kubelet reports Ready,
// and whether it is cordoned. Read without exceptions (object.h): a Node of an odd shape
// reads as not Ready.
#pragma once

#include <map>
#include <string>

#include "kube/object.h"

namespace archway::kube {

inline constexpr const char* kOsLabel = "kubernetes.io/os";
inline constexpr const char* kArchLabel = "kubernetes.io/arch";

struct NodeState {
  std::string name;
  std::map<std::string, std::string> labels;
  bool ready = false;          // the Ready condition is "True"
  bool unschedulable = false;  // spec.unschedulable: cordoned, takes no new pods

  std::string Label(const std::string& key) const;
  bool operator==(const NodeState&) const = default;
};

NodeState ReadNode(const Json& node);

}  // namespace archway::kube

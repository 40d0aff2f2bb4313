// The platforms `archway check` judges workloads against: a list the user gives
// (--platforms linux/amd64,linux/arm64,linux/arm/v7), or the platforms of a cluster's
// Ready nodes, as the webhook's node check sees them (kubernetes.io/os and
// kubernetes.io/arch labels), with a 32-bit arm node's variant from the node labeler's
// archway.dev/arm-variant label (without it, containerd's default for arm: v7).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "kube/client.h"
#include "registry/platform.h"

namespace archway::check {

// Comma-separated os/arch[/variant] entries, normalised, each once, in the order given.
// kInvalidArgument naming the entry that does not parse, or for an empty list.
Result<std::vector<registry::Platform>> ParsePlatformList(std::string_view text);

struct ClusterPlatforms {
  std::vector<registry::Platform> platforms;  // of the Ready nodes, sorted, each once
  std::map<std::string, int> ready_nodes;     // by platform ("linux/arm64" -> 2)
  int not_ready = 0;                          // nodes left out: not Ready
  int unlabelled = 0;                         // Ready nodes without kubernetes.io/arch or os
};

// From Node objects (kube/node.h reads them).
ClusterPlatforms PlatformsOfNodes(const std::vector<nlohmann::json>& nodes);

// Lists the cluster's Nodes (every page). Errors say which call failed and why.
Result<ClusterPlatforms> ReadyNodePlatforms(kube::Client& client);

}  // namespace archway::check

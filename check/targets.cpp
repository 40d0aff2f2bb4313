#include "check/targets.h"

#include <algorithm>

#include "kube/node.h"
#include "nodeinfo/labels.h"

namespace archway::check {

Result<std::vector<registry::Platform>> ParsePlatformList(std::string_view text) {
  std::vector<registry::Platform> platforms;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view entry = text.substr(start, comma - start);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (!entry.empty()) {
      auto platform = registry::ParsePlatform(entry);
      if (!platform.ok()) {
        return Error(ErrorCode::kInvalidArgument,
                     "platform \"" + std::string(entry) + "\": expected os/arch[/variant], e.g. linux/arm64");
      }
      if (std::find(platforms.begin(), platforms.end(), *platform) == platforms.end()) platforms.push_back(*platform);
    }
    start = comma + 1;
  }
  if (platforms.empty()) return Error(ErrorCode::kInvalidArgument, "no platform given");
  return platforms;
}

ClusterPlatforms PlatformsOfNodes(const std::vector<nlohmann::json>& nodes) {
  ClusterPlatforms out;
  for (const auto& object : nodes) {
    const kube::NodeState node = kube::ReadNode(object);
    if (!node.ready) {
      ++out.not_ready;
      continue;
    }
    registry::Platform platform;
    platform.os = node.Label(kube::kOsLabel);
    platform.architecture = node.Label(kube::kArchLabel);
    if (platform.os.empty() || platform.architecture.empty()) {
      ++out.unlabelled;
      continue;
    }
    if (platform.architecture == "arm") platform.variant = node.Label(nodeinfo::kArmVariantLabel);
    platform = registry::Normalize(platform);
    ++out.ready_nodes[platform.String()];
    if (std::find(out.platforms.begin(), out.platforms.end(), platform) == out.platforms.end()) {
      out.platforms.push_back(platform);
    }
  }
  std::sort(out.platforms.begin(), out.platforms.end());
  return out;
}

Result<ClusterPlatforms> ReadyNodePlatforms(kube::Client& client) {
  auto nodes = kube::ListAll(client, kube::resources::kNodes, "", kube::ListOptions{.limit = 500});
  if (!nodes.ok()) return nodes.error().Wrap("listing the cluster's Nodes");
  return PlatformsOfNodes(nodes->items);
}

}  // namespace archway::check

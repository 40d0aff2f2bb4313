// What the webhook needs from the cluster, as small interfaces: pull-secret credentials
// and the Node inventory (both from watch caches, never a request per pod), and Events.
// kube_cluster.h implements them over kube/ informers; without an API server the webhook
// runs with none of them (pull secrets and the node check off).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/object.h"
#include "registry/credentials.h"
#include "webhook/decision.h"

namespace archway::webhook {

class PullSecretSource {
 public:
  virtual ~PullSecretSource() = default;
  // Credentials of the named kubernetes.io/dockerconfigjson (or dockercfg) Secrets of
  // `ns`, earlier names winning, over the global pull secret. Missing secrets are skipped
  // (the kubelet does the same). nullptr when there are no credentials at all.
  virtual std::shared_ptr<const registry::Keychain> KeychainFor(const std::string& ns,
                                                                const std::vector<std::string>& names) const = 0;
  virtual bool HasSynced() const = 0;
};

// A node as a DaemonSet's affinity is matched against it.
struct NodeLabels {
  std::string name;
  std::map<std::string, std::string> labels;
};

class NodeInventory {
 public:
  virtual ~NodeInventory() = default;
  // Platforms (kubernetes.io/os + kubernetes.io/arch labels) of the nodes whose Ready
  // condition is True; nullopt until the cache has synced.
  virtual std::optional<std::set<OsArch>> ReadyPlatforms() const = 0;
  // The platform of one node, if known.
  virtual std::optional<OsArch> PlatformOf(const std::string& node_name) const = 0;
  // The Ready nodes with their labels (to count the nodes a DaemonSet's template skips);
  // empty until the cache has synced, and from an inventory that keeps no labels.
  virtual std::vector<NodeLabels> ReadyNodes() const { return {}; }
  // The archway.dev/arm-variant values of all nodes (`archway node-labeler` sets them;
  // empty when it is not installed); nullopt until the cache has synced.
  virtual std::optional<std::set<std::string>> ArmVariantLabels() const = 0;
  virtual bool HasSynced() const = 0;
};

class PodEventSink {
 public:
  virtual ~PodEventSink() = default;
  // A Warning Event about a pod being created (best effort; may block on the network,
  // so callers run it off the request path).
  virtual void Warn(const std::string& ns, const std::string& pod_name, const std::string& reason,
                    const std::string& note) = 0;
  // The same about the controller of a pod that has no name yet (a ReplicaSet's, a Job's:
  // kube/events.h needs a name), from the pod's ownerReferences.
  virtual void WarnController(const std::string& ns, const kube::OwnerReference& controller, const std::string& reason,
                              const std::string& note) = 0;
};

}  // namespace archway::webhook

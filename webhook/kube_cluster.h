// The cluster view over kube/ informers: pull secrets (only Secrets of type
// kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg are listed and watched, never
// other Secrets), Nodes, Namespaces (their cache keeps only each name and its
// archway.dev/preferred-platforms annotation), and Events through the API. Secrets are
// parsed into keychains, and annotations into preferred platforms, when they change, not
// per pod; an annotation that does not parse is logged and counted when a Namespace takes
// that value (not again while it keeps it).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "kube/client.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "webhook/cluster.h"
#include "webhook/config.h"
#include "webhook/metrics.h"
#include "webhook/namespace_preferences.h"

namespace archway::webhook {

class KubeCluster : public PullSecretSource, public NodeInventory, public NamespacePreferences, public PodEventSink {
 public:
  // `client` (and `metrics`, which may be null) must outlive this object. `global_secret` may be empty.
  KubeCluster(kube::Client& client, SecretRef global_secret, std::string instance, Metrics* metrics = nullptr);
  ~KubeCluster() override;

  void Start();
  void Stop();
  // Every cache has listed once.
  bool HasSynced() const override;
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  std::shared_ptr<const registry::Keychain> KeychainFor(const std::string& ns,
                                                        const std::vector<std::string>& names) const override;
  std::optional<std::set<OsArch>> ReadyPlatforms() const override;
  std::optional<OsArch> PlatformOf(const std::string& node_name) const override;
  std::vector<NodeLabels> ReadyNodes() const override;
  std::optional<std::set<std::string>> ArmVariantLabels() const override;
  std::shared_ptr<const NamespacePreferredPlatforms> PreferredPlatformsOf(const std::string& ns) const override;
  void Warn(const std::string& ns, const std::string& pod_name, const std::string& reason,
            const std::string& note) override;
  void WarnController(const std::string& ns, const kube::OwnerReference& controller, const std::string& reason,
                      const std::string& note) override;

 private:
  struct NodeInfo {
    OsArch platform;
    bool ready = false;
    std::map<std::string, std::string> labels;
    std::string arm_variant;  // archway.dev/arm-variant
  };
  void PutSecret(const kube::Json& secret);
  void DeleteSecret(const kube::Json& secret);
  void PutNode(const kube::Json& node);
  void DeleteNode(const kube::Json& node);
  void PutNamespace(const kube::Json& ns);
  void DeleteNamespace(const kube::Json& ns);

  SecretRef global_secret_;
  kube::Informer dockerconfigjson_secrets_;
  kube::Informer dockercfg_secrets_;
  kube::Informer nodes_;
  kube::Informer namespaces_;
  Metrics* metrics_;
  std::mutex events_mu_;
  kube::EventRecorder events_;

  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const registry::Keychain>> keychains_;  // "ns/name"
  std::map<std::string, NodeInfo> node_info_;
  // Namespaces that carry archway.dev/preferred-platforms, by name.
  std::map<std::string, std::shared_ptr<const NamespacePreferredPlatforms>> preferred_platforms_;
};

}  // namespace archway::webhook

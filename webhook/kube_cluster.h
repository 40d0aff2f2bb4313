// The cluster view over kube/ informers: pull secrets (only Secrets of type
// kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg are listed and watched, never
// other Secrets), Nodes, and Events through the API. Secrets are parsed into keychains when
// they change, not per pod.
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

namespace archway::webhook {

class KubeCluster : public PullSecretSource, public NodeInventory, public PodEventSink {
 public:
  // `client` must outlive this object. `global_secret` may be empty.
  KubeCluster(kube::Client& client, SecretRef global_secret, std::string instance);
  ~KubeCluster() override;

  void Start();
  void Stop();
  // Both caches have listed once.
  bool HasSynced() const override;
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  std::shared_ptr<const registry::Keychain> KeychainFor(const std::string& ns,
                                                        const std::vector<std::string>& names) const override;
  std::optional<std::set<OsArch>> ReadyPlatforms() const override;
  std::optional<OsArch> PlatformOf(const std::string& node_name) const override;
  std::vector<NodeLabels> ReadyNodes() const override;
  std::optional<std::set<std::string>> ArmVariantLabels() const override;
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

  SecretRef global_secret_;
  kube::Informer dockerconfigjson_secrets_;
  kube::Informer dockercfg_secrets_;
  kube::Informer nodes_;
  std::mutex events_mu_;
  kube::EventRecorder events_;

  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const registry::Keychain>> keychains_;  // "ns/name"
  std::map<std::string, NodeInfo> node_info_;
};

}  // namespace archway::webhook

// Addressing API resources: which group/version/plural, and the URL paths for them.
#pragma once

#include <string>

namespace archway::kube {

struct ResourceRef {
  std::string group{};     // "" for core
  std::string version{};   // "v1"
  std::string resource{};  // plural, lower case: "secrets"
  std::string kind{};      // "Secret" (used for Events' `regarding` and for the fake's shapes)
  bool namespaced = true;

  // "v1" or "batch/v1": the apiVersion of objects of this resource.
  std::string ApiVersion() const;
  // /api/v1 or /apis/<group>/<version>
  std::string GroupVersionPath() const;
  // Collection path: .../namespaces/<ns>/<resource> or .../<resource> (ns "" on a namespaced
  // resource = all namespaces).
  std::string CollectionPath(const std::string& ns) const;
  // Object path: CollectionPath(ns)/<name>[/<subresource>].
  std::string ObjectPath(const std::string& ns, const std::string& name,
                         const std::string& subresource = "") const;
};

// The built-in resources archway uses (its own, MultiArchImage, is defined in operator/spec.h).
namespace resources {
extern const ResourceRef kSecrets;          // v1 secrets
extern const ResourceRef kNodes;            // v1 nodes (cluster-scoped)
extern const ResourceRef kPods;             // v1 pods
extern const ResourceRef kNamespaces;       // v1 namespaces (cluster-scoped)
extern const ResourceRef kCoreEvents;       // v1 events
extern const ResourceRef kEvents;           // events.k8s.io/v1 events
extern const ResourceRef kJobs;             // batch/v1 jobs
extern const ResourceRef kReplicaSets;      // apps/v1 replicasets
extern const ResourceRef kLeases;           // coordination.k8s.io/v1 leases
extern const ResourceRef kDaemonSets;       // apps/v1 daemonsets
}  // namespace resources

}  // namespace archway::kube

#include "kube/resource.h"

namespace archway::kube {

std::string ResourceRef::ApiVersion() const { return group.empty() ? version : group + "/" + version; }

std::string ResourceRef::GroupVersionPath() const {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

std::string ResourceRef::CollectionPath(const std::string& ns) const {
  if (namespaced && !ns.empty()) return GroupVersionPath() + "/namespaces/" + ns + "/" + resource;
  return GroupVersionPath() + "/" + resource;
}

std::string ResourceRef::ObjectPath(const std::string& ns, const std::string& name,
                                    const std::string& subresource) const {
  std::string path = CollectionPath(ns) + "/" + name;
  if (!subresource.empty()) path += "/" + subresource;
  return path;
}

namespace resources {
const ResourceRef kSecrets{"", "v1", "secrets", "Secret", true};
const ResourceRef kNodes{"", "v1", "nodes", "Node", false};
const ResourceRef kPods{"", "v1", "pods", "Pod", true};
const ResourceRef kNamespaces{"", "v1", "namespaces", "Namespace", false};
const ResourceRef kCoreEvents{"", "v1", "events", "Event", true};
const ResourceRef kEvents{"events.k8s.io", "v1", "events", "Event", true};
const ResourceRef kJobs{"batch", "v1", "jobs", "Job", true};
const ResourceRef kReplicaSets{"apps", "v1", "replicasets", "ReplicaSet", true};
const ResourceRef kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
const ResourceRef kDaemonSets{"apps", "v1", "daemonsets", "DaemonSet", true};
}  // namespace resources

}  // namespace archway::kube

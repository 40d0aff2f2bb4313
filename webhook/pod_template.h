// Where each workload kind keeps the pod it creates: the JSON Pointer of its pod (a Pod's
// own root, a controller's pod template), which is what patch.h's PatchTarget takes.
//
//   Pod                                                   ""
//   Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,  "/spec/template"
//   ReplicationController
//   CronJob                                               "/spec/jobTemplate/spec/template"
//
// Deployments, ReplicaSets and DaemonSets are also recognised in the retired extensions
// group, and CronJobs in batch/v1beta1 (same paths): old manifests still circulate. The
// version is not looked at; the paths have not changed between versions.
#pragma once

#include <string_view>

namespace archway::webhook {

struct WorkloadKind {
  std::string_view group;     // "" (core), "apps", "batch", "extensions"
  std::string_view kind;      // "Deployment"
  std::string_view pod_path;  // JSON Pointer of the pod in an object of this kind
};

// The kind of `api_version` ("apps/v1", "v1") and `kind`, or nullptr when no pod lives in
// objects of it (a Service, a ConfigMap, a custom resource).
const WorkloadKind* FindWorkloadKind(std::string_view api_version, std::string_view kind);

// The group of an apiVersion: "apps/v1" -> "apps", "v1" -> "".
std::string_view ApiGroup(std::string_view api_version);

}  // namespace archway::webhook

#include "webhook/pod_template.h"

#include <array>

namespace archway::webhook {
namespace {

constexpr std::string_view kPod = "";
constexpr std::string_view kTemplate = "/spec/template";
constexpr std::string_view kJobTemplate = "/spec/jobTemplate/spec/template";

constexpr std::array<WorkloadKind, 11> kKinds{{
    {"", "Pod", kPod},
    {"apps", "Deployment", kTemplate},
    {"apps", "ReplicaSet", kTemplate},
    {"apps", "StatefulSet", kTemplate},
    {"apps", "DaemonSet", kTemplate},
    {"batch", "Job", kTemplate},
    {"batch", "CronJob", kJobTemplate},
    {"extensions", "Deployment", kTemplate},
    {"extensions", "ReplicaSet", kTemplate},
    {"extensions", "DaemonSet", kTemplate},
    {"", "ReplicationController", kTemplate},
}};

}  // namespace

std::string_view ApiGroup(std::string_view api_version) {
  const auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

const WorkloadKind* FindWorkloadKind(std::string_view api_version, std::string_view kind) {
  const std::string_view group = ApiGroup(api_version);
  for (const WorkloadKind& known : kKinds) {
    if (known.group == group && known.kind == kind) return &known;
  }
  return nullptr;
}

}  // namespace archway::webhook

#include "webhook/kube_daemonsets.h"

#include "base/log.h"
#include "kube/object.h"
#include "kube/resource.h"

namespace archway::webhook {

KubeDaemonSets::KubeDaemonSets(kube::Client& client, std::string instance)
    : client_(client), events_(client, kube::EventSource{"archway.dev/webhook", std::move(instance)}) {}

Result<Json> KubeDaemonSets::Get(const std::string& ns, const std::string& name) {
  return client_.Get(kube::resources::kDaemonSets, ns, name);
}

Status KubeDaemonSets::Patch(const std::string& ns, const std::string& name, const std::string& json_patch) {
  const Json patch = Json::parse(json_patch, nullptr, false);
  if (patch.is_discarded()) return Error(ErrorCode::kInternal, "the template patch is not JSON");
  auto patched = client_.Patch(kube::resources::kDaemonSets, ns, name, kube::PatchType::kJson, patch);
  if (!patched.ok()) return patched.error();
  return Status::Ok();
}

Status KubeDaemonSets::RecordEvent(const Json& daemon_set, const std::string& type, const std::string& reason,
                                   const std::string& note) {
  const Json regarding = {
      {"apiVersion", kube::resources::kDaemonSets.ApiVersion()},
      {"kind", kube::resources::kDaemonSets.kind},
      {"metadata",
       {{"name", kube::NameOf(daemon_set)}, {"namespace", kube::NamespaceOf(daemon_set)}, {"uid", kube::UidOf(daemon_set)}}}};
  Status s = events_.Record(regarding, type, reason, reason, note);
  if (!s.ok()) {
    log::Warn("event not recorded", {{"daemonset", kube::NamespaceOf(daemon_set) + "/" + kube::NameOf(daemon_set)},
                                     {"error", s.error().message}});
  }
  return s;
}

}  // namespace archway::webhook

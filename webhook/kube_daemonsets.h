// DaemonSetApi (template_patcher.h) over kube::Client: GET and JSON Patch of apps/v1
// DaemonSets, which is all the chart's role grants on them, and Events about them
// (kube/events.h, reporting controller archway.dev/webhook).
#pragma once

#include <string>

#include "kube/client.h"
#include "kube/events.h"
#include "webhook/template_patcher.h"

namespace archway::webhook {

class KubeDaemonSets : public DaemonSetApi {
 public:
  // `client` must outlive this object; `instance` names the reporting instance (the pod).
  KubeDaemonSets(kube::Client& client, std::string instance);

  Result<Json> Get(const std::string& ns, const std::string& name) override;
  Status Patch(const std::string& ns, const std::string& name, const std::string& json_patch) override;
  Status RecordEvent(const Json& daemon_set, const std::string& type, const std::string& reason,
                     const std::string& note) override;

 private:
  kube::Client& client_;
  kube::EventRecorder events_;
};

}  // namespace archway::webhook

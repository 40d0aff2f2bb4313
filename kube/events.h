// Recording Events about objects (what `kubectl describe` shows). Uses events.k8s.io/v1
// and falls back to core v1 Events when the former is not served (404). Recording is
// best effort: failures are logged, returned, and never retried in a loop.
#pragma once

#include <atomic>
#include <string>

#include "kube/client.h"

namespace archway::kube {

struct EventSource {
  std::string reporting_controller{};  // "archway.dev/operator"
  std::string reporting_instance{};    // pod name
};

class EventRecorder {
 public:
  EventRecorder(Client& client, EventSource source);

  // `regarding` is the object the event is about (needs apiVersion, kind, metadata
  // name/namespace/uid). `type` "Normal" or "Warning"; `reason` UpperCamelCase;
  // `action` what was done ("Publish"); `note` a human sentence (truncated to 1 kB).
  // `event_name` names the Event when not "" (otherwise "<object name>.<time in hex>"):
  // recording a name again answers the API's AlreadyExists instead of a second Event.
  Status Record(const Json& regarding, const std::string& type, const std::string& reason,
                const std::string& action, const std::string& note, const std::string& event_name = "");

  Status Normal(const Json& regarding, const std::string& reason, const std::string& note) {
    return Record(regarding, "Normal", reason, reason, note);
  }
  Status Warning(const Json& regarding, const std::string& reason, const std::string& note) {
    return Record(regarding, "Warning", reason, reason, note);
  }

 private:
  Client& client_;
  EventSource source_;
  std::atomic<bool> use_core_v1_{false};  // set after events.k8s.io answered 404
};

}  // namespace archway::kube

#include "kube/events.h"

#include <chrono>
#include <cstdio>

#include "base/log.h"
#include "base/utf8.h"
#include "kube/object.h"
#include "kube/time.h"

namespace archway::kube {
namespace {

// At most 1 kB: the API's limit on a note.
std::string BoundedNote(const std::string& note) { return ShortenUtf8(note, 1024); }

}  // namespace

EventRecorder::EventRecorder(Client& client, EventSource source) : client_(client), source_(std::move(source)) {}

Status EventRecorder::Record(const Json& regarding, const std::string& type, const std::string& reason,
                             const std::string& action, const std::string& note, const std::string& event_name) {
  const std::string name = NameOf(regarding);
  if (name.empty()) return Error(ErrorCode::kInvalidArgument, "event: the regarding object has no name");
  std::string ns = NamespaceOf(regarding);
  if (ns.empty()) ns = "default";  // events about cluster-scoped objects live in "default"
  const auto now = std::chrono::system_clock::now();
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%llx",
                static_cast<unsigned long long>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count()));
  const std::string object_name = event_name.empty() ? name + suffix : event_name;
  std::string text = BoundedNote(note);

  Json ref = {{"apiVersion", StringAt(regarding, {"apiVersion"}).value_or("")},
              {"kind", StringAt(regarding, {"kind"}).value_or("")},
              {"name", name}};
  if (!NamespaceOf(regarding).empty()) ref["namespace"] = ns;
  if (auto uid = UidOf(regarding); !uid.empty()) ref["uid"] = uid;
  if (auto rv = StringAt(regarding, {"metadata", "resourceVersion"}).value_or(""); !rv.empty()) ref["resourceVersion"] = rv;

  if (!use_core_v1_) {
    Json event = {{"apiVersion", "events.k8s.io/v1"},
                  {"kind", "Event"},
                  {"metadata", {{"name", object_name}, {"namespace", ns}}},
                  {"eventTime", FormatMicroTime(now)},
                  {"reportingController", source_.reporting_controller},
                  {"reportingInstance", source_.reporting_instance},
                  {"action", action},
                  {"reason", reason},
                  {"regarding", ref},
                  {"note", text},
                  {"type", type}};
    auto created = client_.Create(resources::kEvents, ns, event);
    if (created.ok()) return Status::Ok();
    // A 404 for the whole group (not served): fall back to core v1 from now on.
    if (!IsNotFound(created.error())) {
      if (!event_name.empty() && IsAlreadyExists(created.error())) return created.error();  // recorded before
      log::Warn("event not recorded", {{"reason", reason}, {"object", ns + "/" + name}, {"error", created.error().message}});
      return created.error();
    }
    use_core_v1_ = true;
  }
  const std::string stamp = FormatTime(now);
  Json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", object_name}, {"namespace", ns}}},
                {"involvedObject", ref},
                {"reason", reason},
                {"message", text},
                {"type", type},
                {"source", {{"component", source_.reporting_controller}}},
                {"firstTimestamp", stamp},
                {"lastTimestamp", stamp},
                {"count", 1},
                {"action", action},
                {"reportingComponent", source_.reporting_controller},
                {"reportingInstance", source_.reporting_instance}};
  auto created = client_.Create(resources::kCoreEvents, ns, event);
  if (!created.ok()) {
    if (!event_name.empty() && IsAlreadyExists(created.error())) return created.error();
    log::Warn("event not recorded", {{"reason", reason}, {"object", ns + "/" + name}, {"error", created.error().message}});
    return created.error();
  }
  return Status::Ok();
}

}  // namespace archway::kube

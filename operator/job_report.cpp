#include "operator/job_report.h"

#include <algorithm>
#include <string>

#include "kube/object.h"

namespace archway::op {
namespace {

// The terminated state of container `name` in `statuses_key` (state, else lastState).
const nlohmann::json* Terminated(const nlohmann::json& pod, const char* statuses_key, const std::string& name) {
  const nlohmann::json* statuses = kube::ArrayAt(pod, {"status", statuses_key});
  if (statuses == nullptr) return nullptr;
  for (const auto& s : *statuses) {
    if (kube::StringAt(s, {"name"}) != name) continue;
    if (const nlohmann::json* t = kube::ObjectAt(s, {"state", "terminated"})) return t;
    return kube::ObjectAt(s, {"lastState", "terminated"});
  }
  return nullptr;
}

}  // namespace

JobReport ReadJobReport(const std::vector<nlohmann::json>& pods) {
  JobReport report;
  std::vector<const nlohmann::json*> newest_first;
  for (const auto& pod : pods) newest_first.push_back(&pod);
  std::stable_sort(newest_first.begin(), newest_first.end(), [](const nlohmann::json* a, const nlohmann::json* b) {
    // RFC 3339 timestamps of one format sort as text.
    return kube::StringAt(*a, {"metadata", "creationTimestamp"}).value_or("") >
           kube::StringAt(*b, {"metadata", "creationTimestamp"}).value_or("");
  });
  report.found = !newest_first.empty();
  if (report.found) report.node = kube::StringAt(*newest_first.front(), {"spec", "nodeName"}).value_or("");
  for (const nlohmann::json* pod : newest_first) {
    const nlohmann::json* build = Terminated(*pod, "containerStatuses", "build");
    if (report.build_message.empty() && build != nullptr && kube::IntAt(*build, {"exitCode"}) == 0) {
      report.build_message = kube::StringAt(*build, {"message"}).value_or("");
      report.node = kube::StringAt(*pod, {"spec", "nodeName"}).value_or("");
    }
    const nlohmann::json* check = Terminated(*pod, "initContainerStatuses", "emulation-check");
    if (report.emulation_message.empty() && check != nullptr && kube::IntAt(*check, {"exitCode"}).value_or(0) != 0)
      report.emulation_message = kube::StringAt(*check, {"message"}).value_or("");
  }
  return report;
}

}  // namespace archway::op

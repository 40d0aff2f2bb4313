#include "operator/status.h"

namespace archway::op {

std::pair<std::string, std::string> ReadyConditionOf(const Json& status) {
  if (!status.is_object() || !status.contains("conditions") || !status["conditions"].is_array()) return {};
  for (const auto& c : status["conditions"]) {
    if (c.is_object() && c.value("type", "") == "Ready") return {c.value("status", ""), c.value("reason", "")};
  }
  return {};
}

static std::string OldTransitionTime(const Json& status, const std::string& wanted_status) {
  if (!status.is_object() || !status.contains("conditions") || !status["conditions"].is_array()) return "";
  for (const auto& c : status["conditions"]) {
    if (c.is_object() && c.value("type", "") == "Ready" && c.value("status", "") == wanted_status)
      return c.value("lastTransitionTime", "");
  }
  return "";
}

Json RenderStatus(const DesiredStatus& desired, const Json& old_status, int64_t generation, const std::string& now) {
  Json status = Json::object();
  status["observedGeneration"] = generation;
  status["phase"] = desired.phase;
  if (!desired.digest.empty()) status["digest"] = desired.digest;
  Json platforms = Json::array();
  for (const auto& p : desired.platforms) {
    Json e = {{"platform", p.platform}};
    if (!p.digest.empty()) e["digest"] = p.digest;
    if (!p.source.empty()) e["source"] = p.source;
    if (!p.job.empty()) e["job"] = p.job;
    if (!p.state.empty()) e["state"] = p.state;
    if (!p.message.empty()) e["message"] = p.message;
    platforms.push_back(e);
  }
  status["platforms"] = platforms;
  const std::string ready = desired.ready ? "True" : "False";
  std::string transition = OldTransitionTime(old_status, ready);
  if (transition.empty()) transition = now;
  Json condition = {{"type", "Ready"},
                    {"status", ready},
                    {"reason", desired.reason},
                    {"message", desired.message},
                    {"observedGeneration", generation},
                    {"lastTransitionTime", transition}};
  status["conditions"] = Json::array({condition});
  return status;
}

std::vector<PlatformStatus> ParsePlatformStatuses(const Json& status) {
  std::vector<PlatformStatus> out;
  if (!status.is_object() || !status.contains("platforms") || !status["platforms"].is_array()) return out;
  for (const auto& e : status["platforms"]) {
    if (!e.is_object()) continue;
    PlatformStatus p;
    p.platform = e.value("platform", "");
    p.digest = e.value("digest", "");
    p.source = e.value("source", "");
    p.job = e.value("job", "");
    p.state = e.value("state", "");
    p.message = e.value("message", "");
    out.push_back(p);
  }
  return out;
}

}  // namespace archway::op

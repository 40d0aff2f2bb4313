#include "operator/status.h"

namespace archway::op {
namespace {

PlatformStatus ReadPlatformStatus(const Json& entry) {
  auto field = [&](const char* key) { return kube::StringAt(entry, {key}).value_or(""); };
  return PlatformStatus{field("platform"), field("digest"), field("source"),
                        field("job"),      field("state"),  field("message")};
}

}  // namespace

const PlatformStatus* ObservedStatus::FindPlatform(const std::string& platform) const {
  for (const auto& entry : platforms) {
    if (entry.platform == platform) return &entry;
  }
  return nullptr;
}

ObservedStatus ReadObservedStatus(const Json& object) {
  ObservedStatus observed;
  const Json* status = kube::ObjectAt(object, {"status"});
  if (status == nullptr) return observed;
  observed.stored = *status;
  observed.observed_generation = kube::IntAt(*status, {"observedGeneration"}).value_or(0);
  observed.phase = kube::StringAt(*status, {"phase"}).value_or("");
  observed.digest = kube::StringAt(*status, {"digest"}).value_or("");
  if (const Json* platforms = kube::ArrayAt(*status, {"platforms"})) {
    for (const Json& entry : *platforms) {
      PlatformStatus p = ReadPlatformStatus(entry);
      if (!p.platform.empty()) observed.platforms.push_back(std::move(p));
    }
  }
  observed.ready = kube::ConditionOf(object, "Ready").value_or(kube::Condition{});
  return observed;
}

Json RenderStatus(const DesiredStatus& desired, const ObservedStatus& observed, int64_t generation,
                  const std::string& now) {
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
  const bool unchanged = observed.ready.status == ready && !observed.ready.last_transition_time.empty();
  Json condition = {{"type", "Ready"},
                    {"status", ready},
                    {"reason", desired.reason},
                    {"message", desired.message},
                    {"observedGeneration", generation},
                    {"lastTransitionTime", unchanged ? observed.ready.last_transition_time : now}};
  status["conditions"] = Json::array({condition});
  return status;
}

}  // namespace archway::op

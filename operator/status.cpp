#include "operator/status.h"

namespace archway::op {
namespace {

PlatformStatus ReadPlatformStatus(const Json& entry) {
  auto field = [&](const char* key) { return kube::StringAt(entry, {key}).value_or(""); };
  return PlatformStatus{field("platform"), field("digest"), field("source"), field("job"),
                        field("state"),    field("message"), field("reason"), field("baseReport")};
}

BaseImageStatus ReadBaseImage(const Json& entry) {
  auto field = [&](const Json& j, const char* key) { return kube::StringAt(j, {key}).value_or(""); };
  BaseImageStatus b{field(entry, "image"), field(entry, "digest"), field(entry, "latest"), {},
                    field(entry, "lastChanged")};
  if (const Json* platforms = kube::ArrayAt(entry, {"platforms"})) {
    for (const Json& p : *platforms) {
      BaseImagePlatform bp{field(p, "platform"), field(p, "digest"), field(p, "latest")};
      if (!bp.platform.empty()) b.platforms.push_back(std::move(bp));
    }
  }
  return b;
}

// One condition, keeping the observed lastTransitionTime while its status stays.
Json RenderCondition(const std::string& type, bool status, const std::string& reason, const std::string& message,
                     const ObservedStatus& observed, int64_t generation, const std::string& now) {
  const std::string value = status ? "True" : "False";
  const kube::Condition* before = observed.FindCondition(type);
  const bool unchanged = before != nullptr && before->status == value && !before->last_transition_time.empty();
  return Json{{"type", type},
              {"status", value},
              {"reason", reason},
              {"message", message},
              {"observedGeneration", generation},
              {"lastTransitionTime", unchanged ? before->last_transition_time : now}};
}

Json RenderBaseImage(const BaseImageStatus& b) {
  Json e = {{"image", b.image}};
  if (!b.digest.empty()) e["digest"] = b.digest;
  if (!b.latest.empty()) e["latest"] = b.latest;
  Json platforms = Json::array();
  for (const auto& p : b.platforms) {
    Json pe = {{"platform", p.platform}};
    if (!p.digest.empty()) pe["digest"] = p.digest;
    if (!p.latest.empty()) pe["latest"] = p.latest;
    platforms.push_back(pe);
  }
  e["platforms"] = platforms;
  if (!b.last_changed.empty()) e["lastChanged"] = b.last_changed;
  return e;
}

}  // namespace

const BaseImagePlatform* BaseImageStatus::FindPlatform(const std::string& platform) const {
  for (const auto& p : platforms) {
    if (p.platform == platform) return &p;
  }
  return nullptr;
}

const BaseImageStatus* ObservedStatus::FindBaseImage(const std::string& image) const {
  for (const auto& b : base_images) {
    if (b.image == image) return &b;
  }
  return nullptr;
}

const kube::Condition* ObservedStatus::FindCondition(const std::string& type) const {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

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
  observed.ready = kube::ConditionOf(object, condition::kReady).value_or(kube::Condition{});
  for (auto& c : kube::ConditionsOf(object)) {
    if (!c.type.empty() && observed.FindCondition(c.type) == nullptr) observed.conditions.push_back(std::move(c));
  }
  if (const Json* bases = kube::ArrayAt(*status, {"baseImages"})) {
    for (const Json& entry : *bases) {
      BaseImageStatus b = ReadBaseImage(entry);
      if (!b.image.empty() && observed.FindBaseImage(b.image) == nullptr) observed.base_images.push_back(std::move(b));
    }
  }
  if (const Json* rebuild = kube::ObjectAt(*status, {"lastBaseRebuild"})) {
    auto field = [&](const char* key) { return kube::StringAt(*rebuild, {key}).value_or(""); };
    observed.last_base_rebuild = BaseRebuild{field("time"), field("message"), field("run")};
  }
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
    if (!p.reason.empty()) e["reason"] = p.reason;
    if (!p.base_report.empty()) e["baseReport"] = p.base_report;
    platforms.push_back(e);
  }
  status["platforms"] = platforms;
  if (!desired.base_images.empty()) {
    Json bases = Json::array();
    for (const auto& b : desired.base_images) bases.push_back(RenderBaseImage(b));
    status["baseImages"] = bases;
  }
  if (!desired.last_base_rebuild.empty()) {
    const BaseRebuild& r = desired.last_base_rebuild;
    status["lastBaseRebuild"] = {{"time", r.time}, {"message", r.message}, {"run", r.run}};
  }
  Json conditions = Json::array(
      {RenderCondition(condition::kReady, desired.ready, desired.reason, desired.message, observed, generation, now)});
  for (const auto& c : desired.conditions)
    conditions.push_back(RenderCondition(c.type, c.status, c.reason, c.message, observed, generation, now));
  status["conditions"] = conditions;
  return status;
}

}  // namespace archway::op

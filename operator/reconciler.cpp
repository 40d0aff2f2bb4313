#include "operator/reconciler.h"

#include <algorithm>
#include <map>
#include <set>

#include "base/encoding.h"
#include "base/log.h"
#include "kube/time.h"
#include "operator/job_builder.h"
#include "registry/publisher.h"

namespace archway::op {
namespace {

using registry::Platform;
using registry::Reference;

const char* ReasonForRegistryError(const Error& e) {
  switch (e.code) {
    case ErrorCode::kNotFound: return reason::kSourceNotFound;
    case ErrorCode::kUnauthorized:
    case ErrorCode::kForbidden: return reason::kRegistryAuthFailed;
    case ErrorCode::kNetwork:
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kRateLimited: return reason::kRegistryUnavailable;
    default: return reason::kPublishFailed;
  }
}

bool IsTransient(const Error& e) {
  return e.code == ErrorCode::kNetwork || e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kTimeout ||
         e.code == ErrorCode::kRateLimited;
}

std::string JoinPlatforms(const std::vector<Platform>& platforms) {
  std::string out;
  for (const auto& p : platforms) out += (out.empty() ? "" : ", ") + p.String();
  return out;
}

// Job state from its status conditions (see job-status-*.json samples).
struct JobState {
  std::string state;
  std::string message;
};

JobState StateOfJob(const Json& job) {
  const Json status = job.value("status", Json::object());
  if (status.contains("conditions") && status["conditions"].is_array()) {
    for (const auto& c : status["conditions"]) {
      if (!c.is_object() || c.value("status", "") != "True") continue;
      if (c.value("type", "") == "Complete") return {state::kSucceeded, ""};
      if (c.value("type", "") == "Failed") return {state::kFailed, c.value("reason", "") + ": " + c.value("message", "")};
    }
  }
  if (status.value("active", 0) > 0) return {state::kRunning, ""};
  return {state::kPending, ""};
}

// The Ready condition's message as recorded, kept when nothing is republished.
std::string RecordedReadyMessage(const Json& status) {
  auto conditions = status.find("conditions");
  if (conditions == status.end() || !conditions->is_array()) return "";
  for (const auto& c : *conditions) {
    if (!c.is_object()) continue;
    auto type = c.find("type");
    auto message = c.find("message");
    if (type != c.end() && *type == "Ready" && message != c.end() && message->is_string()) return *message;
  }
  return "";
}

registry::PublishOptions PublishOptionsFor(const MultiArchImageSpec& spec, const registry::Keychain* keychain) {
  registry::PublishOptions options;
  options.format = spec.docker_format ? registry::ListFormat::kDocker : registry::ListFormat::kOci;
  options.platforms = spec.platforms;
  options.keychain = keychain;
  return options;
}

bool NodeIsReady(const Json& node) {
  if (node.contains("spec") && node["spec"].value("unschedulable", false)) return false;
  const Json status = node.value("status", Json::object());
  if (!status.contains("conditions") || !status["conditions"].is_array()) return false;
  for (const auto& c : status["conditions"]) {
    if (c.is_object() && c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

}  // namespace

Reconciler::Reconciler(ReconcilerDeps deps) : deps_(std::move(deps)) {
  if (!deps_.clock) deps_.clock = [] { return std::chrono::system_clock::now(); };
}

void Reconciler::RecordEvent(const Json& object, bool warning, const std::string& why, const std::string& note) {
  if (deps_.events == nullptr) return;
  Status s = warning ? deps_.events->Warning(object, why, note) : deps_.events->Normal(object, why, note);
  (void)s;  // best effort: the recorder logs its own failures
}

Status Reconciler::WriteStatus(const Json& object, const DesiredStatus& desired) {
  const Json old_status = object.contains("status") && object["status"].is_object() ? object["status"] : Json::object();
  const int64_t generation = object["metadata"].value("generation", int64_t{0});
  Json status = RenderStatus(desired, old_status, generation, kube::FormatTime(deps_.clock()));
  if (status == old_status) return Status::Ok();
  Json updated = object;
  updated["status"] = status;
  const std::string ns = object["metadata"].value("namespace", "");
  const std::string name = object["metadata"].value("name", "");
  auto r = deps_.kube->UpdateStatus(kube::resources::kMultiArchImages, ns, updated);
  if (!r.ok()) return r.error().Wrap("updating the status of " + kube::ObjectKey(ns, name));

  auto [old_ready, old_reason] = ReadyConditionOf(old_status);
  const std::string ready = desired.ready ? "True" : "False";
  if (old_ready != ready || old_reason != desired.reason) {
    log::Info("MultiArchImage condition changed",
              {{"key", kube::ObjectKey(ns, name)}, {"phase", desired.phase}, {"ready", ready},
               {"reason", desired.reason}, {"digest", desired.digest}, {"message", desired.message}});
    RecordEvent(object, !desired.ready && desired.reason != reason::kBuilding, desired.reason, desired.message);
  }
  return Status::Ok();
}

Result<std::optional<registry::Keychain>> Reconciler::PushKeychain(const MultiArchImage& mai) {
  if (mai.spec.push_secret.empty()) return std::optional<registry::Keychain>();
  auto secret = deps_.kube->Get(kube::resources::kSecrets, mai.ns, mai.spec.push_secret);
  if (!secret.ok()) return secret.error().Wrap("pushSecretRef " + mai.spec.push_secret);
  if (secret->value("type", "") != "kubernetes.io/dockerconfigjson")
    return Error(ErrorCode::kInvalidArgument, "pushSecretRef " + mai.spec.push_secret +
                                                   ": type must be kubernetes.io/dockerconfigjson, is " +
                                                   secret->value("type", "(none)"));
  const Json data = secret->value("data", Json::object());
  if (!data.contains(".dockerconfigjson") || !data[".dockerconfigjson"].is_string())
    return Error(ErrorCode::kInvalidArgument, "pushSecretRef " + mai.spec.push_secret + ": no .dockerconfigjson key");
  auto decoded = Base64Decode(data[".dockerconfigjson"].get<std::string>());
  if (!decoded) return Error(ErrorCode::kInvalidArgument, "pushSecretRef " + mai.spec.push_secret + ": .dockerconfigjson is not base64");
  auto keychain = registry::Keychain::FromDockerConfigJson(*decoded);
  if (!keychain.ok()) return keychain.error().Wrap("pushSecretRef " + mai.spec.push_secret);
  return std::optional<registry::Keychain>(std::move(keychain).value());
}

bool Reconciler::HasBuilderNode(const Platform& platform, const BuildSpec& build) const {
  for (const auto& node : deps_.nodes->List()) {
    const Json labels = node["metadata"].value("labels", Json::object());
    auto label = [&](const std::string& k) { return labels.contains(k) && labels[k].is_string() ? labels[k].get<std::string>() : ""; };
    if (label("kubernetes.io/os") != platform.os || label("kubernetes.io/arch") != platform.architecture) continue;
    bool selected = true;
    for (const auto& [k, v] : build.node_selector) selected = selected && label(k) == v;
    if (selected && NodeIsReady(node)) return true;
  }
  return false;
}

Result<ReconcileResult> Reconciler::Reconcile(const std::string& key) {
  auto object = deps_.images->GetByKey(key);
  if (!object) return ReconcileResult{};  // deleted; its Jobs go with it (ownerReferences)
  if ((*object)["metadata"].contains("deletionTimestamp")) return ReconcileResult{};
  auto mai = ParseMultiArchImage(*object);
  if (!mai.ok()) {
    // Nothing to retry until the spec changes (which enqueues the resource again).
    DesiredStatus d{phase::kFailed, "", {}, false, reason::kInvalidSpec, mai.error().message};
    Status s = WriteStatus(*object, d);
    if (!s.ok()) return s.error();
    return ReconcileResult{};
  }
  return mai->spec.build ? ReconcileBuild(*object, *mai) : ReconcileSources(*object, *mai);
}

Result<ReconcileResult> Reconciler::ReconcileSources(const Json& object, const MultiArchImage& mai) {
  const MultiArchImageSpec& spec = mai.spec;
  auto fail = [&](const char* why, const Error& e) -> Result<ReconcileResult> {
    DesiredStatus d{IsTransient(e) ? phase::kPublishing : phase::kFailed,
                    mai.status.value("digest", ""), ParsePlatformStatuses(mai.status), false, why, e.message};
    Status s = WriteStatus(object, d);
    if (!s.ok()) return s.error();
    return e;
  };

  auto keychain = PushKeychain(mai);
  if (!keychain.ok())
    return fail(keychain.error().code == ErrorCode::kNotFound ? reason::kPushSecretNotFound : reason::kPushSecretInvalid,
                keychain.error());
  const registry::Keychain* kc = keychain->has_value() ? &keychain->value() : nullptr;

  // Resolve every source now: a HEAD per tag sees a moved tag; platforms by digest are cached.
  std::map<Platform, PlatformStatus> covered;
  std::vector<Reference> pinned;
  for (const auto& text : spec.sources) {
    auto ref = registry::ParseReference(text);
    if (!ref.ok()) return fail(reason::kInvalidSpec, ref.error());
    std::string digest = ref->digest;
    if (digest.empty()) {
      auto head = deps_.registry->HeadManifest(*ref, kc);
      if (!head.ok()) return fail(ReasonForRegistryError(head.error()), head.error().Wrap("source " + text));
      digest = head->digest;
    }
    Reference by_digest = ref->WithDigest(digest);
    auto resolved = deps_.resolver->Resolve(by_digest, kc);
    if (!resolved.ok()) return fail(ReasonForRegistryError(resolved.error()), resolved.error().Wrap("source " + text));
    std::vector<Platform> wanted;
    for (const auto& p : resolved->platforms) {
      if (std::find(spec.platforms.begin(), spec.platforms.end(), p) != spec.platforms.end()) wanted.push_back(p);
    }
    if (wanted.empty()) {
      return fail(reason::kPlatformMismatch,
                  Error(ErrorCode::kInvalidArgument,
                        "source " + text + " provides " +
                            (resolved->platforms.empty() ? std::string("no platform") : JoinPlatforms(resolved->platforms)) +
                            ", none of spec.platforms [" + JoinPlatforms(spec.platforms) + "]"));
    }
    const std::string source = ref->Name() + (ref->tag.empty() ? "" : ":" + ref->tag) + "@" + digest;
    for (const auto& p : wanted) {
      if (covered.count(p))
        return fail(reason::kPlatformMismatch,
                    Error(ErrorCode::kInvalidArgument, "sources " + covered[p].source + " and " + source +
                                                           " both provide " + p.String() + "; keep one"));
      covered[p] = PlatformStatus{p.String(), "", source, "", state::kPublished, ""};
    }
    pinned.push_back(by_digest);
  }
  std::vector<Platform> missing;
  for (const auto& p : spec.platforms) {
    if (!covered.count(p)) missing.push_back(p);
  }
  if (!missing.empty())
    return fail(reason::kPlatformMismatch,
                Error(ErrorCode::kInvalidArgument, "no source provides " + JoinPlatforms(missing) +
                                                       "; add a source for it or remove it from spec.platforms"));

  // Publish when anything it depends on moved.
  const std::vector<PlatformStatus> recorded = ParsePlatformStatuses(mai.status);
  const std::string recorded_digest = mai.status.value("digest", "");
  std::string why;
  if (recorded_digest.empty()) why = "never published";
  else if (mai.status.value("observedGeneration", int64_t{0}) != mai.generation) why = "spec changed";
  else {
    std::map<std::string, std::string> recorded_sources;
    for (const auto& r : recorded) recorded_sources[r.platform] = r.source;
    for (const auto& [p, entry] : covered) {
      if (recorded_sources[p.String()] != entry.source) why = "source moved: " + entry.source;
    }
    if (recorded.size() != covered.size() && why.empty()) why = "platforms changed";
  }
  if (why.empty()) {
    auto head = deps_.registry->HeadManifest(spec.image, kc);
    if (!head.ok() && head.error().code != ErrorCode::kNotFound)
      return fail(ReasonForRegistryError(head.error()), head.error().Wrap("target " + spec.image_text));
    if (!head.ok()) why = "target tag deleted";
    else if (head->digest != recorded_digest) why = "target tag overwritten (holds " + head->digest + ")";
  }

  DesiredStatus desired;
  if (why.empty()) {
    desired = DesiredStatus{phase::kReady, recorded_digest, recorded, true, reason::kPublished, ""};
    desired.message = RecordedReadyMessage(mai.status);  // nothing was republished
  } else {
    log::Info("publishing", {{"key", kube::ObjectKey(mai.ns, mai.name)}, {"image", spec.image_text}, {"why", why}});
    registry::PublishOptions options = PublishOptionsFor(spec, kc);
    registry::Publisher publisher(*deps_.registry);
    auto published = publisher.Publish(spec.image, pinned, options);
    if (deps_.metrics) deps_.metrics->Published(published.ok());
    if (!published.ok()) return fail(ReasonForRegistryError(published.error()), published.error().Wrap("publishing " + spec.image_text));
    for (const auto& e : published->entries) {
      auto it = covered.find(e.platform);
      if (it != covered.end()) it->second.digest = e.digest;
    }
    desired.phase = phase::kReady;
    desired.digest = published->digest;
    desired.ready = true;
    desired.reason = reason::kPublished;
    desired.message = "published " + spec.image_text + " (" + std::to_string(covered.size()) + " platforms)";
    for (const auto& p : spec.platforms) desired.platforms.push_back(covered[p]);
    if (!recorded_digest.empty() && recorded_digest != published->digest)
      RecordEvent(object, false, "Republished", why + "; now " + published->digest);
  }
  Status s = WriteStatus(object, desired);
  if (!s.ok()) return s.error();
  return ReconcileResult{};
}

Result<ReconcileResult> Reconciler::ReconcileBuild(const Json& object, const MultiArchImage& mai) {
  const MultiArchImageSpec& spec = mai.spec;
  const BuildSpec& build = *spec.build;
  const std::string hash = SpecHash(mai.spec_json);
  std::map<std::string, PlatformStatus> recorded;
  for (const auto& r : ParsePlatformStatuses(mai.status)) recorded[r.platform] = r;

  std::vector<PlatformStatus> platforms;
  std::set<std::string> desired_jobs;
  std::string create_error;
  for (const auto& p : spec.platforms) {
    PlatformStatus entry{p.String(), "", "", JobName(mai.name, p, hash), "", ""};
    desired_jobs.insert(entry.job);
    auto job = deps_.jobs->Get(mai.ns, entry.job);
    auto old = recorded.find(entry.platform);
    if (job) {
      JobState st = StateOfJob(*job);
      entry.state = st.state;
      if (st.state == state::kFailed)
        entry.message = "Job " + entry.job + " failed: " + st.message + " (kubectl logs -n " + mai.ns + " job/" + entry.job + ")";
    } else if (old != recorded.end() && old->second.job == entry.job &&
               (old->second.state == state::kSucceeded || old->second.state == state::kFailed)) {
      entry = old->second;  // finished and then removed by ttlSecondsAfterFinished
    } else {
      bool native = HasBuilderNode(p, build);
      if (!native && !build.allow_emulation) {
        entry.state = state::kWaiting;
        entry.message = "no Ready node with kubernetes.io/os=" + p.os + ", kubernetes.io/arch=" + p.architecture +
                        (build.node_selector.empty() ? "" : " matching spec.build.nodeSelector") +
                        "; add a builder node or set spec.build.emulation: Allow";
      } else {
        Json job_object = BuildJob(mai, p, deps_.config, !native);
        auto created = deps_.kube->Create(kube::resources::kJobs, mai.ns, job_object);
        if (created.ok()) {
          log::Info("builder Job created", {{"key", kube::ObjectKey(mai.ns, mai.name)}, {"job", entry.job},
                                            {"platform", entry.platform}, {"emulated", native ? "false" : "true"}});
          if (deps_.metrics) deps_.metrics->JobCreated();
          RecordEvent(object, false, "JobCreated",
                      "builder Job " + entry.job + " for " + entry.platform + (native ? "" : " (emulated)"));
        } else if (!kube::IsAlreadyExists(created.error())) {
          create_error = created.error().message;
          entry.message = create_error;
        }
        entry.state = state::kPending;
      }
    }
    platforms.push_back(entry);
  }

  // Jobs of an older spec build something nobody asked for any more.
  for (const auto& job : deps_.jobs->List()) {
    const Json& md = job["metadata"];
    if (md.value("namespace", "") != mai.ns || desired_jobs.count(md.value("name", ""))) continue;
    bool owned = false;
    for (const auto& owner : md.value("ownerReferences", Json::array()))
      owned = owned || (owner.value("uid", "") == mai.uid && owner.value("controller", false));
    if (!owned) continue;
    kube::DeleteOptions options;
    options.propagation_policy = "Background";
    auto deleted = deps_.kube->Delete(kube::resources::kJobs, mai.ns, md.value("name", ""), options);
    if (deleted.ok() || kube::IsNotFound(deleted.error()))
      log::Info("deleted builder Job of an older spec", {{"key", kube::ObjectKey(mai.ns, mai.name)}, {"job", md.value("name", "")}});
  }

  DesiredStatus desired;
  desired.platforms = platforms;
  desired.digest = mai.status.value("digest", "");
  int succeeded = 0;
  const PlatformStatus* failed = nullptr;
  const PlatformStatus* waiting = nullptr;
  for (const auto& e : platforms) {
    if (e.state == state::kSucceeded) ++succeeded;
    if (e.state == state::kFailed && !failed) failed = &e;
    if (e.state == state::kWaiting && !waiting) waiting = &e;
  }
  if (failed) {
    desired.phase = phase::kFailed;
    desired.reason = reason::kBuildFailed;
    desired.message = failed->platform + ": " + failed->message;
  } else if (!create_error.empty()) {
    desired.phase = phase::kBuilding;
    desired.reason = reason::kJobCreateFailed;
    desired.message = create_error;
  } else if (waiting) {
    desired.phase = phase::kBuilding;
    desired.reason = reason::kNoBuilderNode;
    desired.message = waiting->platform + ": " + waiting->message;
  } else if (succeeded < static_cast<int>(platforms.size())) {
    desired.phase = phase::kBuilding;
    desired.reason = reason::kBuilding;
    desired.message = std::to_string(succeeded) + " of " + std::to_string(platforms.size()) + " platforms built";
  }
  if (!desired.phase.empty()) {
    Status s = WriteStatus(object, desired);
    if (!s.ok()) return s.error();
    if (!create_error.empty()) return Error(ErrorCode::kUnavailable, create_error);
    return ReconcileResult{};
  }

  // Every platform is built: publish the list from the child tags.
  auto keychain = PushKeychain(mai);
  if (!keychain.ok()) {
    desired.phase = phase::kPublishing;
    desired.reason = keychain.error().code == ErrorCode::kNotFound ? reason::kPushSecretNotFound : reason::kPushSecretInvalid;
    desired.message = keychain.error().message;
    Status s = WriteStatus(object, desired);
    if (!s.ok()) return s.error();
    return keychain.error();
  }
  const registry::Keychain* kc = keychain->has_value() ? &keychain->value() : nullptr;
  const std::string recorded_digest = mai.status.value("digest", "");
  std::string why;
  if (recorded_digest.empty() || mai.status.value("phase", "") != phase::kReady) why = "all platforms built";
  else if (mai.status.value("observedGeneration", int64_t{0}) != mai.generation) why = "spec changed";
  else {
    for (const auto& e : platforms)
      if (recorded[e.platform].job != e.job || recorded[e.platform].digest.empty()) why = "new builds";
  }
  if (why.empty()) {
    auto head = deps_.registry->HeadManifest(spec.image, kc);
    if (!head.ok() && head.error().code != ErrorCode::kNotFound) {
      desired.phase = phase::kPublishing;
      desired.reason = ReasonForRegistryError(head.error());
      desired.message = head.error().message;
      Status s = WriteStatus(object, desired);
      if (!s.ok()) return s.error();
      return head.error();
    }
    if (!head.ok()) why = "target tag deleted";
    else if (head->digest != recorded_digest) why = "target tag overwritten (holds " + head->digest + ")";
  }
  if (why.empty()) {
    desired.phase = phase::kReady;
    desired.ready = true;
    desired.reason = reason::kPublished;
    desired.message = RecordedReadyMessage(mai.status);
    for (auto& e : desired.platforms) e.digest = recorded[e.platform].digest;
  } else {
    log::Info("publishing", {{"key", kube::ObjectKey(mai.ns, mai.name)}, {"image", spec.image_text}, {"why", why}});
    std::vector<Reference> children;
    for (const auto& p : spec.platforms) children.push_back(ChildImage(spec.image, p));
    registry::PublishOptions options = PublishOptionsFor(spec, kc);
    registry::Publisher publisher(*deps_.registry);
    auto published = publisher.Publish(spec.image, children, options);
    if (deps_.metrics) deps_.metrics->Published(published.ok());
    if (!published.ok()) {
      desired.phase = phase::kPublishing;
      desired.reason = ReasonForRegistryError(published.error());
      if (desired.reason == std::string(reason::kSourceNotFound)) desired.reason = reason::kPublishFailed;
      desired.message = "publishing " + spec.image_text + ": " + published.error().message;
      Status s = WriteStatus(object, desired);
      if (!s.ok()) return s.error();
      return published.error();
    }
    for (auto& e : desired.platforms) {
      for (const auto& pe : published->entries)
        if (pe.platform.String() == e.platform) e.digest = pe.digest;
    }
    desired.phase = phase::kReady;
    desired.digest = published->digest;
    desired.ready = true;
    desired.reason = reason::kPublished;
    desired.message = "published " + spec.image_text + " (" + std::to_string(platforms.size()) + " platforms built)";
  }
  Status s = WriteStatus(object, desired);
  if (!s.ok()) return s.error();
  return ReconcileResult{};
}

}  // namespace archway::op

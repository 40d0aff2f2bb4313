#include "operator/planner.h"

#include <algorithm>
#include <map>
#include <set>

#include "operator/job_builder.h"

namespace archway::op {
namespace {

using registry::Platform;

bool IsTransient(const Error& e) {
  return e.code == ErrorCode::kNetwork || e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kTimeout ||
         e.code == ErrorCode::kRateLimited;
}

// The Ready condition's reason for a registry failure. In build mode the "sources" are
// the Jobs' own child tags: one missing means a build did not push, not a user's source.
const char* RegistryReason(Plan::Mode mode, const Error& e) {
  switch (e.code) {
    case ErrorCode::kNotFound: return mode == Plan::Mode::kBuild ? reason::kPublishFailed : reason::kSourceNotFound;
    case ErrorCode::kUnauthorized:
    case ErrorCode::kForbidden: return reason::kRegistryAuthFailed;
    case ErrorCode::kNetwork:
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kRateLimited: return reason::kRegistryUnavailable;
    default: return reason::kPublishFailed;
  }
}

std::string JoinPlatforms(const std::vector<Platform>& platforms) {
  std::string out;
  for (const auto& p : platforms) out += (out.empty() ? "" : ", ") + p.String();
  return out;
}

bool Contains(const std::vector<Platform>& platforms, const Platform& p) {
  return std::find(platforms.begin(), platforms.end(), p) != platforms.end();
}

// The plan ends here: the status says why, the reconcile is retried with `error`. The
// recorded list stays in the status; in sources mode so do the recorded platforms (the
// new inputs were never published), in build mode the platforms show the Jobs as they are.
Plan Fail(Plan plan, const ObservedStatus& observed, const char* why, const Error& error) {
  const bool build = plan.mode == Plan::Mode::kBuild;
  plan.publish.reset();
  plan.events.clear();
  plan.status.phase = build || IsTransient(error) ? phase::kPublishing : phase::kFailed;
  plan.status.digest = observed.digest;
  if (!build) plan.status.platforms = observed.platforms;
  plan.status.ready = false;
  plan.status.reason = why;
  plan.status.message = error.message;
  plan.error = error;
  return plan;
}

// Why the list must be published (again), as far as the stored status tells; "" when
// the recorded list still stands. `unpublished` and `inputs_moved` are the mode's words.
std::string WhyPublish(const ObservedStatus& observed, int64_t generation, const std::string& unpublished,
                       const std::string& inputs_moved) {
  if (observed.digest.empty() || observed.phase != phase::kReady) return unpublished;
  if (observed.observed_generation != generation) return "spec changed";
  return inputs_moved;
}

// Whether the target tag still holds the recorded list: "" when it does, else why not.
Result<std::string> TargetMoved(const ObservedStatus& observed, const Result<registry::Descriptor>& head) {
  if (!head.ok()) {
    if (head.error().code == ErrorCode::kNotFound) return std::string("target tag deleted");
    return head.error();
  }
  if (head->digest != observed.digest) return "target tag overwritten (holds " + head->digest + ")";
  return std::string();
}

// Completes a plan whose inputs are all there (plan.status holds its platforms and the
// message of a publication): publish when `why` or the target says so, else keep the
// recorded list.
Plan Conclude(Plan plan, const ObservedStatus& observed, const MultiArchImage& mai, const TargetFact& target,
              std::string why, Publication publication) {
  if (why.empty()) {
    if (!target) {
      Plan ask;
      ask.mode = plan.mode;
      ask.needs_target = true;
      return ask;
    }
    auto moved = TargetMoved(observed, *target);
    if (!moved.ok()) {
      const Error e = moved.error().Wrap("target " + mai.spec.image_text);
      const char* reason = RegistryReason(plan.mode, e);
      return Fail(std::move(plan), observed, reason, e);
    }
    why = *moved;
  }
  plan.status.phase = phase::kReady;
  plan.status.ready = true;
  plan.status.reason = reason::kPublished;
  if (why.empty()) {  // nothing is republished: the recorded list, digests and message stand
    plan.status.digest = observed.digest;
    plan.status.message = observed.ready.message;
    for (auto& entry : plan.status.platforms) {
      const PlatformStatus* recorded = observed.FindPlatform(entry.platform);
      entry.digest = recorded != nullptr ? recorded->digest : "";
    }
    return plan;
  }
  publication.why = why;
  publication.target = mai.spec.image;
  publication.target_text = mai.spec.image_text;
  publication.format = mai.spec.docker_format ? registry::ListFormat::kDocker : registry::ListFormat::kOci;
  publication.platforms = mai.spec.platforms;
  plan.publish = std::move(publication);
  plan.status.digest.clear();
  return plan;
}

Plan PushSecretFailed(Plan plan, const ObservedStatus& observed, const Error& e) {
  return Fail(std::move(plan), observed,
              e.code == ErrorCode::kNotFound ? reason::kPushSecretNotFound : reason::kPushSecretInvalid, e);
}

// --- sources mode ---

// Adds the platforms `source` provides for spec.platforms to `covered`, or says why not.
std::optional<Error> Cover(const ResolvedSource& resolved, const std::vector<Platform>& wanted_platforms,
                           std::map<Platform, PlatformStatus>& covered) {
  const SourceImage& source = resolved.source;
  std::vector<Platform> wanted;
  for (const auto& p : resolved.platforms) {
    if (Contains(wanted_platforms, p)) wanted.push_back(p);
  }
  if (wanted.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "source " + source.text + " provides " +
                     (resolved.platforms.empty() ? std::string("no platform") : JoinPlatforms(resolved.platforms)) +
                     ", none of spec.platforms [" + JoinPlatforms(wanted_platforms) + "]");
  }
  const std::string pinned =
      source.ref.Name() + (source.ref.tag.empty() ? "" : ":" + source.ref.tag) + "@" + resolved.digest;
  for (const auto& p : wanted) {
    if (covered.count(p)) {
      return Error(ErrorCode::kInvalidArgument, "sources " + covered[p].source + " and " + pinned +
                                                    " both provide " + p.String() + "; keep one");
    }
    covered[p] = PlatformStatus{p.String(), "", pinned, "", state::kPublished, ""};
  }
  return std::nullopt;
}

std::string SourcesMoved(const ObservedStatus& observed, const std::map<Platform, PlatformStatus>& covered) {
  std::string why;
  for (const auto& [p, entry] : covered) {
    const PlatformStatus* recorded = observed.FindPlatform(p.String());
    if (recorded == nullptr || recorded->source != entry.source) why = "source moved: " + entry.source;
  }
  if (why.empty() && observed.platforms.size() != covered.size()) why = "platforms changed";
  return why;
}

// --- build mode ---

const char* StateName(kube::JobPhase phase) {
  switch (phase) {
    case kube::JobPhase::kPending: return state::kPending;
    case kube::JobPhase::kRunning: return state::kRunning;
    case kube::JobPhase::kSucceeded: return state::kSucceeded;
    case kube::JobPhase::kFailed: return state::kFailed;
  }
  return state::kPending;
}

bool HasBuilderNode(const std::vector<kube::NodeState>& nodes, const Platform& platform, const BuildSpec& build) {
  for (const auto& node : nodes) {
    if (node.Label(kube::kOsLabel) != platform.os || node.Label(kube::kArchLabel) != platform.architecture) continue;
    bool selected = true;
    for (const auto& [key, value] : build.node_selector) selected = selected && node.Label(key) == value;
    if (selected && node.ready && !node.unschedulable) return true;
  }
  return false;
}

// One platform's entry; adds its Job to `plan` when it has to be created.
PlatformStatus PlanPlatform(const BuildInputs& in, const Platform& p, const std::string& hash, Plan& plan) {
  const MultiArchImage& mai = in.mai;
  const BuildSpec& build = *mai.spec.build;
  PlatformStatus entry{p.String(), "", "", JobName(mai.name, p, hash), "", ""};
  auto job = std::find_if(in.jobs.begin(), in.jobs.end(), [&](const ObservedJob& j) { return j.name == entry.job; });
  const PlatformStatus* recorded = in.observed.FindPlatform(entry.platform);
  if (job != in.jobs.end()) {
    entry.state = StateName(job->state.phase);
    if (job->state.phase == kube::JobPhase::kFailed) {
      entry.message = "Job " + entry.job + " failed: " + job->state.reason + ": " + job->state.message +
                      " (kubectl logs -n " + mai.ns + " job/" + entry.job + ")";
    }
    return entry;
  }
  if (recorded != nullptr && recorded->job == entry.job &&
      (recorded->state == state::kSucceeded || recorded->state == state::kFailed)) {
    return *recorded;  // finished and then removed by ttlSecondsAfterFinished
  }
  const bool native = HasBuilderNode(in.nodes, p, build);
  if (!native && !build.allow_emulation) {
    entry.state = state::kWaiting;
    entry.message = "no Ready node with kubernetes.io/os=" + p.os + ", kubernetes.io/arch=" + p.architecture +
                    (build.node_selector.empty() ? "" : " matching spec.build.nodeSelector") +
                    "; add a builder node or set spec.build.emulation: Allow";
    return entry;
  }
  entry.state = state::kPending;
  plan.create_jobs.push_back(JobCreation{
      entry.job, entry.platform, !native, BuildJob(mai, p, in.config, !native),
      EventNote{false, "JobCreated", "builder Job " + entry.job + " for " + entry.platform + (native ? "" : " (emulated)")}});
  return entry;
}

// Sets the status of a run that is not (or not yet) publishing; false when every
// platform has succeeded. Precedence: a failed platform, a Job that could not be
// created, a platform waiting for a node, then progress.
bool SummarizeBuild(DesiredStatus& status, const std::string& create_error) {
  size_t succeeded = 0;
  const PlatformStatus* failed = nullptr;
  const PlatformStatus* waiting = nullptr;
  for (const auto& e : status.platforms) {
    if (e.state == state::kSucceeded) ++succeeded;
    if (e.state == state::kFailed && failed == nullptr) failed = &e;
    if (e.state == state::kWaiting && waiting == nullptr) waiting = &e;
  }
  status.ready = false;
  if (failed != nullptr) {
    status.phase = phase::kFailed;
    status.reason = reason::kBuildFailed;
    status.message = failed->platform + ": " + failed->message;
  } else if (!create_error.empty()) {
    status.phase = phase::kBuilding;
    status.reason = reason::kJobCreateFailed;
    status.message = create_error;
  } else if (waiting != nullptr) {
    status.phase = phase::kBuilding;
    status.reason = reason::kNoBuilderNode;
    status.message = waiting->platform + ": " + waiting->message;
  } else if (succeeded < status.platforms.size()) {
    status.phase = phase::kBuilding;
    status.reason = reason::kBuilding;
    status.message = std::to_string(succeeded) + " of " + std::to_string(status.platforms.size()) + " platforms built";
  } else {
    return false;
  }
  return true;
}

std::string BuildsMoved(const ObservedStatus& observed, const std::vector<PlatformStatus>& platforms) {
  for (const auto& e : platforms) {
    const PlatformStatus* recorded = observed.FindPlatform(e.platform);
    if (recorded == nullptr || recorded->job != e.job || recorded->digest.empty()) return "new builds";
  }
  return "";
}

}  // namespace

Plan PlanInvalidSpec(const Error& error) {
  Plan plan;
  plan.status = DesiredStatus{phase::kFailed, "", {}, false, reason::kInvalidSpec, error.message};
  return plan;
}

Plan PlanSources(const SourcesInputs& in) {
  const MultiArchImageSpec& spec = in.mai.spec;
  Plan plan;
  plan.mode = Plan::Mode::kSources;
  if (!in.push_secret.ok()) return PushSecretFailed(plan, in.observed, in.push_secret.error());

  std::map<Platform, PlatformStatus> covered;
  Publication publication;
  for (const auto& resolved : in.sources.resolved) {
    if (auto mismatch = Cover(resolved, spec.platforms, covered))
      return Fail(plan, in.observed, reason::kPlatformMismatch, *mismatch);
    publication.sources.push_back(resolved.source.ref.WithDigest(resolved.digest));
  }
  if (const auto& failure = in.sources.failure) return Fail(plan, in.observed, RegistryReason(plan.mode, *failure), *failure);
  std::vector<Platform> missing;
  for (const auto& p : spec.platforms) {
    if (!covered.count(p)) missing.push_back(p);
  }
  if (!missing.empty()) {
    return Fail(plan, in.observed, reason::kPlatformMismatch,
                Error(ErrorCode::kInvalidArgument, "no source provides " + JoinPlatforms(missing) +
                                                       "; add a source for it or remove it from spec.platforms"));
  }

  for (const auto& p : spec.platforms) plan.status.platforms.push_back(covered[p]);
  plan.status.message = "published " + spec.image_text + " (" + std::to_string(covered.size()) + " platforms)";
  const std::string unpublished =
      in.observed.digest.empty() ? "never published" : "the last run ended " + in.observed.phase;
  std::string why = WhyPublish(in.observed, in.mai.generation, unpublished, SourcesMoved(in.observed, covered));
  return Conclude(std::move(plan), in.observed, in.mai, in.target, std::move(why), std::move(publication));
}

Plan PlanBuild(const BuildInputs& in) {
  const MultiArchImageSpec& spec = in.mai.spec;
  Plan plan;
  plan.mode = Plan::Mode::kBuild;
  const std::string hash = SpecHash(in.mai.spec_json);
  std::set<std::string> wanted_jobs;
  for (const auto& p : spec.platforms) {
    plan.status.platforms.push_back(PlanPlatform(in, p, hash, plan));
    wanted_jobs.insert(plan.status.platforms.back().job);
  }
  // Jobs of an older spec build something nobody asked for any more.
  for (const auto& job : in.jobs) {
    if (job.controller_uid == in.mai.uid && !wanted_jobs.count(job.name)) plan.delete_jobs.push_back(job.name);
  }
  plan.status.digest = in.observed.digest;
  if (SummarizeBuild(plan.status, "")) return plan;

  // Every platform is built: publish the list of the child tags.
  if (!in.push_secret.ok()) return PushSecretFailed(plan, in.observed, in.push_secret.error());
  Publication publication;
  for (const auto& p : spec.platforms) publication.sources.push_back(ChildImage(spec.image, p));
  plan.status.message = "published " + spec.image_text + " (" + std::to_string(spec.platforms.size()) +
                        " platforms built)";
  std::string why =
      WhyPublish(in.observed, in.mai.generation, "all platforms built", BuildsMoved(in.observed, plan.status.platforms));
  return Conclude(std::move(plan), in.observed, in.mai, in.target, std::move(why), std::move(publication));
}

void RecordCreateFailure(Plan& plan, const std::string& job, const Error& error) {
  for (auto& entry : plan.status.platforms) {
    if (entry.job == job) entry.message = error.message;
  }
  SummarizeBuild(plan.status, error.message);
  plan.error = Error(ErrorCode::kUnavailable, error.message);
}

void RecordPublished(Plan& plan, const ObservedStatus& observed, const registry::PublishResult& published) {
  plan.status.digest = published.digest;
  for (auto& entry : plan.status.platforms) {
    for (const auto& e : published.entries) {
      if (e.platform.String() == entry.platform) entry.digest = e.digest;
    }
  }
  if (plan.publish && !observed.digest.empty() && observed.digest != published.digest)
    plan.events.push_back(EventNote{false, "Republished", plan.publish->why + "; now " + published.digest});
}

void RecordPublishFailure(Plan& plan, const ObservedStatus& observed, const Error& error) {
  const Error e = error.Wrap("publishing " + (plan.publish ? plan.publish->target_text : std::string("the list")));
  const char* why = RegistryReason(plan.mode, e);
  plan = Fail(std::move(plan), observed, why, e);
}

std::optional<EventNote> ConditionEvent(const ObservedStatus& observed, const DesiredStatus& desired) {
  const std::string ready = desired.ready ? "True" : "False";
  if (observed.ready.status == ready && observed.ready.reason == desired.reason) return std::nullopt;
  return EventNote{!desired.ready && desired.reason != reason::kBuilding, desired.reason, desired.message};
}

}  // namespace archway::op

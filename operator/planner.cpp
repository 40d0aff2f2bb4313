#include "operator/planner.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "base/duration.h"
#include "base/utf8.h"
#include "kube/time.h"
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

bool Finished(const std::string& s) { return s == state::kSucceeded || s == state::kFailed; }

bool HasBuilderNode(const std::vector<kube::NodeState>& nodes, const Platform& platform, const BuildSpec& build) {
  for (const auto& node : nodes) {
    if (node.Label(kube::kOsLabel) != platform.os || node.Label(kube::kArchLabel) != platform.architecture) continue;
    bool selected = true;
    for (const auto& [key, value] : build.node_selector) selected = selected && node.Label(key) == value;
    if (selected && node.ready && !node.unschedulable) return true;
  }
  return false;
}

// The hash of the run status.platforms records for this generation (every platform's
// Job named by it), or nullopt: the generation's first run starts.
std::optional<std::string> RecordedRun(const BuildInputs& in) {
  if (in.observed.observed_generation != in.mai.generation) return std::nullopt;
  std::optional<std::string> run;
  for (const auto& p : in.mai.spec.platforms) {
    const PlatformStatus* recorded = in.observed.FindPlatform(p.String());
    if (recorded == nullptr || recorded->job.size() < 8) return std::nullopt;
    const std::string hash = recorded->job.substr(recorded->job.size() - 8);
    if ((run && *run != hash) || recorded->job != JobName(in.mai.name, p, hash)) return std::nullopt;
    run = hash;
  }
  return run;
}

// Why the Job of `platform` reports no base images, or "".
std::string WhyNotReported(const MultiArchImageSpec& spec, const Platform& platform) {
  if (!spec.build->follow_base_images) return "";
  if (spec.build->StrategyFor(platform) == "buildkit")
    return "followBaseImages: strategy buildkit does not report the base images it used (BuildKit has no notion of "
           "a base image); list them in spec.build.baseImages";
  if (spec.docker_format)
    return "followBaseImages: buildah records the base image only in OCI images, not with format: docker; use "
           "format: oci or list the bases in spec.build.baseImages";
  return "";
}

// What a platform of a run does now.
struct PlatformPlan {
  PlatformStatus entry;
  std::optional<JobCreation> create;
  bool needs_report = false;  // its Job finished and what its pod says is not recorded yet
  bool needs_images = false;  // a Job would be created; its images' platforms are not known
};

// Why a native Job for `platform` would fail to pull one of its images, or "".
std::string UnavailableImage(const BuildInputs& in, const Platform& platform) {
  if (!in.images) return "";
  const std::string builder = BuilderImage(in.mai, in.config, platform);
  const std::string& strategy = in.mai.spec.build->StrategyFor(platform);
  for (const auto& fact : *in.images) {
    if (fact.image != builder && fact.image != in.config.git_image) continue;
    if (!fact.platforms.ok() || fact.platforms->empty()) continue;  // unknown here, or fits all: let the node try
    bool runs = false;
    for (const auto& candidate : registry::CompatiblePlatforms(platform)) runs = runs || Contains(*fact.platforms, candidate);
    if (runs) continue;
    const std::string fix =
        fact.image == builder
            ? "set spec.build.platformOverrides[" + platform.String() + "].builderImage to a " + strategy +
                  " image built for " + platform.String() +
                  (strategy == "buildah" ? ", or its strategy: buildkit" : "") +
                  " (the chart's operator.builder values say which images have which platforms)"
            : "set the operator's builder.gitImage to an image with git and sh for " + platform.String();
    return "the Job's image " + fact.image + " is published for " + JoinPlatforms(*fact.platforms) + ", not " +
           platform.String() + ", so its pod would fail with ErrImagePull there; " + fix;
  }
  return "";
}

// One platform's entry in the run `hash`, and its Job if it has to be created.
PlatformPlan PlanPlatform(const BuildInputs& in, const Platform& p, const std::string& hash) {
  const MultiArchImage& mai = in.mai;
  const bool reports_bases = mai.spec.build->follow_base_images && WhyNotReported(mai.spec, p).empty();
  const BuildSpec& build = *mai.spec.build;
  PlatformPlan out;
  PlatformStatus& entry = out.entry;
  entry = PlatformStatus{p.String(), "", "", JobName(mai.name, p, hash), "", "", "", ""};
  const PlatformStatus* recorded = in.observed.FindPlatform(entry.platform);
  const bool same_job = recorded != nullptr && recorded->job == entry.job;
  auto job = std::find_if(in.jobs.begin(), in.jobs.end(), [&](const ObservedJob& j) { return j.name == entry.job; });
  if (job != in.jobs.end()) {
    entry.state = StateName(job->state.phase);
    if (same_job) entry.base_report = recorded->base_report;
    if (job->state.phase == kube::JobPhase::kSucceeded && reports_bases && entry.base_report.empty())
      out.needs_report = true;
    if (job->state.phase == kube::JobPhase::kFailed) {
      if (same_job && recorded->state == state::kFailed && !recorded->message.empty()) {
        entry.message = recorded->message;  // what its pod said was read when it failed
        entry.reason = recorded->reason;
      } else {
        entry.message = "Job " + entry.job + " failed: " + job->state.reason + ": " + job->state.message +
                        " (kubectl logs -n " + mai.ns + " job/" + entry.job + ")";
        entry.reason = reason::kBuildFailed;
        out.needs_report = true;
      }
    }
    return out;
  }
  if (same_job && Finished(recorded->state)) {
    out.entry = *recorded;  // finished and then removed by ttlSecondsAfterFinished
    return out;
  }
  const bool native = HasBuilderNode(in.nodes, p, build);
  if (!native && !build.allow_emulation) {
    entry.state = state::kWaiting;
    entry.reason = reason::kNoBuilderNode;
    entry.message = "no Ready node with kubernetes.io/os=" + p.os + ", kubernetes.io/arch=" + p.architecture +
                    (build.node_selector.empty() ? "" : " matching spec.build.nodeSelector") +
                    "; add a builder node or set spec.build.emulation: Allow";
    return out;
  }
  // A native Job runs its images on a node of the platform: checked before it exists. An
  // emulated one runs them on whatever node takes it.
  if (native && !in.images) {
    entry.state = state::kPending;
    out.needs_images = true;
    return out;
  }
  if (native) {
    if (std::string missing = UnavailableImage(in, p); !missing.empty()) {
      entry.state = state::kWaiting;
      entry.reason = reason::kBuilderImageUnavailable;
      entry.message = missing;
      return out;
    }
  }
  entry.state = state::kPending;
  out.create = JobCreation{
      entry.job, entry.platform, !native, BuildJob(mai, p, in.config, !native, hash),
      EventNote{false, "JobCreated", "builder Job " + entry.job + " for " + entry.platform + (native ? "" : " (emulated)")}};
  return out;
}

std::vector<PlatformPlan> PlanRun(const BuildInputs& in, const std::string& hash) {
  std::vector<PlatformPlan> run;
  for (const auto& p : in.mai.spec.platforms) run.push_back(PlanPlatform(in, p, hash));
  return run;
}

// A platform whose Job reported base images this reconcile.
struct NewReport {
  std::string platform;
  std::vector<ReportedBase> bases;
};

// Folds the pods' reports into the entries that asked for them; pods that could not be
// read add to `read_errors` (and are asked for again next time).
std::vector<NewReport> ApplyReports(const BuildInputs& in, std::vector<PlatformPlan>& run,
                                    std::vector<std::string>& read_errors) {
  std::vector<NewReport> reported;
  for (auto& pp : run) {
    if (!pp.needs_report || !in.reports) continue;
    PlatformStatus& entry = pp.entry;
    auto it = in.reports->find(entry.job);
    const JobReport none;
    const JobReport& report = it != in.reports->end() ? it->second : none;
    if (!report.error.empty()) {
      if (entry.state == state::kSucceeded) read_errors.push_back(entry.platform + ": " + report.error);
      continue;
    }
    if (entry.state == state::kFailed) {
      if (!report.emulation_message.empty()) {
        entry.reason = reason::kEmulationUnavailable;
        entry.message = "Job " + entry.job + ": " + report.emulation_message;
      }
      continue;
    }
    if (!report.found) {
      entry.base_report = "not reported: no pod of Job " + entry.job + " is left to read its report from";
      continue;
    }
    auto parsed = ParseBaseReport(report.build_message);
    if (!parsed.ok()) {
      entry.base_report = "not reported: " + parsed.error().message;
      continue;
    }
    std::string text;
    for (const auto& b : parsed->bases) {
      auto ref = registry::ParseReference(b.image);
      text += (text.empty() ? "" : ", ") + (ref.ok() ? ref->Name() : b.image) + "@" + b.digest;
    }
    entry.base_report = text.empty() ? "none (FROM scratch)" : text;
    reported.push_back(NewReport{entry.platform, parsed->bases});
  }
  return reported;
}

// A condition problem: the reason it gives BaseImageUnavailable, and what to say.
struct BaseProblem {
  const char* reason;
  std::string message;
};

// The followed bases, their registry facts, and what they mean for the run.
class BaseFollower {
 public:
  BaseFollower(const BuildInputs& in, bool fresh, bool finished, const std::vector<NewReport>& reported)
      : in_(in), fresh_(fresh), finished_(finished) {
    const BuildSpec& build = *in.mai.spec.build;
    if (!build.base_images.empty()) {
      for (const auto& b : build.base_images) {
        const BaseImageStatus* recorded = in.observed.FindBaseImage(b.text);
        images_.push_back(fresh || recorded == nullptr ? BaseImageStatus{b.text, "", "", {}, ""} : *recorded);
      }
      explicit_start_ = fresh;
    } else if (!fresh) {
      images_ = in.observed.base_images;
    }
    for (const auto& r : reported) Replace(r);
  }

  // What to look up: every followed base (when a run starts, when builds reported, and
  // when the run has finished); nothing while a run builds.
  std::vector<BaseQuery> Queries() const {
    if (!explicit_start_ && reported_.empty() && !(finished_ && !fresh_)) return {};
    std::vector<BaseQuery> out;
    out.reserve(images_.size());
    for (const auto& image : images_) {
      BaseQuery q;
      q.image = image.image;
      if (!image.digest.empty()) {
        for (const auto& p : image.platforms) q.known[image.digest][p.platform] = p.digest;
      }
      if (!image.latest.empty()) {
        for (const auto& p : image.platforms) q.known[image.latest][p.platform] = p.latest.empty() ? p.digest : p.latest;
      }
      for (const auto& [image_name, platform, digest] : reported_) {
        if (image_name == image.image) q.reported.push_back(digest);
      }
      out.push_back(std::move(q));
    }
    return out;
  }

  // Applies the registry's answers.
  void Resolve(const std::vector<BaseFact>& facts, std::vector<PlatformPlan>& run) {
    resolved_ = true;
    for (auto& image : images_) {
      auto fact = std::find_if(facts.begin(), facts.end(), [&](const BaseFact& f) { return f.image == image.image; });
      if (fact == facts.end()) continue;
      if (!fact->resolved.ok()) {
        problems_.push_back({base_reason::kResolveFailed, "base " + image.image + ": " + fact->resolved.error().message});
        continue;
      }
      const ResolvedBase& now = *fact->resolved;
      const BaseImageStatus* before = in_.observed.FindBaseImage(image.image);
      // A listed base is recorded as the run was built from it when the run starts (or
      // when the status has nothing for it, as after an upgrade of the operator).
      if (explicit_start_ || (!in_.mai.spec.build->base_images.empty() && image.platforms.empty())) {
        image.platforms.clear();
        for (const auto& p : in_.mai.spec.platforms) {
          std::string digest = now.DigestFor(p);
          if (!digest.empty()) image.platforms.push_back(BaseImagePlatform{p.String(), digest, ""});
        }
        image.digest = now.digest;
        image.latest.clear();
        image.last_changed = before != nullptr && before->platforms == image.platforms && !before->last_changed.empty()
                                 ? before->last_changed
                                 : Now();
        continue;
      }
      CheckReported(image, now, run);
      if (finished_ && !fresh_) Compare(image, now);
    }
  }

  // Whether a new run is to start for changed bases (the current one has finished).
  bool Changed() const { return !changes_.empty(); }

  void AddProblem(const char* reason, std::string message) { problems_.push_back({reason, std::move(message)}); }

  // Records the decision on the changes: `rebuild` (digests become the new ones), or
  // only noted as `latest`. Returns the Event, if the change is news.
  std::optional<EventNote> Decide(bool rebuild, const std::string& why_not) {
    std::string text;
    bool news = rebuild;
    for (const auto& c : changes_) {
      text += (text.empty() ? "" : "; ") + c.text;
      BaseImageStatus& image = images_[c.image];
      BaseImagePlatform& p = image.platforms[c.platform];
      const BaseImageStatus* before = in_.observed.FindBaseImage(image.image);
      const BaseImagePlatform* was = before != nullptr ? before->FindPlatform(p.platform) : nullptr;
      news = news || was == nullptr || was->latest != c.to;
      if (rebuild) {
        p.digest = c.to;
        p.latest.clear();
        image.digest = c.tag_digest;
        image.latest.clear();
        image.last_changed = Now();
      } else {
        p.latest = c.to;
        image.latest = c.tag_digest;
      }
    }
    change_text_ = text;
    if (!news) return std::nullopt;
    return EventNote{false, "BaseImageChanged", text + "; " + (rebuild ? "rebuilding all platforms" : why_not)};
  }

  const std::string& ChangeText() const { return change_text_; }

  // "image platform digest" of every followed base platform: a base-triggered run's hash.
  std::vector<std::string> RunDigests() const {
    std::vector<std::string> out;
    for (const auto& image : images_) {
      for (const auto& p : image.platforms) out.push_back(image.image + " " + p.platform + " " + p.digest);
    }
    return out;
  }

  std::vector<BaseImageStatus> Status() const {
    std::vector<BaseImageStatus> out;
    for (const auto& image : images_) {
      if (!image.platforms.empty() || !image.digest.empty() || !in_.mai.spec.build->base_images.empty())
        out.push_back(image);
    }
    std::sort(out.begin(), out.end(), [](const BaseImageStatus& a, const BaseImageStatus& b) { return a.image < b.image; });
    return out;
  }

  // BaseImageUnavailable: from what was read this reconcile; carried while nothing was.
  ConditionState Condition(const std::vector<PlatformPlan>& run) const {
    std::vector<BaseProblem> problems;
    for (const auto& p : in_.mai.spec.platforms) {
      if (std::string why = WhyNotReported(in_.mai.spec, p); !why.empty())
        problems.push_back({base_reason::kNotReported, p.String() + ": " + why});
    }
    for (const auto& pp : run) {
      if (pp.entry.base_report.rfind("not reported: ", 0) == 0)
        problems.push_back({base_reason::kNotReported, pp.entry.platform + ": " + pp.entry.base_report.substr(14)});
    }
    for (const auto& p : problems_) problems.push_back(p);
    ConditionState c{condition::kBaseImageUnavailable, false, base_reason::kResolved, ""};
    if (!problems.empty()) {
      c.status = true;
      c.reason = problems[0].reason;
      for (const auto& p : problems) c.message += (c.message.empty() ? "" : "; ") + p.message;
      c.message = ShortenUtf8(c.message, 1024);
      return c;
    }
    if (!resolved_) {
      const kube::Condition* before = in_.observed.FindCondition(condition::kBaseImageUnavailable);
      if (before != nullptr) return ConditionState{before->type, before->status == "True", before->reason, before->message};
    }
    size_t count = 0;
    for (const auto& image : Status()) count += image.platforms.empty() ? 0 : 1;
    if (count == 0) {
      c.reason = base_reason::kPending;
      c.message = "no base image recorded yet: " +
                  std::string(in_.mai.spec.build->follow_base_images ? "the builds report theirs when they finish"
                                                                     : "they are resolved when a build run starts");
      return c;
    }
    c.message = "following " + std::to_string(count) + " base image" + (count == 1 ? "" : "s");
    return c;
  }

 private:
  struct Change {
    size_t image;
    size_t platform;
    std::string to;
    std::string tag_digest;
    std::string text;
  };

  std::string Now() const { return kube::FormatTime(in_.now); }

  // A platform's new report replaces what was recorded for it.
  void Replace(const NewReport& r) {
    for (auto& image : images_) {
      std::erase_if(image.platforms, [&](const BaseImagePlatform& p) { return p.platform == r.platform; });
    }
    for (const auto& b : r.bases) {
      auto image = std::find_if(images_.begin(), images_.end(), [&](const BaseImageStatus& i) { return i.image == b.image; });
      if (image == images_.end()) {
        images_.push_back(BaseImageStatus{b.image, "", "", {}, ""});
        image = images_.end() - 1;
      }
      image->platforms.push_back(BaseImagePlatform{r.platform, b.digest, ""});
      image->digest.clear();  // what the tag pointed at for it is read again
      reported_.push_back({b.image, r.platform, b.digest});
    }
    std::erase_if(images_, [](const BaseImageStatus& i) { return i.platforms.empty(); });
    for (auto& image : images_) SortPlatforms(image);
  }

  void SortPlatforms(BaseImageStatus& image) const {
    auto rank = [&](const std::string& platform) {
      for (size_t i = 0; i < in_.mai.spec.platforms.size(); ++i)
        if (in_.mai.spec.platforms[i].String() == platform) return i;
      return in_.mai.spec.platforms.size();
    };
    std::stable_sort(image.platforms.begin(), image.platforms.end(),
                     [&](const BaseImagePlatform& a, const BaseImagePlatform& b) { return rank(a.platform) < rank(b.platform); });
  }

  // A digest a build reported that the tag no longer holds: moved since (keep it: the
  // comparison rebuilds), or never in the registry (follow the tag's digest instead).
  void CheckReported(BaseImageStatus& image, const ResolvedBase& now, std::vector<PlatformPlan>& run) {
    bool consistent = true;
    for (auto& p : image.platforms) {
      auto parsed = registry::ParsePlatform(p.platform);
      const std::string current = parsed.ok() ? now.DigestFor(*parsed) : "";
      if (current.empty() || current == p.digest) continue;
      auto exists = now.reported_exists.find(p.digest);
      const bool reported_now = std::any_of(reported_.begin(), reported_.end(), [&](const auto& r) {
        return std::get<0>(r) == image.image && std::get<1>(r) == p.platform && std::get<2>(r) == p.digest;
      });
      if (!reported_now || exists == now.reported_exists.end() || exists->second) {
        consistent = false;
        continue;
      }
      for (auto& pp : run) {
        if (pp.entry.platform == p.platform)
          pp.entry.base_report += " (the registry does not hold that digest, so " + image.image + " is followed from " +
                                  current + ")";
      }
      p.digest = current;
    }
    if (consistent && !image.platforms.empty() && image.digest.empty()) {
      image.digest = now.digest;
      const BaseImageStatus* before = in_.observed.FindBaseImage(image.image);
      image.last_changed = before != nullptr && before->platforms == image.platforms && !before->last_changed.empty()
                               ? before->last_changed
                               : Now();
    }
  }

  void Compare(BaseImageStatus& image, const ResolvedBase& now) {
    const size_t index = static_cast<size_t>(&image - images_.data());
    bool changed = false;
    for (size_t i = 0; i < image.platforms.size(); ++i) {
      BaseImagePlatform& p = image.platforms[i];
      auto parsed = registry::ParsePlatform(p.platform);
      const std::string current = parsed.ok() ? now.DigestFor(*parsed) : "";
      if (current.empty()) continue;  // the tag has no entry for it now: nothing to compare
      if (p.digest.empty()) {
        p.digest = current;  // not known when the run started: taken as what it was built from
        continue;
      }
      if (current == p.digest) {
        p.latest.clear();
        continue;
      }
      changed = true;
      changes_.push_back(Change{index, i, current, now.digest,
                                "base " + image.image + " " + p.platform + " changed " + p.digest + " -> " + current});
    }
    if (!changed) {
      image.digest = now.digest;
      image.latest.clear();
      if (image.last_changed.empty()) image.last_changed = Now();
    }
  }

  const BuildInputs& in_;
  const bool fresh_;
  const bool finished_;
  bool explicit_start_ = false;
  bool resolved_ = false;
  std::vector<BaseImageStatus> images_;
  std::vector<std::tuple<std::string, std::string, std::string>> reported_;  // image, platform, digest
  std::vector<BaseProblem> problems_;
  std::vector<Change> changes_;
  std::string change_text_;
};

// Sets the status of a run that is not (or not yet) publishing; false when every
// platform has succeeded. Precedence: a failed platform, a Job that could not be
// created, a platform waiting (for a node or a builder image), then progress.
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
    status.reason = failed->reason.empty() ? reason::kBuildFailed : failed->reason;
    status.message = failed->platform + ": " + failed->message;
  } else if (!create_error.empty()) {
    status.phase = phase::kBuilding;
    status.reason = reason::kJobCreateFailed;
    status.message = create_error;
  } else if (waiting != nullptr) {
    status.phase = phase::kBuilding;
    status.reason = waiting->reason.empty() ? reason::kNoBuilderNode : waiting->reason;
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
  plan.status.phase = phase::kFailed;
  plan.status.reason = reason::kInvalidSpec;
  plan.status.message = error.message;
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

namespace {

// A plan that only asks the executor to read something and plan again.
Plan AskToRead() {
  Plan p;
  p.mode = Plan::Mode::kBuild;
  return p;
}

// What the pods of Jobs that just finished say (the bases a build used, why one failed),
// for the Jobs of `platforms` not yet read.
std::vector<std::string> MissingReports(const BuildInputs& in, const std::vector<PlatformPlan>& platforms) {
  std::vector<std::string> jobs;
  for (const auto& pp : platforms) {
    if (pp.needs_report && (!in.reports || !in.reports->count(pp.entry.job))) jobs.push_back(pp.entry.job);
  }
  return jobs;
}

// A followed base changed: record it, and start a new run (`hash`, `run`) unless
// rebuildPolicy is Never or the last base-triggered run is too recent. Answers a plan
// that asks for the new run's reports when its Jobs exist already (made before a restart).
std::optional<Plan> PlanBaseRebuild(const BuildInputs& in, BaseFollower& bases, Plan& plan, std::string& hash,
                                    std::vector<PlatformPlan>& run) {
  const auto interval = in.config.min_base_rebuild_interval;
  std::optional<std::chrono::system_clock::time_point> allowed_at;
  if (!in.observed.last_base_rebuild.empty()) {
    auto last = kube::ParseTime(in.observed.last_base_rebuild.time);
    if (last.ok() && *last + interval > in.now) allowed_at = *last + interval;
  }
  if (!in.mai.spec.build->rebuild_on_base_change) {
    if (auto event = bases.Decide(false, "rebuildPolicy is Never: not rebuilt")) plan.events.push_back(*event);
    return std::nullopt;
  }
  if (allowed_at) {
    plan.requeue_after = std::chrono::duration_cast<std::chrono::milliseconds>(*allowed_at - in.now);
    if (auto event = bases.Decide(false, "rebuilding at " + kube::FormatTime(*allowed_at) +
                                             " (at most one base-image rebuild per " + FormatDuration(interval) +
                                             ": the operator's baseImages.minRebuildInterval)"))
      plan.events.push_back(*event);
    return std::nullopt;
  }
  if (auto event = bases.Decide(true, "")) plan.events.push_back(*event);
  hash = RunHash(in.mai.spec_json, bases.RunDigests());
  plan.status.last_base_rebuild = BaseRebuild{kube::FormatTime(in.now), bases.ChangeText(), hash};
  run = PlanRun(in, hash);
  if (auto jobs = MissingReports(in, run); !jobs.empty()) {
    Plan p = AskToRead();
    p.needs_reports = std::move(jobs);
    return p;
  }
  return std::nullopt;
}

// The images a new Job of `run` would run (builder and git), to check before it is created.
std::vector<std::string> ImagesToCheck(const BuildInputs& in, const std::vector<PlatformPlan>& run) {
  std::vector<std::string> images;
  for (size_t i = 0; i < run.size(); ++i) {
    if (!run[i].needs_images) continue;
    for (const auto& image : {BuilderImage(in.mai, in.config, in.mai.spec.platforms[i]), in.config.git_image}) {
      if (std::find(images.begin(), images.end(), image) == images.end()) images.push_back(image);
    }
  }
  return images;
}

}  // namespace

Plan PlanBuild(const BuildInputs& in) {
  const MultiArchImageSpec& spec = in.mai.spec;
  const BuildSpec& build = *spec.build;
  Plan plan;
  plan.mode = Plan::Mode::kBuild;

  // The run: the one recorded for this generation, or the generation's first.
  const std::optional<std::string> recorded = RecordedRun(in);
  std::string hash = recorded ? *recorded : SpecHash(in.mai.spec_json);
  std::vector<PlatformPlan> run = PlanRun(in, hash);

  if (auto jobs = MissingReports(in, run); !jobs.empty()) {
    Plan p = AskToRead();
    p.needs_reports = std::move(jobs);
    return p;
  }
  std::vector<std::string> read_errors;
  const std::vector<NewReport> reported = ApplyReports(in, run, read_errors);
  if (!read_errors.empty()) plan.error = Error(ErrorCode::kUnavailable, read_errors.front());

  // Base images: recorded, checked against the registry, and a new run when one changed.
  std::optional<BaseFollower> bases;
  if (build.FollowsBaseImages()) {
    const bool finished = std::all_of(run.begin(), run.end(), [](const PlatformPlan& pp) { return Finished(pp.entry.state); });
    bases.emplace(in, !recorded.has_value(), finished, reported);
    for (const auto& e : read_errors) bases->AddProblem(base_reason::kNotReported, e);
    if (auto queries = bases->Queries(); !queries.empty()) {
      if (!in.bases) {
        Plan p = AskToRead();
        p.needs_bases = std::move(queries);
        return p;
      }
      bases->Resolve(*in.bases, run);
    }
    if (bases->Changed()) {
      if (auto ask = PlanBaseRebuild(in, *bases, plan, hash, run)) return std::move(*ask);
    }
  }
  if (plan.status.last_base_rebuild.empty()) plan.status.last_base_rebuild = in.observed.last_base_rebuild;

  if (!in.images) {
    if (auto images = ImagesToCheck(in, run); !images.empty()) {
      Plan p = AskToRead();
      p.needs_images = std::move(images);
      return p;
    }
  }

  if (bases) {
    plan.status.base_images = bases->Status();
    plan.status.conditions.push_back(bases->Condition(run));
  }
  std::set<std::string> wanted_jobs;
  for (auto& pp : run) {
    wanted_jobs.insert(pp.entry.job);
    if (pp.create) plan.create_jobs.push_back(std::move(*pp.create));
    plan.status.platforms.push_back(std::move(pp.entry));
  }
  // Jobs of an older spec or run build something nobody asked for any more.
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
  const BaseRebuild& rebuild = in.observed.last_base_rebuild;
  const std::string built = !rebuild.empty() && rebuild.run == hash ? "rebuilt for " + rebuild.message : "all platforms built";
  std::string why = WhyPublish(in.observed, in.mai.generation, built, BuildsMoved(in.observed, plan.status.platforms));
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

std::vector<EventNote> OtherConditionEvents(const ObservedStatus& observed, const DesiredStatus& desired) {
  std::vector<EventNote> events;
  for (const auto& c : desired.conditions) {
    const kube::Condition* before = observed.FindCondition(c.type);
    const bool was_true = before != nullptr && before->status == "True";
    if (c.status && (!was_true || before->reason != c.reason)) {
      events.push_back(EventNote{true, c.type, c.message});
    } else if (!c.status && was_true) {
      events.push_back(EventNote{false, c.type + "Cleared", c.message});
    }
  }
  return events;
}

}  // namespace archway::op

// The MultiArchImage reconciler's decisions, as pure functions: what was read goes in
// (the resource, its stored status, its Jobs, the Nodes, what the registry said), what to
// do comes out (Jobs to create and delete, whether to publish and what, the status to
// write, the Events to record). No I/O and no clock: reconciler.cpp reads, plans,
// performs the plan, folds in what its steps did (Record*), and writes the status once,
// only when it differs from the stored one.
//
// Sources mode: every source is pinned by digest (a moved tag is seen at once) and its
// platforms checked against spec.platforms (each platform from exactly one source).
// Build mode: one Job per platform, named from the spec's hash (job_builder.h); a
// platform with no Ready, schedulable node of its os/arch (and spec.build.nodeSelector)
// waits (emulation: Never) or builds emulated (Allow); Jobs of older specs are deleted;
// a Job gone after finishing (ttlSecondsAfterFinished) keeps the state the status
// recorded. When every platform has succeeded, the list of the Jobs' child tags is
// published.
//
// Both modes publish when the list was never published, the last run did not end Ready,
// the generation changed or the inputs moved (a source's digest, a platform's Job); else
// only if the target tag no longer holds status.digest (deleted or overwritten). That
// last fact costs a registry HEAD and matters only when nothing else calls for
// publishing, so a plan that needs it says so (Plan::needs_target) and is planned again
// with Inputs::target read. Build mode reads the same way what only some plans need: the
// pods of Jobs that just finished (needs_reports), the platforms of the images a new
// Job would run (needs_images), and the followed base images (needs_bases).
//
// Build runs. A run is one Job per platform, named by the run's hash (job_builder.h).
// The current run is the one status.platforms records for this generation; a new
// generation starts a run named by the spec's hash alone. A base image change starts a
// run named by the spec and the new base digests, only once the current run has
// finished (one run at a time), at most once per config.min_base_rebuild_interval
// (status.lastBaseRebuild.time), and not with rebuildPolicy: Never (the new digest is
// then recorded as `latest`, with an Event, and nothing is built). Because the hash is
// computed from what the API and the registry hold, an operator restarted before it
// recorded a run finds the same Job names again.
//
// Base images. Listed bases are resolved when a generation's first run starts and
// recorded as what it was built from; with followBaseImages, each buildah Job's report
// (base_images.h) says what its platform was built from, checked against the registry:
// a reported digest the tag no longer holds but the repository does is a base that moved
// since the build pulled it; one the repository never held (buildah's digest of an
// earlier stage) is replaced by the tag's digest. Every reconcile of a resource that
// follows bases HEADs each one; a base that cannot be resolved, or a build that could not
// report, sets BaseImageUnavailable and never changes Ready.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "kube/job.h"
#include "kube/node.h"
#include "operator/base_images.h"
#include "operator/config.h"
#include "operator/spec.h"
#include "operator/status.h"
#include "registry/manifest.h"
#include "registry/platform.h"
#include "registry/publisher.h"
#include "registry/reference.h"

namespace archway::op {

// What the target tag holds (a HEAD): nullopt = not read; an error kNotFound = no such tag.
using TargetFact = std::optional<Result<registry::Descriptor>>;

// A source as the registry resolved it.
struct ResolvedSource {
  SourceImage source;                         // as in the spec
  std::string digest;                         // what its tag points at now (or its own digest)
  std::vector<registry::Platform> platforms;  // runnable platforms of that manifest
};

// The sources in spec order, up to the first the registry could not resolve.
struct SourceFacts {
  std::vector<ResolvedSource> resolved;
  std::optional<Error> failure;  // names the source; its code picks the condition's reason
};

struct SourcesInputs {
  const MultiArchImage& mai;
  const ObservedStatus& observed;
  Status push_secret;  // reading spec.pushSecretRef: ok (or none), or why not
  SourceFacts sources;
  TargetFact target;
};

// A Job in the resource's namespace (the Job cache holds only Jobs archway manages).
struct ObservedJob {
  std::string name;
  std::string controller_uid;  // of the ownerReference with controller: true
  kube::JobState state;
};

// A finished builder Job's pods, as job_report.h reads them.
struct JobReport {
  std::string error;              // the pods could not be read (retried; nothing recorded)
  bool found = false;             // a pod of the Job was there to read
  std::string node;               // where it ran
  std::string build_message;      // termination message of the `build` container
  std::string emulation_message;  // of the `emulation-check` init container, when it failed
};

// The platforms an image a Job would run is published for (the Resolver's answer): an
// empty list means a data-only artifact, taken to fit every platform.
struct ImageFact {
  std::string image;
  Result<std::vector<registry::Platform>> platforms;
};

struct BuildInputs {
  const MultiArchImage& mai;
  const ObservedStatus& observed;
  const OperatorConfig& config;  // builder images, for the Jobs; min_base_rebuild_interval
  std::vector<ObservedJob> jobs;
  std::vector<kube::NodeState> nodes;
  Status push_secret;
  TargetFact target;
  std::chrono::system_clock::time_point now{};  // for base-rebuild spacing and timestamps
  std::optional<std::map<std::string, JobReport>> reports{};  // by Job name; nullopt = not read
  std::optional<std::vector<ImageFact>> images{};             // nullopt = not read
  BaseFacts bases{};                                          // nullopt = not read
};

struct EventNote {
  bool warning = false;
  std::string reason;  // UpperCamelCase
  std::string note;

  bool operator==(const EventNote&) const = default;
};

struct JobCreation {
  std::string name;
  std::string platform;  // "linux/arm64"
  bool emulated = false;
  Json job;           // the batch/v1 Job (job_builder.h)
  EventNote created;  // recorded when the create succeeds (not on AlreadyExists)
};

struct Publication {
  std::string why;  // for the log and the Republished Event
  registry::Reference target;  // spec.image
  std::string target_text;     // as written
  std::vector<registry::Reference> sources;  // the pinned sources, or the Jobs' child tags
  registry::ListFormat format = registry::ListFormat::kOci;
  std::vector<registry::Platform> platforms;  // spec.platforms: the filter for list sources
};

struct Plan {
  enum class Mode { kSources, kBuild } mode = Mode::kSources;
  // Plan again with Inputs::target read; nothing else in this plan is meant to be done.
  bool needs_target = false;
  // The same for BuildInputs::reports (the pods of these Jobs), ::images (these images'
  // platforms) and ::bases (these base images).
  std::vector<std::string> needs_reports;
  std::vector<std::string> needs_images;
  std::vector<BaseQuery> needs_bases;
  std::vector<JobCreation> create_jobs;
  std::vector<std::string> delete_jobs;  // Jobs of older specs, in the resource's namespace
  std::optional<Publication> publish;
  // The status once every step has succeeded; Record* fold the failures in. When
  // publishing, the list's and the platforms' digests come from RecordPublished.
  DesiredStatus status;
  // Recorded once the status is written (or needed no write); the Ready condition's own
  // transition Event comes from ConditionEvent.
  std::vector<EventNote> events;
  // The reconcile ends with this error: retried with backoff (the status says why).
  std::optional<Error> error;
  // Reconcile again after this long (a base rebuild waiting for its interval); 0 = not.
  std::chrono::milliseconds requeue_after{0};

  // True while the plan only asks for something to be read.
  bool NeedsReads() const {
    return needs_target || !needs_reports.empty() || !needs_images.empty() || !needs_bases.empty();
  }
};

// A spec that does not parse: Failed with the parser's message; nothing to retry until
// the spec changes.
Plan PlanInvalidSpec(const Error& error);
Plan PlanSources(const SourcesInputs& in);
Plan PlanBuild(const BuildInputs& in);

// What the executor's steps did. A create answered AlreadyExists is not a failure (the
// name is deterministic: the Job is there).
void RecordCreateFailure(Plan& plan, const std::string& job, const Error& error);
void RecordPublished(Plan& plan, const ObservedStatus& observed, const registry::PublishResult& published);
void RecordPublishFailure(Plan& plan, const ObservedStatus& observed, const Error& error);

// The Event a change of the Ready condition (its status or reason) deserves: Warning for
// a failure, Normal for progress and success; nullopt when it did not change.
std::optional<EventNote> ConditionEvent(const ObservedStatus& observed, const DesiredStatus& desired);
// The same for the other conditions (BaseImageUnavailable): Warning when one turns True
// or changes its reason, Normal when it turns False.
std::vector<EventNote> OtherConditionEvents(const ObservedStatus& observed, const DesiredStatus& desired);

}  // namespace archway::op

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
// with Inputs::target read.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "kube/job.h"
#include "kube/node.h"
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

struct BuildInputs {
  const MultiArchImage& mai;
  const ObservedStatus& observed;
  const OperatorConfig& config;  // builder images, for the Jobs
  std::vector<ObservedJob> jobs;
  std::vector<kube::NodeState> nodes;
  Status push_secret;
  TargetFact target;
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

}  // namespace archway::op

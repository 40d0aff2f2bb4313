#include "operator/reconciler.h"

#include "base/encoding.h"
#include "base/log.h"
#include "kube/job.h"
#include "kube/node.h"
#include "kube/object.h"
#include "kube/time.h"
#include "operator/job_report.h"
#include "registry/manifest.h"
#include "registry/publisher.h"

namespace archway::op {
namespace {

// Plans; when the plan needs to know what the target tag holds, HEADs it and plans again.
Plan PlanSourcesReadingTarget(SourcesInputs& in, registry::RegistryApi& registry, const registry::Keychain* keychain) {
  Plan plan = PlanSources(in);
  if (!plan.needs_target) return plan;
  in.target = registry.HeadManifest(in.mai.spec.image, keychain);
  return PlanSources(in);
}

// Each need is read once per reconcile: reports, then bases, images, the target.
constexpr int kMaxPlanRounds = 6;

}  // namespace

Reconciler::Reconciler(ReconcilerDeps deps) : deps_(std::move(deps)) {
  if (!deps_.clock) deps_.clock = [] { return std::chrono::system_clock::now(); };
}

Result<ReconcileResult> Reconciler::Reconcile(const std::string& key) {
  const auto [ns, name] = kube::SplitObjectKey(key);
  auto object = deps_.images->Get(ns, name);
  // Not an object: nothing to read or to write a status to (informers never cache one).
  if (!object || !object->is_object()) return ReconcileResult{};
  if (kube::IsBeingDeleted(*object)) return ReconcileResult{};  // its Jobs go with it (ownerReferences)
  const ObservedStatus observed = ReadObservedStatus(*object);
  auto mai = ParseMultiArchImage(*object);
  if (!mai.ok()) {
    // Nothing to retry until the spec changes (which enqueues the resource again).
    Status written = WriteStatus(*object, observed, PlanInvalidSpec(mai.error()));
    if (!written.ok()) return written.error();
    return ReconcileResult{};
  }

  auto keychain = PushKeychain(*mai);
  const registry::Keychain* kc = keychain.ok() && keychain->has_value() ? &keychain->value() : nullptr;
  const Status push_secret = keychain.ok() ? Status::Ok() : Status(keychain.error());
  Plan plan = mai->spec.build ? PlanBuildRun(*mai, observed, kc, push_secret)
                              : PlanSourcesRun(*mai, observed, kc, push_secret);
  // A planner that keeps asking for reads is a bug: do nothing rather than half a plan.
  if (plan.NeedsReads()) return Error(ErrorCode::kInternal, "the planner of " + key + " kept asking for reads");
  CreateJobs(*mai, *object, plan);
  DeleteJobs(*mai, plan);
  Publish(*mai, observed, kc, plan);
  Status written = WriteStatus(*object, observed, plan);
  if (!written.ok()) return written.error();
  // Counted once recorded: a run whose status write failed is planned (and counted) again.
  if (deps_.metrics && plan.status.last_base_rebuild.run != observed.last_base_rebuild.run &&
      !plan.status.last_base_rebuild.empty())
    deps_.metrics->BaseImageRebuildStarted();
  if (plan.error) return *plan.error;
  return ReconcileResult{plan.requeue_after};
}

// --- read ---

Result<std::optional<registry::Keychain>> Reconciler::PushKeychain(const MultiArchImage& mai) const {
  const std::string& name = mai.spec.push_secret;
  if (name.empty()) return std::optional<registry::Keychain>();
  auto invalid = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "pushSecretRef " + name + ": " + why);
  };
  // The cache holds only Secrets of this type: one of another type reads as absent.
  auto secret = deps_.secrets->Get(mai.ns, name);
  if (!secret) {
    return Error(ErrorCode::kNotFound, "pushSecretRef " + name + ": no Secret " + name +
                                           " of type kubernetes.io/dockerconfigjson in namespace " + mai.ns);
  }
  auto encoded = kube::StringAt(*secret, {"data", ".dockerconfigjson"});
  if (!encoded) return invalid("no .dockerconfigjson key");
  auto decoded = Base64Decode(*encoded);
  if (!decoded) return invalid(".dockerconfigjson is not base64");
  auto keychain = registry::Keychain::FromDockerConfigJson(*decoded);
  if (!keychain.ok()) return keychain.error().Wrap("pushSecretRef " + name);
  return std::optional<registry::Keychain>(std::move(keychain).value());
}

// HEAD each source's tag (a moved tag is seen at once), then its platforms by digest
// (cached for long). Stops at the first source that fails.
SourceFacts Reconciler::ResolveSources(const MultiArchImageSpec& spec, const registry::Keychain* keychain) {
  SourceFacts facts;
  for (const auto& source : spec.sources) {
    std::string digest = source.ref.digest;
    if (digest.empty()) {
      auto head = deps_.registry->HeadManifest(source.ref, keychain);
      if (!head.ok()) {
        facts.failure = head.error().Wrap("source " + source.text);
        return facts;
      }
      digest = head->digest;
    }
    auto resolved = deps_.resolver->Resolve(source.ref.WithDigest(digest), keychain);
    if (!resolved.ok()) {
      facts.failure = resolved.error().Wrap("source " + source.text);
      return facts;
    }
    facts.resolved.push_back(ResolvedSource{source, digest, resolved->platforms});
  }
  return facts;
}

// --- plan ---

Plan Reconciler::PlanSourcesRun(const MultiArchImage& mai, const ObservedStatus& observed,
                                const registry::Keychain* keychain, const Status& push_secret) {
  SourcesInputs in{mai, observed, push_secret, {}, std::nullopt};
  if (push_secret.ok()) in.sources = ResolveSources(mai.spec, keychain);
  return PlanSourcesReadingTarget(in, *deps_.registry, keychain);
}

Plan Reconciler::PlanBuildRun(const MultiArchImage& mai, const ObservedStatus& observed,
                              const registry::Keychain* keychain, const Status& push_secret) {
  BuildInputs in{mai, observed, deps_.config, {}, {}, push_secret, std::nullopt};
  in.now = deps_.clock();
  for (const auto& job : deps_.jobs->List()) {
    if (kube::NamespaceOf(job) != mai.ns) continue;
    in.jobs.push_back(ObservedJob{kube::NameOf(job), kube::ControllerUidOf(job), kube::ReadJobState(job)});
  }
  for (const auto& node : deps_.nodes->List()) in.nodes.push_back(kube::ReadNode(node));
  Plan plan = PlanBuild(in);
  for (int round = 0; round < kMaxPlanRounds && plan.NeedsReads(); ++round) {
    if (!plan.needs_reports.empty()) {
      if (!in.reports) in.reports.emplace();
      for (const auto& job : plan.needs_reports) (*in.reports)[job] = ReadReport(mai.ns, job);
    }
    if (!plan.needs_bases.empty()) in.bases = ResolveBases(plan.needs_bases, keychain);
    if (!plan.needs_images.empty()) {
      std::vector<ImageFact> facts;
      for (const auto& image : plan.needs_images) {
        auto ref = registry::ParseReference(image);
        auto resolved = ref.ok() ? deps_.resolver->Resolve(*ref, keychain) : Result<registry::ImagePlatforms>(ref.error());
        if (!resolved.ok()) {
          log::Info("cannot read the platforms of a builder Job's image; creating the Job anyway",
                    {{"key", kube::ObjectKey(mai.ns, mai.name)}, {"image", image}, {"error", resolved.error().message}});
          facts.push_back(ImageFact{image, resolved.error()});
        } else {
          facts.push_back(ImageFact{image, resolved->platforms});
        }
      }
      in.images = std::move(facts);
    }
    if (plan.needs_target) in.target = deps_.registry->HeadManifest(mai.spec.image, keychain);
    plan = PlanBuild(in);
  }
  return plan;
}

JobReport Reconciler::ReadReport(const std::string& ns, const std::string& job) {
  kube::ListOptions options;
  options.label_selector = std::string(kJobNamePodLabel) + "=" + job;
  auto pods = deps_.kube->List(kube::resources::kPods, ns, options);
  if (!pods.ok()) {
    JobReport failed;
    failed.error = "cannot read the pods of Job " + job + " (the operator needs RBAC list on pods): " +
                   pods.error().message;
    return failed;
  }
  return ReadJobReport(pods->items);
}

// One HEAD per base; the manifest only when the tag holds a digest the status does not
// know; a HEAD by digest for each reported digest the tag no longer holds.
std::vector<BaseFact> Reconciler::ResolveBases(const std::vector<BaseQuery>& queries,
                                               const registry::Keychain* keychain) {
  std::vector<BaseFact> facts;
  for (const auto& q : queries) {
    auto ref = registry::ParseReference(q.image);
    if (!ref.ok()) {
      facts.push_back(BaseFact{q.image, ref.error()});
      continue;
    }
    auto head = deps_.registry->HeadManifest(*ref, keychain);
    if (deps_.metrics) deps_.metrics->BaseImageLookedUp(head.ok());
    if (!head.ok()) {
      facts.push_back(BaseFact{q.image, head.error()});
      continue;
    }
    ResolvedBase resolved;
    resolved.digest = head->digest;
    if (auto known = q.known.find(head->digest); known != q.known.end()) {
      resolved.list = true;
      resolved.entries = known->second;
    } else {
      auto fetched = deps_.registry->GetManifest(ref->WithDigest(head->digest), keychain);
      auto manifest = fetched.ok() ? registry::ParseManifest(fetched->bytes, fetched->media_type)
                                   : Result<registry::Manifest>(fetched.error());
      if (!manifest.ok()) {
        facts.push_back(BaseFact{q.image, manifest.error()});
        continue;
      }
      resolved.list = manifest->kind == registry::ManifestKind::kIndex;
      for (const auto& m : manifest->manifests) {
        if (m.platform && !m.IsAttestationOrUnknown()) resolved.entries.emplace(m.platform->String(), m.digest);
      }
    }
    for (const auto& digest : q.reported) {
      bool current = digest == resolved.digest;
      for (const auto& [platform, d] : resolved.entries) current = current || d == digest;
      if (current || resolved.reported_exists.count(digest)) continue;
      auto exists = deps_.registry->HeadManifest(ref->WithDigest(digest), keychain);
      // Anything but "not found" counts as there: a moved base is rebuilt, not ignored.
      resolved.reported_exists[digest] = exists.ok() || exists.error().code != ErrorCode::kNotFound;
    }
    facts.push_back(BaseFact{q.image, std::move(resolved)});
  }
  return facts;
}

// --- execute ---

void Reconciler::CreateJobs(const MultiArchImage& mai, const Json& object, Plan& plan) {
  for (const auto& creation : plan.create_jobs) {
    auto created = deps_.kube->Create(kube::resources::kJobs, mai.ns, creation.job);
    if (created.ok()) {
      log::Info("builder Job created", {{"key", kube::ObjectKey(mai.ns, mai.name)}, {"job", creation.name},
                                        {"platform", creation.platform},
                                        {"emulated", creation.emulated ? "true" : "false"}});
      if (deps_.metrics) deps_.metrics->JobCreated();
      RecordEvent(object, creation.created);
    } else if (!kube::IsAlreadyExists(created.error())) {
      RecordCreateFailure(plan, creation.name, created.error());
    }
  }
}

void Reconciler::DeleteJobs(const MultiArchImage& mai, const Plan& plan) {
  kube::DeleteOptions options;
  options.propagation_policy = "Background";
  for (const auto& job : plan.delete_jobs) {
    auto deleted = deps_.kube->Delete(kube::resources::kJobs, mai.ns, job, options);
    if (deleted.ok() || kube::IsNotFound(deleted.error()))
      log::Info("deleted builder Job of an older spec", {{"key", kube::ObjectKey(mai.ns, mai.name)}, {"job", job}});
  }
}

void Reconciler::Publish(const MultiArchImage& mai, const ObservedStatus& observed,
                         const registry::Keychain* keychain, Plan& plan) {
  if (!plan.publish) return;
  const Publication& publication = *plan.publish;
  log::Info("publishing", {{"key", kube::ObjectKey(mai.ns, mai.name)}, {"image", publication.target_text},
                           {"why", publication.why}});
  registry::PublishOptions options;
  options.format = publication.format;
  options.platforms = publication.platforms;
  options.keychain = keychain;
  registry::Publisher publisher(*deps_.registry);
  auto published = publisher.Publish(publication.target, publication.sources, options);
  if (deps_.metrics) deps_.metrics->Published(published.ok());
  if (published.ok()) RecordPublished(plan, observed, *published);
  else RecordPublishFailure(plan, observed, published.error());
}

Status Reconciler::WriteStatus(const Json& object, const ObservedStatus& observed, const Plan& plan) {
  const DesiredStatus& desired = plan.status;
  Json status = RenderStatus(desired, observed, kube::GenerationOf(object), kube::FormatTime(deps_.clock()));
  const std::string key = kube::ObjectKey(object);
  if (status != observed.stored) {
    Json updated = object;
    updated["status"] = std::move(status);
    auto r = deps_.kube->UpdateStatus(kMultiArchImageResource, kube::NamespaceOf(object), updated);
    if (!r.ok()) return r.error().Wrap("updating the status of " + key);
    if (auto changed = ConditionEvent(observed, desired)) {
      log::Info("MultiArchImage condition changed",
                {{"key", key}, {"phase", desired.phase}, {"ready", desired.ready ? "True" : "False"},
                 {"reason", desired.reason}, {"digest", desired.digest}, {"message", desired.message}});
      RecordEvent(object, *changed);
    }
    for (const auto& other : OtherConditionEvents(observed, desired)) {
      log::Info("MultiArchImage condition changed", {{"key", key}, {"reason", other.reason}, {"message", other.note}});
      RecordEvent(object, other);
    }
  }
  for (const auto& event : plan.events) {
    log::Info("MultiArchImage event", {{"key", key}, {"reason", event.reason}, {"message", event.note}});
    RecordEvent(object, event);
  }
  return Status::Ok();
}

void Reconciler::RecordEvent(const Json& object, const EventNote& event) {
  if (deps_.events == nullptr) return;
  Status s = event.warning ? deps_.events->Warning(object, event.reason, event.note)
                           : deps_.events->Normal(object, event.reason, event.note);
  (void)s;  // best effort: the recorder logs its own failures
}

}  // namespace archway::op

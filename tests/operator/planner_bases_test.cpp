// The build planner and base images, builder images and what finished pods say: runs
// of plans with what a reconciler would read (a small world standing in for the
// registry and the pods), checking what each plan decides.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "kube/time.h"
#include "operator/job_builder.h"
#include "operator/planner.h"

namespace archway::op {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

const std::string kUid = "bcadeb64-7997-41e3-b646-dfd2b4aa8c7e";
const std::string kBase = "registry.lan/base/debian:12";
const std::string kReported = "docker.io/library/debian:12-slim";

std::string Digest(char c) { return "sha256:" + std::string(64, c); }
registry::Platform P(const std::string& text) { return registry::ParsePlatform(text).value(); }
std::chrono::system_clock::time_point At(const std::string& t) { return kube::ParseTime(t).value(); }
const auto kNow = At("2026-11-23T15:00:00Z");

MultiArchImage Parse(const Json& spec) {
  Json object = {{"apiVersion", kApiVersion},
                 {"kind", kKind},
                 {"metadata", {{"name", "web"}, {"namespace", "team"}, {"uid", kUid}, {"generation", 1}}},
                 {"spec", spec}};
  auto mai = ParseMultiArchImage(object);
  EXPECT_TRUE(mai.ok()) << mai.error().message;
  return mai.ok() ? *mai : MultiArchImage{};
}

Json Spec(const Json& build_fields, Json platforms = Json::array({"linux/amd64", "linux/arm64"})) {
  Json build = {{"git", {{"url", "https://git.lan/web.git"}, {"revision", "v2"}}}};
  for (const auto& [k, v] : build_fields.items()) build[k] = v;
  return Json{{"image", "registry.lan/app/web:2"}, {"platforms", platforms}, {"build", build}};
}
Json Listed() { return Spec({{"baseImages", Json::array({kBase})}}); }
Json Followed() { return Spec({{"followBaseImages", true}}); }

kube::NodeState Node(const std::string& arch) {
  return kube::NodeState{"node-" + arch, {{"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", arch}}, true, false};
}

ObservedJob Job(const std::string& name, kube::JobPhase phase) {
  ObservedJob job{name, kUid, {phase, "", ""}};
  if (phase == kube::JobPhase::kFailed) job.state = {phase, "BackoffLimitExceeded", "Job has reached the specified backoff limit"};
  return job;
}

std::string JobOf(const MultiArchImage& mai, const std::string& platform, const std::string& hash) {
  return JobName(mai.name, P(platform), hash);
}

// What the reconciler would read, kept as plain data.
struct World {
  std::map<std::string, Result<ResolvedBase>> tags;  // what each base's tag holds
  std::set<std::string> held;                         // digests the base repositories hold
  std::map<std::string, JobReport> pods;              // by Job name; absent = no pod
  std::vector<ImageFact> images;
  std::string target;  // digest the target tag holds
  int base_reads = 0;  // HEADs of base tags
  int manifest_gets = 0;

  void Tag(const std::string& image, char list, std::map<std::string, std::string> entries) {
    tags.insert_or_assign(image, Result<ResolvedBase>(ResolvedBase{Digest(list), true, std::move(entries), {}}));
    for (const auto& [p, d] : tags.at(image)->entries) held.insert(d);
  }
};

// Plans, reading whatever the plan asks for from `world`, the way the reconciler does.
Plan PlanReading(BuildInputs& in, World& world) {
  Plan plan = PlanBuild(in);
  for (int round = 0; round < 6 && plan.NeedsReads(); ++round) {
    for (const auto& job : plan.needs_reports) {
      if (!in.reports) in.reports.emplace();
      auto it = world.pods.find(job);
      (*in.reports)[job] = it != world.pods.end() ? it->second : JobReport{};
    }
    if (!plan.needs_bases.empty()) {
      std::vector<BaseFact> facts;
      for (const auto& q : plan.needs_bases) {
        ++world.base_reads;
        auto tag = world.tags.find(q.image);
        if (tag == world.tags.end()) {
          facts.push_back(BaseFact{q.image, Error(ErrorCode::kNotFound, "manifest unknown")});
          continue;
        }
        if (!tag->second.ok()) {
          facts.push_back(BaseFact{q.image, tag->second.error()});
          continue;
        }
        ResolvedBase r = *tag->second;
        if (auto known = q.known.find(r.digest); known != q.known.end()) {
          r.entries = known->second;
        } else {
          ++world.manifest_gets;
        }
        for (const auto& d : q.reported) r.reported_exists[d] = world.held.count(d) > 0;
        facts.push_back(BaseFact{q.image, r});
      }
      in.bases = facts;
    }
    if (!plan.needs_images.empty()) in.images = world.images;
    if (plan.needs_target) {
      registry::Descriptor d;
      d.digest = world.target;
      in.target = d;
    }
    plan = PlanBuild(in);
  }
  EXPECT_FALSE(plan.NeedsReads());
  return plan;
}

// The status the reconciler writes for `plan` (after publishing as `published`).
Json Written(const Plan& plan, const ObservedStatus& observed, const std::string& now) {
  return RenderStatus(plan.status, observed, 1, now);
}

struct Scenario {
  const MultiArchImage mai;
  const OperatorConfig config;
  World world;
  ObservedStatus observed;
  std::vector<ObservedJob> jobs;
  std::vector<kube::NodeState> nodes = {Node("amd64"), Node("arm64")};
  std::chrono::system_clock::time_point now = kNow;

  explicit Scenario(const Json& spec, OperatorConfig c = {}) : mai(Parse(spec)), config(std::move(c)) {}

  op::Plan Next() {
    BuildInputs in{mai, observed, config, jobs, nodes, Status::Ok(), std::nullopt};
    in.now = now;
    return PlanReading(in, world);
  }
  // Writes the plan's status, as if every step succeeded (a publication as `list`).
  void Write(op::Plan& plan, char list = 'f') {
    if (plan.publish) {
      registry::PublishResult published;
      published.digest = Digest(list);
      for (const auto& p : mai.spec.platforms) published.entries.push_back({p, Digest('9'), "", 0, ""});
      RecordPublished(plan, observed, published);
      world.target = Digest(list);
    }
    observed = ReadObservedStatus(Json{{"status", Written(plan, observed, kube::FormatTime(now))}});
  }
  // The Jobs of `plan` exist and are in `phase`.
  void JobsOf(const op::Plan& plan, kube::JobPhase phase) {
    jobs.clear();
    for (const auto& e : plan.status.platforms) jobs.push_back(Job(e.job, phase));
  }
};

const ConditionState* BaseCondition(const Plan& plan) {
  for (const auto& c : plan.status.conditions)
    if (c.type == condition::kBaseImageUnavailable) return &c;
  return nullptr;
}

std::vector<std::string> Names(const std::vector<JobCreation>& creations) {
  std::vector<std::string> out;
  for (const auto& c : creations) out.push_back(c.name);
  return out;
}

bool HasEvent(const Plan& plan, const std::string& reason, const std::string& part) {
  for (const auto& e : plan.events)
    if (e.reason == reason && e.note.find(part) != std::string::npos) return true;
  return false;
}

// A listed base, built and published: the state every later test starts from.
void BuildAndPublish(Scenario& run) {
  run.world.Tag(kBase, '1', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('b')}});
  Plan first = run.Next();
  ASSERT_EQ(first.create_jobs.size(), 2u);
  run.Write(first);
  run.JobsOf(first, kube::JobPhase::kSucceeded);
  Plan publish = run.Next();
  ASSERT_TRUE(publish.publish);
  run.Write(publish);
  ASSERT_EQ(run.observed.phase, "Ready");
}

TEST(PlanBases, AListedBaseIsResolvedWhenTheRunStartsAndRecordedPerPlatform) {
  Scenario run(Listed());
  run.world.Tag(kBase, '1', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('b')}, {"linux/s390x", Digest('5')}});
  BuildInputs in{run.mai, run.observed, run.config, {}, run.nodes, Status::Ok(), std::nullopt};
  in.now = kNow;
  Plan ask = PlanBuild(in);
  ASSERT_EQ(ask.needs_bases.size(), 1u) << "bases are read before the run's Jobs are created";
  EXPECT_EQ(ask.needs_bases[0].image, kBase);
  EXPECT_TRUE(ask.needs_bases[0].known.empty());
  EXPECT_TRUE(ask.create_jobs.empty());

  Plan plan = run.Next();
  EXPECT_EQ(Names(plan.create_jobs), (std::vector<std::string>{JobOf(run.mai, "linux/amd64", SpecHash(run.mai.spec_json)),
                                                               JobOf(run.mai, "linux/arm64", SpecHash(run.mai.spec_json))}))
      << "a spec's first run is named by the spec alone";
  ASSERT_EQ(plan.status.base_images.size(), 1u);
  const BaseImageStatus& base = plan.status.base_images[0];
  EXPECT_EQ(base.image, kBase);
  EXPECT_EQ(base.digest, Digest('1'));
  EXPECT_EQ(base.platforms, (std::vector<BaseImagePlatform>{{"linux/amd64", Digest('a'), ""}, {"linux/arm64", Digest('b'), ""}}));
  EXPECT_EQ(base.last_changed, "2026-11-23T15:00:00Z");
  ASSERT_NE(BaseCondition(plan), nullptr);
  EXPECT_EQ(*BaseCondition(plan), (ConditionState{"BaseImageUnavailable", false, "Resolved", "following 1 base image"}));
}

TEST(PlanBases, NothingIsLookedUpWhileARunBuildsAndASteadyStateReadsOneHeadPerBase) {
  Scenario run(Listed());
  run.world.Tag(kBase, '1', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('b')}});
  Plan first = run.Next();
  run.Write(first);
  run.JobsOf(first, kube::JobPhase::kRunning);
  run.world.base_reads = 0;
  Plan building = run.Next();
  EXPECT_EQ(run.world.base_reads, 0);
  EXPECT_TRUE(building.create_jobs.empty());
  EXPECT_EQ(building.status.base_images, run.observed.base_images);

  run.JobsOf(first, kube::JobPhase::kSucceeded);
  Plan publish = run.Next();
  ASSERT_TRUE(publish.publish);
  EXPECT_EQ(publish.publish->why, "all platforms built");
  run.Write(publish);

  // Steady: one HEAD per base, no manifest GET (the digest is known), nothing to write.
  run.world.base_reads = run.world.manifest_gets = 0;
  run.now += minutes(10);
  Plan steady = run.Next();
  EXPECT_EQ(run.world.base_reads, 1);
  EXPECT_EQ(run.world.manifest_gets, 0);
  EXPECT_FALSE(steady.publish);
  EXPECT_TRUE(steady.create_jobs.empty() && steady.delete_jobs.empty() && steady.events.empty());
  EXPECT_EQ(Written(steady, run.observed, "2026-11-23T16:00:00Z"), run.observed.stored);
  // ...also once the finished Jobs are gone (ttlSecondsAfterFinished).
  run.jobs.clear();
  EXPECT_EQ(Written(run.Next(), run.observed, "2026-11-23T16:00:00Z"), run.observed.stored);
}

TEST(PlanBases, AChangedBaseRebuildsEveryPlatformOnceInARunNamedByTheNewDigests) {
  Scenario run(Listed());
  BuildAndPublish(run);
  const std::vector<ObservedJob> old_jobs = run.jobs;
  run.world.Tag(kBase, '2', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('c')}});
  run.now += hours(2);
  Plan rebuild = run.Next();
  const std::string hash = RunHash(run.mai.spec_json, {kBase + " linux/amd64 " + Digest('a'), kBase + " linux/arm64 " + Digest('c')});
  EXPECT_EQ(Names(rebuild.create_jobs),
            (std::vector<std::string>{JobOf(run.mai, "linux/amd64", hash), JobOf(run.mai, "linux/arm64", hash)}))
      << "every platform, though only arm64's base changed";
  EXPECT_EQ(rebuild.delete_jobs, (std::vector<std::string>{old_jobs[0].name, old_jobs[1].name}));
  const std::string change = "base " + kBase + " linux/arm64 changed " + Digest('b') + " -> " + Digest('c');
  EXPECT_EQ(rebuild.events, (std::vector<EventNote>{{false, "BaseImageChanged", change + "; rebuilding all platforms"}}));
  EXPECT_EQ(rebuild.status.last_base_rebuild, (BaseRebuild{"2026-11-23T17:00:00Z", change, hash}));
  ASSERT_EQ(rebuild.status.base_images.size(), 1u);
  EXPECT_EQ(rebuild.status.base_images[0].digest, Digest('2'));
  EXPECT_EQ(rebuild.status.base_images[0].platforms[1], (BaseImagePlatform{"linux/arm64", Digest('c'), ""}));
  EXPECT_EQ(rebuild.status.base_images[0].last_changed, "2026-11-23T17:00:00Z");
  EXPECT_EQ(rebuild.status.phase, "Building");

  // An operator restarted before it wrote that status finds the same names: nothing twice.
  for (const auto& c : rebuild.create_jobs) run.jobs.push_back(Job(c.name, kube::JobPhase::kPending));
  Plan restarted = run.Next();
  EXPECT_TRUE(restarted.create_jobs.empty());
  EXPECT_EQ(restarted.delete_jobs, rebuild.delete_jobs);

  // Written; the new run builds: no second rebuild, nothing looked up meanwhile.
  run.Write(rebuild);
  run.jobs.clear();
  for (const auto& c : rebuild.create_jobs) run.jobs.push_back(Job(c.name, kube::JobPhase::kRunning));
  run.world.Tag(kBase, '3', {{"linux/amd64", Digest('d')}, {"linux/arm64", Digest('c')}});
  Plan building = run.Next();
  EXPECT_TRUE(building.create_jobs.empty());
  EXPECT_TRUE(building.events.empty());

  // Built: published again, the Event says why.
  run.world.Tag(kBase, '2', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('c')}});
  for (auto& j : run.jobs) j.state.phase = kube::JobPhase::kSucceeded;
  Plan publish = run.Next();
  ASSERT_TRUE(publish.publish);
  EXPECT_EQ(publish.publish->why, "rebuilt for " + change);
  run.Write(publish, 'e');
  EXPECT_EQ(run.observed.digest, Digest('e'));
  EXPECT_TRUE(HasEvent(publish, "Republished", "rebuilt for " + change + "; now " + Digest('e'))) << publish.events.size();
}

TEST(PlanBases, RebuildsAreSpacedByTheConfiguredInterval) {
  OperatorConfig config;
  config.min_base_rebuild_interval = hours(1);
  Scenario run(Listed(), config);
  BuildAndPublish(run);
  run.world.Tag(kBase, '2', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('c')}});
  run.now += hours(2);
  Plan first = run.Next();
  ASSERT_EQ(first.create_jobs.size(), 2u);
  run.Write(first);
  run.JobsOf(first, kube::JobPhase::kSucceeded);
  Plan published = run.Next();
  run.Write(published);

  // The base changes again 20 minutes after that rebuild started: noted, not built yet.
  run.world.Tag(kBase, '3', {{"linux/amd64", Digest('d')}, {"linux/arm64", Digest('c')}});
  run.now += minutes(20);
  Plan waiting = run.Next();
  EXPECT_TRUE(waiting.create_jobs.empty());
  EXPECT_EQ(waiting.requeue_after, minutes(40));
  EXPECT_TRUE(HasEvent(waiting, "BaseImageChanged",
                       "changed " + Digest('a') + " -> " + Digest('d') +
                           "; rebuilding at 2026-11-23T18:00:00Z (at most one base-image rebuild per 1h"));
  EXPECT_EQ(waiting.status.base_images[0].latest, Digest('3'));
  EXPECT_EQ(waiting.status.base_images[0].platforms[0].latest, Digest('d'));
  EXPECT_EQ(waiting.status.base_images[0].platforms[0].digest, Digest('a')) << "still what the list was built from";
  EXPECT_TRUE(waiting.status.ready) << "the published list stays Ready";
  run.Write(waiting);

  // Asked again: the same, without a second Event and without a manifest GET.
  run.world.manifest_gets = 0;
  run.now += minutes(10);
  Plan again = run.Next();
  EXPECT_TRUE(again.events.empty());
  EXPECT_EQ(run.world.manifest_gets, 0);
  EXPECT_EQ(again.requeue_after, minutes(30));
  EXPECT_EQ(Written(again, run.observed, "x"), run.observed.stored);

  run.now += minutes(30);
  Plan due = run.Next();
  EXPECT_EQ(due.create_jobs.size(), 2u);
  EXPECT_TRUE(HasEvent(due, "BaseImageChanged", "rebuilding all platforms"));
}

TEST(PlanBases, RebuildPolicyNeverRecordsTheChangeOnce) {
  Json spec = Listed();
  spec["build"]["rebuildPolicy"] = "Never";
  Scenario run(spec);
  BuildAndPublish(run);
  run.world.Tag(kBase, '2', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('c')}});
  Plan noted = run.Next();
  EXPECT_TRUE(noted.create_jobs.empty());
  EXPECT_EQ(noted.requeue_after, std::chrono::milliseconds(0));
  EXPECT_TRUE(HasEvent(noted, "BaseImageChanged", "rebuildPolicy is Never: not rebuilt"));
  EXPECT_EQ(noted.status.base_images[0].platforms[1].latest, Digest('c'));
  run.Write(noted);
  EXPECT_TRUE(run.Next().events.empty());
}

TEST(PlanBases, AnUnresolvableBaseSetsTheConditionAndNeverTouchesReady) {
  Scenario run(Listed());
  BuildAndPublish(run);
  run.world.tags.insert_or_assign(kBase, Result<ResolvedBase>(Error(ErrorCode::kUnavailable, "registry.lan: 503 Service Unavailable")));
  Plan plan = run.Next();
  ASSERT_NE(BaseCondition(plan), nullptr);
  EXPECT_EQ(*BaseCondition(plan), (ConditionState{"BaseImageUnavailable", true, "ResolveFailed",
                                                  "base " + kBase + ": registry.lan: 503 Service Unavailable"}));
  EXPECT_TRUE(plan.status.ready);
  EXPECT_EQ(plan.status.reason, "Published");
  EXPECT_TRUE(plan.create_jobs.empty());
  EXPECT_FALSE(plan.error) << "a base is looked at again on the next resync, not retried with backoff";
  EXPECT_EQ(plan.status.base_images, run.observed.base_images) << "what it was built from stays recorded";
  EXPECT_EQ(OtherConditionEvents(run.observed, plan.status),
            (std::vector<EventNote>{{true, "BaseImageUnavailable", BaseCondition(plan)->message}}));
}

TEST(PlanBases, ABaseUnresolvableWhenTheRunStartedIsFilledInLaterWithoutARebuild) {
  Scenario run(Listed());
  run.world.tags.insert_or_assign(kBase, Result<ResolvedBase>(Error(ErrorCode::kNetwork, "connection refused")));
  Plan first = run.Next();
  EXPECT_EQ(first.create_jobs.size(), 2u) << "an unresolvable base never holds a build back";
  EXPECT_TRUE(BaseCondition(first)->status);
  run.Write(first);
  run.JobsOf(first, kube::JobPhase::kSucceeded);
  run.world.Tag(kBase, '1', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('b')}});
  Plan later = run.Next();
  EXPECT_TRUE(later.create_jobs.empty());
  ASSERT_EQ(later.status.base_images.size(), 1u);
  EXPECT_EQ(later.status.base_images[0].platforms.size(), 2u);
  EXPECT_FALSE(BaseCondition(later)->status);
}

JobReport Reported(const std::string& image, const std::string& digest) {
  JobReport r;
  r.found = true;
  r.node = "node";
  r.build_message = R"({"baseImages":[{"name":")" + image + R"(","digest":")" + digest + R"("}]})";
  return r;
}

TEST(PlanBases, FollowedBasesComeFromWhatEachBuildReported) {
  Scenario run(Followed());
  Plan first = run.Next();
  EXPECT_TRUE(first.needs_bases.empty());
  EXPECT_EQ(BaseCondition(first)->reason, "Pending");
  run.Write(first);
  run.JobsOf(first, kube::JobPhase::kSucceeded);
  run.world.Tag(kReported, '1', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('b')}});
  run.world.pods[first.status.platforms[0].job] = Reported(kReported, Digest('a'));
  run.world.pods[first.status.platforms[1].job] = Reported(kReported, Digest('b'));

  BuildInputs in{run.mai, run.observed, run.config, run.jobs, run.nodes, Status::Ok(), std::nullopt};
  in.now = run.now;
  Plan ask = PlanBuild(in);
  EXPECT_EQ(ask.needs_reports, (std::vector<std::string>{first.status.platforms[0].job, first.status.platforms[1].job}));

  Plan publish = run.Next();
  ASSERT_TRUE(publish.publish);
  ASSERT_EQ(publish.status.base_images.size(), 1u);
  EXPECT_EQ(publish.status.base_images[0],
            (BaseImageStatus{kReported, Digest('1'), "",
                             {{"linux/amd64", Digest('a'), ""}, {"linux/arm64", Digest('b'), ""}}, "2026-11-23T15:00:00Z"}));
  EXPECT_EQ(publish.status.platforms[1].base_report, "docker.io/library/debian@" + Digest('b'));
  EXPECT_EQ(*BaseCondition(publish), (ConditionState{"BaseImageUnavailable", false, "Resolved", "following 1 base image"}));
  run.Write(publish);

  // Read once: a steady state lists no pods and writes nothing.
  run.world.pods.clear();
  Plan steady = run.Next();
  EXPECT_EQ(Written(steady, run.observed, "x"), run.observed.stored);

  // The base moves: every platform is rebuilt.
  run.world.Tag(kReported, '2', {{"linux/amd64", Digest('c')}, {"linux/arm64", Digest('b')}});
  run.now += hours(1);
  Plan rebuild = run.Next();
  EXPECT_EQ(rebuild.create_jobs.size(), 2u);
  EXPECT_TRUE(HasEvent(rebuild, "BaseImageChanged",
                       "base " + kReported + " linux/amd64 changed " + Digest('a') + " -> " + Digest('c') +
                           "; rebuilding all platforms"));
}

TEST(PlanBases, AReportedDigestTheTagMovedOffIsABaseToRebuildOneNeverThereIsNot) {
  // Moved between the build's pull and the report: rebuilt at once.
  Scenario moved(Followed());
  Plan first = moved.Next();
  moved.Write(first);
  moved.JobsOf(first, kube::JobPhase::kSucceeded);
  moved.world.Tag(kReported, '1', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('b')}});
  moved.world.Tag(kReported, '2', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('c')}});  // 'b' stays held
  moved.world.pods[first.status.platforms[0].job] = Reported(kReported, Digest('a'));
  moved.world.pods[first.status.platforms[1].job] = Reported(kReported, Digest('b'));
  Plan rebuild = moved.Next();
  EXPECT_EQ(rebuild.create_jobs.size(), 2u);
  EXPECT_TRUE(HasEvent(rebuild, "BaseImageChanged", "changed " + Digest('b') + " -> " + Digest('c')));

  // buildah's digest of an image that never was in the registry (FROM an earlier stage):
  // the tag's digest is followed from here on, and nothing is rebuilt.
  Scenario stage(Followed());
  Plan built = stage.Next();
  stage.Write(built);
  stage.JobsOf(built, kube::JobPhase::kSucceeded);
  stage.world.Tag(kReported, '1', {{"linux/amd64", Digest('a')}, {"linux/arm64", Digest('b')}});
  stage.world.pods[built.status.platforms[0].job] = Reported(kReported, Digest('a'));
  stage.world.pods[built.status.platforms[1].job] = Reported(kReported, Digest('7'));  // not in the registry
  Plan plan = stage.Next();
  EXPECT_TRUE(plan.create_jobs.empty());
  EXPECT_TRUE(plan.publish);
  EXPECT_EQ(plan.status.base_images[0].platforms[1].digest, Digest('b'));
  EXPECT_NE(plan.status.platforms[1].base_report.find("the registry does not hold that digest"), std::string::npos)
      << plan.status.platforms[1].base_report;
}

TEST(PlanBases, ABuildThatCouldNotReportSaysSoAndStaysPublished) {
  Scenario run(Followed());
  Plan first = run.Next();
  run.Write(first);
  run.JobsOf(first, kube::JobPhase::kSucceeded);
  run.world.Tag(kReported, '1', {{"linux/amd64", Digest('a')}});
  run.world.pods[first.status.platforms[0].job] = Reported(kReported, Digest('a'));
  JobReport docker;
  docker.found = true;
  docker.build_message = R"({"error":"buildah recorded no org.opencontainers.image.base.name annotation"})";
  run.world.pods[first.status.platforms[1].job] = docker;
  Plan plan = run.Next();
  ASSERT_TRUE(plan.publish);
  EXPECT_TRUE(plan.status.ready);
  const ConditionState* c = BaseCondition(plan);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->status);
  EXPECT_EQ(c->reason, "NotReported");
  EXPECT_EQ(c->message, "linux/arm64: the build could not report its base image: buildah recorded no "
                        "org.opencontainers.image.base.name annotation");
  run.Write(plan);
  // Said once: not asked again.
  BuildInputs in{run.mai, run.observed, run.config, run.jobs, run.nodes, Status::Ok(), std::nullopt};
  in.now = run.now;
  EXPECT_TRUE(PlanBuild(in).needs_reports.empty());

  // Pods that cannot be read (RBAC) are asked for again and the reconcile retried.
  Scenario forbidden(Followed());
  Plan f = forbidden.Next();
  forbidden.Write(f);
  forbidden.JobsOf(f, kube::JobPhase::kSucceeded);
  JobReport denied;
  denied.error = "cannot read the pods of Job x (the operator needs RBAC list on pods): 403 forbidden";
  forbidden.world.pods[f.status.platforms[0].job] = denied;
  forbidden.world.pods[f.status.platforms[1].job] = denied;
  Plan retried = forbidden.Next();
  ASSERT_TRUE(retried.error);
  EXPECT_EQ(retried.status.platforms[0].base_report, "");
  EXPECT_NE(BaseCondition(retried)->message.find("403 forbidden"), std::string::npos);
}

TEST(PlanBases, ALongReportInAnotherScriptIsCutBetweenCharactersNotInsideOne) {
  // Found with fuzz_operator_reconcile (corpus: utf8-condition-cut-1024.json): the condition
  // message was cut at byte 1021 inside a two-byte character, and the status write threw.
  Scenario run(Followed());
  Plan first = run.Next();
  run.Write(first);
  run.JobsOf(first, kube::JobPhase::kSucceeded);
  JobReport odd;
  odd.found = true;
  std::string why = "xy";
  for (int i = 0; i < 600; ++i) why += "\xC3\xA9";  // é
  odd.build_message = R"({"error":")" + why + R"("})";
  run.world.pods[first.status.platforms[0].job] = odd;
  run.world.pods[first.status.platforms[1].job] = odd;
  Plan plan = run.Next();
  const ConditionState* c = BaseCondition(plan);
  ASSERT_NE(c, nullptr);
  EXPECT_LE(c->message.size(), 1024u);
  EXPECT_EQ(c->message.substr(c->message.size() - 5), "\xC3\xA9...");
  EXPECT_NO_THROW((void)Written(plan, run.observed, "2026-11-23T15:00:00Z").dump());
}

TEST(PlanBases, BuildkitAndDockerFormatBuildsReportNothingAndTheConditionSaysWhy) {
  Scenario kit(Spec({{"followBaseImages", true}, {"strategy", "buildkit"}}));
  Plan first = kit.Next();
  kit.Write(first);
  kit.JobsOf(first, kube::JobPhase::kSucceeded);
  Plan plan = kit.Next();
  EXPECT_TRUE(plan.publish);
  ASSERT_NE(BaseCondition(plan), nullptr);
  EXPECT_EQ(BaseCondition(plan)->reason, "NotReported");
  EXPECT_NE(BaseCondition(plan)->message.find("strategy buildkit does not report"), std::string::npos);

  Json docker = Followed();
  docker["format"] = "docker";
  Scenario d(docker);
  EXPECT_NE(BaseCondition(d.Next())->message.find("not with format: docker"), std::string::npos);
}

TEST(PlanEmulation, AFailedEmulationCheckIsTheRunsReasonAndIsReadOnce) {
  Scenario run(Spec({{"emulation", "Allow"}}));
  run.nodes = {Node("amd64")};
  Plan first = run.Next();
  ASSERT_EQ(first.create_jobs.size(), 2u);
  EXPECT_TRUE(first.create_jobs[1].emulated);
  run.Write(first);
  run.jobs = {Job(first.status.platforms[0].job, kube::JobPhase::kSucceeded),
              Job(first.status.platforms[1].job, kube::JobPhase::kFailed)};
  JobReport pod;
  pod.found = true;
  pod.node = "amd-01";
  pod.emulation_message = "node amd-01 (x86_64) has no QEMU handler for linux/arm64 (...qemu-aarch64 is missing)";
  run.world.pods[first.status.platforms[1].job] = pod;
  Plan failed = run.Next();
  EXPECT_EQ(failed.status.phase, "Failed");
  EXPECT_EQ(failed.status.reason, "EmulationUnavailable");
  EXPECT_EQ(failed.status.message,
            "linux/arm64: Job " + first.status.platforms[1].job + ": " + pod.emulation_message);
  run.Write(failed);
  run.world.pods.clear();
  BuildInputs in{run.mai, run.observed, run.config, run.jobs, run.nodes, Status::Ok(), std::nullopt};
  EXPECT_TRUE(PlanBuild(in).needs_reports.empty()) << "what the pod said is in the status";
  EXPECT_EQ(run.Next().status.reason, "EmulationUnavailable");
}

TEST(PlanBuilderImages, ANativePlatformTheBuilderImageHasNoBuildForWaitsAndSaysWhichImage) {
  Scenario run(Spec(Json::object(), Json::array({"linux/amd64", "linux/arm/v7"})));
  run.nodes = {Node("amd64"), Node("arm")};
  const std::string buildah = run.config.buildah_image;
  run.world.images = {ImageFact{buildah, std::vector<registry::Platform>{P("linux/amd64"), P("linux/arm64"),
                                                                          P("linux/ppc64le"), P("linux/s390x")}},
                      ImageFact{run.config.git_image, std::vector<registry::Platform>{P("linux/amd64"), P("linux/arm/v6")}}};
  BuildInputs in{run.mai, run.observed, run.config, {}, run.nodes, Status::Ok(), std::nullopt};
  Plan ask = PlanBuild(in);
  EXPECT_EQ(ask.needs_images, (std::vector<std::string>{buildah, run.config.git_image}));
  EXPECT_TRUE(ask.create_jobs.empty());

  Plan plan = run.Next();
  ASSERT_EQ(plan.create_jobs.size(), 1u);
  EXPECT_EQ(plan.create_jobs[0].platform, "linux/amd64");
  EXPECT_EQ(plan.status.platforms[1].state, "Waiting");
  EXPECT_EQ(plan.status.reason, "BuilderImageUnavailable");
  EXPECT_EQ(plan.status.message,
            "linux/arm/v7: the Job's image " + buildah +
                " is published for linux/amd64, linux/arm64, linux/ppc64le, linux/s390x, not linux/arm/v7, so its pod "
                "would fail with ErrImagePull there; set spec.build.platformOverrides[linux/arm/v7].builderImage to a "
                "buildah image built for linux/arm/v7, or its strategy: buildkit (the chart's operator.builder values "
                "say which images have which platforms)");

  // The git image has arm/v6, which an arm/v7 node runs; buildkit's image has arm/v7: the
  // platform that overrides its strategy builds, the other one keeps buildah.
  Scenario kit(Spec({{"platformOverrides", {{"linux/arm/v7", {{"strategy", "buildkit"}}}}}},
                    Json::array({"linux/amd64", "linux/arm/v7"})));
  kit.nodes = run.nodes;
  kit.world.images = {run.world.images[0],
                      ImageFact{kit.config.buildkit_image, std::vector<registry::Platform>{P("linux/amd64"), P("linux/arm/v7")}},
                      run.world.images[1]};
  BuildInputs kin{kit.mai, kit.observed, kit.config, {}, kit.nodes, Status::Ok(), std::nullopt};
  EXPECT_EQ(PlanBuild(kin).needs_images, (std::vector<std::string>{buildah, kit.config.git_image, kit.config.buildkit_image}));
  Plan mixed = kit.Next();
  ASSERT_EQ(mixed.create_jobs.size(), 2u);
  EXPECT_EQ(mixed.create_jobs[1].job["spec"]["template"]["spec"]["containers"][0]["image"], kit.config.buildkit_image);

  // An image whose platforms cannot be read (no network to its registry) holds nothing back.
  Scenario offline(Spec(Json::object(), Json::array({"linux/amd64", "linux/arm/v7"})));
  offline.nodes = run.nodes;
  offline.world.images = {ImageFact{buildah, Error(ErrorCode::kNetwork, "resolve quay.io: Host not found")}};
  EXPECT_EQ(offline.Next().create_jobs.size(), 2u);
}

}  // namespace
}  // namespace archway::op

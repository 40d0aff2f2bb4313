// The planners as pure functions: tables of (what was read) -> (what to do), with no API
// server and no registry.
#include "operator/planner.h"

#include <gtest/gtest.h>

#include <functional>

#include "operator/job_builder.h"

namespace archway::op {
namespace {

const std::string kUid = "bcadeb64-7997-41e3-b646-dfd2b4aa8c7e";

std::string Digest(char c) { return "sha256:" + std::string(64, c); }

registry::Platform P(const std::string& text) { return registry::ParsePlatform(text).value(); }

// What a HEAD of the target answers.
registry::Descriptor Head(const std::string& digest) {
  registry::Descriptor d;
  d.media_type = registry::media_type::kOciIndex;
  d.digest = digest;
  return d;
}

MultiArchImage Parse(const Json& spec, int64_t generation = 1) {
  Json object = {{"apiVersion", kApiVersion},
                 {"kind", kKind},
                 {"metadata", {{"name", "web"}, {"namespace", "team"}, {"uid", kUid}, {"generation", generation}}},
                 {"spec", spec}};
  auto mai = ParseMultiArchImage(object);
  EXPECT_TRUE(mai.ok()) << mai.error().message;
  return mai.ok() ? *mai : MultiArchImage{};
}

Json ReadyCondition(const std::string& status, const std::string& why, const std::string& message) {
  return Json{{"type", "Ready"},
              {"status", status},
              {"reason", why},
              {"message", message},
              {"lastTransitionTime", "2026-11-23T15:00:00Z"}};
}

// --- sources mode ---

const std::string kAmd = "registry.lan/app/src:amd64";
const std::string kArm = "registry.lan/app/src:arm64";

Json SourcesSpec() {
  return Json{{"image", "registry.lan/app/web:1.4"},
              {"platforms", Json::array({"linux/amd64", "linux/arm64"})},
              {"sources", Json::array({{{"image", kAmd}}, {{"image", kArm}}})}};
}

ResolvedSource Resolved(const MultiArchImage& mai, size_t i, char digest, std::vector<std::string> platforms) {
  ResolvedSource r{mai.spec.sources.at(i), Digest(digest), {}};
  for (const auto& p : platforms) r.platforms.push_back(P(p));
  return r;
}

// What a Ready resource published from sources amd64@a and arm64@b as list @f stores.
Json PublishedSourcesStatus(int64_t generation = 1) {
  return Json{{"observedGeneration", generation},
              {"phase", "Ready"},
              {"digest", Digest('f')},
              {"platforms", Json::array({{{"platform", "linux/amd64"},
                                          {"digest", Digest('a')},
                                          {"source", "registry.lan/app/src:amd64@" + Digest('a')},
                                          {"state", "Published"}},
                                         {{"platform", "linux/arm64"},
                                          {"digest", Digest('b')},
                                          {"source", "registry.lan/app/src:arm64@" + Digest('b')},
                                          {"state", "Published"}}})},
              {"conditions",
               Json::array({ReadyCondition("True", "Published", "published registry.lan/app/web:1.4 (2 platforms)")})}};
}

// What a row of either table expects of its plan; an expectation left unset is not checked
// (except publish_why: "" means no publication, and retried: false means no error).
template <typename Row>
struct Expected {
  explicit Expected(std::string n) : name(std::move(n)) {}
  Row& AsksForTarget() { return needs_target = true, Self(); }
  Row& Publishes(std::string why) { return publish_why = std::move(why), Self(); }
  Row& Phase(std::string p) { return phase = std::move(p), Self(); }
  Row& Reason(std::string r) { return reason = std::move(r), Self(); }
  Row& Message(std::string m) { return message = std::move(m), Self(); }
  Row& Ends(std::string p, std::string r, std::string m) {
    return Phase(std::move(p)).Reason(std::move(r)).Message(std::move(m));
  }
  Row& Retried() { return retried = true, Self(); }

  // False when the plan only asks for the target (nothing else to check).
  bool Check(const Plan& plan) const {
    EXPECT_EQ(plan.needs_target, needs_target);
    EXPECT_TRUE(plan.needs_reports.empty() && plan.needs_images.empty() && plan.needs_bases.empty());
    if (plan.needs_target) return false;
    EXPECT_EQ(plan.publish ? plan.publish->why : "", publish_why);
    if (!phase.empty()) {
      EXPECT_EQ(plan.status.phase, phase);
    }
    if (!reason.empty()) {
      EXPECT_EQ(plan.status.reason, reason);
    }
    EXPECT_NE(plan.status.message.find(message), std::string::npos) << plan.status.message;
    EXPECT_EQ(plan.error.has_value(), retried);
    return true;
  }

  std::string name;
  bool needs_target = false;
  std::string publish_why;
  std::string phase;
  std::string reason;
  std::string message;  // a substring of the condition's message
  bool retried = false;

 private:
  Row& Self() { return static_cast<Row&>(*this); }
};

// One row: what was read (by default: no push Secret problem, both sources as recorded in
// PublishedSourcesStatus) and what the plan must say.
struct SourcesCase : Expected<SourcesCase> {
  using Read = std::function<void(const MultiArchImage&, SourcesInputs&)>;
  using Expected::Expected;
  SourcesCase& Stored(Json s) { return status = std::move(s), *this; }
  SourcesCase& Generation(int64_t g) { return generation = g, *this; }
  SourcesCase& Reads(Read r) { return read = std::move(r), *this; }

  Json status = Json::object();
  int64_t generation = 1;
  Read read;
};

SourcesCase::Read TargetHolds(std::string digest) {
  return [digest](const MultiArchImage&, SourcesInputs& in) { in.target = Head(digest); };
}

SourcesCase::Read TargetFails(ErrorCode code, std::string message) {
  return
      [=](const MultiArchImage&, SourcesInputs& in) { in.target = Result<registry::Descriptor>(Error(code, message)); };
}

TEST(PlanSources, Table) {
  using C = SourcesCase;
  const std::vector<SourcesCase> cases = {
      C("first run publishes the pinned sources")
          .Publishes("never published")
          .Ends("Ready", "Published", "published registry.lan/app/web:1.4 (2 platforms)"),
      C("steady state asks what the target tag holds").Stored(PublishedSourcesStatus()).AsksForTarget(),
      C("steady state with the target intact keeps the list and its message")
          .Stored(PublishedSourcesStatus())
          .Reads(TargetHolds(Digest('f')))
          .Ends("Ready", "Published", "published registry.lan/app/web:1.4 (2 platforms)"),
      C("an overwritten target is published again")
          .Stored(PublishedSourcesStatus())
          .Reads(TargetHolds(Digest('9')))
          .Publishes("target tag overwritten (holds " + Digest('9') + ")")
          .Phase("Ready")
          .Reason("Published"),
      C("a deleted target is published again")
          .Stored(PublishedSourcesStatus())
          .Reads(TargetFails(ErrorCode::kNotFound, "manifest unknown"))
          .Publishes("target tag deleted")
          .Phase("Ready"),
      C("a target that cannot be read is retried")
          .Stored(PublishedSourcesStatus())
          .Reads(TargetFails(ErrorCode::kNetwork, "connection refused"))
          .Ends("Publishing", "RegistryUnavailable", "target registry.lan/app/web:1.4: connection refused")
          .Retried(),
      C("a moved source tag is published again")
          .Stored(PublishedSourcesStatus())
          .Reads([](const MultiArchImage& mai, SourcesInputs& in) {
            in.sources.resolved[1] = Resolved(mai, 1, 'c', {"linux/arm64"});
          })
          .Publishes("source moved: registry.lan/app/src:arm64@" + Digest('c'))
          .Phase("Ready"),
      C("a new generation is published again")
          .Stored(PublishedSourcesStatus(1))
          .Generation(2)
          .Publishes("spec changed")
          .Phase("Ready"),
      C("a run that did not end Ready is published again (and says so)")
          .Stored([] {
            Json s = PublishedSourcesStatus();
            s["phase"] = "Publishing";
            s["conditions"] =
                Json::array({ReadyCondition("False", "RegistryUnavailable", "source x: connection refused")});
            return s;
          }())
          .Publishes("the last run ended Publishing")
          .Ends("Ready", "Published", "published registry.lan/app/web:1.4 (2 platforms)"),
      C("a missing push Secret fails the run")
          .Stored(PublishedSourcesStatus())
          .Reads([](const MultiArchImage&, SourcesInputs& in) {
            in.push_secret = Error(ErrorCode::kNotFound, "pushSecretRef regcred: no Secret regcred");
          })
          .Ends("Failed", "PushSecretNotFound", "no Secret regcred")
          .Retried(),
      C("a push Secret that does not parse fails the run")
          .Reads([](const MultiArchImage&, SourcesInputs& in) {
            in.push_secret =
                Error(ErrorCode::kInvalidArgument, "pushSecretRef regcred: .dockerconfigjson is not base64");
          })
          .Phase("Failed")
          .Reason("PushSecretInvalid")
          .Retried(),
      C("an unreachable registry is retried")
          .Reads([](const MultiArchImage& mai, SourcesInputs& in) {
            in.sources.resolved.resize(1);
            in.sources.failure = Error(ErrorCode::kUnavailable, "source " + mai.spec.sources[1].text + ": 503");
          })
          .Ends("Publishing", "RegistryUnavailable", "source " + kArm + ": 503")
          .Retried(),
      C("a source that does not exist fails the run")
          .Reads([](const MultiArchImage&, SourcesInputs& in) {
            in.sources.resolved.clear();
            in.sources.failure = Error(ErrorCode::kNotFound, "source " + kAmd + ": manifest unknown");
          })
          .Phase("Failed")
          .Reason("SourceNotFound")
          .Retried(),
      C("refused credentials fail the run")
          .Reads([](const MultiArchImage&, SourcesInputs& in) {
            in.sources.resolved.clear();
            in.sources.failure = Error(ErrorCode::kUnauthorized, "source: 401");
          })
          .Phase("Failed")
          .Reason("RegistryAuthFailed")
          .Retried(),
      C("a source of none of the platforms is named with what it provides")
          .Reads([](const MultiArchImage& mai, SourcesInputs& in) {
            in.sources.resolved[1] = Resolved(mai, 1, 'b', {"linux/ppc64le"});
          })
          .Ends("Failed", "PlatformMismatch",
                "source " + kArm + " provides linux/ppc64le, none of spec.platforms [linux/amd64, linux/arm64]")
          .Retried(),
      C("a mismatch before a failing source is reported first (sources are read in order)")
          .Reads([](const MultiArchImage& mai, SourcesInputs& in) {
            in.sources.resolved = {Resolved(mai, 0, 'a', {})};
            in.sources.failure = Error(ErrorCode::kNotFound, "source " + kArm + ": manifest unknown");
          })
          .Ends("Failed", "PlatformMismatch", "provides no platform")
          .Retried(),
      C("two sources of one platform are both named")
          .Reads([](const MultiArchImage& mai, SourcesInputs& in) {
            in.sources.resolved[1] = Resolved(mai, 1, 'b', {"linux/amd64"});
          })
          .Ends("Failed", "PlatformMismatch",
                "sources registry.lan/app/src:amd64@" + Digest('a') + " and registry.lan/app/src:arm64@" + Digest('b') +
                    " both provide linux/amd64; keep one")
          .Retried(),
      C("a platform no source provides is named")
          .Reads([](const MultiArchImage& mai, SourcesInputs& in) {
            in.sources.resolved = {Resolved(mai, 0, 'a', {"linux/amd64"})};
          })
          .Ends("Failed", "PlatformMismatch",
                "no source provides linux/arm64; add a source for it or remove it from spec.platforms")
          .Retried(),
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const MultiArchImage mai = Parse(SourcesSpec(), c.generation);
    const ObservedStatus observed = ReadObservedStatus(Json{{"status", c.status}});
    SourcesInputs in{mai, observed, Status::Ok(), {}, std::nullopt};
    in.sources.resolved = {Resolved(mai, 0, 'a', {"linux/amd64"}), Resolved(mai, 1, 'b', {"linux/arm64"})};
    if (c.read) c.read(mai, in);
    const Plan plan = PlanSources(in);
    if (!c.Check(plan)) continue;
    EXPECT_TRUE(plan.create_jobs.empty());
    if (c.retried) {
      EXPECT_EQ(plan.status.digest, observed.digest) << "a failure keeps the recorded list";
      EXPECT_EQ(plan.status.platforms, observed.platforms) << "and the recorded platforms";
    }
  }
}

TEST(PlanSources, APublicationPinsTheSourcesAndTheResultFillsTheDigests) {
  const MultiArchImage mai = Parse(SourcesSpec());
  const ObservedStatus observed = ReadObservedStatus(Json{{"status", PublishedSourcesStatus()}});
  SourcesInputs in{mai, observed, Status::Ok(), {}, std::nullopt};
  in.sources.resolved = {Resolved(mai, 0, 'a', {"linux/amd64"}), Resolved(mai, 1, 'c', {"linux/arm64", "linux/s390x"})};
  Plan plan = PlanSources(in);
  ASSERT_TRUE(plan.publish);
  EXPECT_EQ(plan.publish->target, mai.spec.image);
  ASSERT_EQ(plan.publish->sources.size(), 2u);
  EXPECT_EQ(plan.publish->sources[1].String(), "registry.lan/app/src@" + Digest('c'));
  EXPECT_EQ(plan.publish->platforms, mai.spec.platforms);  // s390x is filtered out of the list
  EXPECT_EQ(plan.publish->format, registry::ListFormat::kOci);
  EXPECT_EQ(plan.status.platforms[1].source, "registry.lan/app/src:arm64@" + Digest('c'));

  registry::PublishResult published;
  published.digest = Digest('e');
  published.entries = {{P("linux/amd64"), Digest('a'), "", 0, ""}, {P("linux/arm64"), Digest('7'), "", 0, ""}};
  RecordPublished(plan, observed, published);
  EXPECT_EQ(plan.status.digest, Digest('e'));
  EXPECT_EQ(plan.status.platforms[0].digest, Digest('a'));
  EXPECT_EQ(plan.status.platforms[1].digest, Digest('7'));
  EXPECT_EQ(plan.events, (std::vector<EventNote>{{false, "Republished", plan.publish->why + "; now " + Digest('e')}}));
  EXPECT_FALSE(plan.error);

  // The first publication is no "re"-publication.
  Plan first = PlanSources(SourcesInputs{mai, ObservedStatus{}, Status::Ok(), in.sources, std::nullopt});
  RecordPublished(first, ObservedStatus{}, published);
  EXPECT_TRUE(first.events.empty());
}

TEST(PlanSources, AFailedPublicationKeepsTheRecordedListAndIsRetried) {
  const MultiArchImage mai = Parse(SourcesSpec());
  const ObservedStatus observed = ReadObservedStatus(Json{{"status", PublishedSourcesStatus()}});
  SourcesInputs in{mai, observed, Status::Ok(), {}, std::nullopt};
  in.sources.resolved = {Resolved(mai, 0, 'a', {"linux/amd64"}), Resolved(mai, 1, 'c', {"linux/arm64"})};
  for (auto [code, phase, why] : {std::tuple{ErrorCode::kUnauthorized, "Failed", "RegistryAuthFailed"},
                                  std::tuple{ErrorCode::kTimeout, "Publishing", "RegistryUnavailable"},
                                  std::tuple{ErrorCode::kNotFound, "Failed", "SourceNotFound"}}) {
    Plan plan = PlanSources(in);
    ASSERT_TRUE(plan.publish);
    RecordPublishFailure(plan, observed, Error(code, "refused"));
    EXPECT_EQ(plan.status.phase, phase);
    EXPECT_EQ(plan.status.reason, why);
    EXPECT_EQ(plan.status.message, "publishing registry.lan/app/web:1.4: refused");
    EXPECT_EQ(plan.status.digest, Digest('f'));
    EXPECT_EQ(plan.status.platforms, observed.platforms);
    EXPECT_FALSE(plan.status.ready);
    ASSERT_TRUE(plan.error);
    EXPECT_EQ(plan.error->code, code);
  }
}

// --- build mode ---

Json BuildSpecJson(const std::string& emulation = "Never", Json node_selector = Json::object()) {
  return Json{{"image", "registry.lan/app/web:2"},
              {"platforms", Json::array({"linux/amd64", "linux/arm64"})},
              {"build",
               {{"git", {{"url", "https://git.lan/web.git"}, {"revision", "v2"}}},
                {"emulation", emulation},
                {"nodeSelector", node_selector}}}};
}

kube::NodeState Node(const std::string& arch, bool ready = true, bool unschedulable = false,
                     std::map<std::string, std::string> extra = {}) {
  kube::NodeState node{
      "node-" + arch, {{"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", arch}}, ready, unschedulable};
  node.labels.insert(extra.begin(), extra.end());
  return node;
}

std::string JobOf(const MultiArchImage& mai, const std::string& platform) {
  return JobName(mai.name, P(platform), SpecHash(mai.spec_json));
}

ObservedJob Job(const std::string& name, kube::JobPhase phase, const std::string& owner = kUid) {
  ObservedJob job{name, owner, {phase, "", ""}};
  if (phase == kube::JobPhase::kFailed)
    job.state = {phase, "BackoffLimitExceeded", "Job has reached the specified backoff limit"};
  return job;
}

// What a Ready resource whose Jobs both succeeded (list @f) stores.
Json BuiltStatus(const MultiArchImage& mai) {
  Json platforms = Json::array();
  for (const auto& [p, digest] : {std::pair{"linux/amd64", 'a'}, std::pair{"linux/arm64", 'b'}})
    platforms.push_back({{"platform", p}, {"digest", Digest(digest)}, {"job", JobOf(mai, p)}, {"state", "Succeeded"}});
  return Json{
      {"observedGeneration", mai.generation},
      {"phase", "Ready"},
      {"digest", Digest('f')},
      {"platforms", platforms},
      {"conditions",
       Json::array({ReadyCondition("True", "Published", "published registry.lan/app/web:2 (2 platforms built)")})}};
}

// Plans; a finished Job's pods, when asked for, are gone (as after a long outage).
Plan PlanReadingNoPods(BuildInputs& in) {
  Plan plan = PlanBuild(in);
  while (!plan.needs_reports.empty()) {
    if (!in.reports) in.reports.emplace();
    for (const auto& job : plan.needs_reports) (*in.reports)[job] = JobReport{};
    plan = PlanBuild(in);
  }
  return plan;
}

// One row: what was read (by default: an amd64 and an arm64 builder node, no Jobs, no
// stored status) and what the plan must say.
struct BuildCase : Expected<BuildCase> {
  using Read = std::function<void(const MultiArchImage&, BuildInputs&)>;
  using Names = std::vector<std::string>;
  using Expected::Expected;
  BuildCase& Emulation(std::string e) { return emulation = std::move(e), *this; }
  BuildCase& NodeSelector(Json s) { return node_selector = std::move(s), *this; }
  BuildCase& AfterPublishing() { return built_status = true, *this; }
  BuildCase& Reads(Read r) { return read = std::move(r), *this; }
  BuildCase& Creates(Names n) { return creates = std::move(n), *this; }
  BuildCase& Deletes(Names n) { return deletes = std::move(n), *this; }
  BuildCase& States(Names n) { return states = std::move(n), *this; }

  std::string emulation = "Never";
  Json node_selector = Json::object();
  bool built_status = false;  // the stored status is BuiltStatus
  Read read;
  Names creates;  // platforms, "+e" when emulated
  Names deletes;
  Names states;  // per platform, in spec order; unchecked when empty
};

TEST(PlanBuild, Table) {
  auto both_jobs = [](kube::JobPhase amd, kube::JobPhase arm) {
    return [=](const MultiArchImage& mai, BuildInputs& in) {
      in.jobs = {Job(JobOf(mai, "linux/amd64"), amd), Job(JobOf(mai, "linux/arm64"), arm)};
    };
  };
  const auto ok = kube::JobPhase::kSucceeded;
  using C = BuildCase;
  const std::vector<BuildCase> cases = {
      C("a Job per platform that has a builder node")
          .Creates({"linux/amd64", "linux/arm64"})
          .States({"Pending", "Pending"})
          .Ends("Building", "Building", "0 of 2 platforms built"),
      C("no arm64 node: that platform waits and says what to do")
          .Reads([](const MultiArchImage&, BuildInputs& in) { in.nodes = {Node("amd64")}; })
          .Creates({"linux/amd64"})
          .States({"Pending", "Waiting"})
          .Ends("Building", "NoBuilderNode",
                "linux/arm64: no Ready node with kubernetes.io/os=linux, kubernetes.io/arch=arm64; add a builder node "
                "or set spec.build.emulation: Allow"),
      C("a NotReady or cordoned node is no builder")
          .Reads([](const MultiArchImage&, BuildInputs& in) {
            in.nodes = {Node("amd64", false), Node("arm64", true, true)};
          })
          .States({"Waiting", "Waiting"})
          .Phase("Building")
          .Reason("NoBuilderNode"),
      C("the nodeSelector narrows the builders")
          .NodeSelector({{"archway.dev/builder", "true"}})
          .Reads([](const MultiArchImage&, BuildInputs& in) {
            in.nodes = {Node("amd64", true, false, {{"archway.dev/builder", "true"}}), Node("arm64")};
          })
          .Creates({"linux/amd64"})
          .States({"Pending", "Waiting"})
          .Reason("NoBuilderNode")
          .Message("kubernetes.io/arch=arm64 matching spec.build.nodeSelector"),
      C("emulation: Allow builds a platform without a native node emulated")
          .Emulation("Allow")
          .Reads([](const MultiArchImage&, BuildInputs& in) { in.nodes = {Node("amd64")}; })
          .Creates({"linux/amd64", "linux/arm64+e"})
          .States({"Pending", "Pending"})
          .Reason("Building"),
      C("existing Jobs are not created again")
          .Reads(both_jobs(kube::JobPhase::kRunning, kube::JobPhase::kPending))
          .States({"Running", "Pending"})
          .Phase("Building")
          .Message("0 of 2 platforms built"),
      C("progress counts the succeeded platforms")
          .Reads(both_jobs(ok, kube::JobPhase::kRunning))
          .States({"Succeeded", "Running"})
          .Message("1 of 2 platforms built"),
      C("a failed Job fails the run with its reason and where to look")
          .Reads(both_jobs(ok, kube::JobPhase::kFailed))
          .States({"Succeeded", "Failed"})
          .Ends("Failed", "BuildFailed", "linux/arm64: Job web-linux-arm64-"),
      C("Jobs of an older spec are deleted; others' Jobs are not")
          .Reads([](const MultiArchImage& mai, BuildInputs& in) {
            in.jobs = {Job(JobOf(mai, "linux/amd64"), kube::JobPhase::kRunning), Job("web-linux-amd64-0ld5pec0", ok),
                       Job("other-linux-amd64-12345678", ok, "another-uid"), Job("orphan-linux-amd64-1", ok, "")};
          })
          .Creates({"linux/arm64"})
          .Deletes({"web-linux-amd64-0ld5pec0"})
          .States({"Running", "Pending"}),
      C("a finished Job removed by its TTL keeps the recorded state")
          .AfterPublishing()
          .Reads([](const MultiArchImage& mai, BuildInputs& in) { in.jobs = {Job(JobOf(mai, "linux/arm64"), ok)}; })
          .States({"Succeeded", "Succeeded"})
          .AsksForTarget(),
      C("all built, first time: publish the child tags")
          .Reads(both_jobs(ok, ok))
          .States({"Succeeded", "Succeeded"})
          .Publishes("all platforms built")
          .Ends("Ready", "Published", "published registry.lan/app/web:2 (2 platforms built)"),
      C("all built and published: ask what the target holds")
          .AfterPublishing()
          .Reads(both_jobs(ok, ok))
          .AsksForTarget(),
      C("all built, target intact: nothing to do")
          .AfterPublishing()
          .Reads([&](const MultiArchImage& mai, BuildInputs& in) {
            both_jobs(ok, ok)(mai, in);
            in.target = Head(Digest('f'));
          })
          .States({"Succeeded", "Succeeded"})
          .Ends("Ready", "Published", "published registry.lan/app/web:2 (2 platforms built)"),
      C("all built, target overwritten: publish again")
          .AfterPublishing()
          .Reads([&](const MultiArchImage& mai, BuildInputs& in) {
            both_jobs(ok, ok)(mai, in);
            in.target = Head(Digest('1'));
          })
          .Publishes("target tag overwritten (holds " + Digest('1') + ")")
          .Phase("Ready"),
      C("all built, target unreadable: retried, still Publishing")
          .AfterPublishing()
          .Reads([&](const MultiArchImage& mai, BuildInputs& in) {
            both_jobs(ok, ok)(mai, in);
            in.target = Result<registry::Descriptor>(Error(ErrorCode::kForbidden, "denied"));
          })
          .Ends("Publishing", "RegistryAuthFailed", "target registry.lan/app/web:2: denied")
          .Retried(),
      C("all built, no push Secret: Publishing, retried")
          .Reads([&](const MultiArchImage& mai, BuildInputs& in) {
            both_jobs(ok, ok)(mai, in);
            in.push_secret = Error(ErrorCode::kNotFound, "pushSecretRef regcred: no Secret regcred");
          })
          .States({"Succeeded", "Succeeded"})
          .Phase("Publishing")
          .Reason("PushSecretNotFound")
          .Retried(),
      C("a push Secret problem does not matter while building")
          .Reads([](const MultiArchImage&, BuildInputs& in) {
            in.push_secret = Error(ErrorCode::kNotFound, "pushSecretRef regcred: no Secret regcred");
          })
          .Creates({"linux/amd64", "linux/arm64"})
          .Phase("Building")
          .Reason("Building"),
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const MultiArchImage mai = Parse(BuildSpecJson(c.emulation, c.node_selector));
    const ObservedStatus observed =
        ReadObservedStatus(c.built_status ? Json{{"status", BuiltStatus(mai)}} : Json::object());
    const OperatorConfig config;
    BuildInputs in{mai, observed, config, {}, {Node("amd64"), Node("arm64")}, Status::Ok(), std::nullopt};
    in.images = std::vector<ImageFact>{};  // read: nothing known about the Jobs' images
    if (c.read) c.read(mai, in);
    const Plan plan = PlanReadingNoPods(in);
    if (!c.Check(plan)) continue;
    std::vector<std::string> creates;
    for (const auto& job : plan.create_jobs) {
      creates.push_back(job.platform + (job.emulated ? "+e" : ""));
      EXPECT_EQ(job.name, JobOf(mai, job.platform));
      EXPECT_EQ(job.job["metadata"]["name"], job.name);
      EXPECT_EQ(job.job["spec"]["template"]["spec"]["nodeSelector"].contains("kubernetes.io/arch"), !job.emulated);
      EXPECT_EQ(job.created.reason, "JobCreated");
    }
    EXPECT_EQ(creates, c.creates);
    EXPECT_EQ(plan.delete_jobs, c.deletes);
    if (!c.states.empty()) {
      std::vector<std::string> states;
      for (const auto& e : plan.status.platforms) states.push_back(e.state);
      EXPECT_EQ(states, c.states);
    }
  }
}

TEST(PlanBuild, APublicationOfTheChildTagsAndWhatItsResultRecords) {
  const MultiArchImage mai = Parse(BuildSpecJson());
  const OperatorConfig config;
  BuildInputs in{mai, ObservedStatus{}, config, {}, {}, Status::Ok(), std::nullopt};
  in.jobs = {Job(JobOf(mai, "linux/amd64"), kube::JobPhase::kSucceeded),
             Job(JobOf(mai, "linux/arm64"), kube::JobPhase::kSucceeded)};
  Plan plan = PlanBuild(in);
  ASSERT_TRUE(plan.publish);
  ASSERT_EQ(plan.publish->sources.size(), 2u);
  EXPECT_EQ(plan.publish->sources[0].String(), "registry.lan/app/web:2-linux-amd64");
  EXPECT_EQ(plan.publish->sources[1].String(), "registry.lan/app/web:2-linux-arm64");

  Plan failed = plan;
  RecordPublishFailure(failed, ObservedStatus{}, Error(ErrorCode::kNotFound, "manifest unknown"));
  EXPECT_EQ(failed.status.phase, "Publishing");
  EXPECT_EQ(failed.status.reason, "PublishFailed");  // a missing child tag is a build that did not push
  EXPECT_EQ(failed.status.message, "publishing registry.lan/app/web:2: manifest unknown");
  EXPECT_EQ(failed.status.platforms.size(), 2u) << "the Jobs' states stay visible";
  EXPECT_TRUE(failed.error);

  registry::PublishResult published;
  published.digest = Digest('e');
  published.entries = {{P("linux/arm64"), Digest('2'), "", 0, ""}, {P("linux/amd64"), Digest('1'), "", 0, ""}};
  RecordPublished(plan, ObservedStatus{}, published);
  EXPECT_EQ(plan.status.digest, Digest('e'));
  EXPECT_EQ(plan.status.platforms[0].digest, Digest('1'));
  EXPECT_EQ(plan.status.platforms[1].digest, Digest('2'));
  EXPECT_TRUE(plan.status.ready);
}

TEST(PlanBuild, AJobThatCannotBeCreatedIsRetriedUnlessAPlatformFailed) {
  const MultiArchImage mai = Parse(BuildSpecJson());
  const OperatorConfig config;
  BuildInputs in{mai, ObservedStatus{}, config, {}, {Node("amd64"), Node("arm64")}, Status::Ok(), std::nullopt};
  in.images = std::vector<ImageFact>{};
  Plan plan = PlanBuild(in);
  ASSERT_EQ(plan.create_jobs.size(), 2u);
  RecordCreateFailure(plan, plan.create_jobs[1].name, Error(ErrorCode::kForbidden, "jobs.batch is forbidden"));
  EXPECT_EQ(plan.status.reason, "JobCreateFailed");
  EXPECT_EQ(plan.status.message, "jobs.batch is forbidden");
  EXPECT_EQ(plan.status.platforms[1].message, "jobs.batch is forbidden");
  EXPECT_EQ(plan.status.platforms[0].message, "");
  ASSERT_TRUE(plan.error);
  EXPECT_EQ(plan.error->code, ErrorCode::kUnavailable);

  in.jobs = {Job(JobOf(mai, "linux/amd64"), kube::JobPhase::kFailed)};
  Plan with_failure = PlanReadingNoPods(in);
  ASSERT_EQ(with_failure.create_jobs.size(), 1u);
  RecordCreateFailure(with_failure, with_failure.create_jobs[0].name, Error(ErrorCode::kForbidden, "forbidden"));
  EXPECT_EQ(with_failure.status.reason, "BuildFailed");
  EXPECT_TRUE(with_failure.error);
}

// --- both ---

TEST(Plan, AnInvalidSpecFailsWithoutRetrying) {
  Plan plan = PlanInvalidSpec(Error(ErrorCode::kInvalidArgument, "spec.platforms[1]: duplicate platform linux/arm64"));
  EXPECT_EQ(plan.status.phase, "Failed");
  EXPECT_EQ(plan.status.reason, "InvalidSpec");
  EXPECT_EQ(plan.status.message, "spec.platforms[1]: duplicate platform linux/arm64");
  EXPECT_FALSE(plan.error);
  EXPECT_FALSE(plan.publish);
}

TEST(Plan, TheReadyConditionsTransitionsAreEvents) {
  auto observed = [](const std::string& status, const std::string& why) {
    return ReadObservedStatus(Json{{"status", {{"conditions", Json::array({ReadyCondition(status, why, "m")})}}}});
  };
  DesiredStatus building{phase::kBuilding, "", {}, false, reason::kBuilding, "0 of 2 platforms built"};
  DesiredStatus waiting{phase::kBuilding, "", {}, false, reason::kNoBuilderNode, "no node"};
  DesiredStatus ready{phase::kReady, Digest('f'), {}, true, reason::kPublished, "published"};
  EXPECT_EQ(ConditionEvent(ObservedStatus{}, building), (EventNote{false, "Building", "0 of 2 platforms built"}));
  EXPECT_EQ(ConditionEvent(observed("False", "Building"), building), std::nullopt);  // progress is no transition
  EXPECT_EQ(ConditionEvent(observed("False", "Building"), waiting), (EventNote{true, "NoBuilderNode", "no node"}));
  EXPECT_EQ(ConditionEvent(observed("False", "Building"), ready), (EventNote{false, "Published", "published"}));
  EXPECT_EQ(ConditionEvent(observed("True", "Published"), ready), std::nullopt);
}

}  // namespace
}  // namespace archway::op

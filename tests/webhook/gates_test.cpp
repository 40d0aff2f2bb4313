// The pure half of scheduling gates (webhook/gates.h): what admission adds to a pod whose
// look-ups miss the budget, and what the release writes, checked on the pods they give.
#include "webhook/gates.h"

#include <gtest/gtest.h>

#include "webhook/patch.h"

namespace archway::webhook {
namespace {

using State = ImageOutcome::State;

Json Pod(const Json& spec_extra = Json::object(), const Json& metadata_extra = Json::object()) {
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "web-x1"}, {"namespace", "team"}, {"uid", "u-1"}}},
              {"spec", {{"containers", {{{"name", "app"}, {"image", "reg.lan/app:1"}}}}}}};
  pod["spec"].update(spec_extra);
  pod["metadata"].update(metadata_extra);
  return pod;
}

// A pod as admission gated it.
Json Gated(Json spec_extra = Json::object(), const Json& user_gates = Json::array()) {
  Json gates = user_gates;
  gates.push_back({{"name", kGateName}});
  spec_extra["schedulingGates"] = gates;
  return Pod(spec_extra, {{"labels", {{kGatedLabel, "true"}, {"app", "web"}}}});
}

ImageOutcome Resolved(const std::string& image, const std::vector<std::string>& platforms) {
  ImageOutcome outcome;
  outcome.image = image;
  outcome.state = State::kResolved;
  for (const auto& p : platforms) {
    const auto slash = p.find('/');
    outcome.platforms.push_back({p.substr(0, slash), p.substr(slash + 1)});
  }
  return outcome;
}
ImageOutcome Unfinished(const std::string& image) {
  ImageOutcome outcome;
  outcome.image = image;
  return outcome;
}
ImageOutcome Failed(const std::string& image, const std::string& error, bool transient) {
  ImageOutcome outcome;
  outcome.image = image;
  outcome.state = State::kFailed;
  outcome.error = error;
  outcome.transient = transient;
  return outcome;
}

Json In(const std::string& key, const std::vector<std::string>& values) {
  return Json{{"key", key}, {"operator", "In"}, {"values", values}};
}
Json Term(const std::vector<Json>& expressions) { return Json{{"matchExpressions", expressions}}; }
Json Affinity(const Json& terms) {
  return {{"nodeAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {{"nodeSelectorTerms", terms}}}}}};
}
Json Terms(const Json& pod) {
  auto pointer = "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer;
  return pod.contains(pointer) ? pod.at(pointer) : Json();
}
Json Gates(const Json& pod) { return pod["spec"].value("schedulingGates", Json()); }
std::string Annotation(const Json& pod, const std::string& key) {
  return pod["metadata"].value("annotations", Json::object()).value(key, "<none>");
}
std::string Label(const Json& pod, const std::string& key) {
  return pod["metadata"].value("labels", Json::object()).value(key, "<none>");
}

const std::chrono::milliseconds kTimeout = std::chrono::minutes(2);
const DecisionOptions kPending{};

GateRelease Release(const Json& pod, const std::vector<ImageOutcome>& outcomes, bool timed_out = false,
                    DecisionOptions options = kPending, ClusterFacts facts = {}) {
  auto release = PlanRelease(pod, "team", outcomes, facts, options, timed_out, kTimeout);
  EXPECT_TRUE(release.has_value());
  return release.value_or(GateRelease{});
}

PodPlan PlanOf(const Json& pod) {
  auto plan = PlanPod(pod, "team", kPending);
  EXPECT_TRUE(plan.ok());
  return plan.ok() ? *plan : PodPlan{};
}

// --- admission -----------------------------------------------------------------------

TEST(GateAtAdmission, AnUnfinishedLookUpGatesThePodKeepingTheUsersGates) {
  const Json pod = Pod({{"schedulingGates", {{{"name", "example.com/quota"}}}}});
  const PodPlan plan = PlanOf(pod);
  auto decision = GateAtAdmission(plan, {Unfinished("reg.lan/app:1")}, kTimeout);
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->result, AdmissionResult::kGated);
  const Json patched = pod.patch(Json::parse(WritePatch(decision->mutation, plan.layout)));
  EXPECT_EQ(Gates(patched), Json::parse(R"([{"name":"example.com/quota"},{"name":"archway.dev/platforms"}])"));
  EXPECT_EQ(Label(patched, kGatedLabel), "true");
  EXPECT_EQ(Terms(patched), Json());  // nothing decided yet
  ASSERT_EQ(decision->warnings.size(), 1u);
  EXPECT_NE(decision->warnings[0].find("SchedulingGated"), std::string::npos) << decision->warnings[0];
  EXPECT_NE(decision->warnings[0].find("2m"), std::string::npos) << decision->warnings[0];
}

TEST(GateAtAdmission, ATransientFailureIsAMissAPermanentOneIsNot) {
  const PodPlan plan = PlanOf(Pod());
  auto transient = GateAtAdmission(plan, {Failed("reg.lan/app:1", "HTTP 503", true)}, kTimeout);
  ASSERT_TRUE(transient);
  EXPECT_NE(transient->warnings[0].find("HTTP 503"), std::string::npos);
  // Failed for good: waiting changes nothing, so Decide() admits it now with the reason.
  EXPECT_FALSE(GateAtAdmission(plan, {Failed("reg.lan/app:1", "manifest unknown", false)}, kTimeout));
  EXPECT_FALSE(GateAtAdmission(plan, {Failed("a", "manifest unknown", false), Unfinished("b")}, kTimeout));
  EXPECT_FALSE(GateAtAdmission(plan, {Resolved("reg.lan/app:1", {"linux/amd64"})}, kTimeout));
}

TEST(GateAtAdmission, APodBoundToANodeOrSkippedIsNeverGated) {
  EXPECT_FALSE(GateAtAdmission(PlanOf(Pod({{"nodeName", "n1"}})), {Unfinished("reg.lan/app:1")}, kTimeout));
  const Json skipped = Pod(Json::object(), {{"annotations", {{kSkipAnnotation, "true"}}}});
  EXPECT_FALSE(GateAtAdmission(PlanOf(skipped), {Unfinished("reg.lan/app:1")}, kTimeout));
}

TEST(GateAtAdmission, APodCreatedWithTheGateIsOnlyLabelled) {
  const Json pod = Gated();
  EXPECT_TRUE(CarriesGate(pod));
  EXPECT_FALSE(CarriesGate(Pod()));
  const Decision decision = HandOverAtAdmission();
  EXPECT_TRUE(decision.mutation.scheduling_gates.empty()) << "the API refuses a gate twice";
  EXPECT_EQ(decision.mutation.labels.at(kGatedLabel), "true");
}

TEST(GateAtAdmission, AnEventForANamelessPodIsHandedOverByLabel) {
  Decision decision;
  decision.events.push_back(PodEvent{"NoCommonPlatform", "no platform in common"});
  LabelForPodEvent(decision);
  EXPECT_EQ(decision.mutation.labels.at(kEventLabel), "NoCommonPlatform");
  const Json labelled = Pod(Json::object(), {{"labels", {{kEventLabel, "NoCommonPlatform"}}},
                                             {"annotations", {{kSkippedReasonAnnotation, "why"}}}});
  auto event = PendingPodEvent(labelled);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->reason, "NoCommonPlatform");
  EXPECT_EQ(event->note, "why");
  EXPECT_FALSE(PendingPodEvent(Pod(Json::object(), {{"labels", {{kEventLabel, "SomethingElse"}}}})));
  EXPECT_EQ(WithoutLabel(labelled, kEventLabel)["metadata"].contains("labels"), false);
}

TEST(GateAtAdmission, TransientIsTimeoutsNetwork5xxAnd429) {
  for (ErrorCode code : {ErrorCode::kTimeout, ErrorCode::kNetwork, ErrorCode::kUnavailable, ErrorCode::kRateLimited}) {
    EXPECT_TRUE(IsTransient(code)) << ErrorCodeName(code);
  }
  for (ErrorCode code : {ErrorCode::kNotFound, ErrorCode::kUnauthorized, ErrorCode::kForbidden,
                         ErrorCode::kBadResponse, ErrorCode::kInvalidArgument, ErrorCode::kUnsupported}) {
    EXPECT_FALSE(IsTransient(code)) << ErrorCodeName(code);
  }
}

// --- release -------------------------------------------------------------------------

TEST(PlanRelease, WaitsWhileALookUpIsUnfinishedOrFailedTransiently) {
  EXPECT_FALSE(PlanRelease(Gated(), "team", {Unfinished("reg.lan/app:1")}, {}, kPending, false, kTimeout));
  EXPECT_FALSE(PlanRelease(Gated(), "team", {Failed("reg.lan/app:1", "timed out", true)}, {}, kPending, false, kTimeout));
  // The images changed while it waited: the outcomes are of other images.
  EXPECT_FALSE(PlanRelease(Gated(), "team", {Resolved("reg.lan/old:1", {"linux/amd64"})}, {}, kPending, false, kTimeout));
}

TEST(PlanRelease, NoTermsGetOneTermPerOsAndTheGateAndLabelGo) {
  const Json pod = Gated(Json::object(), {{{"name", "example.com/quota"}}});
  const GateRelease release =
      Release(pod, {Resolved("reg.lan/app:1", {"linux/amd64", "linux/arm64", "windows/amd64"})});
  EXPECT_EQ(release.outcome, GateOutcome::kPlaced);
  EXPECT_EQ(Terms(release.pod),
            Json::array({Term({In("kubernetes.io/os", {"linux"}), In("kubernetes.io/arch", {"amd64", "arm64"})}),
                         Term({In("kubernetes.io/os", {"windows"}), In("kubernetes.io/arch", {"amd64"})})}));
  EXPECT_EQ(Gates(release.pod), Json::parse(R"([{"name":"example.com/quota"}])")) << "the user's gate stays";
  EXPECT_EQ(Label(release.pod, kGatedLabel), "<none>");
  EXPECT_EQ(Label(release.pod, "app"), "web");
  EXPECT_EQ(Annotation(release.pod, kPlatformsAnnotation), "linux/amd64,linux/arm64,windows/amd64");
  EXPECT_TRUE(release.events.empty());
}

TEST(PlanRelease, TheLastGateLeavesNoEmptyList) {
  const GateRelease release = Release(Gated(), {Resolved("reg.lan/app:1", {"linux/arm64"})});
  EXPECT_FALSE(release.pod["spec"].contains("schedulingGates"));
}

TEST(PlanRelease, ExistingTermsOnlyGainRequirementsAppended) {
  const Json user_terms = Json::array({Term({In("disk", {"ssd"})}), Term({In("zone", {"a"})})});
  const GateRelease release =
      Release(Gated({{"affinity", Affinity(user_terms)}}), {Resolved("reg.lan/app:1", {"linux/amd64", "linux/arm64"})});
  EXPECT_EQ(release.outcome, GateOutcome::kPlaced);
  const Json terms = Terms(release.pod);
  ASSERT_EQ(terms.size(), 2u) << "no term added";
  for (size_t i = 0; i < 2; ++i) {
    const Json& expressions = terms[i]["matchExpressions"];
    ASSERT_EQ(expressions.size(), 3u);
    EXPECT_EQ(expressions[0], user_terms[i]["matchExpressions"][0]) << "the user's requirement first, unchanged";
    EXPECT_EQ(expressions[2], In("kubernetes.io/arch", {"amd64", "arm64"}));
  }
}

TEST(PlanRelease, ATermThatPinsTheArchitectureIsLeftAsWritten) {
  const Json user_terms = Json::array({Term({In("kubernetes.io/arch", {"arm64"})}), Term({In("zone", {"a"})})});
  const GateRelease release = Release(Gated({{"affinity", Affinity(user_terms)}}), {Resolved("reg.lan/app:1", {"linux/amd64"})});
  EXPECT_EQ(Terms(release.pod)[0], user_terms[0]);
  EXPECT_EQ(Terms(release.pod)[1]["matchExpressions"].size(), 3u);
}

TEST(PlanRelease, MixedOsImagesThatAreAProductNeedNoNarrowing) {
  const Json user_terms = Json::array({Term({In("zone", {"a"})})});
  const GateRelease release = Release(Gated({{"affinity", Affinity(user_terms)}}),
                                      {Resolved("reg.lan/app:1", {"linux/amd64", "windows/amd64"})});
  EXPECT_EQ(release.outcome, GateOutcome::kPlaced);
  EXPECT_EQ(Terms(release.pod), Json::array({Term({In("zone", {"a"}), In("kubernetes.io/os", {"linux", "windows"}),
                                                   In("kubernetes.io/arch", {"amd64"})})}));
  EXPECT_EQ(Annotation(release.pod, kPlatformsAnnotation), "linux/amd64,windows/amd64");
}

TEST(PlanRelease, MixedOsImagesThatAreNoProductAreNarrowedNeverWidened) {
  const Json user_terms = Json::array({Term({In("zone", {"a"})}), Term({In("zone", {"b"})})});
  const std::vector<ImageOutcome> images = {
      Resolved("reg.lan/app:1", {"linux/amd64", "linux/arm64", "windows/amd64"})};
  const GateRelease release = Release(Gated({{"affinity", Affinity(user_terms)}}), images);
  EXPECT_EQ(release.outcome, GateOutcome::kNarrowed);
  // The widening alternative (os In [linux, windows], arch In [amd64, arm64]) would allow
  // windows/arm64, which no image runs on. Narrowed to the largest product: linux x {amd64, arm64}.
  ASSERT_EQ(Terms(release.pod).size(), 2u);
  EXPECT_EQ(Terms(release.pod)[0], Term({In("zone", {"a"}), In("kubernetes.io/os", {"linux"}),
                                         In("kubernetes.io/arch", {"amd64", "arm64"})}));
  EXPECT_EQ(Annotation(release.pod, kPlatformsAnnotation), "linux/amd64,linux/arm64");
  ASSERT_EQ(release.events.size(), 1u);
  EXPECT_EQ(release.events[0].reason, kPlatformsNarrowedReason);
  EXPECT_NE(release.events[0].note.find("left out: windows/amd64"), std::string::npos) << release.events[0].note;

  // With only windows nodes Ready, the product covering them wins.
  ClusterFacts windows_only;
  windows_only.ready_node_platforms = std::set<OsArch>{{"windows", "amd64"}};
  const GateRelease for_windows = Release(Gated({{"affinity", Affinity(user_terms)}}), images, false, kPending,
                                          windows_only);
  EXPECT_EQ(Annotation(for_windows.pod, kPlatformsAnnotation), "linux/amd64,windows/amd64");
}

// An arm/v7-only image on a cluster with labelled arm nodes: Decide's terms need
// archway.dev/arm-variant (and a second term for arm64 nodes that run 32-bit arm). A gated
// pod's own terms can only gain requirements, so one alternative is kept, with its labels:
// never a bare arch In [arm] that would admit a Pi Zero.
TEST(PlanRelease, NarrowingKeepsTheArmVariantRequirement) {
  ImageOutcome v7 = Resolved("reg.lan/app:1", {"linux/arm"});
  v7.entries = {registry::Platform{"linux", "arm", "v7", ""}};
  ClusterFacts facts;
  facts.arm_variant_labels = std::set<std::string>{"v6", "v7"};
  const Json user_terms = Json::array({Term({In("zone", {"a"})})});
  const GateRelease release = Release(Gated({{"affinity", Affinity(user_terms)}}), {v7}, false, kPending, facts);
  const Json terms = Terms(release.pod);
  ASSERT_EQ(terms.size(), 1u) << terms.dump();
  bool labelled = false;
  for (const auto& expression : terms[0]["matchExpressions"]) {
    const std::string key = expression.value("key", "");
    labelled = labelled || key == "archway.dev/arm-variant" || key == "archway.dev/arm32";
  }
  EXPECT_TRUE(labelled) << terms.dump();
  EXPECT_EQ(terms[0]["matchExpressions"][0], In("zone", {"a"})) << "the user's requirement kept";
}

TEST(PlanRelease, NarrowToProductPicksTheLargestThenTheReadyOnes) {
  const std::set<OsArch> platforms = {{"linux", "amd64"}, {"linux", "arm64"}, {"linux", "arm"}, {"windows", "amd64"}};
  EXPECT_EQ(NarrowToProduct(platforms, std::nullopt),
            (std::set<OsArch>{{"linux", "amd64"}, {"linux", "arm"}, {"linux", "arm64"}}));
  EXPECT_EQ(NarrowToProduct(platforms, std::set<OsArch>{{"windows", "amd64"}, {"linux", "amd64"}}),
            (std::set<OsArch>{{"linux", "amd64"}, {"windows", "amd64"}}));
  EXPECT_TRUE(NarrowToProduct({}, std::nullopt).empty());
  EXPECT_EQ(NarrowToProduct({{"linux", "s390x"}}, std::nullopt), (std::set<OsArch>{{"linux", "s390x"}}));
}

TEST(PlanRelease, NoCommonPlatformWaitsInPendingAndDenyCannotRefuseAnymore) {
  const std::vector<ImageOutcome> images = {Resolved("reg.lan/app:1", {"linux/amd64"})};
  Json pod = Gated();
  pod["spec"]["initContainers"] = {{{"name", "init"}, {"image", "reg.lan/init:1"}}};
  const std::vector<ImageOutcome> both = {Resolved("reg.lan/init:1", {"linux/arm64"}), images[0]};
  const GateRelease pending = Release(pod, both);
  EXPECT_EQ(pending.outcome, GateOutcome::kNoCommonPlatform);
  EXPECT_EQ(Terms(pending.pod), Json::array({Term({Json{{"key", kNoCommonPlatformKey}, {"operator", "Exists"}}})}));
  ASSERT_EQ(pending.events.size(), 1u);
  EXPECT_EQ(pending.events[0].reason, "NoCommonPlatform");

  DecisionOptions deny;
  deny.policy = NoCommonPlatformPolicy::kDeny;
  const GateRelease denied = Release(pod, both, false, deny);
  EXPECT_EQ(denied.outcome, GateOutcome::kNoCommonPlatform);
  EXPECT_EQ(Terms(denied.pod), Terms(pending.pod));
  EXPECT_NE(denied.events[0].note.find("policy deny cannot refuse"), std::string::npos) << denied.events[0].note;
}

TEST(PlanRelease, TimedOutOrFailedForGoodReleasesWithoutAffinityAndSaysWhy) {
  const GateRelease timed_out = Release(Gated(), {Unfinished("reg.lan/app:1")}, true);
  EXPECT_EQ(timed_out.outcome, GateOutcome::kTimedOut);
  EXPECT_EQ(Terms(timed_out.pod), Json());
  EXPECT_FALSE(CarriesGate(timed_out.pod));
  EXPECT_NE(Annotation(timed_out.pod, kSkippedReasonAnnotation).find("did not finish within gateTimeout (2m)"),
            std::string::npos);
  ASSERT_EQ(timed_out.events.size(), 1u);
  EXPECT_EQ(timed_out.events[0].reason, kNoPlatformAffinityReason);

  const GateRelease transient = Release(Gated(), {Failed("reg.lan/app:1", "HTTP 503", true)}, true);
  EXPECT_EQ(transient.outcome, GateOutcome::kTimedOut);
  EXPECT_NE(Annotation(transient.pod, kSkippedReasonAnnotation).find("HTTP 503"), std::string::npos);

  const GateRelease failed = Release(Gated(), {Failed("reg.lan/app:1", "manifest unknown", false)});
  EXPECT_EQ(failed.outcome, GateOutcome::kFailed);
  EXPECT_EQ(Annotation(failed.pod, kSkippedReasonAnnotation), "could not inspect reg.lan/app:1: manifest unknown");
}

TEST(PlanRelease, AGateRemovedBySomeoneElseLeavesTheSchedulingAlone) {
  Json pod = Gated({{"nodeSelector", {{"disk", "ssd"}}}});
  pod["spec"].erase("schedulingGates");
  const GateRelease release = Release(pod, {Resolved("reg.lan/app:1", {"linux/amd64"})});
  EXPECT_EQ(release.outcome, GateOutcome::kReleasedElsewhere);
  EXPECT_EQ(release.pod["spec"], pod["spec"]);
  EXPECT_EQ(Label(release.pod, kGatedLabel), "<none>");
}

TEST(PlanRelease, ASkipReasonThatAppearedWhileGatedIsHonoured) {
  const GateRelease release = Release(Gated({{"nodeSelector", {{"kubernetes.io/arch", "arm64"}}}}), {});
  EXPECT_EQ(release.outcome, GateOutcome::kSkipped);
  EXPECT_FALSE(CarriesGate(release.pod));
  EXPECT_NE(Annotation(release.pod, kSkippedReasonAnnotation).find("nodeSelector"), std::string::npos);
}

TEST(PlanRelease, BadInputIsReleasedWithoutAffinity) {
  Json malformed = Gated();
  malformed["spec"]["containers"] = "not a list";
  const GateRelease release = Release(malformed, {});
  EXPECT_EQ(release.outcome, GateOutcome::kMalformed);
  EXPECT_FALSE(CarriesGate(release.pod));
  EXPECT_NE(Annotation(release.pod, kSkippedReasonAnnotation).find("not a list"), std::string::npos);

  Json unparsable = Gated();
  unparsable["spec"]["containers"][0]["image"] = "Not//A/Reference";
  const GateRelease bad_image = Release(unparsable, {Failed("Not//A/Reference", "invalid reference", false)});
  EXPECT_EQ(bad_image.outcome, GateOutcome::kFailed);
  EXPECT_FALSE(CarriesGate(bad_image.pod));

  Json fifty = Json::array();
  for (int i = 0; i < 50; ++i) fifty.push_back({{"name", "example.com/g" + std::to_string(i)}});
  const GateRelease many = Release(Gated(Json::object(), fifty), {Resolved("reg.lan/app:1", {"linux/amd64"})});
  EXPECT_EQ(Gates(many.pod), fifty);
}

}  // namespace
}  // namespace archway::webhook

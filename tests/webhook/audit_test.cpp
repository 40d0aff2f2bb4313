// Audit mode: the decision is enforce's, the answer only annotates and warns.
#include "webhook/audit.h"

#include <gtest/gtest.h>

#include "webhook/config.h"
#include "webhook/patch.h"

namespace archway::webhook {
namespace {

using State = ImageOutcome::State;

Json Pod(const std::string& spec_extra = "") {
  return Json::parse(R"({"metadata":{"name":"web","namespace":"team"},"spec":{"containers":[)"
                     R"({"name":"app","image":"reg.lan/app:1"},{"name":"side","image":"reg.lan/side:1"}])" +
                     spec_extra + "}}");
}

ImageOutcome Resolved(const std::string& image, std::vector<OsArch> platforms) {
  ImageOutcome outcome;
  outcome.image = image;
  outcome.state = State::kResolved;
  outcome.platforms = std::move(platforms);
  return outcome;
}

struct Audited {
  Decision enforced;
  AuditedDecision audited;
  Json pod_after;  // the pod with the audit answer's patch applied
};

Audited AuditPod(const Json& pod, const std::vector<ImageOutcome>& outcomes,
            NoCommonPlatformPolicy policy = NoCommonPlatformPolicy::kPending) {
  DecisionOptions options;
  options.policy = policy;
  auto plan = PlanPod(pod, "team", options);
  EXPECT_TRUE(plan.ok());
  Audited out;
  out.enforced = Decide(*plan, outcomes, ClusterFacts{}, options);
  out.audited = AuditDecision(out.enforced);
  const std::string patch = WritePatch(out.audited.decision.mutation, plan->layout, PatchTarget{""});
  out.pod_after = patch.empty() ? pod : pod.patch(Json::parse(patch));
  return out;
}

std::string Annotation(const Json& pod, const char* key) {
  if (!pod["metadata"].contains("annotations") || !pod["metadata"]["annotations"].contains(key)) return "<none>";
  return pod["metadata"]["annotations"][key].get<std::string>();
}

bool HasWarningContaining(const Decision& decision, const std::string& text) {
  for (const auto& warning : decision.warnings) {
    if (warning.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(Audit, ConstrainedPodGetsOnlyTheWouldRequireAnnotationAndAWarning) {
  const Json pod = Pod();
  auto run = AuditPod(pod, {Resolved("reg.lan/app:1", {{"linux", "amd64"}, {"linux", "arm64"}}),
                       Resolved("reg.lan/side:1", {{"linux", "arm64"}, {"linux", "amd64"}, {"linux", "arm"}})});
  ASSERT_EQ(run.enforced.result, AdmissionResult::kMutated);
  EXPECT_EQ(run.audited.outcome, AuditOutcome::kConstrained);
  EXPECT_EQ(run.audited.decision.result, AdmissionResult::kMutated);
  EXPECT_FALSE(run.pod_after["spec"].contains("affinity")) << run.pod_after.dump();
  EXPECT_EQ(Annotation(run.pod_after, kWouldRequireAnnotation),
            "kubernetes.io/os in (linux),kubernetes.io/arch in (amd64,arm64)");
  EXPECT_EQ(Annotation(run.pod_after, kPlatformsAnnotation), "<none>");
  EXPECT_TRUE(HasWarningContaining(run.audited.decision, "nothing was enforced"));
  EXPECT_TRUE(run.audited.decision.events.empty());
  EXPECT_TRUE(run.audited.decision.mutation.scheduling_gates.empty());
}

TEST(Audit, UserTermsGiveOneSelectorEachDistinctAlternativeOnce) {
  const Json pod = Pod(R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":)"
                       R"({"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]},)"
                       R"({"matchExpressions":[{"key":"zone","operator":"In","values":["b"]}]}]}}})");
  auto run = AuditPod(pod, {Resolved("reg.lan/app:1", {{"linux", "arm64"}}), Resolved("reg.lan/side:1", {{"linux", "arm64"}})});
  EXPECT_EQ(WouldRequire(run.enforced.mutation), "kubernetes.io/os in (linux),kubernetes.io/arch in (arm64)");
  // The user's terms are left exactly as written.
  EXPECT_EQ(run.pod_after["spec"]["affinity"], pod["spec"]["affinity"]);
}

TEST(Audit, SeveralOsesAreAlternatives) {
  auto run = AuditPod(Pod(), {Resolved("reg.lan/app:1", {{"linux", "amd64"}, {"windows", "amd64"}}),
                         Resolved("reg.lan/side:1", {{"windows", "amd64"}, {"linux", "amd64"}})});
  const std::string would = WouldRequire(run.enforced.mutation);
  EXPECT_NE(would.find(" OR "), std::string::npos) << would;
  EXPECT_NE(would.find("kubernetes.io/os in (linux)"), std::string::npos) << would;
  EXPECT_NE(would.find("kubernetes.io/os in (windows)"), std::string::npos) << would;
}

TEST(Audit, NoCommonPlatformIsCountedAndNeverGated) {
  auto run = AuditPod(Pod(), {Resolved("reg.lan/app:1", {{"linux", "amd64"}}), Resolved("reg.lan/side:1", {{"linux", "arm64"}})});
  ASSERT_EQ(run.enforced.result, AdmissionResult::kNoCommonPlatform);
  EXPECT_EQ(run.audited.outcome, AuditOutcome::kNoCommonPlatform);
  EXPECT_EQ(AuditOutcomeName(run.audited.outcome), std::string("no_common_platform"));
  EXPECT_EQ(Annotation(run.pod_after, kWouldRequireAnnotation), kNoCommonPlatformKey);
  EXPECT_FALSE(run.pod_after["spec"].contains("affinity"));
  EXPECT_FALSE(run.pod_after["spec"].contains("schedulingGates"));
  EXPECT_TRUE(run.audited.decision.events.empty());
  EXPECT_TRUE(HasWarningContaining(run.audited.decision, "audit mode, not enforced"));
}

TEST(Audit, DenialBecomesAnAdmittedPodWithAWarning) {
  auto run = AuditPod(Pod(), {Resolved("reg.lan/app:1", {{"linux", "amd64"}}), Resolved("reg.lan/side:1", {{"linux", "arm64"}})},
                 NoCommonPlatformPolicy::kDeny);
  ASSERT_EQ(run.enforced.result, AdmissionResult::kDenied);
  EXPECT_TRUE(run.audited.decision.allowed());
  EXPECT_EQ(run.audited.decision.result, AdmissionResult::kNoCommonPlatform);
  EXPECT_EQ(run.audited.outcome, AuditOutcome::kNoCommonPlatform);
  EXPECT_TRUE(HasWarningContaining(run.audited.decision, "enforce would deny the pod"));
}

TEST(Audit, FailedLookUpAddsNothingAndIsNotCounted) {
  ImageOutcome failed;
  failed.image = "reg.lan/side:1";
  failed.state = State::kFailed;
  failed.error = "manifest unknown";
  auto run = AuditPod(Pod(), {Resolved("reg.lan/app:1", {{"linux", "amd64"}}), failed});
  EXPECT_EQ(run.audited.outcome, AuditOutcome::kNone);
  EXPECT_EQ(Annotation(run.pod_after, kWouldRequireAnnotation), "<none>");
  EXPECT_EQ(Annotation(run.pod_after, "archway.dev/skipped-reason"), "<none>");
  EXPECT_TRUE(HasWarningContaining(run.audited.decision, "manifest unknown"));
}

TEST(Audit, ModeParsesAndNamesItself) {
  EXPECT_EQ(*ParseMode("audit"), Mode::kAudit);
  EXPECT_EQ(*ParseMode("enforce"), Mode::kEnforce);
  ASSERT_FALSE(ParseMode("warn").ok());
  EXPECT_NE(ParseMode("warn").error().message.find("enforce or audit"), std::string::npos);
  auto config = ParseWebhookConfig("mode: audit\n");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->mode, Mode::kAudit);
  EXPECT_EQ(ParseWebhookConfig("")->mode, Mode::kEnforce);
  EXPECT_FALSE(ParseWebhookConfig("mode: strict\n").ok());
}

}  // namespace
}  // namespace archway::webhook

// Table-driven tests of the admission decision: each patch is applied to the pod with
// nlohmann's JSON Patch and the resulting affinity / annotations are checked.
#include "webhook/decision.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "base/encoding.h"
#include "webhook/patch.h"
#include "webhook/review.h"

namespace archway::webhook {
namespace {

using State = ImageOutcome::State;

Json Pod(const std::string& spec_extra = "", const std::string& metadata_extra = "") {
  return Json::parse(R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","namespace":"team")" +
                     metadata_extra + R"(},"spec":{"containers":[{"name":"app","image":"reg.lan/app:1"}])" +
                     spec_extra + "}}");
}

ImageOutcome Resolved(const std::string& image, const std::vector<std::string>& platforms) {
  ImageOutcome outcome;
  outcome.image = image;
  outcome.state = State::kResolved;
  for (const auto& p : platforms) {
    const auto slash = p.find('/');
    outcome.platforms.push_back({p.substr(0, slash), p.substr(slash + 1)});
  }
  outcome.data_only = platforms.empty();
  return outcome;
}

Json Term(const std::vector<Json>& expressions) { return Json{{"matchExpressions", expressions}}; }
Json In(const std::string& key, const std::vector<std::string>& values) {
  return Json{{"key", key}, {"operator", "In"}, {"values", values}};
}
Json OsIs(const std::string& os) { return In("kubernetes.io/os", {os}); }
Json ArchIn(const std::vector<std::string>& archs) { return In("kubernetes.io/arch", archs); }
Json Zone(const std::string& zone) { return In("topology.kubernetes.io/zone", {zone}); }

Json Required(const Json& pod) {
  auto pointer = "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer;
  return pod.contains(pointer) ? pod.at(pointer) : Json();
}

std::string Annotation(const Json& pod, const std::string& key) {
  const auto& metadata = pod.at("metadata");
  if (!metadata.contains("annotations") || !metadata["annotations"].contains(key)) return "<none>";
  return metadata["annotations"][key].get<std::string>();
}

// A patch's text as a DOM. The text must be JSON exactly as Json::dump writes it.
Json PatchOf(const std::string& text) {
  if (text.empty()) return Json::array();
  Json patch = Json::parse(text);  // throws (failing the test) if it is not JSON
  EXPECT_TRUE(patch.is_array()) << text;
  EXPECT_EQ(patch.dump(), text);
  return patch;
}

struct Applied {
  Decision decision;
  std::string patch;  // the decision's mutation written for the pod
  Json pod;           // after the patch
  PodPlan plan;
};

Applied DecideAndApply(const Json& pod, const std::vector<ImageOutcome>& outcomes, DecisionOptions options = {},
            ClusterFacts facts = {}) {
  auto plan = PlanPod(pod, "team", options);
  EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message);
  Applied applied;
  applied.plan = *plan;
  // Decide only sees outcomes for the images it asked for, as the admitter does.
  std::vector<ImageOutcome> asked;
  if (plan->skip_reason.empty()) asked = outcomes;
  applied.decision = Decide(*plan, asked, facts, options);
  applied.patch = WritePatch(applied.decision.mutation, plan->layout);
  applied.pod = pod.patch(PatchOf(applied.patch));  // throws if the patch does not apply
  return applied;
}

struct AffinityCase {
  std::string name;
  Json pod;
  std::vector<ImageOutcome> outcomes;
  Json expected_terms;        // null: no required affinity after the patch
  std::string platforms;      // archway.dev/platforms, "<none>" when absent
};

class AffinityTable : public ::testing::TestWithParam<AffinityCase> {};

TEST_P(AffinityTable, PatchGivesExpectedAffinity) {
  const auto& c = GetParam();
  Applied applied = DecideAndApply(c.pod, c.outcomes);
  EXPECT_TRUE(applied.decision.allowed());
  EXPECT_EQ(Required(applied.pod), c.expected_terms) << applied.patch;
  EXPECT_EQ(Annotation(applied.pod, kPlatformsAnnotation), c.platforms);
  // Nothing but affinity and annotations changes.
  Json before = c.pod;
  Json after = applied.pod;
  before["spec"].erase("affinity");
  after["spec"].erase("affinity");
  before["metadata"].erase("annotations");
  after["metadata"].erase("annotations");
  EXPECT_EQ(before, after);
}

const std::string kTwoTerms = R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{
  "nodeSelectorTerms":[{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["a"]}]},
                       {"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["b"]}]}]}}})";

INSTANTIATE_TEST_SUITE_P(
    Decision, AffinityTable,
    ::testing::Values(
        AffinityCase{"NoAffinity", Pod(), {Resolved("reg.lan/app:1", {"linux/amd64"})},
                     Json::array({Term({OsIs("linux"), ArchIn({"amd64"})})}), "linux/amd64"},
        AffinityCase{"TwoExistingTermsBothAnded", Pod(kTwoTerms),
                     {Resolved("reg.lan/app:1", {"linux/amd64", "linux/arm64"})},
                     Json::array({Term({Zone("a"), OsIs("linux"), ArchIn({"amd64", "arm64"})}),
                                  Term({Zone("b"), OsIs("linux"), ArchIn({"amd64", "arm64"})})}),
                     "linux/amd64,linux/arm64"},
        AffinityCase{"PreferredOnlyIsKeptAndRequiredCreated",
                     Pod(R"(,"affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[
                          {"weight":1,"preference":{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}}]}})"),
                     {Resolved("reg.lan/app:1", {"linux/arm64"})},
                     Json::array({Term({OsIs("linux"), ArchIn({"arm64"})})}), "linux/arm64"},
        AffinityCase{"EmptyAffinityObject", Pod(R"(,"affinity":{})"), {Resolved("reg.lan/app:1", {"linux/arm64"})},
                     Json::array({Term({OsIs("linux"), ArchIn({"arm64"})})}), "linux/arm64"},
        AffinityCase{"EmptyTermList",
                     Pod(R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[]}}})"),
                     {Resolved("reg.lan/app:1", {"linux/arm64"})},
                     Json::array({Term({OsIs("linux"), ArchIn({"arm64"})})}), "linux/arm64"},
        AffinityCase{"NodeSelectorOnArchLeftAlone", Pod(R"(,"nodeSelector":{"kubernetes.io/arch":"arm64"})"),
                     {Resolved("reg.lan/app:1", {"linux/amd64"})}, Json(), "<none>"},
        AffinityCase{"TermAlreadyOnArchLeftAsWritten",
                     Pod(R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
                          {"matchExpressions":[{"key":"kubernetes.io/arch","operator":"In","values":["arm64"]}]},
                          {"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["b"]}]}]}}})"),
                     {Resolved("reg.lan/app:1", {"linux/amd64"})},
                     Json::array({Term({ArchIn({"arm64"})}), Term({Zone("b"), OsIs("linux"), ArchIn({"amd64"})})}),
                     "linux/amd64"},
        AffinityCase{"EveryTermOnArchSkipsThePod",
                     Pod(R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
                          {"matchExpressions":[{"key":"kubernetes.io/arch","operator":"NotIn","values":["arm"]}]}]}}})"),
                     {Resolved("reg.lan/app:1", {"linux/amd64"})},
                     Json::array({Term({Json{{"key", "kubernetes.io/arch"}, {"operator", "NotIn"}, {"values", {"arm"}}}})}),
                     "<none>"},
        AffinityCase{"MixedLinuxWindowsOneTermPerOs", Pod(),
                     {Resolved("reg.lan/app:1", {"linux/amd64", "linux/arm64", "windows/amd64"})},
                     Json::array({Term({OsIs("linux"), ArchIn({"amd64", "arm64"})}),
                                  Term({OsIs("windows"), ArchIn({"amd64"})})}),
                     "linux/amd64,linux/arm64,windows/amd64"},
        AffinityCase{"MixedOsTimesExistingTerms", Pod(kTwoTerms),
                     {Resolved("reg.lan/app:1", {"linux/amd64", "windows/amd64"})},
                     Json::array({Term({Zone("a"), OsIs("linux"), ArchIn({"amd64"})}),
                                  Term({Zone("a"), OsIs("windows"), ArchIn({"amd64"})}),
                                  Term({Zone("b"), OsIs("linux"), ArchIn({"amd64"})}),
                                  Term({Zone("b"), OsIs("windows"), ArchIn({"amd64"})})}),
                     "linux/amd64,windows/amd64"},
        AffinityCase{"InitContainerNarrowsTheSet",
                     Pod(R"(,"initContainers":[{"name":"init","image":"reg.lan/init:1"}])"),
                     {Resolved("reg.lan/init:1", {"linux/amd64"}),
                      Resolved("reg.lan/app:1", {"linux/amd64", "linux/arm64", "linux/arm"})},
                     Json::array({Term({OsIs("linux"), ArchIn({"amd64"})})}), "linux/amd64"},
        AffinityCase{"VariantsDoNotMatter", Pod(R"(,"initContainers":[{"name":"init","image":"reg.lan/init:1"}])"),
                     // arm/v6 and arm/v7 are both "arm" for scheduling.
                     {Resolved("reg.lan/init:1", {"linux/arm", "linux/arm64"}), Resolved("reg.lan/app:1", {"linux/arm"})},
                     Json::array({Term({OsIs("linux"), ArchIn({"arm"})})}), "linux/arm"},
        AffinityCase{"DataOnlyImageFitsEverything",
                     Pod(R"(,"initContainers":[{"name":"data","image":"reg.lan/data:1"}])"),
                     {Resolved("reg.lan/data:1", {}), Resolved("reg.lan/app:1", {"linux/riscv64"})},
                     Json::array({Term({OsIs("linux"), ArchIn({"riscv64"})})}), "linux/riscv64"},
        AffinityCase{"TermWithOnlyMatchFieldsGetsExpressions",
                     Pod(R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
                          {"matchFields":[{"key":"metadata.name","operator":"In","values":["n1","n2"]}]}]}}})"),
                     {Resolved("reg.lan/app:1", {"linux/amd64"})},
                     Json::array({Json{{"matchFields", {{{"key", "metadata.name"}, {"operator", "In"}, {"values", {"n1", "n2"}}}}},
                                       {"matchExpressions", {OsIs("linux"), ArchIn({"amd64"})}}}}),
                     "linux/amd64"}),
    [](const ::testing::TestParamInfo<AffinityCase>& info) { return info.param.name; });

TEST(Decision, NodeSelectorOnArchNeedsNoLookup) {
  Applied applied = DecideAndApply(Pod(R"(,"nodeSelector":{"kubernetes.io/arch":"arm64"})"), {});
  EXPECT_FALSE(applied.plan.skip_reason.empty());
  EXPECT_EQ(Annotation(applied.pod, kSkippedReasonAnnotation), "spec.nodeSelector already sets kubernetes.io/arch");
  EXPECT_EQ(applied.decision.result, AdmissionResult::kSkipped);
}

TEST(Decision, NoCommonPlatformPendingAddsUnsatisfiableRequirement) {
  DecisionOptions options;
  options.policy = NoCommonPlatformPolicy::kPending;
  Applied applied = DecideAndApply(Pod(kTwoTerms + R"(,"initContainers":[{"name":"i","image":"reg.lan/init:1"}])"),
                        {Resolved("reg.lan/init:1", {"linux/arm64"}), Resolved("reg.lan/app:1", {"linux/amd64"})},
                        options);
  const Json exists = {{"key", "archway.dev/no-common-platform"}, {"operator", "Exists"}};
  EXPECT_EQ(Required(applied.pod), Json::array({Term({Zone("a"), exists}), Term({Zone("b"), exists})}));
  EXPECT_TRUE(applied.decision.allowed());
  ASSERT_EQ(applied.decision.warnings.size(), 1u);
  EXPECT_NE(applied.decision.warnings[0].find("reg.lan/init:1 (linux/arm64)"), std::string::npos);
  EXPECT_NE(applied.decision.warnings[0].find("reg.lan/app:1 (linux/amd64)"), std::string::npos);
  ASSERT_EQ(applied.decision.events.size(), 1u);
  EXPECT_EQ(applied.decision.events[0].reason, "NoCommonPlatform");
  EXPECT_NE(applied.decision.events[0].note.find("no platform in common"), std::string::npos);
  EXPECT_EQ(applied.decision.result, AdmissionResult::kNoCommonPlatform);
  EXPECT_NE(Annotation(applied.pod, kSkippedReasonAnnotation).find("no platform in common"), std::string::npos);
  EXPECT_EQ(Annotation(applied.pod, kPlatformsAnnotation), "<none>");
}

TEST(Decision, NoCommonPlatformDenyRejectsWith403) {
  DecisionOptions options;
  options.policy = NoCommonPlatformPolicy::kDeny;
  auto plan = PlanPod(Pod(), "team", options);
  ASSERT_TRUE(plan.ok());
  Decision decision =
      Decide(*plan, {Resolved("reg.lan/app:1", {"windows/amd64"}), Resolved("x", {"linux/arm64"})}, {}, options);
  EXPECT_FALSE(decision.allowed());
  ASSERT_TRUE(decision.denial.has_value());
  EXPECT_EQ(decision.denial->code, 403);
  EXPECT_EQ(decision.denial->reason, "Forbidden");
  EXPECT_NE(decision.denial->message.find("no platform in common"), std::string::npos);
  EXPECT_TRUE(decision.mutation.empty());
  EXPECT_EQ(WritePatch(decision.mutation, plan->layout), "");
  EXPECT_EQ(decision.result, AdmissionResult::kDenied);
}

TEST(Decision, NoCommonPlatformIgnoreAdmitsWithoutAffinity) {
  DecisionOptions options;
  options.policy = NoCommonPlatformPolicy::kIgnore;
  Applied applied = DecideAndApply(Pod(R"(,"initContainers":[{"name":"i","image":"reg.lan/init:1"}])"),
                        {Resolved("reg.lan/init:1", {"linux/arm64"}), Resolved("reg.lan/app:1", {"linux/amd64"})},
                        options);
  EXPECT_TRUE(applied.decision.allowed());
  EXPECT_EQ(Required(applied.pod), Json());
  EXPECT_TRUE(applied.decision.events.empty());
  ASSERT_EQ(applied.decision.warnings.size(), 1u);
  EXPECT_NE(applied.decision.warnings[0].find("policy ignore"), std::string::npos);
}

TEST(Decision, NodeNameIsNotRewrittenButWarnsOnWrongArch) {
  const Json pod = Pod(R"(,"nodeName":"pi-01")");
  auto plan = PlanPod(pod, "team", {});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->node_name, "pi-01");
  ClusterFacts facts;
  facts.pinned_node_platform = OsArch{"linux", "arm64"};
  Decision decision = Decide(*plan, {Resolved("reg.lan/app:1", {"linux/amd64"})}, facts, {});
  Json patched = pod.patch(PatchOf(WritePatch(decision.mutation, plan->layout)));
  EXPECT_EQ(Required(patched), Json());
  EXPECT_EQ(Annotation(patched, kSkippedReasonAnnotation), "spec.nodeName is set to pi-01");
  ASSERT_EQ(decision.warnings.size(), 1u);
  EXPECT_NE(decision.warnings[0].find("node pi-01 is linux/arm64"), std::string::npos);

  facts.pinned_node_platform = OsArch{"linux", "amd64"};
  EXPECT_TRUE(Decide(*plan, {Resolved("reg.lan/app:1", {"linux/amd64"})}, facts, {}).warnings.empty());
}

TEST(Decision, OptOutAnnotation) {
  Applied applied = DecideAndApply(Pod("", R"(,"annotations":{"archway.dev/skip":"true"})"),
                        {Resolved("reg.lan/app:1", {"linux/amd64"})});
  EXPECT_EQ(Required(applied.pod), Json());
  EXPECT_EQ(Annotation(applied.pod, kSkippedReasonAnnotation), "opted out with the annotation archway.dev/skip");
  EXPECT_EQ(Annotation(applied.pod, "archway.dev/skip"), "true");
  // Any other value does not opt out.
  Applied not_skipped = DecideAndApply(Pod("", R"(,"annotations":{"archway.dev/skip":"false"})"),
                            {Resolved("reg.lan/app:1", {"linux/amd64"})});
  EXPECT_EQ(Annotation(not_skipped.pod, kPlatformsAnnotation), "linux/amd64");
}

TEST(Decision, SkippedNamespaceIsUntouched) {
  DecisionOptions options;
  options.skip_namespaces = {"kube-system", "team"};
  Applied applied = DecideAndApply(Pod(), {}, options);
  EXPECT_TRUE(applied.patch.empty());
  EXPECT_EQ(applied.decision.result, AdmissionResult::kUnchanged);
}

TEST(Decision, UninspectableImageNeverYieldsAnAffinity) {
  Applied applied = DecideAndApply(Pod(R"(,"initContainers":[{"name":"i","image":"reg.lan/init:1"}])"),
                        [] {
                          ImageOutcome failed;
                          failed.image = "reg.lan/init:1";
                          failed.state = State::kFailed;
                          failed.error = "unauthorized: authentication required";
                          return std::vector<ImageOutcome>{failed, Resolved("reg.lan/app:1", {"linux/amd64"})};
                        }());
  EXPECT_EQ(Required(applied.pod), Json());
  ASSERT_EQ(applied.decision.warnings.size(), 1u);
  EXPECT_NE(applied.decision.warnings[0].find("reg.lan/init:1: unauthorized"), std::string::npos);
  EXPECT_EQ(applied.decision.result, AdmissionResult::kError);
  EXPECT_NE(Annotation(applied.pod, kSkippedReasonAnnotation).find("could not inspect reg.lan/init:1"), std::string::npos);
}

TEST(Decision, UnfinishedLookupWarnsAboutTheBudget) {
  ImageOutcome unfinished;
  unfinished.image = "reg.lan/app:1";
  Applied applied = DecideAndApply(Pod(), {unfinished});
  EXPECT_EQ(Required(applied.pod), Json());
  ASSERT_EQ(applied.decision.warnings.size(), 1u);
  EXPECT_NE(applied.decision.warnings[0].find("did not finish within the time budget"), std::string::npos);
}

TEST(Decision, WarnsWhenNoReadyNodeRunsTheImages) {
  ClusterFacts facts;
  facts.ready_node_platforms = std::set<OsArch>{{"linux", "amd64"}};
  Applied applied = DecideAndApply(Pod(), {Resolved("reg.lan/app:1", {"linux/arm64", "linux/arm"})}, {}, facts);
  EXPECT_EQ(Required(applied.pod), Json::array({Term({OsIs("linux"), ArchIn({"arm", "arm64"})})}));
  ASSERT_EQ(applied.decision.warnings.size(), 1u);
  EXPECT_NE(applied.decision.warnings[0].find("no Ready node"), std::string::npos);

  facts.ready_node_platforms = std::set<OsArch>{{"linux", "amd64"}, {"linux", "arm64"}};
  EXPECT_TRUE(DecideAndApply(Pod(), {Resolved("reg.lan/app:1", {"linux/arm64"})}, {}, facts).decision.warnings.empty());
}

TEST(Decision, DuplicateImagesAreResolvedOnce) {
  auto plan = PlanPod(Pod(R"(,"initContainers":[{"name":"i","image":"reg.lan/app:1"}])"), "team", {});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->images, std::vector<std::string>{"reg.lan/app:1"});
}

TEST(Decision, MalformedPodFieldsAreErrorsNotCrashes) {
  for (const char* spec : {R"({"containers":"x"})", R"({"containers":[{"image":5}]})",
                           R"({"containers":[],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[5]}}}})",
                           R"({"containers":[],"nodeSelector":[]})", R"({"containers":[],"imagePullSecrets":{}})"}) {
    Json pod = {{"metadata", {{"name", "x"}}}, {"spec", Json::parse(spec)}};
    EXPECT_FALSE(PlanPod(pod, "team", {}).ok()) << spec;
  }
}

TEST(Decision, DeeplyNestedTermIsRejectedNotCopiedRecursively) {
  // A review no apiserver would send: 200,000 nested arrays inside a term. Copying or
  // serialising it recursively would overflow the stack.
  std::string deep = std::string(200000, '[') + std::string(200000, ']');
  Json pod = Pod(R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":)" +
                 deep + "}]}]}}}");
  auto plan = PlanPod(pod, "team", {});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message.find("deeper than 16 levels"), std::string::npos) << plan.error().message;

  // A real term passes.
  Json real = Pod(R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a","b"]}]}]}}})");
  EXPECT_TRUE(PlanPod(real, "team", {}).ok());
}

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(ARCHWAY_SOURCE_DIR) + "/tests/webhook/testdata/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The review a real v1.32 apiserver sent: initContainer + 2 containers, imagePullSecrets,
// an existing required term (os In linux) and a preferred term.
TEST(Decision, RealApiserverReview) {
  auto request = ParseAdmissionReview(ReadTestdata("admissionreview-pod-create.json"));
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_TRUE(request->IsPodCreate());
  EXPECT_EQ(request->uid, "49093b6f-cb67-43fd-a18c-dc2676963159");
  EXPECT_FALSE(request->dry_run);
  auto plan = PlanPod(request->object, request->ns, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->images, (std::vector<std::string>{"registry.lan:5000/web-migrate:1.4", "registry.lan:5000/web:1.4",
                                                    "busybox:1.36"}));
  EXPECT_EQ(plan->pull_secrets, std::vector<std::string>{"regcred"});
  Decision decision = Decide(*plan,
                             {Resolved("registry.lan:5000/web-migrate:1.4", {"linux/amd64", "linux/arm64", "linux/arm"}),
                              Resolved("registry.lan:5000/web:1.4", {"linux/amd64", "linux/arm64"}),
                              Resolved("busybox:1.36", {"linux/386", "linux/amd64", "linux/arm", "linux/arm64",
                                                        "linux/ppc64le", "linux/riscv64", "linux/s390x"})},
                             {}, {});
  // The answer as the apiserver reads it: base64 JSON Patch.
  const Json answer = Json::parse(EncodeAdmissionResponse(*request, decision, WritePatch(decision.mutation, plan->layout)));
  EXPECT_EQ(answer["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(answer["kind"], "AdmissionReview");
  EXPECT_EQ(answer["response"]["uid"], "49093b6f-cb67-43fd-a18c-dc2676963159");
  EXPECT_EQ(answer["response"]["allowed"], true);
  EXPECT_EQ(answer["response"]["patchType"], "JSONPatch");
  auto patch_text = Base64Decode(answer["response"]["patch"].get<std::string>());
  ASSERT_TRUE(patch_text.has_value());
  Json patched = request->object.patch(Json::parse(*patch_text));
  // The existing os requirement is not repeated; arch is ANDed into the same term.
  EXPECT_EQ(Required(patched), Json::array({Term({OsIs("linux"), ArchIn({"amd64", "arm64"})})}));
  EXPECT_EQ(patched["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"],
            request->object["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]);
  EXPECT_EQ(Annotation(patched, kPlatformsAnnotation), "linux/amd64,linux/arm64");
  EXPECT_EQ(Annotation(patched, "example.com/owner"), "team-a");
  // The annotation is added by an escaped pointer into the existing map.
  EXPECT_NE(patch_text->find("/metadata/annotations/archway.dev~1platforms"), std::string::npos);
}

TEST(Review, GenerateNameAndDryRun) {
  auto generated = ParseAdmissionReview(ReadTestdata("admissionreview-pod-create-generatename.json"));
  ASSERT_TRUE(generated.ok());
  EXPECT_TRUE(generated->IsPodCreate());
  auto dry = ParseAdmissionReview(ReadTestdata("admissionreview-pod-dryrun.json"));
  ASSERT_TRUE(dry.ok());
  EXPECT_TRUE(dry->dry_run);
}

TEST(Review, RejectsWhatIsNotAReview) {
  EXPECT_FALSE(ParseAdmissionReview("{").ok());
  EXPECT_FALSE(ParseAdmissionReview("[]").ok());
  EXPECT_FALSE(ParseAdmissionReview(R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"})").ok());
  EXPECT_FALSE(ParseAdmissionReview(R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}})").ok());
  EXPECT_FALSE(ParseAdmissionReview(R"({"kind":"Pod","apiVersion":"v1"})").ok());
}

// The JSON Patch text of the answer, "" when it has none.
std::string PatchTextOf(const AdmissionRequest& request, const Decision& decision, const std::string& patch) {
  const Json answer = Json::parse(EncodeAdmissionResponse(request, decision, patch));
  if (!answer["response"].contains("patch")) return "";
  return Base64Decode(answer["response"]["patch"].get<std::string>()).value_or("<not base64>");
}

// The answer carries the decision's patch text as it is, and escapes the uid.
TEST(Review, PatchTextIsCarriedAsItIs) {
  AdmissionRequest request;
  request.api_version = "admission.k8s.io/v1";
  request.uid = "u\"1\\\n\xC3\xA9";
  Decision decision;
  const std::string patch =
      R"([{"op":"add","path":"/metadata/annotations/a~1b","value":"line\nbreak \"q\" \\ \t \u0001 \u007f"}])";
  EXPECT_EQ(PatchTextOf(request, decision, patch), patch);
  const Json answer = Json::parse(EncodeAdmissionResponse(request, decision, patch));
  EXPECT_EQ(answer["response"]["uid"], request.uid);
}

TEST(Review, DenialCarriesStatus) {
  AdmissionRequest request;
  request.api_version = "admission.k8s.io/v1";
  request.uid = "u1";
  Decision decision;
  decision.denial = Denial{403, "Forbidden", "no"};
  decision.warnings = {"w"};
  const Json answer = Json::parse(EncodeAdmissionResponse(request, decision, "[]"));
  EXPECT_EQ(answer["response"]["status"], (Json{{"code", 403}, {"reason", "Forbidden"}, {"message", "no"}}));
  EXPECT_FALSE(answer["response"].contains("patch"));
  EXPECT_EQ(answer["response"]["warnings"], Json::array({"w"}));
}


// ParseAdmissionReview builds only the pod fields the decision reads: every decision made
// from that pod must be the one made from the whole pod as nlohmann parses it.
std::vector<ImageOutcome> OutcomesFor(const PodPlan& plan, size_t variant) {
  static const std::vector<std::vector<std::string>> kSets = {
      {"linux/amd64", "linux/arm64"}, {"linux/amd64"}, {"linux/arm64", "windows/amd64"}, {"windows/amd64"}, {}};
  std::vector<ImageOutcome> outcomes;
  if (!plan.skip_reason.empty()) return outcomes;
  for (size_t i = 0; i < plan.images.size(); ++i) {
    const size_t pick = (variant + i) % (kSets.size() + 2);
    if (pick < kSets.size()) {
      outcomes.push_back(Resolved(plan.images[i], kSets[pick]));
    } else {
      ImageOutcome outcome;
      outcome.image = plan.images[i];
      outcome.state = pick == kSets.size() ? State::kFailed : State::kUnfinished;
      outcome.error = "unauthorized";
      outcomes.push_back(outcome);
    }
  }
  return outcomes;
}

void ExpectSameDecisions(const std::string& review_text) {
  SCOPED_TRACE(review_text.substr(0, 300));
  auto parsed = ParseAdmissionReview(review_text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Json whole = Json::parse(review_text)["request"]["object"];
  for (auto policy : {NoCommonPlatformPolicy::kPending, NoCommonPlatformPolicy::kDeny, NoCommonPlatformPolicy::kIgnore}) {
    DecisionOptions options;
    options.policy = policy;
    options.skip_namespaces = {"kube-system"};
    auto plan = PlanPod(whole, parsed->ns, options);
    auto parsed_plan = PlanPod(parsed->object, parsed->ns, options);
    ASSERT_EQ(plan.ok(), parsed_plan.ok());
    if (!plan.ok()) {
      EXPECT_EQ(plan.error().message, parsed_plan.error().message);
      continue;
    }
    EXPECT_EQ(plan->skip_reason, parsed_plan->skip_reason);
    EXPECT_EQ(plan->untouched, parsed_plan->untouched);
    EXPECT_EQ(plan->images, parsed_plan->images);
    EXPECT_EQ(plan->pull_secrets, parsed_plan->pull_secrets);
    EXPECT_EQ(plan->node_name, parsed_plan->node_name);
    std::vector<ClusterFacts> facts(3);
    facts[1].ready_node_platforms = std::set<OsArch>{{"linux", "arm64"}};
    facts[2].ready_node_platforms = std::set<OsArch>{{"linux", "amd64"}};
    facts[2].pinned_node_platform = OsArch{"linux", "arm64"};
    for (size_t variant = 0; variant < 7; ++variant) {
      for (const auto& fact : facts) {
        const auto outcomes = OutcomesFor(*plan, variant);
        Decision expected = Decide(*plan, outcomes, fact, options);
        Decision actual = Decide(*parsed_plan, outcomes, fact, options);
        const std::string expected_patch = WritePatch(expected.mutation, plan->layout);
        const std::string actual_patch = WritePatch(actual.mutation, parsed_plan->layout);
        EXPECT_EQ(expected_patch, actual_patch);
        EXPECT_EQ(expected.warnings, actual.warnings);
        EXPECT_EQ(expected.result, actual.result);
        EXPECT_EQ(expected.allowed(), actual.allowed());
        EXPECT_EQ(expected.denial.has_value(), actual.denial.has_value());
        if (expected.denial && actual.denial) {
          EXPECT_EQ(expected.denial->message, actual.denial->message);
        }
        ASSERT_EQ(expected.events.size(), actual.events.size());
        for (size_t i = 0; i < expected.events.size(); ++i) EXPECT_EQ(expected.events[i].note, actual.events[i].note);
        EXPECT_NO_THROW((void)whole.patch(PatchOf(actual_patch)));
        EXPECT_EQ(PatchTextOf(*parsed, actual, actual_patch), actual.allowed() ? actual_patch : "");
      }
    }
  }
}

std::string ReviewOf(const Json& pod, const std::string& ns = "team") {
  Json review = Json::parse(ReadTestdata("admissionreview-pod-create.json"));
  review["request"]["namespace"] = ns;
  review["request"]["object"] = pod;
  return review.dump();
}

TEST(Review, ParsedPodDecidesAsTheWholePod) {
  for (const char* name : {"admissionreview-pod-create.json", "admissionreview-pod-create-generatename.json",
                           "admissionreview-pod-dryrun.json"}) {
    ExpectSameDecisions(ReadTestdata(name));
  }
  std::ifstream bench(std::string(ARCHWAY_SOURCE_DIR) + "/bench/webhook_review.json");
  std::stringstream bench_text;
  bench_text << bench.rdbuf();
  ExpectSameDecisions(bench_text.str());

  const std::vector<std::pair<std::string, std::string>> pods = {  // spec extra, metadata extra
      {"", ""},
      {kTwoTerms, ""},
      {kTwoTerms, R"(,"annotations":{"a":"b","archway.dev/platforms":"old"},"labels":{"app":"x"})"},
      {R"(,"affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":1,"preference":{}}]},"podAntiAffinity":{}})", ""},
      {R"(,"affinity":{})", R"(,"annotations":{})"},
      {R"(,"affinity":{"nodeAffinity":{}})", ""},
      {R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{}}})", ""},
      {R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":null}}})", ""},
      {R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
           {"matchExpressions":[{"key":"kubernetes.io/arch","operator":"In","values":["arm64"]}]},
           {"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}],"matchExpressions":[
             {"key":"kubernetes.io/os","operator":"In","values":["linux"]}]}]}}})", ""},
      {R"(,"nodeSelector":{"kubernetes.io/arch":"arm64"})", ""},
      {R"(,"nodeSelector":{"disk":"ssd","beta.kubernetes.io/arch":"amd64"})", ""},
      {R"(,"nodeSelector":{"disk":"ssd"},"tolerations":[{"key":"k","operator":"Exists"}])", ""},
      {R"(,"nodeName":"pi-1")", ""},
      {R"(,"initContainers":[{"name":"i","image":"reg.lan/init:1","env":[{"name":"A","value":"1"}]},"x",5],"imagePullSecrets":[{"name":"regcred"},{},{"name":""}])", ""},
      {R"(,"initContainers":[{"name":"i","image":"reg.lan/app:1"},{"name":"j"}])", R"(,"annotations":{"archway.dev/skip":"true"})"},
      {"", R"(,"annotations":{"archway.dev/skip":"false","managedFields":"kept"})"},
      {R"(,"volumes":[{"name":"v","emptyDir":{}}],"securityContext":{"runAsUser":1000})", R"(,"ownerReferences":[{"kind":"ReplicaSet"}])"},
  };
  for (const auto& [spec_extra, metadata_extra] : pods) {
    ExpectSameDecisions(ReviewOf(Pod(spec_extra, metadata_extra)));
  }
  ExpectSameDecisions(ReviewOf(Pod(), "kube-system"));
  // Fields of unexpected types reach PlanPod as they are, and are reported as such.
  for (const char* pod :
       {R"({"spec":{"containers":"x"}})", R"({"spec":{"containers":{"image":"a"}}})", R"({"spec":{"containers":[{"image":5}]}})",
        R"({"spec":{"containers":[],"nodeSelector":[]}})", R"({"spec":{"containers":[],"imagePullSecrets":{}}})",
        R"({"spec":{"containers":[],"nodeName":7}})", R"({"spec":{"containers":[],"affinity":[]}})",
        R"({"spec":{"containers":[],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[5]}}}}})",
        R"({"metadata":"x","spec":{}})", R"({"metadata":{"annotations":[]},"spec":{}})", R"({"spec":5})", R"({})",
        R"({"metadata":{"name":"n"}})", R"([])", R"("pod")"}) {
    ExpectSameDecisions(ReviewOf(Json::parse(pod)));
  }
}

// Preferred platforms (issue 15, part 3): one term per preferred platform the images
// support, after the user's own preferred terms.
Json PreferredTermsOf(const Json& pod) {
  auto pointer = "/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution"_json_pointer;
  return pod.contains(pointer) ? pod.at(pointer) : Json();
}
Json Prefer(int weight, const std::string& os, const std::string& arch) {
  return Json{{"weight", weight}, {"preference", Term({OsIs(os), ArchIn({arch})})}};
}
const std::string kUserPreference = R"(,"affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[
  {"weight":7,"preference":{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["a"]}]}}]}})";
const Json kUserTerm = Json{{"weight", 7}, {"preference", Term({Zone("a")})}};

struct PreferredCase {
  std::string name;
  Json pod;
  std::vector<ImageOutcome> outcomes;
  std::string preferred_platforms;  // the config's items, flag form
  Json expected_preferred;          // null: no preferred terms after the patch
};

class PreferredTable : public ::testing::TestWithParam<PreferredCase> {};

TEST_P(PreferredTable, TermsForSupportedPreferredPlatforms) {
  const auto& c = GetParam();
  DecisionOptions options;
  auto preferred = ParsePreferredPlatformsText(c.preferred_platforms);
  ASSERT_TRUE(preferred.ok()) << preferred.error().message;
  options.preferred_platforms = *preferred;
  Applied applied = DecideAndApply(c.pod, c.outcomes, options);
  EXPECT_TRUE(applied.decision.allowed());
  EXPECT_EQ(PreferredTermsOf(applied.pod), c.expected_preferred) << applied.patch;
  // The required terms are what they are without preferences.
  Applied without = DecideAndApply(c.pod, c.outcomes);
  EXPECT_EQ(Required(applied.pod), Required(without.pod));
}

INSTANTIATE_TEST_SUITE_P(
    Decision, PreferredTable,
    ::testing::Values(
        PreferredCase{"OneTermPerSupportedPlatformInConfigOrder", Pod(),
                      {Resolved("reg.lan/app:1", {"linux/amd64", "linux/arm64"})}, "linux/arm64=50,linux/amd64=10",
                      Json::array({Prefer(50, "linux", "arm64"), Prefer(10, "linux", "amd64")})},
        PreferredCase{"UserPreferencesKeptAndAppendedTo", Pod(kUserPreference),
                      {Resolved("reg.lan/app:1", {"linux/amd64", "linux/arm64"})}, "linux/arm64=50",
                      Json::array({kUserTerm, Prefer(50, "linux", "arm64")})},
        PreferredCase{"PlatformTheImagesLackGetsNoTerm", Pod(),
                      {Resolved("reg.lan/app:1", {"linux/amd64"})}, "linux/arm64=50,linux/amd64=10",
                      Json::array({Prefer(10, "linux", "amd64")})},
        PreferredCase{"OnlyWhatEveryImageSupports",
                      Pod(R"(,"initContainers":[{"name":"init","image":"reg.lan/init:1"}])"),
                      {Resolved("reg.lan/init:1", {"linux/amd64"}), Resolved("reg.lan/app:1", {"linux/amd64", "linux/arm64"})},
                      "linux/arm64=50", Json()},
        PreferredCase{"NoneSupportedUserTermsUntouched", Pod(kUserPreference),
                      {Resolved("reg.lan/app:1", {"linux/amd64"})}, "linux/arm64=50", Json::array({kUserTerm})},
        PreferredCase{"NoPreferencesConfigured", Pod(), {Resolved("reg.lan/app:1", {"linux/amd64", "linux/arm64"})}, "",
                      Json()},
        PreferredCase{"WindowsAndLinux", Pod(), {Resolved("reg.lan/app:1", {"linux/amd64", "windows/amd64"})},
                      "windows/amd64=30,linux/arm64=20", Json::array({Prefer(30, "windows", "amd64")})}),
    [](const auto& info) { return info.param.name; });

// Pods that get no affinity get no preference either.
TEST(Decision, NoPreferenceWithoutAffinity) {
  DecisionOptions options;
  options.preferred_platforms = {{"linux", "arm64", 50}};
  ImageOutcome failed;
  failed.image = "reg.lan/app:1";
  failed.state = State::kFailed;
  failed.error = "unauthorized";
  for (const auto& outcome : {Resolved("reg.lan/app:1", {}), failed}) {
    Applied applied = DecideAndApply(Pod(), {outcome}, options);
    EXPECT_TRUE(applied.decision.mutation.preferred.empty()) << applied.patch;
  }
  Applied skipped = DecideAndApply(Pod("", R"(,"annotations":{"archway.dev/skip":"true"})"),
                                   {Resolved("reg.lan/app:1", {"linux/arm64"})}, options);
  EXPECT_TRUE(skipped.decision.mutation.preferred.empty()) << skipped.patch;
}

}  // namespace
}  // namespace archway::webhook

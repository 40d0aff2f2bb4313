// The arm-variant, 32-bit-arm-on-arm64 and Windows-build terms (platform_terms.h), checked
// by what they do: each pod goes through PlanPod -> Decide -> WritePatch -> JSON Patch, and
// the patched pod's nodeSelectorTerms are evaluated against a set of labelled Nodes with
// the scheduler's semantics (terms ORed, expressions ANDed), so a case states which nodes
// the pod may land on, not which JSON it gets.
#include "webhook/platform_terms.h"

#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include "nodeinfo/labels.h"
#include "webhook/decision.h"
#include "webhook/patch.h"

namespace archway::webhook {
namespace {

static_assert(std::string_view(kArmVariantLabel) == nodeinfo::kArmVariantLabel);
static_assert(std::string_view(kArm32Label) == nodeinfo::kArm32Label);

using Labels = std::map<std::string, std::string>;

struct Node {
  std::string name;
  Labels labels;
};

// One matchExpression against a node's labels (NodeSelectorRequirement semantics; Gt/Lt
// are not used by archway and fail the test).
bool ExpressionMatches(const Json& expression, const Labels& labels) {
  const std::string key = expression.at("key");
  const std::string op = expression.at("operator");
  std::vector<std::string> values;
  if (expression.contains("values")) values = expression.at("values").get<std::vector<std::string>>();
  auto it = labels.find(key);
  const bool has = it != labels.end();
  const bool listed = has && std::find(values.begin(), values.end(), it->second) != values.end();
  if (op == "In") return listed;
  if (op == "NotIn") return !listed;
  if (op == "Exists") return has;
  if (op == "DoesNotExist") return !has;
  ADD_FAILURE() << "operator " << op << " not handled by the test's matcher";
  return false;
}

// nodeSelectorTerms: ORed; a term's expressions ANDed; an empty term matches nothing (as
// the scheduler treats it). null (no required affinity) matches every node.
bool TermsMatch(const Json& terms, const Labels& labels) {
  if (terms.is_null()) return true;
  for (const auto& term : terms) {
    const Json expressions = term.value("matchExpressions", Json::array());
    if (expressions.empty()) continue;
    if (std::all_of(expressions.begin(), expressions.end(),
                    [&](const Json& e) { return ExpressionMatches(e, labels); })) {
      return true;
    }
  }
  return false;
}

TEST(TermsMatcher, FollowsNodeSelectorSemantics) {
  const Labels labels{{"a", "1"}, {"b", "2"}};
  auto expr = [](const char* key, const char* op, std::vector<std::string> values = {}) {
    Json e{{"key", key}, {"operator", op}};
    if (!values.empty()) e["values"] = values;
    return e;
  };
  EXPECT_TRUE(TermsMatch(Json(), labels));
  EXPECT_TRUE(TermsMatch(Json::array({Json{{"matchExpressions", {expr("a", "In", {"1"})}}}}), labels));
  EXPECT_FALSE(TermsMatch(Json::array({Json{{"matchExpressions", {expr("a", "In", {"1"}), expr("b", "In", {"3"})}}}}), labels));
  EXPECT_TRUE(TermsMatch(Json::array({Json{{"matchExpressions", {expr("a", "In", {"2"})}}},
                                      Json{{"matchExpressions", {expr("b", "NotIn", {"3"})}}}}),
                         labels));
  EXPECT_TRUE(TermsMatch(Json::array({Json{{"matchExpressions", {expr("c", "DoesNotExist"), expr("a", "Exists")}}}}), labels));
  EXPECT_FALSE(TermsMatch(Json::array({Json{{"matchExpressions", {expr("c", "Exists")}}}}), labels));
  EXPECT_TRUE(TermsMatch(Json::array({Json{{"matchExpressions", {expr("c", "NotIn", {"1"})}}}}), labels));
  EXPECT_FALSE(TermsMatch(Json::array({Json::object()}), labels));
}

Node LinuxNode(std::string name, std::string arch, Labels extra = {}) {
  Labels labels{{kOsLabel, "linux"}, {kArchLabel, std::move(arch)}};
  labels.insert(extra.begin(), extra.end());
  return Node{std::move(name), std::move(labels)};
}

Node WindowsNode(std::string name, std::string build) {
  return Node{std::move(name), {{kOsLabel, "windows"}, {kArchLabel, "amd64"}, {kWindowsBuildLabel, std::move(build)}}};
}

// A homelab beside a production fleet: what the issue names, and a Pi labelled v5
// nowhere (the cluster's variants are v6..v8).
std::vector<Node> Cluster() {
  return {
      LinuxNode("pi-zero", "arm", {{kArmVariantLabel, "v6"}}),
      LinuxNode("pi3-32bit", "arm", {{kArmVariantLabel, "v7"}}),
      LinuxNode("pi4-64bit", "arm64", {{kArmVariantLabel, "v8"}, {kArm32Label, "v8"}}),
      LinuxNode("arm64-server", "arm64", {{kArmVariantLabel, "v8"}, {kArm32Label, "none"}}),
      LinuxNode("amd64", "amd64"),
      WindowsNode("win-2019", "10.0.17763"),
      WindowsNode("win-2022", "10.0.20348"),
  };
}

// The archway.dev/arm-variant values the cluster carries, as KubeCluster reports them.
std::set<std::string> ArmVariantLabels(const std::vector<Node>& nodes) {
  std::set<std::string> variants;
  for (const auto& node : nodes) {
    if (auto it = node.labels.find(kArmVariantLabel); it != node.labels.end()) variants.insert(it->second);
  }
  return variants;
}

// "linux/arm/v7", "windows/amd64@10.0.17763.2803" (os.version after '@').
ImageOutcome Image(const std::string& name, const std::vector<std::string>& entries) {
  ImageOutcome outcome;
  outcome.image = name;
  outcome.state = ImageOutcome::State::kResolved;
  for (const auto& text : entries) {
    registry::Platform p;
    std::string rest = text;
    if (auto at = rest.find('@'); at != std::string::npos) {
      p.os_version = rest.substr(at + 1);
      rest.resize(at);
    }
    const auto first = rest.find('/');
    const auto second = rest.find('/', first + 1);
    p.os = rest.substr(0, first);
    p.architecture = rest.substr(first + 1, second == std::string::npos ? std::string::npos : second - first - 1);
    if (second != std::string::npos) p.variant = rest.substr(second + 1);
    outcome.entries.push_back(p);
    OsArch os_arch{p.os, p.architecture};
    if (std::find(outcome.platforms.begin(), outcome.platforms.end(), os_arch) == outcome.platforms.end()) {
      outcome.platforms.push_back(os_arch);
    }
  }
  return outcome;
}

Json PodWithImages(size_t images, const std::string& affinity = "") {
  Json containers = Json::array();
  for (size_t i = 0; i < images; ++i) {
    containers.push_back({{"name", "c" + std::to_string(i)}, {"image", "reg.lan/img" + std::to_string(i) + ":1"}});
  }
  Json pod{{"kind", "Pod"}, {"metadata", {{"name", "p"}, {"namespace", "team"}}}, {"spec", {{"containers", containers}}}};
  if (!affinity.empty()) pod["spec"]["affinity"] = Json::parse(affinity);
  return pod;
}

struct Outcome {
  Decision decision;
  Json terms;  // the patched pod's required nodeSelectorTerms (null: none)
  std::string platforms;
};

Outcome Admit(const Json& pod, std::vector<ImageOutcome> images, const ClusterFacts& facts) {
  auto plan = PlanPod(pod, "team", {});
  EXPECT_TRUE(plan.ok());
  for (size_t i = 0; i < images.size(); ++i) images[i].image = plan->images.at(i);
  Outcome out;
  out.decision = Decide(*plan, images, facts, {});
  const std::string patch = WritePatch(out.decision.mutation, plan->layout);
  const Json patched = patch.empty() ? pod : pod.patch(Json::parse(patch));
  auto pointer = "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer;
  if (patched.contains(pointer)) out.terms = patched.at(pointer);
  const Json annotations = patched.at("metadata").value("annotations", Json::object());
  out.platforms = annotations.value(kPlatformsAnnotation, "<none>");
  return out;
}

ClusterFacts FactsOf(const std::vector<Node>& nodes) {
  ClusterFacts facts;
  facts.arm_variant_labels = ArmVariantLabels(nodes);
  return facts;
}

std::set<std::string> Admitted(const Json& terms, const std::vector<Node>& nodes) {
  std::set<std::string> names;
  for (const auto& node : nodes) {
    if (TermsMatch(terms, node.labels)) names.insert(node.name);
  }
  return names;
}

bool MentionsKey(const Json& terms, const std::string& key) { return terms.dump().find("\"" + key + "\"") != std::string::npos; }

struct PlacementCase {
  std::string name;
  std::vector<std::vector<std::string>> images;  // per container: its list's entries
  std::string affinity;                          // the user's spec.affinity, "" for none
  std::vector<Node> extra_nodes;
  std::set<std::string> admitted;                // exactly these nodes
  std::string platforms;                         // the annotation
};

class Placement : public ::testing::TestWithParam<PlacementCase> {};

TEST_P(Placement, TermsAdmitExactlyTheNodesThatRunEveryImage) {
  const auto& c = GetParam();
  std::vector<Node> nodes = Cluster();
  nodes.insert(nodes.end(), c.extra_nodes.begin(), c.extra_nodes.end());
  std::vector<ImageOutcome> images;
  for (const auto& entries : c.images) images.push_back(Image("", entries));
  Outcome out = Admit(PodWithImages(images.size(), c.affinity), images, FactsOf(nodes));
  EXPECT_EQ(out.decision.result, AdmissionResult::kMutated);
  EXPECT_FALSE(out.decision.arm_labels_missing);
  EXPECT_TRUE(out.decision.warnings.empty()) << out.decision.warnings.front();
  EXPECT_EQ(Admitted(out.terms, nodes), c.admitted) << out.terms.dump(1);
  EXPECT_EQ(out.platforms, c.platforms);
}

Node Zoned(Node node, const std::string& zone) {
  node.name += "@" + zone;
  node.labels["topology.kubernetes.io/zone"] = zone;
  return node;
}

const char* kZoneAOrB = R"({"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
  {"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["a"]}]},
  {"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["b"]}]}]}}})";

INSTANTIATE_TEST_SUITE_P(
    Arm, Placement,
    ::testing::Values(
        PlacementCase{"V7OnlyListSkipsThePiZeroAndTheArm64ServerWithout32Bit",
                      {{"linux/arm/v7"}}, "", {},
                      {"pi3-32bit", "pi4-64bit"}, "linux/arm/v7+,linux/arm64 (32-bit arm)"},
        PlacementCase{"V6AndV7ListRunsOnEvery32BitNode", {{"linux/arm/v6", "linux/arm/v7"}}, "", {},
                      {"pi-zero", "pi3-32bit", "pi4-64bit"}, "linux/arm,linux/arm64 (32-bit arm)"},
        PlacementCase{"Arm64OnlyListRunsOnEveryArm64NodeAndNo32BitOne", {{"linux/arm64"}}, "", {},
                      {"pi4-64bit", "arm64-server"}, "linux/arm64"},
        PlacementCase{"Arm64EntryMeansNoFallbackRequirement", {{"linux/arm64", "linux/arm/v7", "linux/amd64"}}, "", {},
                      {"pi3-32bit", "pi4-64bit", "arm64-server", "amd64"},
                      "linux/amd64,linux/arm/v7+,linux/arm64"},
        PlacementCase{"NewestFloorOfTheImagesWins", {{"linux/arm64", "linux/arm/v7"}, {"linux/arm/v6"}}, "", {},
                      {"pi3-32bit", "pi4-64bit"}, "linux/arm/v7+,linux/arm64 (32-bit arm)"},
        PlacementCase{"AnImageWithoutArmKeepsEveryArmNodeOut", {{"linux/arm64", "linux/amd64"}, {"linux/amd64"}}, "", {},
                      {"amd64"}, "linux/amd64"},
        PlacementCase{"Arm64FallbackNeedsEveryImageToHaveArm", {{"linux/arm/v7", "linux/amd64"}, {"linux/amd64", "linux/arm64"}},
                      "", {}, {"amd64", "pi4-64bit"}, "linux/amd64,linux/arm64 (32-bit arm)"},
        PlacementCase{"AV5NodeInTheClusterMustBeCoveredToo", {{"linux/arm/v6", "linux/arm/v7"}}, "",
                      {LinuxNode("armv5-nas", "arm", {{kArmVariantLabel, "v5"}})},
                      {"pi-zero", "pi3-32bit", "pi4-64bit"}, "linux/arm/v6+,linux/arm64 (32-bit arm)"},
        PlacementCase{"UnlabelledArmNodesAreNotAdmittedWhereAVariantIsRequired", {{"linux/arm/v7"}}, "",
                      {LinuxNode("new-pi", "arm"), LinuxNode("new-arm64", "arm64")},
                      {"pi3-32bit", "pi4-64bit"}, "linux/arm/v7+,linux/arm64 (32-bit arm)"},
        PlacementCase{"MixedOsListGetsATermPerOsAndArchGroup",
                      {{"linux/amd64", "linux/arm/v7", "windows/amd64"}}, "", {},
                      {"amd64", "pi3-32bit", "pi4-64bit", "win-2019", "win-2022"},
                      "linux/amd64,linux/arm/v7+,linux/arm64 (32-bit arm),windows/amd64"},
        PlacementCase{"UserTermsAreCrossedWithEveryArchwayTerm", {{"linux/arm/v7", "linux/amd64"}}, kZoneAOrB,
                      {Zoned(LinuxNode("pi-zero", "arm", {{kArmVariantLabel, "v6"}}), "a"),
                       Zoned(LinuxNode("pi3-32bit", "arm", {{kArmVariantLabel, "v7"}}), "a"),
                       Zoned(LinuxNode("pi3-32bit", "arm", {{kArmVariantLabel, "v7"}}), "c"),
                       Zoned(LinuxNode("pi4-64bit", "arm64", {{kArmVariantLabel, "v8"}, {kArm32Label, "v8"}}), "b"),
                       Zoned(LinuxNode("arm64-server", "arm64", {{kArmVariantLabel, "v8"}, {kArm32Label, "none"}}), "b"),
                       Zoned(LinuxNode("amd64", "amd64"), "b"), Zoned(LinuxNode("amd64", "amd64"), "c")},
                      {"pi3-32bit@a", "pi4-64bit@b", "amd64@b"},
                      "linux/amd64,linux/arm/v7+,linux/arm64 (32-bit arm)"}),
    [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Windows, Placement,
    ::testing::Values(
        PlacementCase{"BuildsOfTheEntriesOnly",
                      {{"windows/amd64@10.0.20348.643", "windows/amd64@10.0.17763.2803", "linux/amd64"}}, "",
                      {WindowsNode("win-20h2", "10.0.19042")},
                      {"win-2019", "win-2022", "amd64"},
                      "linux/amd64,windows/amd64 (build 10.0.17763 or 10.0.20348)"},
        PlacementCase{"BuildsCommonToTheImages",
                      {{"windows/amd64@10.0.20348.643", "windows/amd64@10.0.17763.2803"}, {"windows/amd64@10.0.17763.1"}},
                      "", {}, {"win-2019"}, "windows/amd64 (build 10.0.17763)"},
        PlacementCase{"EntryWithoutOsVersionRunsOnAnyBuild", {{"windows/amd64"}}, "", {WindowsNode("win-20h2", "10.0.19042")},
                      {"win-2019", "win-2022", "win-20h2"}, "windows/amd64"},
        PlacementCase{"ImageWithoutOsVersionDefersToTheOther",
                      {{"windows/amd64"}, {"windows/amd64@10.0.20348.643"}}, "", {}, {"win-2022"},
                      "windows/amd64 (build 10.0.20348)"}),
    [](const auto& info) { return info.param.name; });

TEST(PlatformTerms, WindowsImagesWithNoCommonBuildHaveNoCommonPlatform) {
  std::vector<ImageOutcome> images{Image("", {"windows/amd64@10.0.20348.643"}), Image("", {"windows/amd64@10.0.17763.1"})};
  Outcome out = Admit(PodWithImages(2), images, FactsOf(Cluster()));
  EXPECT_EQ(out.decision.result, AdmissionResult::kNoCommonPlatform);
  EXPECT_EQ(Admitted(out.terms, Cluster()), std::set<std::string>{});
}

TEST(PlatformTerms, Arm64AndArmOnlyImagesShareTheArm64NodesThatRun32Bit) {
  // Without the fallback these two share no platform.
  std::vector<ImageOutcome> images{Image("", {"linux/arm64"}), Image("", {"linux/arm/v7"})};
  Outcome out = Admit(PodWithImages(2), images, FactsOf(Cluster()));
  EXPECT_EQ(out.decision.result, AdmissionResult::kMutated);
  EXPECT_EQ(Admitted(out.terms, Cluster()), std::set<std::string>{"pi4-64bit"});
  out = Admit(PodWithImages(2), images, ClusterFacts{});
  EXPECT_EQ(out.decision.result, AdmissionResult::kNoCommonPlatform);
}

TEST(PlatformTerms, ArchPinnedUserTermIsKeptAsWritten) {
  const char* affinity = R"({"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
    {"matchExpressions":[{"key":"kubernetes.io/arch","operator":"In","values":["arm"]},
                         {"key":"topology.kubernetes.io/zone","operator":"In","values":["x"]}]},
    {"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["a"]}]}]}}})";
  std::vector<Node> nodes{Zoned(LinuxNode("pi-zero", "arm", {{kArmVariantLabel, "v6"}}), "x"),
                          Zoned(LinuxNode("pi3-32bit", "arm", {{kArmVariantLabel, "v7"}}), "a"),
                          Zoned(LinuxNode("pi-zero", "arm", {{kArmVariantLabel, "v6"}}), "a")};
  Outcome out = Admit(PodWithImages(1, affinity), {Image("", {"linux/arm/v7"})}, FactsOf(nodes));
  // The first term names the arch: the user's choice stands (pi-zero@x), the second
  // gets archway's terms (pi3 in zone a, not the zone-a Pi Zero).
  EXPECT_EQ(Admitted(out.terms, nodes), (std::set<std::string>{"pi-zero@x", "pi3-32bit@a"})) << out.terms.dump(1);
}

TEST(PlatformTerms, NoLabelledNodeKeepsTodaysTermsAndSaysSoOnce) {
  std::vector<Node> unlabelled{LinuxNode("pi-zero", "arm"), LinuxNode("pi3-32bit", "arm"), LinuxNode("pi4-64bit", "arm64"),
                               LinuxNode("amd64", "amd64")};
  Outcome out = Admit(PodWithImages(1), {Image("", {"linux/arm/v7"})}, FactsOf(unlabelled));
  EXPECT_EQ(out.decision.result, AdmissionResult::kMutated);
  EXPECT_TRUE(out.decision.arm_labels_missing);
  ASSERT_EQ(out.decision.warnings.size(), 1u);
  EXPECT_NE(out.decision.warnings[0].find("no node carries the label archway.dev/arm-variant"), std::string::npos);
  EXPECT_NE(out.decision.warnings[0].find("need v7 or later"), std::string::npos);
  EXPECT_NE(out.decision.warnings[0].find("64-bit arm nodes are not admitted"), std::string::npos);
  EXPECT_FALSE(MentionsKey(out.terms, kArmVariantLabel));
  EXPECT_EQ(Admitted(out.terms, unlabelled), (std::set<std::string>{"pi-zero", "pi3-32bit"}));
  EXPECT_EQ(out.platforms, "linux/arm");

  // Where the rules would not change anything there is nothing to say.
  out = Admit(PodWithImages(1), {Image("", {"linux/amd64", "linux/arm64", "linux/arm/v6"})}, FactsOf(unlabelled));
  EXPECT_FALSE(out.decision.arm_labels_missing);
  EXPECT_TRUE(out.decision.warnings.empty());

  // Node check off: the same terms, silently.
  out = Admit(PodWithImages(1), {Image("", {"linux/arm/v7"})}, ClusterFacts{});
  EXPECT_FALSE(out.decision.arm_labels_missing);
  EXPECT_TRUE(out.decision.warnings.empty());
  EXPECT_EQ(Admitted(out.terms, unlabelled), (std::set<std::string>{"pi-zero", "pi3-32bit"}));
}

TEST(PlatformTerms, EntriesWithoutVariantsBehaveAsBefore) {
  ImageOutcome folded;  // only the (os, arch) pairs known, as hand-built outcomes have
  folded.state = ImageOutcome::State::kResolved;
  folded.platforms = {{"linux", "arm"}, {"linux", "amd64"}};
  Outcome out = Admit(PodWithImages(1), {folded}, FactsOf(Cluster()));
  EXPECT_EQ(Admitted(out.terms, Cluster()), (std::set<std::string>{"pi-zero", "pi3-32bit", "pi4-64bit", "amd64"}));
}

TEST(PlatformTerms, UnknownArmVariantIsNotRunOn32BitNodes) {
  Outcome out = Admit(PodWithImages(1), {Image("", {"linux/arm/v9x", "linux/amd64"})}, FactsOf(Cluster()));
  EXPECT_EQ(Admitted(out.terms, Cluster()), (std::set<std::string>{"amd64"}));
}

TEST(WindowsBuild, KeepsMajorMinorBuild) {
  EXPECT_EQ(WindowsBuild("10.0.17763.2803"), "10.0.17763");
  EXPECT_EQ(WindowsBuild("10.0.20348"), "10.0.20348");
  EXPECT_EQ(WindowsBuild("10.0.20348.643.1"), "10.0.20348");
  for (const char* bad : {"", "10", "10.0", "10.0.", ".0.1", "10..0", "10.0.x", "10.0.1.", "ten.0.1"}) {
    EXPECT_EQ(WindowsBuild(bad), "") << bad;
  }
}

// The issue's closing evidence: an arm/v7-only image on the five nodes it names.
TEST(PlatformTerms, ClosingEvidenceArmV7OnlyImage) {
  const std::vector<Node> nodes{
      LinuxNode("Pi Zero (arm, arm-variant=v6)", "arm", {{kArmVariantLabel, "v6"}}),
      LinuxNode("Pi 3 32-bit (arm, arm-variant=v7)", "arm", {{kArmVariantLabel, "v7"}}),
      LinuxNode("Pi 4 64-bit (arm64, arm32=v8)", "arm64", {{kArmVariantLabel, "v8"}, {kArm32Label, "v8"}}),
      LinuxNode("arm64 server (arm64, arm32=none)", "arm64", {{kArmVariantLabel, "v8"}, {kArm32Label, "none"}}),
      LinuxNode("amd64 node", "amd64"),
  };
  Outcome out = Admit(PodWithImages(1), {Image("", {"linux/arm/v7"})}, FactsOf(nodes));
  std::cout << "terms: " << out.terms.dump(2) << "\narchway.dev/platforms: " << out.platforms << "\n";
  const std::map<std::string, bool> expected{
      {nodes[0].name, false}, {nodes[1].name, true}, {nodes[2].name, true}, {nodes[3].name, false}, {nodes[4].name, false}};
  for (const auto& node : nodes) {
    const bool admitted = TermsMatch(out.terms, node.labels);
    std::cout << "  " << node.name << ": " << (admitted ? "admitted" : "not admitted") << "\n";
    EXPECT_EQ(admitted, expected.at(node.name)) << node.name;
  }
}

}  // namespace
}  // namespace archway::webhook

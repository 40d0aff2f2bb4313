// Preferred platforms per namespace (namespace_preferences.h): which list a pod of a
// namespace is decided with, and the preferred terms Decide then writes.
#include "webhook/namespace_preferences.h"

#include <gtest/gtest.h>

#include <map>

#include "tests/webhook/annotated_namespaces.h"
#include "webhook/patch.h"

namespace archway::webhook {
namespace {

using testing::AnnotatedNamespaces;

DecisionOptions Config() {
  DecisionOptions config;
  config.policy = NoCommonPlatformPolicy::kDeny;
  config.skip_namespaces = {"kube-system"};
  config.preferred_platforms = {{"linux", "amd64", 80}};
  return config;
}

const AnnotatedNamespaces kNamespaces({{"steered", "linux/arm64=50, linux/amd64=10"},
                                       {"unsteered", ""},
                                       {"typo", "linux/arm64=50,linux/amd64=500"},
                                       {"variant", "linux/arm/v7=20"}});

// The preferred terms a pod of `ns` whose image runs on linux/amd64 and linux/arm64 gets
// (decided and patched as admission does), with the warning that came with them.
struct Preferred {
  Json terms;
  std::string warning;
};
Preferred TermsFor(const std::string& ns, const NamespacePreferences* namespaces, const DecisionOptions& config) {
  const Json pod = Json::parse(R"({"metadata":{"name":"web"},"spec":{"containers":[{"name":"c","image":"reg.lan/app:1"}]}})");
  ImageOutcome image;
  image.image = "reg.lan/app:1";
  image.state = ImageOutcome::State::kResolved;
  image.platforms = {{"linux", "amd64"}, {"linux", "arm64"}};
  const NamespaceOptions with = OptionsForNamespace(config, ns, namespaces);
  auto plan = PlanPod(pod, ns, with.options());
  EXPECT_TRUE(plan.ok());
  const Decision decision = Decide(*plan, {image}, ClusterFacts{}, with.options());
  EXPECT_EQ(decision.result, AdmissionResult::kMutated);
  const Json patched = pod.patch(Json::parse(WritePatch(decision.mutation, plan->layout)));
  const auto pointer = "/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution"_json_pointer;
  return {patched.contains(pointer) ? patched.at(pointer) : Json(), with.warning()};
}

Json Prefer(int weight, const std::string& arch) {
  return Json::parse(R"({"weight":)" + std::to_string(weight) +
                     R"(,"preference":{"matchExpressions":[{"key":"kubernetes.io/os","operator":"In","values":["linux"]},)"
                     R"({"key":"kubernetes.io/arch","operator":"In","values":[")" + arch + R"("]}]}})");
}

TEST(NamespacePreferences, TheNamespacesListReplacesTheConfigs) {
  const DecisionOptions config = Config();
  const Preferred steered = TermsFor("steered", &kNamespaces, config);
  EXPECT_EQ(steered.terms, Json::array({Prefer(50, "arm64"), Prefer(10, "amd64")}));
  EXPECT_EQ(steered.warning, "");
  // Only the list is the namespace's: the rest of the options are the config's.
  const NamespaceOptions with = OptionsForNamespace(config, "steered", &kNamespaces);
  EXPECT_EQ(with.options().policy, NoCommonPlatformPolicy::kDeny);
  EXPECT_EQ(with.options().skip_namespaces, config.skip_namespaces);
  EXPECT_EQ(config.preferred_platforms, (std::vector<PreferredPlatform>{{"linux", "amd64", 80}})) << "config untouched";
}

TEST(NamespacePreferences, AnEmptyValueMeansNoPreferredTerms) {
  const Preferred unsteered = TermsFor("unsteered", &kNamespaces, Config());
  EXPECT_EQ(unsteered.terms, Json());
  EXPECT_EQ(unsteered.warning, "");
}

TEST(NamespacePreferences, ABadValueLeavesTheConfigsListWithAWarningNamingTheItem) {
  const Preferred typo = TermsFor("typo", &kNamespaces, Config());
  EXPECT_EQ(typo.terms, Json::array({Prefer(80, "amd64")}));
  EXPECT_NE(typo.warning.find("namespace typo"), std::string::npos) << typo.warning;
  EXPECT_NE(typo.warning.find("archway.dev/preferred-platforms"), std::string::npos) << typo.warning;
  EXPECT_NE(typo.warning.find("\"linux/amd64=500\": weight 500 is outside 1-100"), std::string::npos) << typo.warning;
  const Preferred variant = TermsFor("variant", &kNamespaces, Config());
  EXPECT_EQ(variant.terms, Json::array({Prefer(80, "amd64")}));
  EXPECT_NE(variant.warning.find("names a variant"), std::string::npos) << variant.warning;
}

TEST(NamespacePreferences, ANamespaceNotCachedGetsTheConfigsList) {
  for (const NamespacePreferences* namespaces : {static_cast<const NamespacePreferences*>(&kNamespaces),
                                                 static_cast<const NamespacePreferences*>(nullptr)}) {
    const Preferred plain = TermsFor("plain", namespaces, Config());
    EXPECT_EQ(plain.terms, Json::array({Prefer(80, "amd64")}));
    EXPECT_EQ(plain.warning, "");
  }
}

TEST(NamespacePreferences, AWarningStaysShortWhateverTheValue) {
  const std::string long_item = "linux/" + std::string(5000, 'x') + "=10";
  const AnnotatedNamespaces huge({{"huge", long_item}});
  const DecisionOptions config = Config();  // NamespaceOptions refers to it: it must outlive `with`
  const NamespaceOptions with = OptionsForNamespace(config, "huge", &huge);
  EXPECT_LT(with.warning().size(), 300u) << with.warning();
  EXPECT_NE(with.warning().find("namespace huge"), std::string::npos);
  EXPECT_EQ(with.options().preferred_platforms, config.preferred_platforms);
}

TEST(NamespacePreferences, AnnotationValuesParseAsTheFlag) {
  const NamespacePreferredPlatforms ok = ParseNamespacePreferredPlatforms("linux/arm64=50,linux/amd64=10");
  EXPECT_TRUE(ok.valid());
  EXPECT_EQ(ok.platforms, (std::vector<PreferredPlatform>{{"linux", "arm64", 50}, {"linux", "amd64", 10}}));
  EXPECT_EQ(ok.value, "linux/arm64=50,linux/amd64=10");
  const NamespacePreferredPlatforms twice = ParseNamespacePreferredPlatforms("linux/arm64=50,linux/arm64=10");
  EXPECT_FALSE(twice.valid());
  EXPECT_NE(twice.error.find("named twice"), std::string::npos) << twice.error;
  EXPECT_FALSE(ParseNamespacePreferredPlatforms("linux/arm64").valid());
  EXPECT_TRUE(ParseNamespacePreferredPlatforms(" ").valid());
}

}  // namespace
}  // namespace archway::webhook

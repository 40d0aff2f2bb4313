// The patch writer on its own: mutations built by hand (including the kinds Decide does not
// make yet: preferred terms, scheduling gates, labels, terms that differ per user term),
// written for pods of every layout and for a pod template. Each patch must be JSON as
// Json::dump writes it, must apply, and must keep everything the user wrote.
#include "webhook/patch.h"

#include <gtest/gtest.h>

namespace archway::webhook {
namespace {

Requirement In(const std::string& key, std::vector<std::string> values) { return {key, "In", std::move(values)}; }

// `object` with the patch for `mutation` applied; the pod (or template) is at `target`.
Json Applied(const Json& object, const Mutation& mutation, PatchTarget target = kPodTarget) {
  const Json& pod = target.pod.empty() ? object : object.at(Json::json_pointer(std::string(target.pod)));
  auto plan = PlanPod(pod, "team", {});
  EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message);
  const std::string text = WritePatch(mutation, plan->layout, target);
  if (mutation.empty()) {
    EXPECT_EQ(text, "");
    return object;
  }
  const Json patch = Json::parse(text);
  EXPECT_EQ(patch.dump(), text);
  return object.patch(patch);
}

Json Pod(const std::string& metadata, const std::string& spec_extra) {
  return Json::parse(R"({"metadata":)" + metadata + R"(,"spec":{"containers":[{"image":"a"}])" + spec_extra + "}}");
}

const Json kZone = {{"key", "zone"}, {"operator", "In"}, {"values", {"a"}}};

TEST(Patch, EmptyMutationWritesNothing) {
  Applied(Pod("{}", ""), Mutation{});
  // Required entries that add nothing change nothing (and never write an empty term list).
  Mutation nothing_added;
  nothing_added.required = {{}, {}};
  auto plan = PlanPod(Pod("{}", ""), "team", {});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(WritePatch(nothing_added, plan->layout), "");
}

TEST(Patch, LabelsAndAnnotationsAddIntoWhatExistsOrAddTheMapWhole) {
  Mutation mutation;
  mutation.annotations = {{"archway.dev/platforms", "linux/amd64"}, {"b", "2"}};
  mutation.labels = {{"archway.dev/gated", "true"}};
  for (const char* metadata : {R"({"name":"p"})", R"({"annotations":{"x":"1"},"labels":{"app":"web"}})", R"({})",
                               R"({"annotations":{}})", R"({"labels":{"app":"web"}})"}) {
    const Json before = Pod(metadata, "");
    const Json after = Applied(before, mutation);
    SCOPED_TRACE(metadata);
    EXPECT_EQ(after["metadata"]["annotations"]["archway.dev/platforms"], "linux/amd64");
    EXPECT_EQ(after["metadata"]["annotations"]["b"], "2");
    EXPECT_EQ(after["metadata"]["labels"]["archway.dev/gated"], "true");
    for (const char* map : {"annotations", "labels"}) {
      if (!before["metadata"].contains(map)) continue;
      for (const auto& [key, value] : before["metadata"][map].items()) EXPECT_EQ(after["metadata"][map][key], value);
    }
  }
  // No metadata at all: the first op adds it, the second adds into it.
  const Json bare = Json::parse(R"({"spec":{"containers":[{"image":"a"}]}})");
  EXPECT_EQ(Applied(bare, mutation)["metadata"]["labels"]["archway.dev/gated"], "true");
}

TEST(Patch, SchedulingGatesAreAppendedAfterTheUsers) {
  Mutation mutation;
  mutation.scheduling_gates = {"archway.dev/platforms"};
  const Json none = Applied(Pod("{}", ""), mutation);
  EXPECT_EQ(none["spec"]["schedulingGates"], Json::parse(R"([{"name":"archway.dev/platforms"}])"));
  const Json theirs = Applied(Pod("{}", R"(,"schedulingGates":[{"name":"example.com/quota"}])"), mutation);
  EXPECT_EQ(theirs["spec"]["schedulingGates"],
            Json::parse(R"([{"name":"example.com/quota"},{"name":"archway.dev/platforms"}])"));
}

TEST(Patch, PreferredTermsAreAppendedAfterTheUsers) {
  Mutation mutation;
  mutation.preferred = {PreferredTerm{50, {In("kubernetes.io/arch", {"arm64"})}}};
  const Json expected_term = Json::parse(
      R"({"weight":50,"preference":{"matchExpressions":[{"key":"kubernetes.io/arch","operator":"In","values":["arm64"]}]}})");
  const char* users = R"({"weight":1,"preference":{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}})";
  for (const std::string& spec_extra :
       {std::string(), std::string(R"(,"affinity":{})"), std::string(R"(,"affinity":{"nodeAffinity":{}})"),
        R"(,"affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[)" + std::string(users) +
            "]}}"}) {
    SCOPED_TRACE(spec_extra);
    const Json after = Applied(Pod("{}", spec_extra), mutation);
    const Json& preferred = after["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
    ASSERT_TRUE(preferred.is_array());
    EXPECT_EQ(preferred.back(), expected_term);
    if (spec_extra.find("disk") != std::string::npos) {
      EXPECT_EQ(preferred.size(), 2u);
      EXPECT_EQ(preferred.front(), Json::parse(users));
    }
  }
}

TEST(Patch, RequiredAndPreferredTogetherOnAPodWithoutAffinity) {
  Mutation mutation;
  mutation.required = {{{In("kubernetes.io/arch", {"amd64"})}}};
  mutation.preferred = {PreferredTerm{10, {In("kubernetes.io/arch", {"amd64"})}}};
  const Json after = Applied(Pod("{}", ""), mutation);
  const Json& node_affinity = after["spec"]["affinity"]["nodeAffinity"];
  EXPECT_EQ(node_affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"].size(), 1u);
  EXPECT_EQ(node_affinity["preferredDuringSchedulingIgnoredDuringExecution"].size(), 1u);
}

// Issue 15's shape: per user term, several terms of archway's, each a list of
// requirements, and a user term kept as written.
TEST(Patch, EachUserTermBecomesItsOwnAdditions) {
  const Json pod = Pod("{}", R"(,"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{
    "nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]},
                         {"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}]},
                         {"matchExpressions":[{"key":"kubernetes.io/arch","operator":"In","values":["arm"]}]}]}}})");
  const Requirements arm = {In("kubernetes.io/arch", {"arm"}), In("archway.dev/arm-variant", {"v7", "v8"})};
  const Requirements arm64 = {In("kubernetes.io/arch", {"arm64"}), In("archway.dev/arm32", {"v8"})};
  Mutation mutation;
  mutation.required = {{arm, arm64}, {arm64}};  // the third term has no entry: kept
  const Json terms =
      Applied(pod, mutation)["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                            ["nodeSelectorTerms"];
  auto expressions = [](const Json& first, const Requirements& added) {
    Json list = first.is_null() ? Json::array() : Json::array({first});
    for (const auto& r : added) list.push_back({{"key", r.key}, {"operator", r.op}, {"values", r.values}});
    return list;
  };
  ASSERT_EQ(terms.size(), 4u);
  EXPECT_EQ(terms[0]["matchExpressions"], expressions(kZone, arm));
  EXPECT_EQ(terms[1]["matchExpressions"], expressions(kZone, arm64));
  EXPECT_EQ(terms[2]["matchExpressions"], expressions(nullptr, arm64));
  EXPECT_EQ(terms[2]["matchFields"], pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                                        ["nodeSelectorTerms"][1]["matchFields"]);
  EXPECT_EQ(terms[3], pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                         ["nodeSelectorTerms"][2]);
}

// A DaemonSet's pod template takes the same mutation at its own paths.
TEST(Patch, APodTemplateTakesTheMutationAtItsPrefix) {
  const Json daemon_set = Json::parse(R"({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"ne"},
    "spec":{"selector":{},"template":{"metadata":{"labels":{"app":"ne"}},"spec":{"containers":[{"image":"a"}]}}}})");
  Mutation mutation;
  mutation.required = {{{In("kubernetes.io/os", {"linux"}), In("kubernetes.io/arch", {"amd64"})}}};
  mutation.annotations = {{"archway.dev/platforms", "linux/amd64"}};
  const Json after = Applied(daemon_set, mutation, PatchTarget{"/spec/template"});
  const Json& template_ = after["spec"]["template"];
  EXPECT_EQ(template_["metadata"]["annotations"]["archway.dev/platforms"], "linux/amd64");
  EXPECT_EQ(template_["metadata"]["labels"]["app"], "ne");
  EXPECT_EQ(template_["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                     ["nodeSelectorTerms"][0]["matchExpressions"][1]["values"],
            Json::array({"amd64"}));
  EXPECT_EQ(after["metadata"], daemon_set["metadata"]);  // the DaemonSet's own metadata is not touched
}

TEST(Patch, KeysNeedingEscapesAndValuesNeedingQuotes) {
  Mutation mutation;
  mutation.annotations = {{"a/b~c", "line\nbreak \"q\" \xC3\xA9"}};
  const Json after = Applied(Pod(R"({"annotations":{"x":"1"}})", ""), mutation);
  EXPECT_EQ(after["metadata"]["annotations"]["a/b~c"], "line\nbreak \"q\" \xC3\xA9");
}

TEST(Patch, EscapesJsonPointerTokens) {
  EXPECT_EQ(EscapeJsonPointerToken("archway.dev/platforms"), "archway.dev~1platforms");
  EXPECT_EQ(EscapeJsonPointerToken("a~b/c"), "a~0b~1c");
}

}  // namespace
}  // namespace archway::webhook

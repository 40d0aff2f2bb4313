// Evaluate() and the report over hand-made image tables: verdicts per target (arm
// variants included), reasons, --fail-on and exit codes, and the JSON report's keys.
#include "check/evaluate.h"

#include <gtest/gtest.h>

#include "check/report.h"
#include "webhook/image_outcome.h"

namespace archway::check {
namespace {

registry::Platform P(const std::string& text) { return *registry::ParsePlatform(text); }

ImageInfo Image(const std::string& name, const std::vector<std::string>& platforms) {
  registry::ImagePlatforms resolved;
  for (const auto& p : platforms) resolved.platforms.push_back(P(p));
  resolved.data_only = platforms.empty();
  return ImageInfo{name, resolved, webhook::ResolvedOutcome(name, resolved)};
}

ImageInfo Unresolved(const std::string& name) {
  return ImageInfo{name, std::nullopt, webhook::FailedOutcome(name, "not found: manifest unknown")};
}

Manifests Read(const std::string& text) {
  Manifests out;
  ReadManifestText("t.yaml", text, out);
  return out;
}

std::string Deployment(const std::string& name, const std::vector<std::string>& images) {
  std::string text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name +
                     ", namespace: shop}\nspec:\n  template:\n    spec:\n      containers:\n";
  for (const auto& image : images) text += "      - {name: c, image: " + image + "}\n";
  return text;
}

ImageTable Table(std::vector<ImageInfo> infos) {
  ImageTable table;
  for (auto& info : infos) table.emplace(info.image, std::move(info));
  return table;
}

TEST(Runs, ArmNodesRunTheirVariantAndOlderOnes) {
  EXPECT_TRUE(Runs(P("linux/arm/v6"), P("linux/arm/v7")));
  EXPECT_FALSE(Runs(P("linux/arm/v7"), P("linux/arm/v6")));
  EXPECT_TRUE(Runs(P("linux/arm64"), P("linux/arm64/v8")));
  EXPECT_FALSE(Runs(P("linux/amd64"), P("linux/arm64")));
  EXPECT_FALSE(Runs(P("windows/amd64"), P("linux/amd64")));
}

TEST(Evaluate, VerdictsReasonsAndSharedPlatforms) {
  const Manifests m = Read(Deployment("web", {"reg.lan/multi:1", "reg.lan/agent:1.2"}));
  const ImageTable table = Table({Image("reg.lan/multi:1", {"linux/amd64", "linux/arm64", "linux/arm/v7"}),
                                  Image("reg.lan/agent:1.2", {"linux/amd64", "linux/arm64"})});
  const auto result = Evaluate(m.workloads[0], table, {P("linux/amd64"), P("linux/arm64"), P("linux/arm/v7")}, {});
  ASSERT_TRUE(result.problem.empty());
  ASSERT_TRUE(result.shared.has_value());
  EXPECT_EQ(result.shared->size(), 2u);
  ASSERT_EQ(result.targets.size(), 3u);
  EXPECT_EQ(result.targets[0].verdict, Verdict::kRuns);
  EXPECT_EQ(result.targets[1].verdict, Verdict::kRuns);
  EXPECT_EQ(result.targets[2].verdict, Verdict::kDoesNotRun);
  EXPECT_EQ(result.targets[2].lacking, std::vector<std::string>{"reg.lan/agent:1.2"});
  ASSERT_EQ(result.reasons.size(), 1u);
  EXPECT_EQ(result.reasons[0], "reg.lan/agent:1.2 has no linux/arm/v7 (it is built for linux/amd64, linux/arm64)");
  EXPECT_FALSE(result.RunsEverywhere());
  EXPECT_TRUE(result.RunsSomewhere());
}

TEST(Evaluate, UnresolvedIsUnknownUnlessAnotherImageRulesThePlatformOut) {
  const Manifests m = Read(Deployment("web", {"reg.lan/amd:1", "reg.lan/gone:1"}));
  const ImageTable table = Table({Image("reg.lan/amd:1", {"linux/amd64"}), Unresolved("reg.lan/gone:1")});
  const auto result = Evaluate(m.workloads[0], table, {P("linux/amd64"), P("linux/arm64")}, {});
  EXPECT_EQ(result.targets[0].verdict, Verdict::kUnknown);
  EXPECT_EQ(result.targets[1].verdict, Verdict::kDoesNotRun);
  EXPECT_FALSE(result.shared.has_value());
  EXPECT_NE(result.reasons[1].find("could not resolve reg.lan/gone:1: not found: manifest unknown"), std::string::npos);
}

TEST(Evaluate, DataOnlyImagesFitEverywhereAndPodsWithoutContainersAreProblems) {
  const Manifests m = Read(Deployment("web", {"reg.lan/data:1"}) + "---\n" +
                           "apiVersion: v1\nkind: Pod\nmetadata: {name: empty}\nspec: {containers: []}\n");
  const ImageTable table = Table({Image("reg.lan/data:1", {})});
  const auto data = Evaluate(m.workloads[0], table, {P("linux/s390x")}, {});
  EXPECT_TRUE(data.RunsEverywhere());
  EXPECT_FALSE(data.shared.has_value());
  const auto empty = Evaluate(m.workloads[1], table, {}, {});
  EXPECT_EQ(empty.problem, "the pod has no containers");
}

TEST(Evaluate, ShowsTheWebhooksAffinityAtTheTemplate) {
  const Manifests m = Read(Deployment("web", {"reg.lan/multi:1"}));
  const auto result = Evaluate(m.workloads[0], Table({Image("reg.lan/multi:1", {"linux/arm64", "linux/amd64"})}), {}, {});
  EXPECT_EQ(result.webhook.result, webhook::AdmissionResult::kMutated);
  EXPECT_NE(result.webhook.patch.find("\"/spec/template/spec/affinity\""), std::string::npos) << result.webhook.patch;
  const Json expressions =
      result.webhook.node_affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"];
  ASSERT_EQ(expressions.size(), 2u) << result.webhook.node_affinity.dump();
  EXPECT_EQ(expressions[1]["values"], Json({"amd64", "arm64"}));
  EXPECT_EQ(result.webhook.annotations.at("archway.dev/platforms"), "linux/amd64,linux/arm64");
}

struct ExitCase {
  std::vector<std::string> targets;
  FailOn fail_on;
  int exit_code;
};

TEST(Report, ExitCodesFollowFailOn) {
  const Manifests m = Read(Deployment("multi", {"reg.lan/multi:1"}) + "---\n" + Deployment("amd", {"reg.lan/amd:1"}));
  const ImageTable table =
      Table({Image("reg.lan/multi:1", {"linux/amd64", "linux/arm64"}), Image("reg.lan/amd:1", {"linux/amd64"})});
  const ExitCase cases[] = {
      {{"linux/amd64"}, FailOn::kAny, 0},
      {{"linux/amd64", "linux/arm64"}, FailOn::kAny, 1},
      {{"linux/amd64", "linux/arm64"}, FailOn::kMissing, 0},
      {{"linux/arm64"}, FailOn::kMissing, 1},
      {{"linux/arm64"}, FailOn::kNone, 0},
      {{}, FailOn::kAny, 0},
  };
  for (const auto& c : cases) {
    Report report;
    report.manifests = &m;
    report.fail_on = c.fail_on;
    for (const auto& t : c.targets) report.targets.platforms.push_back(P(t));
    for (const auto& w : m.workloads) report.results.push_back(Evaluate(w, table, report.targets.platforms, {}));
    EXPECT_EQ(report.ExitCode(), c.exit_code) << c.targets.size() << " " << FailOnName(c.fail_on);
    EXPECT_EQ(RenderJson(report)["exitCode"], c.exit_code);
  }
  Manifests broken = Read("key: [unclosed\n");
  Report report;
  report.manifests = &broken;
  EXPECT_EQ(report.ExitCode(), 2);
  ASSERT_EQ(ReasonLines(report).size(), 1u);
  EXPECT_EQ(ReasonLines(report)[0].rfind("t.yaml: document 1 (line 1): not YAML", 0), 0u);
}

TEST(Report, JsonHasEveryKeyOfTheSchema) {
  const Manifests m = Read(Deployment("amd", {"reg.lan/amd:1"}) + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n");
  Report report;
  report.manifests = &m;
  report.show_affinity = true;
  report.targets.source = TargetInfo::Source::kFlag;
  report.targets.platforms = {P("linux/arm64")};
  report.images = 1;
  report.registry_requests = 2;
  report.results.push_back(Evaluate(m.workloads[0], Table({Image("reg.lan/amd:1", {"linux/amd64"})}), report.targets.platforms, {}));
  const auto json = RenderJson(report);
  std::vector<std::string> keys;
  for (const auto& [key, value] : json.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"schema", "targets", "workloads", "problems", "ignored", "summary", "failOn",
                                            "exitCode"}));
  EXPECT_EQ(json["schema"], kReportSchema);
  const auto& w = json["workloads"][0];
  std::vector<std::string> workload_keys;
  for (const auto& [key, value] : w.items()) workload_keys.push_back(key);
  EXPECT_EQ(workload_keys,
            (std::vector<std::string>{"kind", "apiVersion", "namespace", "name", "source", "problem", "images", "platforms",
                                      "runsEverywhere", "runsSomewhere", "targets", "reasons", "fails", "webhook"}));
  EXPECT_EQ(w["targets"][0]["runs"], "no");
  EXPECT_EQ(w["targets"][0]["lacking"][0], "reg.lan/amd:1");
  EXPECT_EQ(w["webhook"]["result"], "mutated");
  EXPECT_TRUE(w["webhook"]["patch"].is_array());
  EXPECT_EQ(json["ignored"]["kinds"]["v1/Service"], 1);
  EXPECT_EQ(json["summary"]["failing"], 1);
  EXPECT_EQ(json["summary"]["registryRequests"], 2);
  const std::string text = RenderText(report);
  EXPECT_NE(text.find("Deployment/shop/amd  linux/amd64  no\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    reg.lan/amd:1 has no linux/arm64 (it is built for linux/amd64)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("1 other object ignored (v1/Service)"), std::string::npos) << text;
}

}  // namespace
}  // namespace archway::check

// The manifest reader over table inputs: every workload kind, multi-document files,
// Lists and the API's typed lists, JSON, directories, and per-document problems.
#include "check/manifests.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "check/yaml_json.h"

namespace archway::check {
namespace {

std::string PodSpec(const std::string& indent, const std::string& image = "reg.lan/app:1") {
  return indent + "spec:\n" + indent + "  initContainers:\n" + indent + "  - {name: init, image: reg.lan/init:1}\n" +
         indent + "  containers:\n" + indent + "  - {name: app, image: " + image + "}\n";
}

struct KindCase {
  const char* api_version;
  const char* kind;
  const char* pod_path;
};

TEST(Manifests, EveryWorkloadKindIsReadWithItsPodTemplate) {
  const KindCase cases[] = {
      {"v1", "Pod", ""},
      {"apps/v1", "Deployment", "/spec/template"},
      {"apps/v1", "ReplicaSet", "/spec/template"},
      {"apps/v1", "StatefulSet", "/spec/template"},
      {"apps/v1", "DaemonSet", "/spec/template"},
      {"batch/v1", "Job", "/spec/template"},
      {"batch/v1", "CronJob", "/spec/jobTemplate/spec/template"},
      {"batch/v1beta1", "CronJob", "/spec/jobTemplate/spec/template"},
      {"extensions/v1beta1", "DaemonSet", "/spec/template"},
      {"v1", "ReplicationController", "/spec/template"},
  };
  for (const auto& c : cases) {
    std::string text = std::string("apiVersion: ") + c.api_version + "\nkind: " + c.kind +
                       "\nmetadata: {name: w, namespace: ns}\n";
    if (std::string(c.pod_path).empty()) {
      text += PodSpec("");
    } else if (std::string(c.kind) == "CronJob") {
      text += "spec:\n  jobTemplate:\n    spec:\n      template:\n" + PodSpec("        ");
    } else {
      text += "spec:\n  template:\n" + PodSpec("    ");
    }
    Manifests out;
    ReadManifestText("k.yaml", text, out);
    ASSERT_EQ(out.workloads.size(), 1u) << c.kind << (out.problems.empty() ? "" : out.problems[0].String());
    const Workload& w = out.workloads[0];
    EXPECT_EQ(w.kind, c.kind);
    EXPECT_EQ(w.pod_path, c.pod_path);
    EXPECT_EQ(w.Id(), std::string(c.kind) + "/ns/w");
    EXPECT_EQ(w.Pod()["spec"]["containers"][0]["image"], "reg.lan/app:1") << c.kind;
  }
}

TEST(Manifests, MultiDocumentFileCountsOtherKindsAndKeepsGoingPastABadDocument) {
  const std::string text =
      "# a comment only document\n---\n"
      "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n"
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n" + PodSpec("    ") +
      "---\nkey: [unclosed\n---\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
      "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n---\n"
      "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: kube-system}\nspec:\n  template:\n" +
      PodSpec("    ", "reg.lan/agent:2");
  Manifests out;
  ReadManifestText("all.yaml", text, out);
  ASSERT_EQ(out.workloads.size(), 2u);
  EXPECT_EQ(out.workloads[0].Id(), "Deployment/a");
  EXPECT_EQ(out.workloads[1].Id(), "DaemonSet/kube-system/agent");
  EXPECT_EQ(out.workloads[1].source.document, 6);
  EXPECT_EQ(out.IgnoredCount(), 3);
  EXPECT_EQ(out.ignored["v1/Service"], 1);
  EXPECT_EQ(out.ignored["example.com/v1/Widget"], 1);
  ASSERT_EQ(out.problems.size(), 1u);
  EXPECT_EQ(out.problems[0].source.document, 3);
  EXPECT_EQ(out.problems[0].String().rfind("all.yaml: document 3 (line 18): not YAML: line 19", 0), 0u)
      << out.problems[0].String();
}

TEST(Manifests, ListsAndTypedListsAreExpanded) {
  const std::string text =
      "apiVersion: v1\nkind: List\nitems:\n"
      "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n" + PodSpec("  ") +
      "- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n";
  Manifests out;
  ReadManifestText("-", text, out);
  ASSERT_EQ(out.workloads.size(), 1u);
  EXPECT_EQ(out.workloads[0].source.item, 1);
  EXPECT_EQ(out.workloads[0].source.String(), "<stdin>: document 1 (line 1), item 1");
  EXPECT_EQ(out.IgnoredCount(), 1);

  // `kubectl get deploy -o json` of the API: a DeploymentList whose items omit kind.
  const std::string json = R"({"apiVersion":"apps/v1","kind":"DeploymentList","items":[
      {"metadata":{"name":"a","namespace":"x"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i:1"}]}}}},
      {"metadata":{"name":"b","namespace":"x"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"j:1"}]}}}}]})";
  Manifests from_json;
  ReadManifestText("deploys.json", json, from_json);
  ASSERT_EQ(from_json.workloads.size(), 2u);
  EXPECT_EQ(from_json.workloads[1].Id(), "Deployment/x/b");
  EXPECT_EQ(from_json.workloads[1].api_version, "apps/v1");
}

TEST(Manifests, ProblemsSayWhatIsMissing) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"- a\n- b\n", "not a Kubernetes object (the document is not a mapping)"},
      {"apiVersion: v1\nmetadata: {name: x}\n", "the object has no kind"},
      {"kind: Pod\nmetadata: {name: x}\n", "Pod has no apiVersion"},
      {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {namespace: a}\nspec: {}\n", "Deployment has no metadata.name"},
      {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n",
       "Deployment/d has no pod template (spec.template)"},
      {"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {spec: {template: {}}}}\n",
       "CronJob/c has no spec.jobTemplate.spec.template.spec"},
      {"apiVersion: v1\nkind: List\nitems: 3\n", "List: items is not a list"},
      {"apiVersion: v1\nkind: Pod\nmetadata: 7\n", "Pod: metadata is not a mapping"},
  };
  for (const auto& c : cases) {
    Manifests out;
    ReadManifestText("p.yaml", c.text, out);
    ASSERT_EQ(out.problems.size(), 1u) << c.text;
    EXPECT_EQ(out.problems[0].message, c.message);
    EXPECT_TRUE(out.workloads.empty());
  }
  Manifests bad_json;
  ReadManifestText("x.json", "{\"kind\": ", bad_json);
  ASSERT_EQ(bad_json.problems.size(), 1u);
  EXPECT_EQ(bad_json.problems[0].message.rfind("not JSON: ", 0), 0u) << bad_json.problems[0].message;
}

TEST(Manifests, DirectoriesAreReadRecursivelyInPathOrder) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("archway-manifests-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "sub");
  auto write = [](const fs::path& path, const std::string& text) { std::ofstream(path) << text; };
  write(dir / "b.yml", "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\n" + PodSpec(""));
  write(dir / "sub" / "c.json", R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"c"},"spec":{"containers":[{"name":"x","image":"y:1"}]}})");
  write(dir / "a.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n" + PodSpec(""));
  write(dir / "README.md", "not a manifest");
  Manifests out;
  ReadManifestPath(dir.string(), out);
  ASSERT_EQ(out.workloads.size(), 3u);
  EXPECT_EQ(out.workloads[0].name, "a");
  EXPECT_EQ(out.workloads[1].name, "b");
  EXPECT_EQ(out.workloads[2].name, "c");
  EXPECT_EQ(out.files, 3);
  EXPECT_TRUE(out.problems.empty());

  Manifests missing;
  ReadManifestPath((dir / "nope.yaml").string(), missing);
  ASSERT_EQ(missing.problems.size(), 1u);
  EXPECT_NE(missing.problems[0].String().find("nope.yaml: cannot read"), std::string::npos);
  fs::remove_all(dir);
}

TEST(YamlJson, ScalarsResolveAsKubernetesReadsThem) {
  EXPECT_EQ(ResolvePlainScalar("~"), Json());
  EXPECT_EQ(ResolvePlainScalar("yes"), Json(true));
  EXPECT_EQ(ResolvePlainScalar("Off"), Json(false));
  EXPECT_EQ(ResolvePlainScalar("0x1F"), Json(31));
  EXPECT_EQ(ResolvePlainScalar("017"), Json(15));
  EXPECT_EQ(ResolvePlainScalar("1.5"), Json(1.5));
  EXPECT_EQ(ResolvePlainScalar(".inf"), Json(".inf"));
  EXPECT_EQ(ResolvePlainScalar("nginx:1.25"), Json("nginx:1.25"));
  auto docs = ParseYamlStream("a: &d {x: 1, y: 2}\nb:\n  <<: *d\n  y: 3\nc: '017'\n");
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  EXPECT_EQ((*docs)[0].value["b"], Json({{"x", 1}, {"y", 3}}));
  EXPECT_EQ((*docs)[0].value["c"], Json("017"));
}

TEST(YamlJson, HostileInputIsBounded) {
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'k'; ++c) {
    laughs += std::string(1, c) + ": &" + c + " [*" + char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" +
              char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) +
              ", *" + char(c - 1) + ", *" + char(c - 1) + "]\n";
  }
  EXPECT_FALSE(ParseYamlStream(laughs).ok());
  EXPECT_FALSE(ParseYamlStream(std::string(500, '[')).ok());
  EXPECT_FALSE(ParseYamlStream("? [a]\n: b\n").ok());
  // yaml-cpp 0.7 loops on this one (found by fuzz_check_manifests): bounded, and reported.
  Manifests out;
  ReadManifestText("hang.yaml", "&List\",\"ila\"ment", out);
  EXPECT_EQ(out.problems.size(), 1u);
}

}  // namespace
}  // namespace archway::check

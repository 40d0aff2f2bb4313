// The node labeler's least privilege on a real kube-apiserver (v1.28, with the
// ValidatingAdmissionPolicy API turned on as a 1.28/1.29 cluster can): `archway
// node-labeler` labels its Node with the chart's ServiceAccount; the chart's RBAC refuses
// everything else it could ask, and its ValidatingAdmissionPolicy refuses a patch of any
// other label or field. Which Node it patches cannot be restricted on 1.28 (tokens name
// no Node before ServiceAccountTokenPodNodeInfo, 1.30): shown here too, and the 1.30
// policy's own-Node rule is checked by impersonating a token that names one.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/apiserver/apiserver_env.h"
#include "tests/support/process.h"

namespace archway::apitest {
namespace {

SuiteOptions LabelerSuite() {
  SuiteOptions options;
  options.envtest.controller_manager = false;
  options.envtest.apiserver_flags = {"--feature-gates=ValidatingAdmissionPolicy=true",
                                     "--runtime-config=admissionregistration.k8s.io/v1beta1=true"};
  return options;
}
ARCHWAY_APISERVER_SUITE(LabelerSuite());

constexpr const char* kLabeler = "archway-node-labeler";
constexpr const char* kPolicyApi = "admissionregistration.k8s.io/v1beta1/ValidatingAdmissionPolicy";
using Headers = std::vector<std::pair<std::string, std::string>>;

Json NodeObject(const std::string& name, const std::string& arch) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/arch", arch}, {"kubernetes.io/os", "linux"}}}}}};
}

Json GetNode(const std::string& name) { return Body(Cluster().Call("GET", "/api/v1/nodes/" + name)); }

std::string LabelOf(const std::string& node, const std::string& key) {
  const Json labels = GetNode(node)["metadata"].value("labels", Json::object());
  return labels.value(key, "");
}

http::Response MergePatchNode(const std::string& name, const Json& patch, const std::string& token,
                              const Headers& headers = {}) {
  return Cluster().Call("PATCH", "/api/v1/nodes/" + name, patch.dump(), "application/merge-patch+json", token,
                        headers);
}

Json LabelPatch(const std::string& key, const std::string& value) {
  return {{"metadata", {{"labels", {{key, value}}}}}};
}

// The policy and its binding from a render of the chart, renamed with `suffix` so two
// renders can be in force at once, at API version v1beta1 (what 1.28 serves).
void ApplyPolicy(const charttest::Rendered& chart, const std::string& suffix) {
  for (const char* kind : {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}) {
    const YAML::Node doc = chart.Find(kind, kLabeler);
    ASSERT_TRUE(doc) << "the chart rendered no " << kind;
    Json object = ToJson(doc);
    object["apiVersion"] = "admissionregistration.k8s.io/v1beta1";
    object["metadata"]["name"] = kLabeler + suffix;
    if (object["kind"] == "ValidatingAdmissionPolicyBinding") object["spec"]["policyName"] = kLabeler + suffix;
    auto applied = Cluster().Apply(object, /*dry_run=*/false);
    ASSERT_TRUE(applied.ok()) << applied.error().message;
  }
}

std::string Why(const http::Response& response) {
  return std::to_string(response.status) + " " + Body(response).value("message", response.body);
}

class NodeLabelerOnApiserver : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!ClusterAvailable()) return;
    for (const auto& [name, arch] : {std::pair{"pi4", "arm64"}, {"pi-zero", "arm"}, {"amd-01", "amd64"}}) {
      Cluster().Call("POST", "/api/v1/nodes", NodeObject(name, arch).dump());
    }
    // What `helm install` renders on this cluster: v1beta1, no own-Node rule.
    const charttest::Rendered chart =
        RenderChart({"--kube-version", "1.28.15", "--api-versions", kPolicyApi});
    ApplyPolicy(chart, "");
    token_ = Cluster().ServiceAccountToken(kReleaseNamespace, kLabeler);
    // A policy takes effect once the apiserver's policy informer has it. Each probe asks
    // for a new value: a patch that changes nothing passes any policy.
    http::Response last;
    int probe = 0;
    ASSERT_TRUE(WaitFor(
        [&] {
          last = MergePatchNode("amd-01", LabelPatch("team", "probe-" + std::to_string(++probe)), token_);
          return last.status == 403;
        },
        std::chrono::seconds(20)))
        << "the policy never refused a foreign label: " << Why(last);
  }
  void SetUp() override { ARCHWAY_REQUIRE_CLUSTER(); }
  static std::string token_;
};
std::string NodeLabelerOnApiserver::token_;

TEST_F(NodeLabelerOnApiserver, TheChartRendersTheBetaPolicyWithoutTheOwnNodeRuleOn128) {
  const charttest::Rendered chart = RenderChart({"--kube-version", "1.28.15", "--api-versions", kPolicyApi});
  const YAML::Node policy = chart.Find("ValidatingAdmissionPolicy", kLabeler);
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy["apiVersion"].as<std::string>(), "admissionregistration.k8s.io/v1beta1");
  for (const auto& validation : policy["spec"]["validations"]) {
    EXPECT_EQ(validation["expression"].as<std::string>().find("node-name"), std::string::npos);
  }
  // Without the API (1.28 as it ships), no policy at all, and `required` says why.
  EXPECT_FALSE(RenderChart({"--kube-version", "1.28.15"}).Find("ValidatingAdmissionPolicy", kLabeler));
  const charttest::Rendered required = charttest::RenderChart(
      {"--kube-version", "1.28.15", "--set", "nodeLabeler.admissionPolicy=required"}, kReleaseNamespace);
  EXPECT_FALSE(required.ok());
  EXPECT_NE(required.Describe().find("serves no ValidatingAdmissionPolicy API"), std::string::npos)
      << required.Describe();
}

TEST_F(NodeLabelerOnApiserver, TheLabelerLabelsItsNodeWithItsServiceAccountAndThenOnlyReads) {
  const std::string kubeconfig = ServiceAccountKubeconfig(kLabeler);
  auto first = testing::RunCommand({ARCHWAY_BINARY, "node-labeler", "--once", "--node-name", "pi4", "--kubeconfig",
                                    kubeconfig});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  // An arm64 node runs v8 arm binaries. This machine is no arm64 CPU: a 32-bit arm program
  // does not run natively here (and an emulated run would count as none).
  EXPECT_EQ(LabelOf("pi4", "archway.dev/arm-variant"), "v8") << GetNode("pi4").dump();
  EXPECT_EQ(LabelOf("pi4", "archway.dev/arm32"), "none");

  auto second = testing::RunCommand({ARCHWAY_BINARY, "node-labeler", "--once", "--node-name", "pi4", "--kubeconfig",
                                     kubeconfig});
  ASSERT_EQ(second.exit_code, 0) << second.output;
  int patches = 0, gets = 0;
  for (const auto& event : AuditEventsOf(ServiceAccountUser(kLabeler))) {
    const std::string uri = event.value("requestURI", "");
    if (uri.rfind("/api/v1/nodes/pi4", 0) != 0) continue;
    EXPECT_EQ(event["responseStatus"].value("code", 0) / 100, 2) << event.dump();
    if (event.value("verb", "") == "patch") ++patches;
    if (event.value("verb", "") == "get") ++gets;
  }
  EXPECT_EQ(patches, 1) << "a labelled Node is read, never written again";
  EXPECT_EQ(gets, 2);
}

TEST_F(NodeLabelerOnApiserver, TheRoleRefusesEverythingButGetAndPatchOfNodes) {
  const Json node = NodeObject("rogue", "amd64");
  struct Request {
    const char* method;
    std::string target;
    std::string body;
  };
  const std::vector<Request> refused = {
      {"POST", "/api/v1/nodes", node.dump()},
      {"DELETE", "/api/v1/nodes/amd-01", ""},
      {"PUT", "/api/v1/nodes/amd-01", GetNode("amd-01").dump()},
      {"GET", "/api/v1/nodes", ""},
      {"GET", "/api/v1/nodes?watch=true", ""},
      {"PATCH", "/api/v1/nodes/amd-01/status", R"({"status":{"capacity":{"cpu":"1"}}})"},
      {"GET", "/api/v1/namespaces/archway-system/secrets", ""},
      {"GET", "/api/v1/pods", ""},
  };
  for (const auto& r : refused) {
    const auto response = Cluster().Call(r.method, r.target, r.body,
                                         r.method == std::string("PATCH") ? "application/merge-patch+json"
                                                                          : "application/json",
                                         token_);
    EXPECT_EQ(response.status, 403) << r.method << " " << r.target << ": " << Why(response);
  }
}

TEST_F(NodeLabelerOnApiserver, ThePolicyRefusesAnyOtherLabelValueOrField) {
  struct Case {
    const char* what;
    Json patch;
    int status;
  };
  const std::vector<Case> cases = {
      {"another label", LabelPatch("kubernetes.io/arch", "amd64"), 403},
      {"a new label", LabelPatch("example.com/fast", "true"), 403},
      {"removing a label", {{"metadata", {{"labels", {{"kubernetes.io/os", nullptr}}}}}}, 403},
      {"a variant that is none", LabelPatch("archway.dev/arm-variant", "v9"), 422},
      {"an arm32 value that is none", LabelPatch("archway.dev/arm32", "yes"), 422},
      {"the spec", {{"spec", {{"unschedulable", true}}}}, 403},
      {"an annotation", {{"metadata", {{"annotations", {{"a", "b"}}}}}}, 403},
      {"a finalizer", {{"metadata", {{"finalizers", {"example.com/x"}}}}}, 403},
  };
  for (const auto& c : cases) {
    const auto response = MergePatchNode("pi-zero", c.patch, token_);
    EXPECT_EQ(response.status, c.status) << c.what << ": " << Why(response);
  }
  EXPECT_EQ(LabelOf("pi-zero", "kubernetes.io/arch"), "arm");
  // The policy binds only the labeler: an administrator still labels Nodes as before.
  EXPECT_EQ(MergePatchNode("pi-zero", LabelPatch("example.com/fast", "true"), "").status, 200);
  // The two labels, with values the webhook reads, pass.
  const auto allowed = MergePatchNode("pi-zero", LabelPatch("archway.dev/arm-variant", "v6"), token_);
  EXPECT_EQ(allowed.status, 200) << Why(allowed);
  EXPECT_EQ(LabelOf("pi-zero", "archway.dev/arm-variant"), "v6");
}

// What 1.28 cannot restrict: every pod of the DaemonSet shares the ServiceAccount, RBAC's
// resourceNames is fixed in the role, and the token names no Node, so a labeler may label
// any Node (only with the two labels). The README says so.
TEST_F(NodeLabelerOnApiserver, On128TheLabelerMayLabelAnyNodeWithItsTwoLabels) {
  const auto response = MergePatchNode("amd-01", LabelPatch("archway.dev/arm32", "none"), token_);
  EXPECT_EQ(response.status, 200) << Why(response);
}

// From 1.30, a ServiceAccount token of a pod names its Node (user extra
// authentication.kubernetes.io/node-name) and the chart adds a rule on it. Checked here with
// the 1.30 render's policy, served as v1beta1, and requests impersonating such a token.
TEST_F(NodeLabelerOnApiserver, The130PolicyLetsTheLabelerLabelOnlyTheNodeItsTokenNames) {
  const charttest::Rendered chart = RenderChart({"--kube-version", "1.30.0"});
  ApplyPolicy(chart, "-own-node");
  const Headers as_labeler_on_pi4 = {
      {"Impersonate-User", ServiceAccountUser(kLabeler)},
      {"Impersonate-Group", "system:serviceaccounts"},
      {"Impersonate-Group", "system:serviceaccounts:archway-system"},
      {"Impersonate-Group", "system:authenticated"},
      {"Impersonate-Extra-authentication.kubernetes.io%2fnode-name", "pi4"},
  };
  const Headers as_labeler_without_node(as_labeler_on_pi4.begin(), as_labeler_on_pi4.end() - 1);
  const Json variant = LabelPatch("archway.dev/arm-variant", "v7");
  ASSERT_TRUE(WaitFor([&] { return MergePatchNode("amd-01", variant, "", as_labeler_on_pi4).status == 403; },
                      std::chrono::seconds(20)))
      << "the own-Node rule never took effect";

  const auto other = MergePatchNode("pi-zero", variant, "", as_labeler_on_pi4);
  EXPECT_EQ(other.status, 403);
  EXPECT_NE(Why(other).find("may label only the Node its pod runs on, not pi-zero"), std::string::npos) << Why(other);
  const auto nameless = MergePatchNode("pi4", LabelPatch("archway.dev/arm32", "v8"), "", as_labeler_without_node);
  EXPECT_EQ(nameless.status, 403);
  EXPECT_NE(Why(nameless).find("its token names no Node"), std::string::npos) << Why(nameless);
  const auto own = MergePatchNode("pi4", LabelPatch("archway.dev/arm32", "v8"), "", as_labeler_on_pi4);
  EXPECT_EQ(own.status, 200) << Why(own);
  EXPECT_EQ(LabelOf("pi4", "archway.dev/arm32"), "v8");
  // Its other rules still hold on its own Node.
  EXPECT_EQ(MergePatchNode("pi4", LabelPatch("kubernetes.io/arch", "amd64"), "", as_labeler_on_pi4).status, 403);

  for (const char* kind : {"validatingadmissionpolicybindings", "validatingadmissionpolicies"}) {
    Cluster().Call("DELETE", std::string("/apis/admissionregistration.k8s.io/v1beta1/") + kind + "/" + kLabeler +
                                 "-own-node");
  }
}

}  // namespace
}  // namespace archway::apitest

// The node labeler's objects in the rendered chart: a hardened DaemonSet on arm/arm64
// nodes only, RBAC of exactly get+patch on nodes for its own ServiceAccount, and the
// ValidatingAdmissionPolicy rendered for the API the target cluster serves (v1 from
// Kubernetes 1.30, with the own-Node check; v1beta1 where 1.28/1.29 turned it on;
// nothing older). The CEL itself was exercised against a real v1.28 apiserver (see the
// README, "What each component may do"); here the wiring and the version gates are.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/chart/chart_support.h"

namespace archway::charttest {
namespace {

const char kLabeler[] = "archway-node-labeler";
const char kPolicyApi[] = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
const char kPolicyApiBeta[] = "admissionregistration.k8s.io/v1beta1/ValidatingAdmissionPolicy";

std::vector<std::string> Args(const YAML::Node& container) {
  std::vector<std::string> args;
  for (const auto& a : container["args"]) args.push_back(a.as<std::string>());
  return args;
}

std::string AllExpressions(const YAML::Node& policy) {
  std::string text;
  for (const auto& v : policy["spec"]["validations"]) text += Str(v["expression"]) + "\n";
  return text;
}

TEST(NodeLabelerChart, DaemonSetRunsOnArmNodesOnlyAndIsHardened) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  const YAML::Node ds = r.Find("DaemonSet", kLabeler);
  ASSERT_TRUE(ds) << "the node labeler is on by default";
  EXPECT_EQ(Str(ds["metadata"]["namespace"]), "archway-system");
  const YAML::Node pod = ds["spec"]["template"]["spec"];
  EXPECT_EQ(Str(pod["serviceAccountName"]), kLabeler);

  // Required affinity: linux nodes whose kubernetes.io/arch is arm or arm64, nothing else.
  const YAML::Node terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                              ["nodeSelectorTerms"];
  ASSERT_TRUE(terms && terms.size() == 1);
  std::map<std::string, std::vector<std::string>> requirements;
  for (const auto& e : terms[0]["matchExpressions"]) {
    EXPECT_EQ(Str(e["operator"]), "In");
    requirements[Str(e["key"])] = Strings(e["values"]);
  }
  EXPECT_EQ(requirements, (std::map<std::string, std::vector<std::string>>{
                              {"kubernetes.io/arch", {"arm", "arm64"}}, {"kubernetes.io/os", {"linux"}}}));

  const YAML::Node container = Container(ds, "node-labeler");
  ASSERT_TRUE(container);
  EXPECT_EQ(Str(container["image"]), "ghcr.io/archway-dev/archway:0.1.0");
  EXPECT_EQ(Args(container), (std::vector<std::string>{"node-labeler", "--interval", "10m"}));
  ASSERT_EQ(container["env"].size(), 1u);
  EXPECT_EQ(Str(container["env"][0]["name"]), "NODE_NAME");
  EXPECT_EQ(Str(container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"]), "spec.nodeName");

  // Non-root, read-only root, no capabilities, and nothing from the host: the probe runs
  // from a memfd, so there is no volume at all.
  ExpectRestrictedSecurity(ds, container);
  EXPECT_FALSE(pod["volumes"]);
  EXPECT_FALSE(container["volumeMounts"]);
  for (const char* host : {"hostNetwork", "hostPID", "hostIPC"}) EXPECT_FALSE(pod[host].as<bool>(false)) << host;
  EXPECT_FALSE(container["ports"]);

  // Tiny resources, with a memory limit.
  EXPECT_EQ(Str(container["resources"]["requests"]["cpu"]), "5m");
  EXPECT_EQ(Str(container["resources"]["requests"]["memory"]), "16Mi");
  EXPECT_EQ(Str(container["resources"]["limits"]["memory"]), "64Mi");

  // NoSchedule taints are tolerated (labels harm nothing), NoExecute ones are not.
  ASSERT_EQ(pod["tolerations"].size(), 1u);
  EXPECT_EQ(Str(pod["tolerations"][0]["operator"]), "Exists");
  EXPECT_EQ(Str(pod["tolerations"][0]["effect"]), "NoSchedule");

  const YAML::Node pod_labels = ds["spec"]["template"]["metadata"]["labels"];
  EXPECT_EQ(Str(pod_labels["app.kubernetes.io/component"]), "node-labeler");
  for (const auto& entry : ds["spec"]["selector"]["matchLabels"]) {
    EXPECT_EQ(Str(pod_labels[entry.first.as<std::string>()]), entry.second.as<std::string>());
  }
  // The webhook's Deployment selector must not catch labeler pods (and vice versa).
  EXPECT_EQ(Str(ds["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]), "node-labeler");
}

TEST(NodeLabelerChart, RbacIsGetAndPatchOnNodesForItsOwnServiceAccount) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  ASSERT_TRUE(r.Find("ServiceAccount", kLabeler));
  const YAML::Node role = r.Find("ClusterRole", kLabeler);
  ASSERT_TRUE(role);
  ASSERT_EQ(role["rules"].size(), 1u);
  const YAML::Node rule = role["rules"][0];
  EXPECT_EQ(Strings(rule["apiGroups"]), std::vector<std::string>{""});
  EXPECT_EQ(Strings(rule["resources"]), std::vector<std::string>{"nodes"});
  EXPECT_EQ(Strings(rule["verbs"]), (std::vector<std::string>{"get", "patch"}));
  EXPECT_FALSE(rule["resourceNames"]);
  const YAML::Node binding = r.Find("ClusterRoleBinding", kLabeler);
  ASSERT_TRUE(binding);
  EXPECT_EQ(Str(binding["roleRef"]["kind"]), "ClusterRole");
  EXPECT_EQ(Str(binding["roleRef"]["name"]), kLabeler);
  ASSERT_EQ(binding["subjects"].size(), 1u);
  EXPECT_EQ(Str(binding["subjects"][0]["kind"]), "ServiceAccount");
  EXPECT_EQ(Str(binding["subjects"][0]["name"]), kLabeler);
  EXPECT_EQ(Str(binding["subjects"][0]["namespace"]), "archway-system");
  // No other role mentions the labeler's ServiceAccount.
  for (const auto& other : r.All("ClusterRoleBinding")) {
    if (Str(other["metadata"]["name"]) == kLabeler) continue;
    for (const auto& subject : other["subjects"]) EXPECT_NE(Str(subject["name"]), kLabeler);
  }
}

TEST(NodeLabelerChart, PolicyOnKubernetes130RestrictsTheNodeAndTheLabels) {
  const Rendered r = RenderChart({"--kube-version", "v1.30.0"});
  ASSERT_RENDERED(r);
  const YAML::Node policy = r.Find("ValidatingAdmissionPolicy", kLabeler);
  ASSERT_TRUE(policy);
  EXPECT_EQ(Str(policy["apiVersion"]), "admissionregistration.k8s.io/v1");
  EXPECT_EQ(Str(policy["spec"]["failurePolicy"]), "Fail");
  const YAML::Node rule = policy["spec"]["matchConstraints"]["resourceRules"][0];
  EXPECT_EQ(Strings(rule["resources"]), std::vector<std::string>{"nodes"});
  EXPECT_EQ(Strings(rule["operations"]), std::vector<std::string>{"UPDATE"});
  ASSERT_EQ(policy["spec"]["matchConditions"].size(), 1u);
  EXPECT_EQ(Str(policy["spec"]["matchConditions"][0]["expression"]),
            "request.userInfo.username == 'system:serviceaccount:archway-system:archway-node-labeler'");
  const std::string expressions = AllExpressions(policy);
  EXPECT_NE(expressions.find("request.userInfo.extra['authentication.kubernetes.io/node-name']"), std::string::npos)
      << expressions;
  for (const char* value : {"'v5', 'v6', 'v7', 'v8'", "'v8', 'none'", "object.spec == oldObject.spec"}) {
    EXPECT_NE(expressions.find(value), std::string::npos) << value << "\n" << expressions;
  }
  for (const auto& v : policy["spec"]["validations"]) {
    EXPECT_TRUE(v["message"] || v["messageExpression"]) << "every refusal says why";
  }
  const YAML::Node binding = r.Find("ValidatingAdmissionPolicyBinding", kLabeler);
  ASSERT_TRUE(binding);
  EXPECT_EQ(Str(binding["apiVersion"]), "admissionregistration.k8s.io/v1");
  EXPECT_EQ(Str(binding["spec"]["policyName"]), kLabeler);
  EXPECT_EQ(Strings(binding["spec"]["validationActions"]), std::vector<std::string>{"Deny"});
}

TEST(NodeLabelerChart, PolicyFollowsTheApiTheClusterServes) {
  SKIP_WITHOUT_CHART_RENDERER();
  struct Case {
    std::vector<std::string> args;
    std::string api;  // "" = no policy
    bool own_node;
  };
  const std::vector<Case> cases = {
      {{"--kube-version", "v1.25.0"}, "", false},
      {{"--kube-version", "v1.27.3"}, "", false},
      {{"--kube-version", "v1.28.15"}, "", false},  // beta and off by default
      {{"--kube-version", "v1.28.15", "-a", kPolicyApiBeta}, "admissionregistration.k8s.io/v1beta1", false},
      {{"--kube-version", "v1.29.4+k3s1", "-a", kPolicyApiBeta}, "admissionregistration.k8s.io/v1beta1", false},
      {{"--kube-version", "v1.30.2+k3s1"}, "admissionregistration.k8s.io/v1", true},
      {{"--kube-version", "v1.31.0", "-a", kPolicyApi}, "admissionregistration.k8s.io/v1", true},
      {{"--kube-version", "v1.31.0", "--set", "nodeLabeler.admissionPolicy=disabled"}, "", false},
  };
  for (const auto& c : cases) {
    std::string name;
    for (const auto& a : c.args) name += a + " ";
    SCOPED_TRACE(name);
    const Rendered r = RenderChart(c.args);
    ASSERT_TRUE(r.ok()) << r.Describe();
    EXPECT_TRUE(r.Find("DaemonSet", kLabeler));
    const YAML::Node policy = r.Find("ValidatingAdmissionPolicy", kLabeler);
    const YAML::Node binding = r.Find("ValidatingAdmissionPolicyBinding", kLabeler);
    if (c.api.empty()) {
      EXPECT_FALSE(policy);
      EXPECT_FALSE(binding);
      continue;
    }
    ASSERT_TRUE(policy && binding);
    EXPECT_EQ(Str(policy["apiVersion"]), c.api);
    EXPECT_EQ(Str(binding["apiVersion"]), c.api);
    EXPECT_EQ(AllExpressions(policy).find("node-name") != std::string::npos, c.own_node);
  }
}

TEST(NodeLabelerChart, RequiredPolicyFailsWhereTheApiIsMissing) {
  const Rendered old = RenderChart({"--kube-version", "v1.28.15", "--set", "nodeLabeler.admissionPolicy=required"});
  SKIP_WITHOUT_CHART_RENDERER();
  EXPECT_NE(old.command.exit_code, 0);
  EXPECT_NE(old.command.err.find("serves no ValidatingAdmissionPolicy API"), std::string::npos) << old.command.err;
  EXPECT_NE(old.command.err.find("v1.28.15"), std::string::npos) << old.command.err;
  const Rendered ok = RenderChart({"--kube-version", "v1.30.0", "--set", "nodeLabeler.admissionPolicy=required"});
  ASSERT_RENDERED(ok);
  EXPECT_TRUE(ok.Find("ValidatingAdmissionPolicy", kLabeler));
}

TEST(NodeLabelerChart, ServiceAccountNameInThePolicyFollowsTheRelease) {
  const Rendered r = RenderChart({"--kube-version", "v1.30.0", "--set", "fullnameOverride=edge"}, "edge-system");
  ASSERT_RENDERED(r);
  const YAML::Node policy = r.Find("ValidatingAdmissionPolicy", "edge-node-labeler");
  ASSERT_TRUE(policy);
  EXPECT_EQ(Str(policy["spec"]["matchConditions"][0]["expression"]),
            "request.userInfo.username == 'system:serviceaccount:edge-system:edge-node-labeler'");
  EXPECT_EQ(Str(r.Find("ValidatingAdmissionPolicyBinding", "edge-node-labeler")["spec"]["policyName"]),
            "edge-node-labeler");
  EXPECT_EQ(Str(r.Find("DaemonSet", "edge-node-labeler")["spec"]["template"]["spec"]["serviceAccountName"]),
            "edge-node-labeler");
}

TEST(NodeLabelerChart, ValuesReachTheDaemonSet) {
  const Rendered r = RenderChart({"--set", "nodeLabeler.interval=90s", "--set", "nodeLabeler.priorityClassName=low",
                                  "--set", "nodeLabeler.nodeSelector.archway\\.dev/label-me=yes", "--set-json",
                                  "nodeLabeler.tolerations=[{\"operator\":\"Exists\"}]"});
  ASSERT_RENDERED(r);
  const YAML::Node ds = r.Find("DaemonSet", kLabeler);
  ASSERT_TRUE(ds);
  const YAML::Node pod = ds["spec"]["template"]["spec"];
  EXPECT_EQ(Args(Container(ds, "node-labeler")), (std::vector<std::string>{"node-labeler", "--interval", "90s"}));
  EXPECT_EQ(Str(pod["priorityClassName"]), "low");
  EXPECT_EQ(Str(pod["nodeSelector"]["archway.dev/label-me"]), "yes");
  ASSERT_EQ(pod["tolerations"].size(), 1u);
  EXPECT_FALSE(pod["tolerations"][0]["effect"]);
}

TEST(NodeLabelerChart, CanBeLeftOut) {
  const Rendered r = RenderChart({"--set", "nodeLabeler.enabled=false"});
  ASSERT_RENDERED(r);
  for (const char* kind : {"DaemonSet", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                           "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}) {
    EXPECT_FALSE(r.Find(kind, kLabeler)) << kind;
  }
  EXPECT_TRUE(r.Find("Deployment", "archway-webhook"));
}

TEST(NodeLabelerChart, SchemaAndTemplateRejectBadValues) {
  SKIP_WITHOUT_CHART_RENDERER();
  for (const auto& set : {"nodeLabeler.admissionPolicy=sometimes", "nodeLabeler.interval=often",
                          "nodeLabeler.intervall=10m", "nodeLabeler.enabled=yes-please", "nodeLabeler.interval=500ms"}) {
    const Rendered r = RenderChart({"--set", set});
    EXPECT_NE(r.command.exit_code, 0) << set << " was accepted";
  }
  const Rendered tiny = RenderChart({"--set", "nodeLabeler.interval=500ms"});
  EXPECT_NE(tiny.command.err.find("at least 1s"), std::string::npos) << tiny.command.err;
}

}  // namespace
}  // namespace archway::charttest

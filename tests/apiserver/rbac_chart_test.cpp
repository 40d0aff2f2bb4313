// Least privilege and the chart, on a real kube-apiserver: the chart's RBAC (applied by the
// environment, as `helm install` would) refuses what each binary has no business doing,
// (the binaries' own requests are checked at the end of each suite), and the fully
// rendered chart passes the apiserver's server-side dry run while values that render an
// invalid object are refused.
#include <gtest/gtest.h>

#include "tests/apiserver/apiserver_env.h"
#include "tests/support/process.h"

namespace archway::apitest {
namespace {

struct Attempt {
  std::string who;  // "webhook" or "operator"
  std::string method;
  std::string path;
  std::string body;
  std::string content_type;
  int expected;
  std::string why;
};

TEST(LeastPrivilege, EachBinaryIsRefusedWhatItsRoleDoesNotGrant) {
  ARCHWAY_REQUIRE_CLUSTER();
  Cluster().CreateNamespace("rbac");
  const Json secret = {{"apiVersion", "v1"},
                       {"kind", "Secret"},
                       {"metadata", {{"name", "app-credentials"}}},
                       {"stringData", {{"password", "not for archway"}}}};
  ASSERT_EQ(Cluster().Call("POST", "/api/v1/namespaces/rbac/secrets", secret.dump()).status, 201);
  const Json mai = {{"apiVersion", "archway.dev/v1alpha1"},
                    {"kind", "MultiArchImage"},
                    {"metadata", {{"name", "web"}}},
                    {"spec",
                     {{"image", "registry.lan/web:1"},
                      {"platforms", {"linux/amd64"}},
                      {"sources", {{{"image", "registry.lan/web:1-amd64"}}}}}}};
  ASSERT_EQ(Cluster().Call("POST", "/apis/archway.dev/v1alpha1/namespaces/rbac/multiarchimages", mai.dump()).status, 201);
  const std::map<std::string, std::string> tokens = {
      {"webhook", Cluster().ServiceAccountToken(kReleaseNamespace, kWebhookServiceAccount)},
      {"operator", Cluster().ServiceAccountToken(kReleaseNamespace, kOperatorServiceAccount)}};
  const std::string pods = "/api/v1/namespaces/rbac/pods";
  const std::string secrets = "/api/v1/namespaces/rbac/secrets";
  const std::string mais = "/apis/archway.dev/v1alpha1/namespaces/rbac/multiarchimages";
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/";
  const std::string pod = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x"}]}})";
  const std::string lease = R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"archway-operator"}})";
  const std::string merge = "application/merge-patch+json";
  const std::string daemonsets = "/apis/apps/v1/namespaces/rbac/daemonsets";
  const std::vector<Attempt> attempts = {
      {"webhook", "POST", pods, pod, "application/json", 403, "it creates no pods"},
      // The gate controller lists and watches pods (by label: RBAC cannot narrow by it)
      // and updates the ones it releases; it never patches or deletes one.
      {"webhook", "PATCH", pods + "/p", R"({"metadata":{"labels":{"x":"y"}}})", merge, 403, "it only updates pods"},
      {"webhook", "DELETE", pods + "/p", "", "", 403, "it never deletes a pod"},
      {"webhook", "PUT", secrets + "/app-credentials", secret.dump(), "application/json", 403, "Secrets are read-only to it"},
      {"webhook", "DELETE", secrets + "/app-credentials", "", "", 403, "Secrets are read-only to it"},
      {"webhook", "GET", mais, "", "", 403, "MultiArchImages are the operator's"},
      {"webhook", "GET", leases + kReleaseNamespace + "/leases/archway-operator", "", "", 403,
       "only its own Lease (archway-webhook-gates)"},
      {"webhook", "POST", leases + "rbac/leases", lease, "application/json", 403, "Leases only in its namespace"},
      {"webhook", "GET", "/api/v1/namespaces/rbac/configmaps", "", "", 403,
       "nothing but Secrets, Nodes, Namespaces, Pods, Events, DaemonSets"},
      // Namespaces: listed and watched for archway.dev/preferred-platforms; never written,
      // never read one by one (the cache has them).
      {"webhook", "GET", "/api/v1/namespaces?limit=1", "", "", 200, "it lists Namespaces for their annotation"},
      {"webhook", "GET", "/api/v1/namespaces?watch=true&timeoutSeconds=1", "", "", 200, "and watches them"},
      {"webhook", "GET", "/api/v1/namespaces/rbac", "", "", 403, "it never gets a Namespace by name"},
      {"webhook", "PATCH", "/api/v1/namespaces/rbac", R"({"metadata":{"annotations":{"a":"b"}}})", merge, 403,
       "Namespaces are read-only to it"},
      {"webhook", "POST", "/api/v1/namespaces", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}})",
       "application/json", 403, "it creates no Namespace"},
      {"webhook", "DELETE", "/api/v1/namespaces/rbac", "", "", 403, "it deletes no Namespace"},
      // DaemonSets: get and patch one by one (a template placed after its look-up), no more.
      {"webhook", "GET", daemonsets + "/none", "", "", 404, "it reads a DaemonSet it patches"},
      {"webhook", "PATCH", daemonsets + "/none", R"({"metadata":{"labels":{"a":"b"}}})", merge, 404,
       "it patches DaemonSets' templates"},
      {"webhook", "GET", daemonsets, "", "", 403, "it never lists DaemonSets"},
      {"webhook", "POST", daemonsets, "{}", "application/json", 403, "it creates no DaemonSets"},
      {"webhook", "DELETE", daemonsets + "/none", "", "", 403, "it deletes no DaemonSets"},
      {"webhook", "GET", "/apis/apps/v1/namespaces/rbac/deployments", "", "", 403, "no other workload"},
      // The operator caches push Secrets with a list+watch (field selector
      // type=kubernetes.io/dockerconfigjson); RBAC cannot narrow a list by field, so what
      // it may not do is write them. That it only ever lists with the selector is checked
      // in the audit log (operator_test: TheOperatorWasNeverRefusedAndListsOnlyPushSecrets).
      {"operator", "PUT", secrets + "/app-credentials", secret.dump(), "application/json", 403, "Secrets are read-only to it"},
      {"operator", "DELETE", secrets + "/app-credentials", "", "", 403, "Secrets are read-only to it"},
      {"operator", "PATCH", mais + "/web", R"({"spec":{"image":"registry.lan/evil:1"}})", merge, 403,
       "it never writes a MultiArchImage's spec"},
      {"operator", "PUT", mais + "/web", mai.dump(), "application/json", 403, "it never writes a MultiArchImage's spec"},
      {"operator", "DELETE", mais + "/web", "", "", 403, "it never deletes a MultiArchImage"},
      {"operator", "PATCH", mais + "/web/status", R"({"status":{"phase":"Building"}})", merge, 200,
       "status through the subresource is its job"},
      {"operator", "GET", leases + kReleaseNamespace + "/leases/somebody-else", "", "", 403, "only its own Lease"},
      {"operator", "POST", leases + "rbac/leases", lease, "application/json", 403, "Leases only in its namespace"},
      {"operator", "POST", pods, pod, "application/json", 403, "it creates Jobs, never pods"},
      // A finished builder Job's pods say which base images the build used (issue 17).
      {"operator", "GET", pods + "?labelSelector=job-name%3Dweb-linux-amd64-0123abcd", "", "", 200,
       "it lists a Job's pods for their termination messages"},
      {"operator", "GET", pods + "/p", "", "", 403, "it lists a Job's pods, never gets one by name"},
      {"operator", "DELETE", pods + "/p", "", "", 403, "pods are read-only to it"},
      // Pods are listed and watched cluster-wide by the exec-format-error watcher (issue 18, on
      // by default), so neither is refused; the chart test covers the role without it.
      {"operator", "DELETE", "/api/v1/nodes/any", "", "", 403, "Nodes are read-only to it"},
  };
  for (const Attempt& a : attempts) {
    SCOPED_TRACE(a.who + " " + a.method + " " + a.path);
    http::Response r = Cluster().Call(a.method, a.path, a.body, a.content_type.empty() ? "application/json" : a.content_type,
                                      tokens.at(a.who));
    EXPECT_EQ(r.status, a.expected) << a.why << ": " << r.body;
    if (a.expected == 403) {
      EXPECT_EQ(Body(r).value("reason", ""), "Forbidden");
    }
  }
}

TEST(ChartOnApiserver, ServerSideDryRunOfTheWholeRenderedChartSucceeds) {
  ARCHWAY_REQUIRE_CLUSTER();
  // Default values (cert-manager off), CRDs included: every object the install sends,
  // rendered for this cluster's version as `helm install` does (the node labeler's
  // admission policy, for one, depends on it).
  const http::Response version = Cluster().Call("GET", "/version", "", "application/json", "");
  ASSERT_EQ(version.status, 200) << version.body;
  const std::string kube_version = Json::parse(version.body).value("gitVersion", "");
  ASSERT_FALSE(kube_version.empty()) << version.body;
  const charttest::Rendered r = RenderChart({"--include-crds", "--kube-version", kube_version});
  ASSERT_TRUE(r.ok()) << r.Describe();
  ASSERT_GE(r.docs.size(), 18u);
  for (const auto& doc : r.docs) {
    const Json object = ToJson(doc);
    SCOPED_TRACE(object.value("kind", "") + "/" + object["metadata"].value("name", ""));
    auto applied = Cluster().Apply(object, /*dry_run=*/true, "helm");
    EXPECT_TRUE(applied.ok()) << applied.error().message;
  }
  if (Cluster().binaries().kubectl.empty()) {
    std::printf("kubectl is not on PATH: `kubectl apply --server-side --dry-run=server` not run (the same calls were)\n");
    return;
  }
  const std::string file = Cluster().dir().File("chart.yaml");
  testing::WriteFile(file, r.command.out);
  auto k = testing::RunCommand({Cluster().binaries().kubectl, "--kubeconfig", Cluster().admin_kubeconfig(), "apply",
                                "--server-side", "--dry-run=server", "--field-manager=helm", "-f", file},
                               std::chrono::seconds(60));
  EXPECT_EQ(k.exit_code, 0) << k.output;
  EXPECT_NE(k.output.find("mutatingwebhookconfiguration.admissionregistration.k8s.io/archway serverside-applied (server dry run)"),
            std::string::npos)
      << k.output;
}

TEST(ChartOnApiserver, ValuesThatRenderAnInvalidObjectAreRefused) {
  ARCHWAY_REQUIRE_CLUSTER();
  // The values schema allows any string map here; the API does not allow this label key.
  const charttest::Rendered r = RenderChart({"--set-json", R"(webhook.podLabels={"bad label!":"x"})"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  const Json deployment = ToJson(r.Find("Deployment", "archway-webhook"));
  auto applied = Cluster().Apply(deployment, /*dry_run=*/true, "helm");
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code, ErrorCode::kInvalidArgument) << applied.error().message;
  EXPECT_NE(applied.error().message.find("spec.template.labels: Invalid value"), std::string::npos) << applied.error().message;
  EXPECT_NE(applied.error().message.find("bad label!"), std::string::npos) << applied.error().message;
  if (Cluster().binaries().kubectl.empty()) return;
  const std::string file = Cluster().dir().File("invalid-chart.yaml");
  testing::WriteFile(file, r.command.out);
  auto k = testing::RunCommand({Cluster().binaries().kubectl, "--kubeconfig", Cluster().admin_kubeconfig(), "apply",
                                "--server-side", "--dry-run=server", "-f", file},
                               std::chrono::seconds(60));
  EXPECT_NE(k.exit_code, 0) << k.output;
  EXPECT_NE(k.output.find("bad label!"), std::string::npos) << k.output;
}

}  // namespace
}  // namespace archway::apitest

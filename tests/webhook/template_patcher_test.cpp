// The DaemonSet template patcher (webhook/template_patcher.h) against the fake API server
// and a real docker-registry: a template admitted before its look-up finished is placed
// as admission would have placed it, with its namespace's preferred platforms.
#include "webhook/template_patcher.h"

#include <gtest/gtest.h>

#include "kube/client.h"
#include "registry/client.h"
#include "tests/fakeapi/fake_api_server.h"
#include "tests/support/fixtures.h"
#include "tests/support/registry_server.h"
#include "webhook/kube_cluster.h"
#include "webhook/kube_daemonsets.h"

namespace archway::webhook {
namespace {

using std::chrono::milliseconds;
namespace r = kube::resources;

Json DaemonSet(const std::string& ns, const std::string& image) {
  Json ds = {{"apiVersion", "apps/v1"}, {"kind", "DaemonSet"}, {"metadata", {{"name", "agent"}, {"namespace", ns}}}};
  ds["spec"]["selector"]["matchLabels"]["app"] = "agent";
  ds["spec"]["template"]["metadata"]["labels"]["app"] = "agent";
  ds["spec"]["template"]["spec"]["containers"] = Json::array({{{"name", "c"}, {"image", image}}});
  return ds;
}

Json Preferred(const Json& daemon_set) {
  const auto pointer =
      "/spec/template/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution"_json_pointer;
  return daemon_set.contains(pointer) ? daemon_set.at(pointer) : Json();
}

Json Prefer(int weight, const std::string& arch) {
  return {{"weight", weight},
          {"preference",
           {{"matchExpressions", Json::array({{{"key", "kubernetes.io/os"}, {"operator", "In"}, {"values", {"linux"}}},
                                              {{"key", "kubernetes.io/arch"}, {"operator", "In"}, {"values", {arch}}}})}}}};
}

TEST(TemplatePatcher, PlacesATemplateWithItsNamespacesPreferredPlatforms) {
  fakeapi::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  testing::RegistryServer registry;
  testing::PushPlatformIndex(registry, "agents/multi", "1", {"linux/amd64", "linux/arm64"});
  const std::string image = registry.host() + "/agents/multi:1";
  api.Put(r::kNamespaces, Json{{"apiVersion", "v1"},
                               {"kind", "Namespace"},
                               {"metadata",
                                {{"name", "steered"},
                                 {"annotations", {{kPreferredPlatformsAnnotation, "linux/arm64=50,linux/amd64=10"}}}}}});
  api.Put(r::kDaemonSets, DaemonSet("steered", image));
  api.Put(r::kDaemonSets, DaemonSet("plain", image));

  auto client = kube::NewHttpClient(api.ClusterConfig()).value();
  KubeCluster cluster(*client, SecretRef{}, "test");
  cluster.Start();
  ASSERT_TRUE(cluster.WaitForSync(milliseconds(10000)));
  registry::Client registry_client{registry::ClientOptions{}};
  registry::Resolver resolver(registry_client, registry::ResolverOptions{});
  KubeDaemonSets daemon_sets(*client, "test");
  TemplatePatcherOptions options;
  options.decision.preferred_platforms = {{"linux", "amd64", 80}};
  TemplatePatcher patcher(daemon_sets, resolver, &cluster, &cluster, &cluster, nullptr, options);

  for (const auto& [ns, expected] : {std::pair{std::string("steered"), Json::array({Prefer(50, "arm64"), Prefer(10, "amd64")})},
                                     std::pair{std::string("plain"), Json::array({Prefer(80, "amd64")})}}) {
    SCOPED_TRACE(ns);
    patcher.Place(ns, "agent");
    ASSERT_TRUE(patcher.Reconcile(ns + "/agent").ok());
    const Json stored = api.Peek(r::kDaemonSets, ns, "agent").value_or(Json());
    EXPECT_EQ(Preferred(stored), expected) << stored["spec"]["template"].dump();
    EXPECT_EQ(stored["spec"]["template"]["metadata"]["annotations"].value("archway.dev/platforms", ""),
              "linux/amd64,linux/arm64");
    // Placed again (as an update that changes nothing): nothing is written.
    patcher.Place(ns, "agent");
    ASSERT_TRUE(patcher.Reconcile(ns + "/agent").ok());
    const Json again = api.Peek(r::kDaemonSets, ns, "agent").value_or(Json());
    EXPECT_EQ(Preferred(again), expected) << again["spec"]["template"].dump();
    EXPECT_EQ(again["metadata"]["resourceVersion"], stored["metadata"]["resourceVersion"]);
  }
}

}  // namespace
}  // namespace archway::webhook

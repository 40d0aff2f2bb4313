// The cluster view over informers (webhook/kube_cluster.h) against the fake API server:
// the Namespace cache behind per-namespace preferred platforms.
#include "webhook/kube_cluster.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "kube/client.h"
#include "tests/fakeapi/fake_api_server.h"

namespace archway::webhook {
namespace {

using std::chrono::milliseconds;
namespace r = kube::resources;

bool WaitFor(const std::function<bool()>& done, milliseconds timeout = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return done();
}

Json Namespace(const std::string& name, std::optional<std::string> preferred, Json labels = Json::object()) {
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}, {"labels", labels}}}};
  if (preferred) ns["metadata"]["annotations"][kPreferredPlatformsAnnotation] = *preferred;
  ns["metadata"]["annotations"]["unrelated.example.com/note"] = std::string(2000, 'n');
  return ns;
}

// The sample of the metric `name` in the text exposition ("" when absent).
std::string Sample(const Metrics& metrics, const std::string& name) {
  const std::string text = metrics.Serialize();
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return "";
  const auto start = at + name.size() + 2;
  return text.substr(start, text.find('\n', start) - start);
}

class KubeClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    client_ = kube::NewHttpClient(api_.ClusterConfig()).value();
  }

  // The value PreferredPlatformsOf answers for `ns`, as text: "<none>", or the value
  // with "!" before it when it does not parse.
  std::string Cached(const KubeCluster& cluster, const std::string& ns) {
    auto found = cluster.PreferredPlatformsOf(ns);
    if (!found) return "<none>";
    return (found->valid() ? "" : "!") + found->value;
  }

  fakeapi::FakeApiServer api_;
  std::unique_ptr<kube::Client> client_;
  Metrics metrics_;
};

TEST_F(KubeClusterTest, NamespacesAnnotationsAreParsedWhenTheyChange) {
  api_.Put(r::kNamespaces, Namespace("steered", "linux/arm64=50,linux/amd64=10"));
  api_.Put(r::kNamespaces, Namespace("unsteered", ""));
  api_.Put(r::kNamespaces, Namespace("typo", "linux/arm64=500"));
  api_.Put(r::kNamespaces, Namespace("plain", std::nullopt));
  KubeCluster cluster(*client_, SecretRef{}, "test", &metrics_);
  EXPECT_EQ(cluster.PreferredPlatformsOf("steered"), nullptr) << "not started: nothing cached";
  cluster.Start();
  ASSERT_TRUE(cluster.WaitForSync(milliseconds(10000)));

  auto steered = cluster.PreferredPlatformsOf("steered");
  ASSERT_NE(steered, nullptr);
  EXPECT_TRUE(steered->valid());
  EXPECT_EQ(steered->platforms, (std::vector<PreferredPlatform>{{"linux", "arm64", 50}, {"linux", "amd64", 10}}));
  auto unsteered = cluster.PreferredPlatformsOf("unsteered");
  ASSERT_NE(unsteered, nullptr);
  EXPECT_TRUE(unsteered->valid());
  EXPECT_TRUE(unsteered->platforms.empty());
  auto typo = cluster.PreferredPlatformsOf("typo");
  ASSERT_NE(typo, nullptr);
  EXPECT_FALSE(typo->valid());
  EXPECT_NE(typo->error.find("weight 500 is outside 1-100"), std::string::npos) << typo->error;
  EXPECT_EQ(cluster.PreferredPlatformsOf("plain"), nullptr);
  EXPECT_EQ(cluster.PreferredPlatformsOf("absent"), nullptr);
  EXPECT_EQ(Sample(metrics_, "archway_namespace_preferred_platforms_invalid_total"), "1");

  // Changes arrive by watch. Another change of a Namespace keeping its bad value is not
  // counted again (events arrive in order: once "marker" is seen, the label change was).
  api_.Put(r::kNamespaces, Namespace("typo", "linux/arm64=500", {{"team", "shop"}}));
  api_.Put(r::kNamespaces, Namespace("marker", "linux/amd64=1"));
  ASSERT_TRUE(WaitFor([&] { return Cached(cluster, "marker") == "linux/amd64=1"; }));
  EXPECT_EQ(Sample(metrics_, "archway_namespace_preferred_platforms_invalid_total"), "1");
  EXPECT_EQ(cluster.PreferredPlatformsOf("typo"), typo) << "the same parse, not parsed again";

  // Another bad value counts; fixed, deleted and removed annotations apply at once.
  api_.Put(r::kNamespaces, Namespace("typo", "linux/arm64"));
  ASSERT_TRUE(WaitFor([&] { return Cached(cluster, "typo") == "!linux/arm64"; }));
  EXPECT_EQ(Sample(metrics_, "archway_namespace_preferred_platforms_invalid_total"), "2");
  api_.Put(r::kNamespaces, Namespace("typo", "linux/arm64=5"));
  ASSERT_TRUE(WaitFor([&] { return Cached(cluster, "typo") == "linux/arm64=5"; }));
  api_.Put(r::kNamespaces, Namespace("unsteered", std::nullopt));
  ASSERT_TRUE(WaitFor([&] { return Cached(cluster, "unsteered") == "<none>"; }));
  ASSERT_TRUE(api_.Remove(r::kNamespaces, "", "steered"));
  ASSERT_TRUE(WaitFor([&] { return Cached(cluster, "steered") == "<none>"; }));
  EXPECT_EQ(Sample(metrics_, "archway_namespace_preferred_platforms_invalid_total"), "2");

  // Namespaces are listed and watched, never read one by one.
  int namespace_requests = 0;
  for (const auto& request : api_.Requests()) {
    if (request.path.rfind("/api/v1/namespaces", 0) != 0) continue;
    ++namespace_requests;
    EXPECT_TRUE(request.verb == "list" || request.verb == "watch") << request.verb << " " << request.path;
  }
  EXPECT_GE(namespace_requests, 2) << "a list, then a watch";
  cluster.Stop();
}

TEST_F(KubeClusterTest, NotSyncedUntilTheNamespacesAreListed) {
  api_.FailNext("/api/v1/namespaces", 1000, 403);
  KubeCluster cluster(*client_, SecretRef{}, "test", &metrics_);
  cluster.Start();
  EXPECT_FALSE(cluster.WaitForSync(milliseconds(1500))) << "a webhook that cannot list Namespaces is not ready";
  EXPECT_FALSE(cluster.HasSynced());
  api_.ClearFaults();
  EXPECT_TRUE(cluster.WaitForSync(milliseconds(40000)));
  cluster.Stop();
}

}  // namespace
}  // namespace archway::webhook

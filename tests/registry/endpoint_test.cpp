#include "registry/endpoint.h"

#include <gtest/gtest.h>

namespace archway::registry {
namespace {

Reference Ref(const char* text) {
  auto ref = ParseReference(text);
  EXPECT_TRUE(ref.ok()) << text;
  return *ref;
}

TEST(EndpointTest, LoopbackIsPlainHttpEverythingElseHttps) {
  EXPECT_EQ(PushEndpoint(Ref("localhost:5000/a")).scheme, "http");
  EXPECT_EQ(PushEndpoint(Ref("127.0.0.1:5000/a")).scheme, "http");
  EXPECT_EQ(PushEndpoint(Ref("127.1.2.3/a")).scheme, "http");
  EXPECT_EQ(PushEndpoint(Ref("[::1]:5000/a")).scheme, "http");
  EXPECT_EQ(PushEndpoint(Ref("registry.lan/a")).scheme, "https");
  EXPECT_EQ(PushEndpoint(Ref("127example.com/a")).scheme, "https");
  Endpoint hub = PushEndpoint(Ref("nginx"));
  EXPECT_EQ(hub.host, "registry-1.docker.io");
  EXPECT_EQ(hub.Path("manifests/latest"), "/v2/library/nginx/manifests/latest");
}

TEST(EndpointTest, MirrorsInOrderThenDefaultWithRewrites) {
  RegistriesConfig config;
  config.mirrors["docker.io"] = Mirror{{"https://mirror.lan:5000", "http://10.0.0.5:5000/custom/v2/", "cache.lan"},
                                       {{"^library/(.*)", "hub/$1"}}};
  auto endpoints = PullEndpoints(config, Ref("nginx"));
  ASSERT_EQ(endpoints.size(), 4u);
  EXPECT_EQ(endpoints[0].BaseUrl(), "https://mirror.lan:5000");
  EXPECT_EQ(endpoints[0].Path("manifests/x"), "/v2/hub/nginx/manifests/x");
  EXPECT_TRUE(endpoints[0].is_mirror);
  EXPECT_EQ(endpoints[1].BaseUrl(), "http://10.0.0.5:5000");
  EXPECT_EQ(endpoints[1].api_prefix, "/custom/v2");
  EXPECT_EQ(endpoints[2].BaseUrl(), "https://cache.lan");
  EXPECT_EQ(endpoints[3].host, "registry-1.docker.io");
  EXPECT_EQ(endpoints[3].repository, "library/nginx") << "rewrites apply to mirrors only";
  EXPECT_FALSE(endpoints[3].is_mirror);

  auto other = PullEndpoints(config, Ref("registry.lan/app"));
  ASSERT_EQ(other.size(), 1u) << "no mirror for this domain and no wildcard";
}

TEST(EndpointTest, WildcardMirrorAndDefaultListedExplicitly) {
  RegistriesConfig config;
  config.mirrors["*"] = Mirror{{"https://catchall.lan"}, {}};
  config.mirrors["registry.lan"] = Mirror{{"http://registry.lan", "https://backup.lan"}, {}};
  auto wild = PullEndpoints(config, Ref("ghcr.io/a/b"));
  ASSERT_EQ(wild.size(), 2u);
  EXPECT_EQ(wild[0].host, "catchall.lan");
  EXPECT_EQ(wild[1].host, "ghcr.io");
  auto listed = PullEndpoints(config, Ref("registry.lan/app"));
  ASSERT_EQ(listed.size(), 2u) << "the default endpoint listed as a mirror keeps its place and is not repeated";
  EXPECT_EQ(listed[0].BaseUrl(), "http://registry.lan");
  EXPECT_EQ(listed[1].host, "backup.lan");
}

}  // namespace
}  // namespace archway::registry

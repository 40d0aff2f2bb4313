// The registry client behind a forward proxy (tests/support/forward_proxy.h) against a real
// docker-registry: HTTPS through CONNECT with the proxy's credentials, plain HTTP in
// absolute form, NO_PROXY and loopback going direct, and errors that name the proxy. The
// registry is reached by a name that only the proxy resolves, so nothing here needs DNS.
#include <gtest/gtest.h>

#include <cstdlib>

#include "base/encoding.h"
#include "registry/client.h"
#include "tests/support/fixtures.h"
#include "tests/support/forward_proxy.h"
#include "tests/support/registry_server.h"

namespace archway::registry {
namespace {

using archway::testing::LoopbackProxy;
using archway::testing::LoopbackProxyOptions;
using archway::testing::PushRaw;
using archway::testing::RegistryServer;
using archway::testing::RegistryServerOptions;

constexpr char kName[] = "registry.archway.test";

Reference Ref(const std::string& text) {
  auto ref = ParseReference(text);
  EXPECT_TRUE(ref.ok()) << text;
  return *ref;
}

RegistriesConfig Yaml(const std::string& text) {
  auto yaml = ParseRegistriesYaml(text);
  EXPECT_TRUE(yaml.ok()) << yaml.error().message;
  return *yaml;
}

http::ProxyConfig Proxies(const std::string& https, const std::string& http, const std::string& no_proxy = "") {
  http::ProxyEnvironment env;
  env.https_proxy = https;
  env.http_proxy = http;
  env.no_proxy = no_proxy;
  return http::ProxyConfig(env);
}

LoopbackProxyOptions KnowingTheRegistry(const std::string& required_authorization = "") {
  LoopbackProxyOptions options;
  options.hosts = {{kName, "127.0.0.1"}};
  options.required_authorization = required_authorization;
  return options;
}

const std::string kConfigBlob = R"({"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";

std::string ImageManifest() {
  return std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciManifest + R"(","config":{"mediaType":")" +
         media_type::kOciConfig + R"(","digest":")" + ComputeDigest(kConfigBlob) +
         R"(","size":)" + std::to_string(kConfigBlob.size()) + R"(},"layers":[]})";
}

TEST(ClientProxyTest, HttpsRegistryThroughAnAuthenticatingConnectProxy) {
  RegistryServerOptions tls = RegistryServerOptions::Tls();
  tls.tls_names = {kName};
  RegistryServer registry(tls);
  LoopbackProxy proxy(KnowingTheRegistry("Basic " + Base64Encode("ci@corp:s3cret")));
  const std::string host = std::string(kName) + ":" + std::to_string(registry.port());

  ClientOptions options;
  options.registries = Yaml("configs:\n  \"" + host + "\":\n    tls:\n      ca_file: " + registry.ca_file() + "\n");
  options.proxy = Proxies("http://ci%40corp:s3cret@" + proxy.host(), "");
  Client client(options);
  Reference repo = Ref(host + "/team/app");
  ASSERT_TRUE(client.UploadBlob(repo, ComputeDigest(kConfigBlob), kConfigBlob).ok());
  auto pushed = client.PutManifest(Ref(host + "/team/app:v1"), media_type::kOciManifest, ImageManifest());
  ASSERT_TRUE(pushed.ok()) << pushed.error().message;
  auto fetched = client.GetManifest(Ref(host + "/team/app:v1"));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->bytes, ImageManifest());
  auto blob = client.GetBlob(repo, ComputeDigest(kConfigBlob), 4096);
  ASSERT_TRUE(blob.ok()) << blob.error().message;
  EXPECT_EQ(*blob, kConfigBlob);

  // Everything went through one tunnel to the registry's name, opened with the credentials.
  auto asked = proxy.Requests();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].method, "CONNECT");
  EXPECT_EQ(asked[0].target, host);
  EXPECT_EQ(asked[0].Header("proxy-authorization"), "Basic " + Base64Encode("ci@corp:s3cret"));
}

TEST(ClientProxyTest, AProxyFailureIsReportedAsTheProxysFromTheEnvironmentsSettings) {
  RegistryServerOptions tls = RegistryServerOptions::Tls();
  tls.tls_names = {kName};
  RegistryServer registry(tls);
  LoopbackProxy proxy(KnowingTheRegistry("Basic " + Base64Encode("ci:s3cret")));
  const std::string host = std::string(kName) + ":" + std::to_string(registry.port());

  // ClientOptions::proxy left unset: the environment's variables apply.
  setenv("HTTPS_PROXY", ("http://ci:not-the-password@" + proxy.host()).c_str(), 1);
  unsetenv("NO_PROXY");
  unsetenv("no_proxy");
  ClientOptions options;
  options.registries = Yaml("configs:\n  \"" + host + "\":\n    tls:\n      ca_file: " + registry.ca_file() + "\n");
  Client client(options);
  unsetenv("HTTPS_PROXY");

  auto fetched = client.GetManifest(Ref(host + "/team/app:v1"));
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().code, ErrorCode::kNetwork);
  EXPECT_NE(fetched.error().message.find("proxy " + proxy.host() + " answered 407 Proxy Authentication Required to CONNECT " +
                                         host + " (the proxy refused the credentials of the proxy URL)"),
            std::string::npos)
      << fetched.error().message;
  EXPECT_NE(fetched.error().message.find(host + ": GET /v2/team/app/manifests/v1"), std::string::npos)
      << fetched.error().message;
  EXPECT_EQ(fetched.error().message.find("not-the-password"), std::string::npos) << fetched.error().message;
}

TEST(ClientProxyTest, PlainHttpRegistryThroughTheProxyInAbsoluteFormUploadsOnce) {
  RegistryServer registry(RegistryServerOptions::Htpasswd({{"ci", "s3cret"}}));
  LoopbackProxy proxy(KnowingTheRegistry());
  const std::string host = std::string(kName) + ":" + std::to_string(registry.port());

  ClientOptions options;
  // A plain-HTTP registry by name is an http:// mirror of itself in registries.yaml.
  options.registries = Yaml("mirrors:\n  \"" + host + "\":\n    endpoint: [\"http://" + host + "\"]\nconfigs:\n  \"" +
                            host + "\":\n    auth: {username: ci, password: s3cret}\n");
  options.proxy = Proxies("", proxy.url());
  Client client(options);
  Reference repo = Ref(host + "/team/plain");
  Status uploaded = client.UploadBlob(repo, ComputeDigest(kConfigBlob), kConfigBlob);
  ASSERT_TRUE(uploaded.ok()) << uploaded.error().message;
  auto pushed = client.PutManifest(Ref(host + "/team/plain:v1"), media_type::kOciManifest, ImageManifest());
  ASSERT_TRUE(pushed.ok()) << pushed.error().message;
  auto fetched = client.GetManifest(Ref(host + "/team/plain:v1"));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->bytes, ImageManifest());

  int opened_uploads = 0;
  for (const auto& logged : registry.Requests()) {
    if (logged.method == "POST" && logged.status == 202) ++opened_uploads;
  }
  EXPECT_EQ(opened_uploads, 1) << registry.DescribeRequests();
  auto asked = proxy.Requests();
  ASSERT_FALSE(asked.empty());
  for (const auto& r : asked) {
    EXPECT_NE(r.method, "CONNECT");
    EXPECT_EQ(r.target.rfind("http://" + host + "/v2/", 0), 0u) << r.target;
    EXPECT_EQ(r.Header("host"), host);
  }
}

TEST(ClientProxyTest, NoProxyAndLoopbackRegistriesAreReachedDirectly) {
  RegistryServer registry;
  const std::string body = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciIndex + R"(","manifests":[]})";
  PushRaw(registry, "team/direct", "v1", media_type::kOciIndex, body);
  LoopbackProxy proxy(KnowingTheRegistry());

  ClientOptions options;
  options.proxy = Proxies(proxy.url(), proxy.url(), ".archway.test");
  options.connect_timeout = std::chrono::milliseconds(2000);
  Client client(options);
  // 127.0.0.1 is never proxied, whatever NO_PROXY says.
  auto fetched = client.GetManifest(Ref(registry.host() + "/team/direct:v1"));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->bytes, body);
  // A name NO_PROXY lists is looked up and connected to directly: with no DNS entry for it,
  // that fails without the proxy ever being asked.
  auto listed = client.GetManifest(Ref(std::string(kName) + ":" + std::to_string(registry.port()) + "/team/direct:v1"));
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().message.find("proxy"), std::string::npos) << listed.error().message;
  EXPECT_TRUE(proxy.Requests().empty());
}

}  // namespace
}  // namespace archway::registry

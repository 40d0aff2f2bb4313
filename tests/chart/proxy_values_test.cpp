// The chart's proxy.* values: the HTTPS_PROXY / HTTP_PROXY / NO_PROXY environment both
// Deployments get, read back with the binary's own proxy rules (base/proxy.h), so the
// default NO_PROXY is shown to keep in-cluster and k3s addresses direct.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "base/http.h"
#include "base/proxy.h"
#include "tests/chart/chart_support.h"

namespace archway::charttest {
namespace {

const struct {
  const char* deployment;
  const char* container;
} kContainers[] = {{"archway-webhook", "webhook"}, {"archway-operator", "operator"}};

// The container's env entries by name: the value, "secret:NAME/KEY" for a secretKeyRef
// ("?" when optional), "field:PATH" for a fieldRef.
std::map<std::string, std::string> Env(const Rendered& rendered, const char* deployment, const char* container) {
  std::map<std::string, std::string> env;
  for (const auto& entry : Container(rendered.Find("Deployment", deployment), container)["env"]) {
    const std::string name = entry["name"].as<std::string>();
    if (entry["value"]) {
      env[name] = entry["value"].as<std::string>();
    } else if (const auto ref = entry["valueFrom"]["secretKeyRef"]) {
      env[name] = "secret:" + ref["name"].as<std::string>() + "/" + ref["key"].as<std::string>() +
                  (ref["optional"].as<bool>(false) ? "?" : "");
    } else if (const auto field = entry["valueFrom"]["fieldRef"]) {
      env[name] = "field:" + field["fieldPath"].as<std::string>();
    }
  }
  return env;
}

// Whether the binary, given this environment, would send a request for host:port (https) to a proxy.
bool Proxied(const std::map<std::string, std::string>& env, const std::string& authority) {
  http::ProxyEnvironment read;
  auto get = [&](const char* name) {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  };
  read.https_proxy = get("HTTPS_PROXY");
  read.http_proxy = get("HTTP_PROXY");
  read.no_proxy = get("NO_PROXY");
  auto origin = http::ParseOrigin(authority, true);
  EXPECT_TRUE(origin.ok()) << authority;
  auto proxy = http::ProxyConfig(read).For(*origin);
  EXPECT_TRUE(proxy.ok()) << proxy.error().message;
  return proxy.ok() && proxy->has_value();
}

TEST(ChartProxy, NoProxyVariablesUnlessAProxyIsSet) {
  const Rendered r = RenderChart({});
  ASSERT_RENDERED(r);
  for (const auto& c : kContainers) {
    auto env = Env(r, c.deployment, c.container);
    ASSERT_EQ(env["POD_NAME"], "field:metadata.name") << c.deployment;
    for (const char* name : {"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"}) {
      EXPECT_EQ(env.count(name), 0u) << c.deployment << " " << name;
    }
  }
}

TEST(ChartProxy, ValuesBecomeTheEnvironmentOfBothDeployments) {
  TempDir dir;
  const auto values = dir.Write("values.yaml", R"yaml(proxy:
  httpsProxy: http://ci:s3cret@proxy.corp:3128
  httpProxy: proxy.corp:3128
  noProxy: .svc,.cluster.local,10.0.0.0/8,registry.lan:5000
)yaml");
  const Rendered r = RenderChart({"-f", values.string()});
  ASSERT_RENDERED(r);
  for (const auto& c : kContainers) {
    auto env = Env(r, c.deployment, c.container);
    EXPECT_EQ(env["HTTPS_PROXY"], "http://ci:s3cret@proxy.corp:3128") << c.deployment;
    EXPECT_EQ(env["HTTP_PROXY"], "proxy.corp:3128") << c.deployment;
    EXPECT_EQ(env["NO_PROXY"], ".svc,.cluster.local,10.0.0.0/8,registry.lan:5000") << c.deployment;
    EXPECT_EQ(env["POD_NAMESPACE"], "field:metadata.namespace") << c.deployment;
    EXPECT_TRUE(Proxied(env, "registry-1.docker.io"));
    EXPECT_FALSE(Proxied(env, "registry.lan:5000"));
    EXPECT_TRUE(Proxied(env, "registry.lan"));
  }
}

TEST(ChartProxy, TheDefaultNoProxyKeepsClusterAndK3sAddressesDirect) {
  const Rendered r = RenderChart({"--set", "proxy.httpsProxy=http://proxy.corp:3128"});
  ASSERT_RENDERED(r);
  for (const auto& c : kContainers) {
    auto env = Env(r, c.deployment, c.container);
    EXPECT_EQ(env.count("HTTP_PROXY"), 0u) << c.deployment;
    ASSERT_EQ(env["HTTPS_PROXY"], "http://proxy.corp:3128") << c.deployment;
    // In-cluster registries, k3s's service and pod ranges (the API server is 10.43.0.1),
    // LAN addresses and loopback go direct; the internet goes through the proxy.
    for (const char* direct : {"zot.registry.svc:5000", "zot.registry.svc.cluster.local:5000", "kubernetes.default.svc",
                               "10.43.0.1", "10.42.3.7:5000", "192.168.1.10:5000", "172.20.0.1", "localhost:5000",
                               "127.0.0.1:5000", "[::1]:5000"}) {
      EXPECT_FALSE(Proxied(env, direct)) << direct;
    }
    for (const char* proxied : {"registry-1.docker.io", "ghcr.io", "quay.io", "registry.lan:5000", "8.8.8.8"}) {
      EXPECT_TRUE(Proxied(env, proxied)) << proxied;
    }
  }
}

TEST(ChartProxy, AnExistingSecretSuppliesTheUrlsAndReplacesTheValues) {
  const Rendered r = RenderChart({"--set", "proxy.existingSecret=corp-proxy"});
  ASSERT_RENDERED(r);
  for (const auto& c : kContainers) {
    auto env = Env(r, c.deployment, c.container);
    EXPECT_EQ(env["HTTPS_PROXY"], "secret:corp-proxy/HTTPS_PROXY?") << c.deployment;
    EXPECT_EQ(env["HTTP_PROXY"], "secret:corp-proxy/HTTP_PROXY?") << c.deployment;
    EXPECT_NE(env["NO_PROXY"].find(".svc"), std::string::npos) << c.deployment;
  }
  const Rendered both = RenderChart({"--set", "proxy.existingSecret=corp-proxy", "--set", "proxy.httpsProxy=http://p:1"});
  EXPECT_NE(both.command.exit_code, 0);
  EXPECT_NE(both.command.err.find("proxy.existingSecret replaces proxy.httpsProxy"), std::string::npos) << both.command.err;
}

TEST(ChartProxy, TheSchemaRefusesProxiesArchwayCannotSpeakTo) {
  for (const char* set : {"proxy.httpsProxy=https://proxy.corp:3128", "proxy.httpProxy=socks5://proxy.corp:1080",
                          "proxy.httpsProxy=proxy corp", "proxy.noProxy[0]=.svc", "proxy.noproxy=.svc"}) {
    const Rendered r = RenderChart({"--set", set});
    SKIP_WITHOUT_CHART_RENDERER();
    EXPECT_NE(r.command.exit_code, 0) << set << " was accepted";
  }
}

}  // namespace
}  // namespace archway::charttest

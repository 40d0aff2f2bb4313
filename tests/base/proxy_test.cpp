// base/proxy: which proxy applies, checked against the cases of Go's own tests for
// golang.org/x/net/http/httpproxy (proxy_test.go: TestUseProxy, TestProxyForURL) plus the
// deliberate differences its header lists. No network.
#include "base/proxy.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "base/encoding.h"

namespace archway::http {
namespace {

Origin At(const std::string& authority, bool tls) {
  auto origin = ParseOrigin(authority, tls);
  EXPECT_TRUE(origin.ok()) << authority;
  return *origin;
}

ProxyConfig Config(const std::string& https, const std::string& http, const std::string& no_proxy) {
  ProxyEnvironment env;
  env.https_proxy = https;
  env.http_proxy = http;
  env.no_proxy = no_proxy;
  return ProxyConfig(env);
}

// "proxy.example:3128", "" for direct, "error: ..." for an error.
std::string ProxyFor(const ProxyConfig& config, const std::string& authority, bool tls) {
  auto proxy = config.For(At(authority, tls));
  if (!proxy.ok()) return "error: " + proxy.error().message;
  return proxy->has_value() ? (*proxy)->Display() : "";
}

// Go's TestUseProxy: its NO_PROXY list, and whether each host (on port 80) is proxied.
TEST(ProxyConfig, NoProxyMatchesAsGoDoes) {
  const ProxyConfig config = Config(
      "", "proxy.example:3128",
      "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, "
      "2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64");
  const struct {
    const char* host;
    bool proxied;
  } cases[] = {
      // Never proxy localhost.
      {"localhost", false}, {"127.0.0.1", false}, {"127.0.0.2", false}, {"[::1]", false},
      {"[::2]", true},  // not a loopback address
      {"192.168.1.1", false},               // exact IPv4
      {"192.168.1.2", true},                // the port does not match
      {"192.168.1.3", false},               // exact IPv4:port
      {"192.168.1.4", true},                // no match
      {"10.0.0.2", false},                  // IPv4/CIDR
      {"10.0.0.4", true},                   // outside the /30
      {"[2001:db8::52:0:1]", false},        // exact IPv6
      {"[2001:db8::52:0:2]", true},         // the port does not match
      {"[2001:db8::52:0:3]", false},        // exact [IPv6]:port
      {"[2002:db8:a::123]", false},         // IPv6/CIDR
      {"[fe80::424b:c8be:1643:a1b6]", true},
      {"barbaz.net", true},                 // .barbaz.net: subdomains only
      {"www.barbaz.net", false},
      {"foobar.com", false},                // foobar.com: itself...
      {"www.foobar.com", false},            // ...and subdomains
      {"foofoobar.com", true},              // not a label boundary
      {"baz.com", true},
      {"localhost.net", true},
      {"local.localhost", true},
      {"barbarbaz.net", true},
      {"wildcard.io", true},                // *.wildcard.io: subdomains only
      {"nested.wildcard.io", false},
      {"awildcard.io", true},
  };
  for (const auto& c : cases) {
    const std::string authority = std::string(c.host) + ":80";
    EXPECT_EQ(ProxyFor(config, authority, false), c.proxied ? "proxy.example:3128" : "") << c.host;
  }
}

TEST(ProxyConfig, AStarBypassesEverythingAndMalformedEntriesAreIgnored) {
  const ProxyConfig all = Config("proxy.example:3128", "proxy.example:3128", "registry.lan, *");
  for (const char* host : {"registry-1.docker.io", "10.1.2.3", "[2001:db8::1]", "ghcr.io"}) {
    EXPECT_EQ(ProxyFor(all, host, true), "") << host;
  }
  // Go's TestInvalidNoProxy: ":1" has no host and is skipped, so it matches nothing.
  const ProxyConfig invalid = Config("", "proxy.example:3128", ":1, [::1, 300.1.2.3/8, ,");
  EXPECT_EQ(ProxyFor(invalid, "example.com", false), "proxy.example:3128");
}

TEST(ProxyConfig, DomainEntriesWithPortsAndCaseAndCidrForms) {
  const ProxyConfig config =
      Config("proxy.example:3128", "", " Registry.LAN:5000 ,.svc,.cluster.local, 172.16.0.0/12, fd00::/8, [2001:db8::7]");
  EXPECT_EQ(ProxyFor(config, "registry.lan:5000", true), "");  // entries are lower-cased
  EXPECT_EQ(ProxyFor(config, "mirror.registry.lan:5000", true), "");
  EXPECT_EQ(ProxyFor(config, "registry.lan", true), "proxy.example:3128");  // port 443 is not 5000
  EXPECT_EQ(ProxyFor(config, "zot.archway-system.svc:5000", true), "");
  EXPECT_EQ(ProxyFor(config, "zot.archway-system.svc.cluster.local", true), "");
  EXPECT_EQ(ProxyFor(config, "172.20.0.10:5000", true), "");
  EXPECT_EQ(ProxyFor(config, "172.32.0.10:5000", true), "proxy.example:3128");
  EXPECT_EQ(ProxyFor(config, "[fd12::3]:5000", true), "");
  EXPECT_EQ(ProxyFor(config, "[2001:db8::7]:5000", true), "");  // "[v6]" without a port (not in Go)
  EXPECT_EQ(ProxyFor(config, "[::ffff:172.16.0.1]", true), "");  // IPv4-mapped counts as IPv4, as in Go
  // A name is never resolved to be matched against IP entries.
  EXPECT_EQ(ProxyFor(config, "ghcr.io", true), "proxy.example:3128");
}

// Go's TestProxyForURL: values without a scheme are http://, the port defaults to 80, and
// each scheme uses only its own variable.
TEST(ProxyConfig, EachSchemeUsesItsOwnVariable) {
  EXPECT_EQ(ProxyFor(Config("", "127.0.0.1:8080", ""), "example.com", false), "127.0.0.1:8080");
  EXPECT_EQ(ProxyFor(Config("", "cache.corp.example.com:1234", ""), "example.com", false), "cache.corp.example.com:1234");
  EXPECT_EQ(ProxyFor(Config("", "cache.corp.example.com", ""), "example.com", false), "cache.corp.example.com:80");
  EXPECT_EQ(ProxyFor(Config("", "localhost", ""), "example.com", false), "localhost:80");
  EXPECT_EQ(ProxyFor(Config("", "http://127.0.0.1:8080/ignored/path", ""), "example.com", false), "127.0.0.1:8080");
  EXPECT_EQ(ProxyFor(Config("", "http://[::1]:3128", ""), "example.com", false), "[::1]:3128");

  const ProxyConfig both = Config("secure.proxy.tld", "http.proxy.tld", "");
  EXPECT_EQ(ProxyFor(both, "insecure.tld", false), "http.proxy.tld:80");
  EXPECT_EQ(ProxyFor(both, "secure.tld", true), "secure.proxy.tld:80");
  // No fallback from HTTPS_PROXY to HTTP_PROXY.
  EXPECT_EQ(ProxyFor(Config("", "http.proxy.tld", ""), "secure.tld", true), "");
  EXPECT_EQ(ProxyFor(Config("secure.proxy.tld", "", ""), "insecure.tld", false), "");
  EXPECT_EQ(ProxyFor(ProxyConfig(), "secure.tld", true), "");
  EXPECT_TRUE(ProxyConfig().direct());
  EXPECT_TRUE(Config("", "", "*").direct());
  EXPECT_FALSE(both.direct());
}

TEST(ProxyConfig, UserinfoBecomesProxyAuthorizationAndIsNeverShown) {
  const ProxyConfig config = Config("http://ci%40corp:pa%3Ass%25word@proxy.corp:3128", "http://solo@proxy.corp:3128", "");
  auto https = config.For(At("registry.lan", true));
  ASSERT_TRUE(https.ok() && https->has_value());
  EXPECT_EQ((*https)->authorization, "Basic " + Base64Encode("ci@corp:pa:ss%word"));
  EXPECT_EQ((*https)->Display(), "proxy.corp:3128");
  auto http = config.For(At("registry.lan", false));
  ASSERT_TRUE(http.ok() && http->has_value());
  EXPECT_EQ((*http)->authorization, "Basic " + Base64Encode("solo:"));  // as Go: an empty password
  const std::string described = config.Describe();
  EXPECT_EQ(described.find("pa%3Ass"), std::string::npos) << described;
  EXPECT_EQ(described.find("ci%40corp"), std::string::npos) << described;
  EXPECT_NE(described.find("https=proxy.corp:3128 (with credentials)"), std::string::npos) << described;
}

TEST(ProxyConfig, UnusableValuesFailTheRequestsTheyApplyToAndNameTheVariable) {
  const ProxyConfig config = Config("socks5://user:secret@proxy.corp:1080", "https://proxy.corp:3128", "");
  for (bool tls : {true, false}) {
    auto proxy = config.For(At("registry.lan", tls));
    ASSERT_FALSE(proxy.ok());
    EXPECT_EQ(proxy.error().code, ErrorCode::kNetwork);
    EXPECT_NE(proxy.error().message.find(tls ? "HTTPS_PROXY \"socks5://***@proxy.corp:1080\": socks5:// proxies are not supported"
                                             : "HTTP_PROXY \"https://proxy.corp:3128\": https:// proxies are not supported"),
              std::string::npos)
        << proxy.error().message;
    EXPECT_EQ(proxy.error().message.find("secret"), std::string::npos) << proxy.error().message;
  }
  EXPECT_EQ(config.Problems().size(), 2u);
  // Loopback is never proxied, so an unusable value does not stop it either.
  EXPECT_EQ(ProxyFor(config, "127.0.0.1:5000", true), "");

  for (const char* bad : {"http://proxy.corp:99999", "http://", "http://u:%zz@proxy.corp", "http://a:b:c"}) {
    auto proxy = Config(bad, "", "").For(At("registry.lan", true));
    EXPECT_FALSE(proxy.ok()) << bad;
  }
}

TEST(ProxyEnvironment, UpperCaseWinsAndEmptyCountsAsUnset) {
  for (const char* name : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"}) unsetenv(name);
  setenv("https_proxy", "lower.proxy:1", 1);
  setenv("HTTP_PROXY", "upper.proxy:2", 1);
  setenv("http_proxy", "lower.proxy:3", 1);
  setenv("NO_PROXY", "", 1);  // empty: the lower-case one applies
  setenv("no_proxy", ".lan", 1);
  ProxyEnvironment env = ProxyEnvironment::FromProcess();
  EXPECT_EQ(env.https_proxy, "lower.proxy:1");
  EXPECT_EQ(env.https_proxy_variable, "https_proxy");
  EXPECT_EQ(env.http_proxy, "upper.proxy:2");
  EXPECT_EQ(env.http_proxy_variable, "HTTP_PROXY");
  EXPECT_EQ(env.no_proxy, ".lan");
  const ProxyConfig config = ProxyConfig::FromEnvironment();
  EXPECT_EQ(ProxyFor(config, "registry.lan", true), "");
  EXPECT_EQ(ProxyFor(config, "ghcr.io", true), "lower.proxy:1");
  for (const char* name : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"}) unsetenv(name);
  EXPECT_TRUE(ProxyConfig::FromEnvironment().direct());
}

TEST(ProxyRoute, DirectAndProxiedConnectionsNeverShareAPoolKey) {
  Origin origin = At("registry.lan", true);
  Proxy plain{At("proxy.corp:3128", false), ""};
  Proxy alice{At("proxy.corp:3128", false), "Basic " + Base64Encode("alice:1")};
  Proxy bob{At("proxy.corp:3128", false), "Basic " + Base64Encode("bob:2")};
  Proxy other{At("proxy2.corp:3128", false), ""};
  const std::string keys[] = {RouteKey(origin, nullptr), RouteKey(origin, &plain), RouteKey(origin, &alice),
                              RouteKey(origin, &bob), RouteKey(origin, &other)};
  for (size_t i = 0; i < std::size(keys); ++i) {
    for (size_t j = i + 1; j < std::size(keys); ++j) EXPECT_NE(keys[i], keys[j]) << i << " " << j;
    EXPECT_EQ(keys[i].find("alice"), std::string::npos);
    EXPECT_EQ(keys[i].find(Base64Encode("alice:1")), std::string::npos);
  }
  EXPECT_EQ(RouteKey(origin, nullptr), origin.Key());
}

TEST(HttpMethods, IdempotentAreRfc9110s) {
  for (const char* method : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}) EXPECT_TRUE(IsIdempotent(method)) << method;
  for (const char* method : {"POST", "PATCH", "CONNECT", "get", ""}) EXPECT_FALSE(IsIdempotent(method)) << method;
}

}  // namespace
}  // namespace archway::http

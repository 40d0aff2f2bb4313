// base/http through a forward proxy (tests/support/forward_proxy.h, on loopback): CONNECT
// with TLS to the origin inside the tunnel, absolute-form plain HTTP, Proxy-Authorization
// only to the proxy, separate pooling, and errors that name the proxy.
#include <gtest/gtest.h>

#include <string>

#include "base/encoding.h"
#include "base/http.h"
#include "tests/support/forward_proxy.h"
#include "tests/support/http_server.h"

namespace archway::http {
namespace {

using archway::testing::HttpRecord;
using archway::testing::HttpReply;
using archway::testing::LoopbackHttpServer;
using archway::testing::LoopbackProxy;
using archway::testing::LoopbackProxyOptions;
using archway::testing::LoopbackTls;

const std::string kCredentials = "Basic " + Base64Encode("ci:s3cret");

// Names no DNS knows: only the test proxy resolves them (to 127.0.0.1).
LoopbackProxyOptions MappingProxy(std::string required_authorization = "") {
  LoopbackProxyOptions options;
  options.hosts = {{"registry.archway.test", "127.0.0.1"}, {"other.archway.test", "127.0.0.1"},
                   {"origin.archway.test", "127.0.0.1"}};
  options.required_authorization = std::move(required_authorization);
  return options;
}

Origin At(const std::string& authority, bool tls) {
  auto origin = ParseOrigin(authority, tls);
  EXPECT_TRUE(origin.ok()) << authority;
  return *origin;
}

ExchangeOptions Through(const LoopbackProxy& proxy, std::string authorization = "") {
  ExchangeOptions options;
  options.connect_timeout = std::chrono::milliseconds(3000);
  options.timeout = std::chrono::milliseconds(5000);
  options.proxy = Proxy{At(proxy.host(), false), std::move(authorization)};
  return options;
}

Request Get(std::string target) {
  Request request;
  request.method = "GET";
  request.target = std::move(target);
  return request;
}

std::shared_ptr<TlsContext> Trusting(const LoopbackHttpServer& server) {
  TlsOptions options;
  options.ca_file = server.ca_file();
  auto made = TlsContext::New(options);
  EXPECT_TRUE(made.ok()) << made.error().message;
  return *made;
}

TEST(HttpProxy, HttpsGoesThroughOneConnectTunnelAndVerifiesTheOriginsName) {
  LoopbackHttpServer origin([](const HttpRecord&) {
    HttpReply reply;
    reply.body = "inside";
    return reply;
  }, LoopbackTls::SelfSigned({"registry.archway.test"}));
  LoopbackProxy proxy(MappingProxy(kCredentials));
  auto tls = Trusting(origin);
  ConnectionPool pool;
  const std::string authority = "registry.archway.test:" + std::to_string(origin.port());
  ExchangeOptions options = Through(proxy, kCredentials);

  for (int i = 0; i < 2; ++i) {
    auto response = Exchange(pool, At(authority, true), tls, Get("/v2/?n=" + std::to_string(i)), options);
    ASSERT_TRUE(response.ok()) << response.error().message;
    EXPECT_EQ(response->body, "inside");
  }
  // One tunnel served both exchanges; the proxy saw only the CONNECT, with the credentials.
  auto asked = proxy.Requests();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].method, "CONNECT");
  EXPECT_EQ(asked[0].target, authority);
  EXPECT_EQ(asked[0].Header("host"), authority);
  EXPECT_EQ(asked[0].Header("proxy-authorization"), kCredentials);
  EXPECT_EQ(proxy.Connections(), 1);
  // Inside the tunnel: origin-form targets, the origin's Host, no proxy credentials.
  auto served = origin.Requests();
  ASSERT_EQ(served.size(), 2u);
  for (const auto& r : served) {
    EXPECT_EQ(r.target.rfind("/v2/?n=", 0), 0u) << r.target;
    EXPECT_EQ(r.Header("host"), authority);
    EXPECT_FALSE(r.HasHeader("proxy-authorization"));
  }

  // The certificate also covers IP 127.0.0.1, the proxy's address: a client that verified
  // the proxy's name would accept this origin, whose name the certificate does not cover.
  const std::string other = "other.archway.test:" + std::to_string(origin.port());
  auto refused = Exchange(pool, At(other, true), tls, Get("/v2/"), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kNetwork);
  EXPECT_NE(refused.error().message.find("TLS handshake with " + other + " (through proxy " + proxy.host() + ")"),
            std::string::npos)
      << refused.error().message;
  EXPECT_EQ(origin.Requests().size(), 2u);
}

TEST(HttpProxy, PlainHttpSendsAbsoluteFormTargetsWithTheCredentials) {
  LoopbackHttpServer origin([](const HttpRecord& r) {
    HttpReply reply;
    reply.body = "path " + r.target;
    return reply;
  });
  LoopbackProxy proxy(MappingProxy(kCredentials));
  ConnectionPool pool;
  const std::string authority = "origin.archway.test:" + std::to_string(origin.port());
  auto response = Exchange(pool, At(authority, false), nullptr, Get("/v2/x/tags/list?n=1"), Through(proxy, kCredentials));
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->body, "path /v2/x/tags/list?n=1");
  auto asked = proxy.Requests();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].method, "GET");
  EXPECT_EQ(asked[0].target, "http://" + authority + "/v2/x/tags/list?n=1");
  EXPECT_EQ(asked[0].Header("host"), authority);
  EXPECT_EQ(asked[0].Header("proxy-authorization"), kCredentials);
}

TEST(HttpProxy, DirectAndProxiedConnectionsAreNeverMixed) {
  LoopbackHttpServer origin([](const HttpRecord&) { return HttpReply{}; });
  LoopbackProxy proxy;
  ConnectionPool pool;
  const Origin target = At(origin.host(), false);
  ExchangeOptions direct;
  ASSERT_TRUE(Exchange(pool, target, nullptr, Get("/direct"), direct).ok());
  // An idle direct connection exists, but a proxied exchange must not use it...
  ASSERT_TRUE(Exchange(pool, target, nullptr, Get("/proxied"), Through(proxy)).ok());
  EXPECT_EQ(proxy.Requests().size(), 1u);
  // ...nor a direct one the proxied connection, nor one with other proxy credentials.
  ASSERT_TRUE(Exchange(pool, target, nullptr, Get("/direct-again"), direct).ok());
  EXPECT_EQ(proxy.Requests().size(), 1u);
  ASSERT_TRUE(Exchange(pool, target, nullptr, Get("/proxied-again"), Through(proxy)).ok());
  EXPECT_EQ(proxy.Connections(), 1);
  ASSERT_TRUE(Exchange(pool, target, nullptr, Get("/other-user"), Through(proxy, kCredentials)).ok());
  EXPECT_EQ(proxy.Connections(), 2);
  EXPECT_EQ(proxy.Requests().size(), 3u);
  EXPECT_EQ(origin.Requests().size(), 5u);
}

TEST(HttpProxy, RefusalsAndMissingOrWrongCredentialsNameTheProxy) {
  LoopbackProxy demanding(MappingProxy(kCredentials));
  auto system_roots = TlsContext::New(TlsOptions{});
  ASSERT_TRUE(system_roots.ok());
  ConnectionPool pool;
  const Origin registry = At("registry.archway.test", true);
  const std::string prefix = "proxy " + demanding.host() + " answered 407 Proxy Authentication Required to CONNECT registry.archway.test:443";

  auto anonymous = Exchange(pool, registry, *system_roots, Get("/v2/"), Through(demanding));
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.error().code, ErrorCode::kNetwork);
  EXPECT_EQ(anonymous.error().message, prefix + " (the proxy URL carries no credentials)");

  const std::string wrong = "Basic " + Base64Encode("ci:wrong-password");
  auto rejected = Exchange(pool, registry, *system_roots, Get("/v2/"), Through(demanding, wrong));
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().message, prefix + " (the proxy refused the credentials of the proxy URL)");
  EXPECT_EQ(rejected.error().message.find("wrong-password"), std::string::npos);

  // Plain HTTP: the proxy's 407 is an error naming it, not a response from the origin.
  auto plain = Exchange(pool, At("origin.archway.test:5000", false), nullptr, Get("/v2/x?secret=1"), Through(demanding));
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().message, "proxy " + demanding.host() +
                                       " answered 407 to GET http://origin.archway.test:5000/v2/x (the proxy URL carries no credentials)");

  LoopbackProxyOptions refusing_options;
  refusing_options.refuse = true;
  LoopbackProxy refusing(refusing_options);
  auto refused = Exchange(pool, registry, *system_roots, Get("/v2/"), Through(refusing));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "proxy " + refusing.host() + " answered 403 Forbidden to CONNECT registry.archway.test:443");

  // The proxy cannot reach the origin: its 502 says so.
  LoopbackProxy unmapped;
  auto unreachable = Exchange(pool, registry, *system_roots, Get("/v2/"), Through(unmapped));
  ASSERT_FALSE(unreachable.ok());
  EXPECT_EQ(unreachable.error().message, "proxy " + unmapped.host() + " answered 502 Bad Gateway to CONNECT registry.archway.test:443");

  std::string gone_host;
  {
    LoopbackProxy gone;
    gone_host = gone.host();
  }
  ExchangeOptions to_gone;
  to_gone.proxy = Proxy{At(gone_host, false), ""};
  auto closed = Exchange(pool, registry, *system_roots, Get("/v2/"), to_gone);
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().code, ErrorCode::kNetwork);
  EXPECT_EQ(closed.error().message.rfind("connect to proxy " + gone_host + ": ", 0), 0u) << closed.error().message;
}

}  // namespace
}  // namespace archway::http

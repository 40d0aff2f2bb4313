// Client auth against a real docker-registry: htpasswd Basic and token auth (with the
// test token server), credentials from docker config.json / registries.yaml / per-call
// keychains, token reuse, tenant isolation, mirrors and rewrites.
#include <thread>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "registry/client.h"
#include "tests/support/fixtures.h"
#include "tests/support/registry_server.h"

namespace archway::registry {
namespace {

using archway::testing::PushBlob;
using archway::testing::PushRaw;
using archway::testing::RegistryServer;
using archway::testing::RegistryServerOptions;
using archway::testing::TokenGrant;

Reference Ref(const std::string& text) {
  auto ref = ParseReference(text);
  EXPECT_TRUE(ref.ok()) << text;
  return *ref;
}

// A small OCI index pushed by hand at repo:tag; returns its digest.
std::string PushIndex(RegistryServer& registry, const std::string& repo, const std::string& tag) {
  std::string body = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciIndex +
                     R"(","manifests":[],"annotations":{"repo":")" + repo + R"("}})";
  return PushRaw(registry, repo, tag, media_type::kOciIndex, body);
}

Keychain KeychainFor(const std::string& host, const std::string& user, const std::string& password) {
  Keychain k;
  k.Add(host, AuthConfig{user, password, "", ""});
  return k;
}

TEST(ClientBasicAuthTest, NoWrongAndRightCredentials) {
  RegistryServer registry(RegistryServerOptions::Htpasswd({{"ci", "s3cret-pw"}}));
  PushIndex(registry, "team/app", "v1");
  Reference ref = Ref(registry.host() + "/team/app:v1");

  Client anonymous{ClientOptions{}};
  auto none = anonymous.GetManifest(ref);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kUnauthorized) << none.error().message;
  EXPECT_NE(none.error().message.find(registry.host()), std::string::npos) << none.error().message;

  ClientOptions wrong_options;
  wrong_options.keychain = KeychainFor(registry.host(), "ci", "wrong-pw");
  Client wrong(wrong_options);
  auto rejected = wrong.GetManifest(ref);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().code, ErrorCode::kUnauthorized) << rejected.error().message;
  EXPECT_NE(rejected.error().message.find("rejected the credentials for " + registry.host()), std::string::npos)
      << rejected.error().message;
  EXPECT_EQ(rejected.error().message.find("wrong-pw"), std::string::npos) << "never the password";

  ClientOptions right_options;
  right_options.keychain = KeychainFor(registry.host(), "ci", "s3cret-pw");
  Client right(right_options);
  registry.ResetRequests();
  ASSERT_TRUE(right.GetManifest(ref).ok());
  EXPECT_EQ(registry.CountRequests("GET", "/v2/team/app/manifests/v1"), 2)
      << "anonymous attempt, challenge, then Basic\n" << registry.DescribeRequests();
  registry.ResetRequests();
  ASSERT_TRUE(right.HeadManifest(ref).ok());
  EXPECT_EQ(registry.CountRequests("", ".*"), 1) << "Basic is sent up front once the registry asked for it\n"
                                                  << registry.DescribeRequests();
}

TEST(ClientBasicAuthTest, CredentialsFromDockerConfigAndRegistriesYaml) {
  RegistryServer registry(RegistryServerOptions::Htpasswd({{"ci", "pw1"}}));
  PushIndex(registry, "team/app", "v1");
  Reference ref = Ref(registry.host() + "/team/app:v1");

  auto docker_config = Keychain::FromDockerConfigJson(R"({"auths":{"http://)" + registry.host() +
                                                      R"(/v2/":{"auth":")" + Base64Encode("ci:pw1") + R"("}}})");
  ASSERT_TRUE(docker_config.ok());
  ClientOptions from_docker;
  from_docker.keychain = *docker_config;
  EXPECT_TRUE(Client(from_docker).GetManifest(ref).ok());

  auto yaml = ParseRegistriesYaml("configs:\n  \"" + registry.host() + "\":\n    auth:\n      username: ci\n      password: pw1\n");
  ASSERT_TRUE(yaml.ok()) << yaml.error().message;
  ClientOptions from_yaml;
  from_yaml.registries = *yaml;
  EXPECT_TRUE(Client(from_yaml).GetManifest(ref).ok()) << "registries.yaml configs.auth is used";

  // A per-call keychain (a pod's pull secret) wins over the defaults.
  ClientOptions wrong_default;
  wrong_default.keychain = KeychainFor(registry.host(), "ci", "stale");
  Client client(wrong_default);
  Keychain secret = KeychainFor(registry.host(), "ci", "pw1");
  EXPECT_TRUE(client.GetManifest(ref, &secret).ok());
  EXPECT_FALSE(client.GetManifest(ref).ok());
  EXPECT_NE(client.CredentialFingerprint(ref, &secret), client.CredentialFingerprint(ref));
}

class ClientTokenAuthTest : public ::testing::Test {
 protected:
  ClientTokenAuthTest()
      : registry_(RegistryServerOptions::Token({{"ci", "ci-pw"}, {"reader", "reader-pw"}},
                                               {{"ci", "team/app", {"pull", "push"}},
                                                {"ci", "team/other", {"pull"}},
                                                {"reader", "team/other", {"pull"}},
                                                {"", "public/app", {"pull"}}})) {}

  void SetUp() override {
    for (const char* repo : {"team/app", "team/other", "team/secret", "public/app"}) PushIndex(registry_, repo, "v1");
    registry_.ResetRequests();
    registry_.token_server()->ResetRequests();
  }

  ClientOptions As(const std::string& user, const std::string& password) {
    ClientOptions options;
    options.keychain = KeychainFor(registry_.host(), user, password);
    return options;
  }

  RegistryServer registry_;
};

TEST_F(ClientTokenAuthTest, TokenIsFetchedOnceAndReused) {
  Client client(As("ci", "ci-pw"));
  Reference ref = Ref(registry_.host() + "/team/app:v1");
  ASSERT_TRUE(client.GetManifest(ref).ok());
  EXPECT_EQ(registry_.token_server()->RequestCount(), 1u);
  auto token_request = registry_.token_server()->Requests()[0];
  EXPECT_NE(token_request.target.find("scope=repository%3Ateam%2Fapp%3Apull"), std::string::npos) << token_request.target;
  EXPECT_NE(token_request.target.find("service=archway-test-registry"), std::string::npos) << token_request.target;
  EXPECT_EQ(token_request.Header("authorization"), "Basic " + Base64Encode("ci:ci-pw"));
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/team/app/manifests/v1"), 2) << registry_.DescribeRequests();

  registry_.ResetRequests();
  ASSERT_TRUE(client.HeadManifest(ref).ok());
  ASSERT_TRUE(client.GetManifest(ref).ok());
  EXPECT_EQ(registry_.token_server()->RequestCount(), 1u) << "the cached token answers the same scope";
  EXPECT_EQ(registry_.CountRequests("", ".*"), 2) << "no more 401 round trips\n" << registry_.DescribeRequests();

  // A new scope on a known registry: the token comes first, no 401 round trip.
  registry_.ResetRequests();
  ASSERT_TRUE(client.GetManifest(Ref(registry_.host() + "/team/other:v1")).ok());
  EXPECT_EQ(registry_.token_server()->RequestCount(), 2u);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 1) << registry_.DescribeRequests();
}

TEST_F(ClientTokenAuthTest, ExpiredTokenIsRenewed) {
  RegistryServer short_lived(
      RegistryServerOptions::Token({{"ci", "ci-pw"}}, {{"ci", "team/app", {"pull"}}}, /*expires_in_seconds=*/1));
  PushIndex(short_lived, "team/app", "v1");
  ClientOptions options;
  options.keychain = KeychainFor(short_lived.host(), "ci", "ci-pw");
  Client client(options);
  Reference ref = Ref(short_lived.host() + "/team/app:v1");
  ASSERT_TRUE(client.GetManifest(ref).ok());
  ASSERT_TRUE(client.GetManifest(ref).ok());
  EXPECT_EQ(short_lived.token_server()->RequestCount(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_TRUE(client.GetManifest(ref).ok());
  EXPECT_EQ(short_lived.token_server()->RequestCount(), 2u) << "expires_in is honoured";
}

TEST_F(ClientTokenAuthTest, AnonymousTokenForPublicRepository) {
  Client client{ClientOptions{}};
  auto fetched = client.GetManifest(Ref(registry_.host() + "/public/app:v1"));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  ASSERT_EQ(registry_.token_server()->RequestCount(), 1u);
  EXPECT_FALSE(registry_.token_server()->Requests()[0].HasHeader("authorization"));

  auto denied = client.GetManifest(Ref(registry_.host() + "/team/app:v1"));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kUnauthorized) << denied.error().message;
  EXPECT_NE(denied.error().message.find("no credentials are configured for " + registry_.host()), std::string::npos)
      << denied.error().message;
}

TEST_F(ClientTokenAuthTest, UserMayPullOneRepositoryButNotAnother) {
  Client client(As("ci", "ci-pw"));
  EXPECT_TRUE(client.GetManifest(Ref(registry_.host() + "/team/app:v1")).ok());
  auto secret = client.GetManifest(Ref(registry_.host() + "/team/secret:v1"));
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.error().code, ErrorCode::kForbidden) << secret.error().message;
}

TEST_F(ClientTokenAuthTest, WrongPasswordIsUnauthorizedAndNamesTheRegistry) {
  Client client(As("ci", "not-the-password"));
  auto fetched = client.GetManifest(Ref(registry_.host() + "/team/app:v1"));
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().code, ErrorCode::kUnauthorized) << fetched.error().message;
  EXPECT_NE(fetched.error().message.find(registry_.host()), std::string::npos) << fetched.error().message;
  EXPECT_EQ(fetched.error().message.find("not-the-password"), std::string::npos);
}

TEST_F(ClientTokenAuthTest, PullOnlyUserCannotPush) {
  Client client(As("reader", "reader-pw"));
  Reference ref = Ref(registry_.host() + "/team/other:v2");
  std::string body = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciIndex + R"(","manifests":[]})";
  auto pushed = client.PutManifest(ref, media_type::kOciIndex, body);
  ASSERT_FALSE(pushed.ok());
  EXPECT_TRUE(pushed.error().code == ErrorCode::kForbidden) << pushed.error().message;
  auto scopes = registry_.token_server()->Requests();
  ASSERT_FALSE(scopes.empty());
  EXPECT_NE(scopes.back().target.find("pull%2Cpush"), std::string::npos) << "push scope asked for: " << scopes.back().target;

  Client writer(As("ci", "ci-pw"));
  auto ok = writer.PutManifest(Ref(registry_.host() + "/team/app:v2"), media_type::kOciIndex, body);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, ComputeDigest(body));
}

// One tenant's cached token never answers another tenant's request.
TEST_F(ClientTokenAuthTest, TokensAreCachedPerCredentials) {
  Client client(As("ci", "ci-pw"));
  Reference app = Ref(registry_.host() + "/team/app:v1");
  ASSERT_TRUE(client.GetManifest(app).ok());
  Keychain reader = KeychainFor(registry_.host(), "reader", "reader-pw");
  auto as_reader = client.GetManifest(app, &reader);
  ASSERT_FALSE(as_reader.ok()) << "reader has no access to team/app; ci's cached token must not be used";
  EXPECT_EQ(as_reader.error().code, ErrorCode::kForbidden) << as_reader.error().message;
  EXPECT_EQ(registry_.token_server()->RequestCount(), 2u);
}

TEST(ClientMirrorTest, MirrorsInOrderWithFallbackToTheDefault) {
  RegistryServer origin;
  RegistryServer mirror;
  std::string only_in_mirror = PushIndex(mirror, "team/app", "mirrored");
  std::string only_in_origin = PushIndex(origin, "team/app", "fresh");
  int dead = archway::testing::FreePort();
  auto yaml = ParseRegistriesYaml("mirrors:\n  \"" + origin.host() + "\":\n    endpoint:\n      - \"http://127.0.0.1:" +
                                  std::to_string(dead) + "\"\n      - \"http://" + mirror.host() + "\"\n");
  ASSERT_TRUE(yaml.ok()) << yaml.error().message;
  ClientOptions options;
  options.registries = *yaml;
  options.connect_timeout = std::chrono::milliseconds(1000);
  Client client(options);
  origin.ResetRequests();
  mirror.ResetRequests();

  auto from_mirror = client.GetManifest(Ref(origin.host() + "/team/app:mirrored"));
  ASSERT_TRUE(from_mirror.ok()) << from_mirror.error().message;
  EXPECT_EQ(from_mirror->digest, only_in_mirror);
  EXPECT_EQ(origin.CountRequests("", ".*"), 0) << "the mirror answered; the origin is not asked";
  EXPECT_EQ(mirror.CountRequests("GET", "/v2/team/app/manifests/mirrored"), 1);

  auto fallback = client.GetManifest(Ref(origin.host() + "/team/app:fresh"));
  ASSERT_TRUE(fallback.ok()) << fallback.error().message;
  EXPECT_EQ(fallback->digest, only_in_origin);
  EXPECT_EQ(mirror.CountRequests("GET", "/v2/team/app/manifests/fresh"), 1);
  EXPECT_EQ(origin.CountRequests("GET", "/v2/team/app/manifests/fresh"), 1);

  // Pushes never go to mirrors.
  mirror.ResetRequests();
  std::string body = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciIndex + R"(","manifests":[]})";
  ASSERT_TRUE(client.PutManifest(Ref(origin.host() + "/team/app:pushed"), media_type::kOciIndex, body).ok());
  EXPECT_EQ(mirror.CountRequests("", ".*"), 0);
}

TEST(ClientMirrorTest, RewriteRulesAndWildcard) {
  RegistryServer origin;
  RegistryServer mirror;
  std::string digest = PushIndex(mirror, "cache/team/app", "v1");
  auto yaml = ParseRegistriesYaml("mirrors:\n  \"*\":\n    endpoint: [\"http://" + mirror.host() +
                                  "\"]\n    rewrite:\n      \"^team/(.*)$\": \"cache/team/$1\"\n");
  ASSERT_TRUE(yaml.ok()) << yaml.error().message;
  ClientOptions options;
  options.registries = *yaml;
  Client client(options);
  origin.ResetRequests();
  mirror.ResetRequests();
  auto fetched = client.GetManifest(Ref(origin.host() + "/team/app:v1"));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->digest, digest);
  EXPECT_EQ(mirror.CountRequests("GET", "/v2/cache/team/app/manifests/v1"), 1) << mirror.DescribeRequests();
  EXPECT_EQ(origin.CountRequests("", ".*"), 0);
}

}  // namespace
}  // namespace archway::registry

#include "registry/reference.h"

#include <gtest/gtest.h>

namespace archway::registry {
namespace {

struct ValidCase {
  const char* input;
  const char* domain;
  const char* repository;
  const char* tag;
  const char* digest;
};

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(ReferenceTest, ParsesAndNormalisesValidReferences) {
  std::string with_digest = "nginx@" + kDigest;
  std::string tag_and_digest = "registry.lan:5000/web:1.4@" + kDigest;
  const ValidCase cases[] = {
      {"nginx", "docker.io", "library/nginx", "latest", ""},
      {"nginx:1.25", "docker.io", "library/nginx", "1.25", ""},
      {"user/app:1", "docker.io", "user/app", "1", ""},
      {"docker.io/nginx", "docker.io", "library/nginx", "latest", ""},
      {"index.docker.io/library/nginx", "docker.io", "library/nginx", "latest", ""},
      {"registry.lan:5000/web", "registry.lan:5000", "web", "latest", ""},
      {"localhost/foo", "localhost", "foo", "latest", ""},
      {"localhost:5000/foo/bar:v2", "localhost:5000", "foo/bar", "v2", ""},
      {"127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "latest", ""},
      {"foo:5000", "docker.io", "library/foo", "5000", ""},  // a tag, not a port
      {"[::1]:5000/img:t", "[::1]:5000", "img", "t", ""},
      {"Registry.LAN/app", "Registry.LAN", "app", "latest", ""},  // upper case is only legal in the host
      {"ghcr.io/a__b/c-d/e.f_g--h:Tag_1.0-rc", "ghcr.io", "a__b/c-d/e.f_g--h", "Tag_1.0-rc", ""},
      {"quay.io/x:_underscore", "quay.io", "x", "_underscore", ""},
  };
  for (const auto& c : cases) {
    auto ref = ParseReference(c.input);
    ASSERT_TRUE(ref.ok()) << c.input << ": " << ref.error().message;
    EXPECT_EQ(ref->domain, c.domain) << c.input;
    EXPECT_EQ(ref->repository, c.repository) << c.input;
    EXPECT_EQ(ref->tag, c.tag) << c.input;
    EXPECT_EQ(ref->digest, c.digest) << c.input;
  }

  auto digest_only = ParseReference(with_digest);
  ASSERT_TRUE(digest_only.ok());
  EXPECT_EQ(digest_only->tag, "");
  EXPECT_EQ(digest_only->digest, kDigest);
  EXPECT_EQ(digest_only->Identifier(), kDigest);
  EXPECT_EQ(digest_only->String(), "docker.io/library/nginx@" + kDigest);

  auto both = ParseReference(tag_and_digest);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->tag, "1.4");
  EXPECT_EQ(both->digest, kDigest);
  EXPECT_EQ(both->Identifier(), kDigest) << "the digest wins over the tag";
  EXPECT_EQ(both->String(), tag_and_digest);
}

TEST(ReferenceTest, RejectsInvalidReferencesWithAReason) {
  struct InvalidCase {
    std::string input;
    std::string reason_contains;
  };
  const InvalidCase cases[] = {
      {"", "empty"},
      {"Nginx", "lowercase"},
      {"docker.io/Library/nginx", "lowercase"},
      {"nginx:", "invalid tag"},
      {"nginx:-bad", "invalid tag"},
      {"nginx:" + std::string(129, 'a'), "128"},
      {"nginx@sha256:abc", "64 lower-case hex"},
      {"nginx@md5:" + std::string(32, 'a'), "only sha256"},
      {"nginx@sha256:" + std::string(64, 'A'), "64 lower-case hex"},
      {"nginx@" + std::string(64, 'a'), "algorithm:hex"},
      {"a//b", "empty path component"},
      {"a/b/", "empty path component"},
      {"/a", "empty path component"},
      {"-a/b", "start and end"},
      {"a_/b", "start and end"},
      {"a..b", "separator"},
      {"a___b", "separator"},
      {"a b", "whitespace"},
      {"registry.lan:port/x", "invalid registry host"},
      {"-bad.host/x", "invalid registry host"},
      {"host.lan/", "missing repository"},
      {":tag", "missing repository"},
      {"x/" + std::string(250, 'a'), "255"},
      {std::string(64, 'a'), "image ID"},
      {"a$b", "invalid character"},
  };
  for (const auto& c : cases) {
    auto ref = ParseReference(c.input);
    ASSERT_FALSE(ref.ok()) << "accepted: " << c.input;
    EXPECT_EQ(ref.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(ref.error().message.find(c.reason_contains), std::string::npos)
        << c.input << " -> " << ref.error().message;
    EXPECT_EQ(ref.error().message.find('\n'), std::string::npos) << "one-line reason";
  }
}

TEST(ReferenceTest, WithTagAndWithDigestReplaceTheOther) {
  auto ref = ParseReference("registry.lan/web:1.4");
  ASSERT_TRUE(ref.ok());
  Reference by_digest = ref->WithDigest(kDigest);
  EXPECT_EQ(by_digest.tag, "");
  EXPECT_EQ(by_digest.digest, kDigest);
  Reference by_tag = by_digest.WithTag("2.0");
  EXPECT_EQ(by_tag.String(), "registry.lan/web:2.0");
  EXPECT_EQ(by_tag.Name(), "registry.lan/web");
}

TEST(ReferenceTest, DockerHubIsReachedAtRegistry1) {
  EXPECT_EQ(DefaultEndpointHost("docker.io"), "registry-1.docker.io");
  EXPECT_EQ(DefaultEndpointHost("registry.lan:5000"), "registry.lan:5000");
}

TEST(ReferenceTest, CanonicalStringRoundTrips) {
  for (const char* input : {"nginx", "user/app:1", "localhost:5000/foo/bar:v2", "ghcr.io/a/b:c"}) {
    auto ref = ParseReference(input);
    ASSERT_TRUE(ref.ok()) << input;
    auto again = ParseReference(ref->String());
    ASSERT_TRUE(again.ok()) << ref->String();
    EXPECT_EQ(*again, *ref) << input;
  }
}

}  // namespace
}  // namespace archway::registry

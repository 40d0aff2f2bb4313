// Client against a real docker-registry (plain HTTP): fetches, HEADs, blobs, request
// counts as the registry logged them, and the Accept header's effect.
#include "registry/client.h"

#include <gtest/gtest.h>

#include "tests/support/fixtures.h"
#include "tests/support/registry_server.h"

namespace archway::registry {
namespace {

using archway::testing::PushBlob;
using archway::testing::PushRaw;
using archway::testing::RegistryServer;

Reference Ref(const std::string& text) {
  auto ref = ParseReference(text);
  EXPECT_TRUE(ref.ok()) << text;
  return *ref;
}

std::string ImageManifest(const std::string& config_digest, size_t config_size, const std::string& layer_digest) {
  return std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kDockerManifest +
         R"(","config":{"mediaType":")" + media_type::kDockerConfig + R"(","digest":")" + config_digest +
         R"(","size":)" + std::to_string(config_size) + R"(},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":")" +
         layer_digest + R"(","size":5}]})";
}

class ClientPlainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = R"({"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
    config_digest_ = PushBlob(registry_, "team/app", config_);
    layer_digest_ = PushBlob(registry_, "team/app", "layer");
    manifest_ = ImageManifest(config_digest_, config_.size(), layer_digest_);
    manifest_digest_ = PushRaw(registry_, "team/app", "v1", media_type::kDockerManifest, manifest_);
    registry_.ResetRequests();
  }

  RegistryServer registry_;
  Client client_{ClientOptions{}};
  std::string config_, config_digest_, layer_digest_, manifest_, manifest_digest_;
};

TEST_F(ClientPlainTest, GetManifestByTagIsOneGetAndVerified) {
  auto fetched = client_.GetManifest(Ref(registry_.host() + "/team/app:v1"));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->bytes, manifest_) << "served bytes exactly";
  EXPECT_EQ(fetched->digest, manifest_digest_);
  EXPECT_EQ(fetched->media_type, media_type::kDockerManifest);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 1) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/team/app/manifests/v1"), 1);
}

TEST_F(ClientPlainTest, GetManifestByDigest) {
  auto fetched = client_.GetManifest(Ref(registry_.host() + "/team/app@" + manifest_digest_));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->digest, manifest_digest_);
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/team/app/manifests/sha256:[0-9a-f]+"), 1);
}

TEST_F(ClientPlainTest, HeadManifestGivesDigestMediaTypeAndSize) {
  auto head = client_.HeadManifest(Ref(registry_.host() + "/team/app:v1"));
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->digest, manifest_digest_);
  EXPECT_EQ(head->media_type, media_type::kDockerManifest);
  EXPECT_EQ(head->size, static_cast<int64_t>(manifest_.size()));
  EXPECT_EQ(registry_.CountRequests("HEAD", "/v2/team/app/manifests/v1"), 1) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("GET", ".*"), 0);
}

TEST_F(ClientPlainTest, MissingManifestIsNotFound) {
  auto missing = client_.GetManifest(Ref(registry_.host() + "/team/app:nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound) << missing.error().message;
  EXPECT_NE(missing.error().message.find("MANIFEST_UNKNOWN"), std::string::npos) << missing.error().message;
  auto head = client_.HeadManifest(Ref(registry_.host() + "/other/repo:v1"));
  ASSERT_FALSE(head.ok());
  EXPECT_EQ(head.error().code, ErrorCode::kNotFound) << head.error().message;
}

TEST_F(ClientPlainTest, GetBlobAndBlobExists) {
  Reference repo = Ref(registry_.host() + "/team/app");
  auto config = client_.GetBlob(repo, config_digest_, kMaxConfigBytes);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(*config, config_);
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/team/app/blobs/" + config_digest_), 1);

  auto exists = client_.BlobExists(repo, layer_digest_);
  ASSERT_TRUE(exists.ok()) << exists.error().message;
  EXPECT_TRUE(*exists);
  auto absent = client_.BlobExists(repo, "sha256:" + std::string(64, '0'));
  ASSERT_TRUE(absent.ok()) << absent.error().message;
  EXPECT_FALSE(*absent);
  EXPECT_EQ(registry_.CountRequests("HEAD", "/v2/team/app/blobs/.*"), 2);

  auto too_small = client_.GetBlob(repo, config_digest_, config_.size() - 1);
  ASSERT_FALSE(too_small.ok());
  EXPECT_EQ(too_small.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(too_small.error().message.find("larger than"), std::string::npos) << too_small.error().message;
}

TEST_F(ClientPlainTest, ObserverSeesEveryExchangeWithoutQueryStrings) {
  std::vector<RequestEvent> events;
  ClientOptions options;
  options.observer = [&](const RequestEvent& e) { events.push_back(e); };
  Client observed(options);
  ASSERT_TRUE(observed.HeadManifest(Ref(registry_.host() + "/team/app:v1")).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].registry, registry_.host());
  EXPECT_EQ(events[0].method, "HEAD");
  EXPECT_EQ(events[0].path, "/v2/team/app/manifests/v1");
  EXPECT_EQ(events[0].status, 200);
}

// docs/design.md: Docker Distribution answers 404 for an OCI index and converts a Docker list
// to schema1 unless the Accept header lists them. The client must get both as pushed.
TEST(ClientAcceptTest, OciIndexAndDockerListComeBackUnconverted) {
  RegistryServer registry;
  archway::testing::Buildah buildah;
  std::string oci_digest = buildah.PushList(registry, "a/b:oci", {"linux/amd64"}, archway::testing::ImageFormat::kOci);
  std::string docker_digest =
      buildah.PushList(registry, "a/b:docker", {"linux/amd64"}, archway::testing::ImageFormat::kDocker);

  Client client{ClientOptions{}};
  auto fetched_oci = client.GetManifest(Ref(registry.host() + "/a/b:oci"));
  ASSERT_TRUE(fetched_oci.ok()) << fetched_oci.error().message;
  EXPECT_EQ(fetched_oci->media_type, media_type::kOciIndex);
  EXPECT_EQ(fetched_oci->digest, oci_digest);
  auto fetched_docker = client.GetManifest(Ref(registry.host() + "/a/b:docker"));
  ASSERT_TRUE(fetched_docker.ok()) << fetched_docker.error().message;
  EXPECT_EQ(fetched_docker->media_type, media_type::kDockerList) << "not converted to schema1";
  EXPECT_EQ(fetched_docker->digest, docker_digest);

  // The same registry without the Accept header behaves as docs/design.md says, which is why
  // the header matters (guards the premise of the test).
  auto plain = archway::testing::HttpCall(registry.host(), "GET", "/v2/a/b/manifests/docker");
  EXPECT_NE(archway::testing::ReplyHeader(plain, "Content-Type").find("v1+prettyjws"), std::string::npos);
  auto plain_oci = archway::testing::HttpCall(registry.host(), "GET", "/v2/a/b/manifests/oci");
  EXPECT_EQ(plain_oci.status, 404);
}

TEST(ClientBuildahTest, ReadsWhatBuildahPushed) {
  RegistryServer registry;
  std::string list_digest =
      archway::testing::BuildahManifestList(registry, "multi/app:1", {"linux/amd64", "linux/arm/v7"});
  Client client{ClientOptions{}};
  auto fetched = client.GetManifest(Ref(registry.host() + "/multi/app:1"));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->digest, list_digest);
  auto manifest = ParseManifest(fetched->bytes, fetched->media_type);
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  ASSERT_EQ(manifest->manifests.size(), 2u);
  std::vector<std::string> platforms;
  for (const auto& d : manifest->manifests) platforms.push_back(d.platform->String());
  std::sort(platforms.begin(), platforms.end());
  EXPECT_EQ(platforms, (std::vector<std::string>{"linux/amd64", "linux/arm/v7"}));
  auto child = client.GetManifest(Ref(registry.host() + "/multi/app@" + manifest->manifests[0].digest));
  ASSERT_TRUE(child.ok()) << child.error().message;
  auto image = ParseManifest(child->bytes, child->media_type);
  ASSERT_TRUE(image.ok());
  auto config = client.GetBlob(Ref(registry.host() + "/multi/app"), image->config.digest, kMaxConfigBytes);
  ASSERT_TRUE(config.ok()) << config.error().message;
  auto platform = PlatformFromConfig(*config);
  ASSERT_TRUE(platform.ok());
  EXPECT_EQ((*platform)->String(), manifest->manifests[0].platform->String());
}

}  // namespace
}  // namespace archway::registry

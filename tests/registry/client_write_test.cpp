// The write side against a real docker-registry: manifests, uploads, cross-repository
// mounts (accepted and refused), and streamed copies within and across registries.
#include <gtest/gtest.h>

#include "registry/client.h"
#include "tests/support/fixtures.h"
#include "tests/support/registry_server.h"

namespace archway::registry {
namespace {

using archway::testing::PushBlob;
using archway::testing::RegistryServer;
using archway::testing::RegistryServerOptions;

Reference Ref(const std::string& text) {
  auto ref = ParseReference(text);
  EXPECT_TRUE(ref.ok()) << text;
  return *ref;
}

const std::string kIndex = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciIndex +
                           R"(","manifests":[],"annotations":{"a":"b"}})";

TEST(ClientWriteTest, PutManifestThenReadItBackByteForByte) {
  RegistryServer registry;
  Client client{ClientOptions{}};
  auto digest = client.PutManifest(Ref(registry.host() + "/w/x:v1"), media_type::kOciIndex, kIndex);
  ASSERT_TRUE(digest.ok()) << digest.error().message;
  EXPECT_EQ(*digest, ComputeDigest(kIndex));
  auto fetched = client.GetManifest(Ref(registry.host() + "/w/x@" + *digest));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->bytes, kIndex);
  EXPECT_EQ(registry.CountRequests("PUT", "/v2/w/x/manifests/v1"), 1);
}

TEST(ClientWriteTest, PutManifestWhoseBlobsAreMissingIsRefused) {
  RegistryServer registry;
  Client client{ClientOptions{}};
  std::string missing = "sha256:" + std::string(64, '1');
  std::string image = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciManifest +
                      R"(","config":{"mediaType":")" + media_type::kOciConfig + R"(","digest":")" + missing +
                      R"(","size":2},"layers":[]})";
  auto digest = client.PutManifest(Ref(registry.host() + "/w/x:v1"), media_type::kOciManifest, image);
  ASSERT_FALSE(digest.ok());
  EXPECT_NE(digest.error().message.find("MANIFEST_BLOB_UNKNOWN"), std::string::npos) << digest.error().message;
}

TEST(ClientWriteTest, UploadBlobVerifiesContentAndLandsInTheRegistry) {
  RegistryServer registry;
  Client client{ClientOptions{}};
  Reference repo = Ref(registry.host() + "/w/x");
  std::string bytes = "some config bytes";
  ASSERT_TRUE(client.UploadBlob(repo, ComputeDigest(bytes), bytes).ok());
  auto exists = client.BlobExists(repo, ComputeDigest(bytes));
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(*exists);
  Status wrong = client.UploadBlob(repo, ComputeDigest("other"), bytes);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument);
}

TEST(ClientWriteTest, MountAcrossRepositoriesAndRefusedMountFallsBackWithoutAnExtraSession) {
  RegistryServer registry;
  Client client{ClientOptions{}};
  std::string bytes = "layer to share";
  std::string digest = PushBlob(registry, "src/repo", bytes);
  registry.ResetRequests();

  auto mounted = client.MountBlob(Ref(registry.host() + "/dst/repo"), digest, Ref(registry.host() + "/src/repo"));
  ASSERT_TRUE(mounted.ok()) << mounted.error().message;
  EXPECT_TRUE(*mounted);
  EXPECT_TRUE(*client.BlobExists(Ref(registry.host() + "/dst/repo"), digest));

  // The source repository lacks the blob: the registry opens a plain upload (202).
  std::string fresh = "not in the source";
  auto refused = client.MountBlob(Ref(registry.host() + "/dst/repo"), ComputeDigest(fresh),
                                  Ref(registry.host() + "/empty/repo"));
  ASSERT_TRUE(refused.ok()) << refused.error().message;
  EXPECT_FALSE(*refused);
  ASSERT_TRUE(client.UploadBlob(Ref(registry.host() + "/dst/repo"), ComputeDigest(fresh), fresh).ok());
  EXPECT_EQ(registry.CountRequests("POST", "/v2/dst/repo/blobs/uploads/"), 2)
      << "the upload reuses the session the refused mount opened\n" << registry.DescribeRequests();
  EXPECT_TRUE(*client.BlobExists(Ref(registry.host() + "/dst/repo"), ComputeDigest(fresh)));

  auto across = client.MountBlob(Ref("other.lan/dst"), digest, Ref(registry.host() + "/src/repo"));
  ASSERT_FALSE(across.ok());
  EXPECT_EQ(across.error().code, ErrorCode::kInvalidArgument);
}

TEST(ClientWriteTest, CopyBlobAcrossRegistriesSmallAndChunked) {
  RegistryServer source;
  RegistryServer destination(RegistryServerOptions::Htpasswd({{"ci", "pw"}}));
  // Larger than one copy chunk (16 MiB), so the ranged, streamed path is taken.
  std::string large(17 * 1024 * 1024 + 123, '\0');
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::string small = "small blob";
  std::string large_digest = PushBlob(source, "a/b", large);
  std::string small_digest = PushBlob(source, "a/b", small);
  source.ResetRequests();

  ClientOptions options;
  options.keychain.Add(destination.host(), AuthConfig{"ci", "pw", "", ""});
  Client client(options);
  Reference from = Ref(source.host() + "/a/b");
  Reference to = Ref(destination.host() + "/c/d");
  Descriptor small_blob;
  small_blob.digest = small_digest;
  small_blob.size = static_cast<int64_t>(small.size());
  ASSERT_TRUE(client.CopyBlob(from, to, small_blob).ok());
  Descriptor large_blob;
  large_blob.digest = large_digest;
  large_blob.size = static_cast<int64_t>(large.size());
  Status copied = client.CopyBlob(from, to, large_blob);
  ASSERT_TRUE(copied.ok()) << copied.error().message;

  EXPECT_EQ(source.CountRequests("GET", "/v2/a/b/blobs/" + large_digest), 2) << "two ranged reads\n"
                                                                                << source.DescribeRequests();
  EXPECT_EQ(destination.CountRequests("PATCH", "/v2/c/d/blobs/uploads/.*"), 2) << destination.DescribeRequests();
  auto back = client.GetBlob(to, large_digest, large.size());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(*back == large);
  EXPECT_EQ(*client.GetBlob(to, small_digest, 100), small);

  Descriptor lying = large_blob;
  lying.digest = ComputeDigest("not the content");
  Status mismatch = client.CopyBlob(from, to, lying);
  EXPECT_FALSE(mismatch.ok()) << "the source does not have it; nothing is copied";
}

}  // namespace
}  // namespace archway::registry

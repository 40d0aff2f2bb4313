#include "registry/manifest.h"

#include <gtest/gtest.h>

namespace archway::registry {
namespace {

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');
const std::string kC = "sha256:" + std::string(64, 'c');

std::string Entry(const std::string& media, const std::string& digest, const std::string& platform_json,
                  const std::string& extra = "") {
  return R"({"mediaType":")" + media + R"(","digest":")" + digest + R"(","size":528)" +
         (platform_json.empty() ? "" : R"(,"platform":)" + platform_json) + extra + "}";
}

TEST(ManifestTest, ParsesOciIndexAndMarksAttestations) {
  std::string body = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciIndex +
                     R"(","manifests":[)" +
                     Entry(media_type::kOciManifest, kA, R"({"os":"linux","architecture":"aarch64","variant":"v8"})") + "," +
                     Entry(media_type::kOciManifest, kB, R"({"os":"unknown","architecture":"unknown"})",
                           R"(,"annotations":{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":")" +
                               kA + R"("})") +
                     "," + Entry(media_type::kOciManifest, kC, R"({"os":"windows","architecture":"amd64","os.version":"10.0.20348.2582"})") +
                     R"(],"annotations":{"org.opencontainers.image.created":"2024-01-01"}})";
  auto m = ParseManifest(body, media_type::kOciIndex);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->kind, ManifestKind::kIndex);
  EXPECT_EQ(m->media_type, media_type::kOciIndex);
  ASSERT_EQ(m->manifests.size(), 3u);
  EXPECT_EQ(m->manifests[0].platform->String(), "linux/arm64");
  EXPECT_FALSE(m->manifests[0].IsAttestationOrUnknown());
  EXPECT_TRUE(m->manifests[1].IsAttestationOrUnknown());
  EXPECT_EQ(m->manifests[2].platform->os_version, "10.0.20348.2582");
  EXPECT_EQ(m->manifests[0].size, 528);
  EXPECT_EQ(m->annotations["org.opencontainers.image.created"], "2024-01-01");
}

TEST(ManifestTest, UnknownPlatformWithoutAnnotationIsIgnoredToo) {
  Descriptor d;
  d.platform = Platform{"unknown", "unknown", "", ""};
  EXPECT_TRUE(d.IsAttestationOrUnknown());
  d.platform = Platform{"linux", "amd64", "", ""};
  EXPECT_FALSE(d.IsAttestationOrUnknown());
}

TEST(ManifestTest, ParsesDockerListWithCharsetInContentType) {
  std::string body = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kDockerList +
                     R"(","manifests":[)" +
                     Entry(media_type::kDockerManifest, kA, R"({"os":"linux","architecture":"arm","variant":"v7"})") + "]}";
  auto m = ParseManifest(body, std::string(media_type::kDockerList) + "; charset=utf-8");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->kind, ManifestKind::kIndex);
  EXPECT_EQ(m->manifests[0].platform->String(), "linux/arm/v7");
}

TEST(ManifestTest, ParsesImageManifests) {
  for (const char* media : {media_type::kOciManifest, media_type::kDockerManifest}) {
    std::string body = std::string(R"({"schemaVersion":2,"mediaType":")") + media + R"(","config":)" +
                       Entry(media_type::kOciConfig, kA, "") + R"(,"layers":[)" + Entry("application/vnd.oci.image.layer.v1.tar+gzip", kB, "") +
                       "," + Entry("application/vnd.oci.image.layer.v1.tar+gzip", kC, "") + "]}";
    auto m = ParseManifest(body, media);
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->kind, ManifestKind::kImage);
    EXPECT_EQ(m->config.digest, kA);
    EXPECT_EQ(m->layers.size(), 2u);
  }
}

TEST(ManifestTest, InfersOciTypesWhenMediaTypeIsAbsent) {
  std::string index = R"({"schemaVersion":2,"manifests":[]})";
  auto m = ParseManifest(index, "application/json");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->kind, ManifestKind::kIndex);
  EXPECT_EQ(m->media_type, media_type::kOciIndex);
  std::string image = R"({"schemaVersion":2,"config":)" + Entry(media_type::kOciConfig, kA, "") + "}";
  auto i = ParseManifest(image, media_type::kOciManifest);
  ASSERT_TRUE(i.ok()) << i.error().message;
  EXPECT_EQ(i->kind, ManifestKind::kImage);
  EXPECT_EQ(i->media_type, media_type::kOciManifest);
}

TEST(ManifestTest, ParsesSchema1SignedAndUnsigned) {
  std::string unsigned_body = R"({"schemaVersion":1,"name":"x","tag":"1","architecture":"arm",
    "fsLayers":[{"blobSum":")" + kA + R"("}],
    "history":[{"v1Compatibility":"{\"os\":\"linux\",\"architecture\":\"arm\"}"}]})";
  auto m = ParseManifest(unsigned_body, media_type::kDockerSchema1);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->kind, ManifestKind::kSchema1);
  ASSERT_TRUE(m->schema1_platform.has_value());
  EXPECT_EQ(m->schema1_platform->String(), "linux/arm/v7");

  std::string signed_body = R"({"schemaVersion":1,"name":"x","tag":"1","architecture":"amd64",
    "fsLayers":[],"history":[{"v1Compatibility":"{\"os\":\"windows\"}"}],
    "signatures":[{"header":{"alg":"ES256"},"signature":"abc","protected":"def"}]})";
  auto s = ParseManifest(signed_body, media_type::kDockerSchema1Signed);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->media_type, media_type::kDockerSchema1Signed);
  EXPECT_EQ(s->schema1_platform->String(), "windows/amd64");
}

TEST(ManifestTest, RejectsHostileInputWithAReason) {
  struct Case {
    std::string body;
    std::string content_type;
    std::string reason;
  };
  std::string oci_index = media_type::kOciIndex;
  const Case cases[] = {
      {"", oci_index, "not valid JSON"},
      {"[]", oci_index, "not a JSON object"},
      {"{", oci_index, "not valid JSON"},
      {R"({"mediaType":")" + oci_index + R"(","manifests":[]})", oci_index, "schemaVersion"},
      {R"({"schemaVersion":"2","manifests":[]})", oci_index, "schemaVersion"},
      {R"({"schemaVersion":3,"manifests":[]})", oci_index, "schemaVersion 3"},
      {R"({"schemaVersion":2,"mediaType":7,"manifests":[]})", oci_index, "mediaType is not a string"},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"("})", oci_index, "no \"manifests\""},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"(","manifests":{}})", oci_index, "not an array"},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"(","manifests":[5]})", oci_index, "entry 0 is not an object"},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"(","manifests":[{"digest":"sha256:zz","size":1}]})",
       oci_index, "entry 0: digest is not a sha256 digest"},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"(","manifests":[{"digest":")" + kA + R"(","size":-1}]})",
       oci_index, "size is negative"},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"(","manifests":[{"digest":")" + kA + R"(","size":"1"}]})",
       oci_index, "size is missing or not an integer"},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"(","manifests":[{"digest":")" + kA +
           R"(","size":18446744073709551615}]})",
       oci_index, "out of range"},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"(","manifests":[{"digest":")" + kA +
           R"(","size":1,"platform":"linux"}]})",
       oci_index, "platform is not an object"},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"(","manifests":[{"digest":")" + kA +
           R"(","size":1,"platform":{"os":["linux"]}}]})",
       oci_index, "os is not a string"},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"(","manifests":[{"digest":")" + kA +
           R"(","size":1,"annotations":{"a":1}}]})",
       oci_index, "annotations[\"a\"] is not a string"},
      {R"({"schemaVersion":2,"mediaType":")" + oci_index + R"(","manifests":[]})", media_type::kDockerManifest,
       "does not match"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.example+json","manifests":[]})", "", "unsupported manifest media type"},
      {R"({"schemaVersion":2,"mediaType":")" + std::string(media_type::kOciManifest) + R"("})", "", "no config"},
      {R"({"schemaVersion":2,"mediaType":")" + std::string(media_type::kOciManifest) + R"(","config":)" +
           Entry(media_type::kOciConfig, kA, "") + R"(,"manifests":[]})",
       "", "has a manifests field"},
      {R"({"schemaVersion":2})", "", "neither a mediaType"},
      {R"({"schemaVersion":1,"architecture":"amd64"})", "", "fsLayers"},
      {R"({"schemaVersion":1,"mediaType":")" + oci_index + R"(","fsLayers":[]})", "", "schemaVersion 1"},
      {std::string(100000, '[') + std::string(100000, ']'), "", "nested too deeply"},
  };
  for (const auto& c : cases) {
    auto m = ParseManifest(c.body, c.content_type);
    ASSERT_FALSE(m.ok()) << "accepted: " << c.body.substr(0, 200);
    EXPECT_EQ(m.error().code, ErrorCode::kBadResponse);
    EXPECT_NE(m.error().message.find(c.reason), std::string::npos)
        << c.body.substr(0, 200) << " -> " << m.error().message;
  }
}

TEST(ManifestTest, RejectsOversizedManifestsAndHugeCounts) {
  std::string big(kMaxManifestBytes + 1, ' ');
  auto m = ParseManifest(big, media_type::kOciIndex);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("larger than"), std::string::npos);

  std::string many = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciIndex + R"(","manifests":[)";
  std::string entry = R"({"digest":")" + kA + R"(","size":1})";
  for (int i = 0; i < 10001; ++i) many += (i ? "," : "") + entry;
  many += "]}";
  auto n = ParseManifest(many, media_type::kOciIndex);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.error().message.find("too many"), std::string::npos) << n.error().message;
}

TEST(ManifestTest, PlatformFromConfig) {
  auto arm = PlatformFromConfig(R"({"os":"linux","architecture":"arm","variant":"v6","rootfs":{}})");
  ASSERT_TRUE(arm.ok());
  ASSERT_TRUE(arm->has_value());
  EXPECT_EQ((*arm)->String(), "linux/arm/v6");
  auto win = PlatformFromConfig(R"({"os":"windows","architecture":"amd64","os.version":"10.0.17763.1"})");
  ASSERT_TRUE(win.ok());
  EXPECT_EQ((*win)->os_version, "10.0.17763.1");
  auto data = PlatformFromConfig("{}");
  ASSERT_TRUE(data.ok());
  EXPECT_FALSE(data->has_value()) << "a config without a platform is a data-only artifact";
  for (const char* bad : {"", "[]", R"({"os":1,"architecture":"amd64"})", R"({"os":"linux"})", "nul"}) {
    auto r = PlatformFromConfig(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kBadResponse);
    }
  }
}

TEST(ManifestTest, DigestHelpers) {
  EXPECT_TRUE(IsValidDigest(kA));
  EXPECT_FALSE(IsValidDigest("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(IsValidDigest("sha512:" + std::string(64, 'a')));
  EXPECT_FALSE(IsValidDigest("sha256:" + std::string(64, 'A')));
  EXPECT_EQ(ComputeDigest(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace archway::registry

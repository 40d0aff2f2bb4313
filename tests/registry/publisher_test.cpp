// Publisher against real docker-registry instances, with images made by buildah and the
// result read by skopeo (independent tools on both sides): entries, byte-for-byte
// children, mounts and copies, idempotence counted from the registry's side, stable
// digests, formats, flattening, filters and errors.
#include "registry/publisher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <regex>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "registry/client.h"
#include "tests/support/fixtures.h"
#include "tests/support/http_server.h"
#include "tests/support/process.h"
#include "tests/support/registry_server.h"

namespace archway::registry {
namespace {

using archway::testing::Buildah;
using archway::testing::ImageFormat;
using archway::testing::PushBlob;
using archway::testing::PushRaw;
using archway::testing::RegistryAuth;
using archway::testing::RegistryServer;
using archway::testing::RegistryServerOptions;
using archway::testing::RunCommand;
using json = nlohmann::json;

Reference Ref(const std::string& text) {
  auto ref = ParseReference(text);
  EXPECT_TRUE(ref.ok()) << text;
  return *ref;
}

AuthConfig Basic(const std::string& user, const std::string& password) {
  AuthConfig auth;
  auth.username = user;
  auth.password = password;
  return auth;
}

int Writes(RegistryServer& registry) {
  return registry.CountRequests("PUT", ".*") + registry.CountRequests("POST", ".*") +
         registry.CountRequests("PATCH", ".*");
}

// skopeo with plain HTTP to the loopback registries; throws nothing, returns the result.
archway::testing::CommandResult Skopeo(std::vector<std::string> args) {
  args.insert(args.begin(), "skopeo");
  return RunCommand(args, std::chrono::seconds(120));
}

std::vector<std::string> EntryPlatforms(const PublishResult& result) {
  std::vector<std::string> out;
  for (const auto& entry : result.entries) out.push_back(entry.platform.String());
  return out;
}

const std::vector<std::string> kPlatforms = {"linux/amd64", "linux/arm64", "linux/arm/v7"};

class PublisherTest : public ::testing::Test {
 protected:
  // Three single-platform images, each in its own repository, built and pushed by buildah.
  void PushSources(RegistryServer& registry, ImageFormat format = ImageFormat::kOci) {
    for (const std::string& platform : kPlatforms) {
      std::string repo = "src/" + std::regex_replace(platform.substr(6), std::regex("/"), "") + ":1";
      std::string digest = buildah_.Push(buildah_.Build(platform, format), registry, repo, format);
      sources_.push_back(Ref(registry.host() + "/" + repo));
      source_digests_[platform] = digest;
    }
  }

  Result<PublishResult> Publish(const std::string& target, PublishOptions options = {}) {
    return publisher_.Publish(Ref(target), sources_, options);
  }

  RegistryServer registry_;
  Buildah buildah_;
  Client client_{ClientOptions{}};
  Publisher publisher_{client_};
  std::vector<Reference> sources_;
  std::map<std::string, std::string> source_digests_;
};

TEST_F(PublisherTest, PublishesBuildahImagesAndSkopeoReadsTheList) {
  PushSources(registry_);
  registry_.ResetRequests();
  auto published = Publish(registry_.host() + "/app/web:1.4");
  ASSERT_TRUE(published.ok()) << published.error().message;
  EXPECT_EQ(published->media_type, media_type::kOciIndex);
  EXPECT_EQ(EntryPlatforms(*published), (std::vector<std::string>{"linux/amd64", "linux/arm/v7", "linux/arm64"}));
  EXPECT_EQ(published->digest, "sha256:" + Sha256Hex(published->index_bytes));
  EXPECT_EQ(published->manifests_pushed, 4);
  EXPECT_GT(published->blobs_mounted, 0);
  EXPECT_EQ(published->blobs_copied, 0) << "same registry: everything is mounted";
  int mounts = 0;
  for (const auto& request : registry_.Requests()) {
    mounts += request.method == "POST" && request.target.find("mount=") != std::string::npos && request.status == 201;
  }
  EXPECT_EQ(mounts, published->blobs_mounted) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("PATCH", ".*"), 0) << "no blob bytes uploaded";

  auto raw = Skopeo({"inspect", "--raw", "--tls-verify=false", "docker://" + registry_.host() + "/app/web:1.4"});
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  EXPECT_EQ(raw.output.substr(0, raw.output.find_last_not_of('\n') + 1), published->index_bytes);
  json index = json::parse(raw.output);
  ASSERT_EQ(index["manifests"].size(), 3u);
  for (const auto& entry : index["manifests"]) {
    std::string platform = entry["platform"]["os"].get<std::string>() + "/" + entry["platform"]["architecture"].get<std::string>();
    if (entry["platform"].contains("variant")) platform += "/" + entry["platform"]["variant"].get<std::string>();
    // Children are the sources' manifests byte for byte: same digest.
    EXPECT_EQ(entry["digest"], source_digests_[platform]) << platform;
  }

  auto copy = Skopeo({"copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
                      "docker://" + registry_.host() + "/app/web:1.4", "docker://" + registry_.host() + "/fresh/web:1"});
  ASSERT_EQ(copy.exit_code, 0) << copy.output;
}

TEST_F(PublisherTest, IdenticalRerunWritesNothing) {
  PushSources(registry_);
  auto first = Publish(registry_.host() + "/app/web:1.4");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_GT(first->writes, 0);

  registry_.ResetRequests();
  auto second = Publish(registry_.host() + "/app/web:1.4");
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->digest, first->digest);
  EXPECT_EQ(second->writes, 0);
  EXPECT_EQ(Writes(registry_), 0) << registry_.DescribeRequests();
}

TEST_F(PublisherTest, SameInputsGiveTheSameDigestInAnyOrder) {
  PushSources(registry_);
  auto first = Publish(registry_.host() + "/app/web:1");
  ASSERT_TRUE(first.ok()) << first.error().message;
  std::reverse(sources_.begin(), sources_.end());
  auto reversed = Publish(registry_.host() + "/other/web:2");
  ASSERT_TRUE(reversed.ok()) << reversed.error().message;
  EXPECT_EQ(reversed->digest, first->digest);
  EXPECT_EQ(reversed->index_bytes, first->index_bytes);
  // Compact JSON with a fixed key order.
  EXPECT_EQ(first->index_bytes.rfind(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":)", 0),
            0u)
      << first->index_bytes;
  EXPECT_EQ(first->index_bytes.find_first_of(" \n"), std::string::npos);
}

TEST_F(PublisherTest, DryRunWritesNothing) {
  PushSources(registry_);
  registry_.ResetRequests();
  PublishOptions options;
  options.dry_run = true;
  auto dry = Publish(registry_.host() + "/app/web:1.4", options);
  ASSERT_TRUE(dry.ok()) << dry.error().message;
  EXPECT_EQ(dry->entries.size(), 3u);
  EXPECT_EQ(dry->writes, 0);
  EXPECT_EQ(Writes(registry_), 0) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("", "/v2/app/web/.*"), 0) << "the target is not touched";

  auto real = Publish(registry_.host() + "/app/web:1.4");
  ASSERT_TRUE(real.ok()) << real.error().message;
  EXPECT_EQ(real->digest, dry->digest);
}

TEST_F(PublisherTest, DockerFormatFromDockerChildren) {
  PushSources(registry_, ImageFormat::kDocker);
  PublishOptions options;
  options.format = ListFormat::kDocker;
  auto published = Publish(registry_.host() + "/app/web:docker", options);
  ASSERT_TRUE(published.ok()) << published.error().message;
  EXPECT_EQ(published->media_type, media_type::kDockerList);
  for (const auto& entry : published->entries) EXPECT_EQ(entry.media_type, media_type::kDockerManifest);
  auto raw = Skopeo({"inspect", "--raw", "--tls-verify=false", "docker://" + registry_.host() + "/app/web:docker"});
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  EXPECT_EQ(json::parse(raw.output)["mediaType"], media_type::kDockerList);

  // The default is an OCI index, which may reference Docker manifests.
  auto oci = Publish(registry_.host() + "/app/web:oci");
  ASSERT_TRUE(oci.ok()) << oci.error().message;
  EXPECT_EQ(oci->media_type, media_type::kOciIndex);
}

TEST_F(PublisherTest, DockerFormatRefusesOciChildren) {
  PushSources(registry_, ImageFormat::kOci);
  registry_.ResetRequests();
  PublishOptions options;
  options.format = ListFormat::kDocker;
  auto refused = Publish(registry_.host() + "/app/web:docker", options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("--format docker"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find(media_type::kOciManifest), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("/src/"), std::string::npos) << "names the source: " << refused.error().message;
  EXPECT_EQ(Writes(registry_), 0);
}

TEST_F(PublisherTest, FlattensASinglePlatformIndexAndFiltersLists) {
  // A buildx-style single-platform index: one image plus its provenance attestation.
  std::string arm = buildah_.Push(buildah_.Build("linux/arm64"), registry_, "src/buildx:image");
  auto arm_manifest = Skopeo({"inspect", "--raw", "--tls-verify=false", "docker://" + registry_.host() + "/src/buildx:image"});
  ASSERT_EQ(arm_manifest.exit_code, 0) << arm_manifest.output;
  std::string arm_bytes = arm_manifest.output.substr(0, arm_manifest.output.find_last_not_of('\n') + 1);
  ASSERT_EQ("sha256:" + Sha256Hex(arm_bytes), arm);
  std::string statement = R"({"_type":"https://in-toto.io/Statement/v0.1"})";
  std::string statement_digest = PushBlob(registry_, "src/buildx", statement);
  std::string empty_digest = PushBlob(registry_, "src/buildx", "{}");
  json attestation = {{"schemaVersion", 2},
                      {"mediaType", media_type::kOciManifest},
                      {"config", {{"mediaType", "application/vnd.oci.empty.v1+json"}, {"digest", empty_digest}, {"size", 2}}},
                      {"layers", json::array({{{"mediaType", "application/vnd.in-toto+json"},
                                               {"digest", statement_digest},
                                               {"size", statement.size()}}})}};
  std::string attestation_bytes = attestation.dump();
  std::string attestation_digest = "sha256:" + Sha256Hex(attestation_bytes);
  PushRaw(registry_, "src/buildx", attestation_digest, media_type::kOciManifest, attestation_bytes);
  json index = {{"schemaVersion", 2},
                {"mediaType", media_type::kOciIndex},
                {"manifests", json::array({{{"mediaType", media_type::kOciManifest},
                                            {"digest", arm},
                                            {"size", arm_bytes.size()},
                                            {"platform", {{"architecture", "arm64"}, {"os", "linux"}}}},
                                           {{"mediaType", media_type::kOciManifest},
                                            {"digest", attestation_digest},
                                            {"size", attestation_bytes.size()},
                                            {"annotations",
                                             {{"vnd.docker.reference.digest", arm},
                                              {"vnd.docker.reference.type", "attestation-manifest"}}},
                                            {"platform", {{"architecture", "unknown"}, {"os", "unknown"}}}}})}};
  PushRaw(registry_, "src/buildx", "1", media_type::kOciIndex, index.dump());
  // And a list with three platforms, of which only amd64 is wanted.
  buildah_.PushList(registry_, "src/list:1", {"linux/amd64", "linux/s390x", "linux/ppc64le"});

  PublishOptions options;
  options.platforms = {*ParsePlatform("linux/amd64"), *ParsePlatform("linux/arm64")};
  auto published = publisher_.Publish(Ref(registry_.host() + "/app/flat:1"),
                                      {Ref(registry_.host() + "/src/buildx:1"), Ref(registry_.host() + "/src/list:1")},
                                      options);
  ASSERT_TRUE(published.ok()) << published.error().message;
  ASSERT_EQ(EntryPlatforms(*published), (std::vector<std::string>{"linux/amd64", "linux/arm64"}));
  EXPECT_EQ(published->entries[1].digest, arm) << "the image manifest, not the single-platform index";
  EXPECT_EQ(json::parse(published->index_bytes).dump().find(attestation_digest), std::string::npos);

  auto copy = Skopeo({"copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
                      "docker://" + registry_.host() + "/app/flat:1", "docker://" + registry_.host() + "/fresh/flat:1"});
  EXPECT_EQ(copy.exit_code, 0) << copy.output;

  options.platforms = {*ParsePlatform("linux/riscv64")};
  auto missing = publisher_.Publish(Ref(registry_.host() + "/app/flat:2"), {Ref(registry_.host() + "/src/list:1")}, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no source provides platform linux/riscv64"), std::string::npos)
      << missing.error().message;
}

TEST_F(PublisherTest, DuplicatePlatformNamesBothSources) {
  buildah_.Push(buildah_.Build("linux/amd64"), registry_, "src/one:1");
  buildah_.Push(buildah_.Build("linux/amd64"), registry_, "src/two:1");
  registry_.ResetRequests();
  auto published = publisher_.Publish(Ref(registry_.host() + "/app/dup:1"),
                                      {Ref(registry_.host() + "/src/one:1"), Ref(registry_.host() + "/src/two:1")}, {});
  ASSERT_FALSE(published.ok());
  EXPECT_EQ(published.error().code, ErrorCode::kInvalidArgument);
  const std::string& message = published.error().message;
  EXPECT_NE(message.find("linux/amd64"), std::string::npos) << message;
  EXPECT_NE(message.find(registry_.host() + "/src/one:1"), std::string::npos) << message;
  EXPECT_NE(message.find(registry_.host() + "/src/two:1"), std::string::npos) << message;
  EXPECT_EQ(Writes(registry_), 0);
}

TEST_F(PublisherTest, MissingSourceIsAClearError) {
  PushSources(registry_);
  sources_.push_back(Ref(registry_.host() + "/src/nothing:1"));
  auto published = Publish(registry_.host() + "/app/web:1");
  ASSERT_FALSE(published.ok());
  EXPECT_EQ(published.error().code, ErrorCode::kNotFound);
  EXPECT_NE(published.error().message.find("source " + registry_.host() + "/src/nothing:1"), std::string::npos)
      << published.error().message;
}

// A proxy in front of a real registry that changes one thing about it: `intercept` may
// rewrite a request's target or answer it itself (return true). Everything else is
// forwarded; upload Locations are rewritten so uploads continue through the proxy.
class RegistryProxy {
 public:
  using Intercept = std::function<bool(const archway::testing::HttpRecord&, std::string& target,
                                       archway::testing::HttpReply& reply)>;
  RegistryProxy(std::string upstream, Intercept intercept)
      : upstream_(std::move(upstream)), intercept_(std::move(intercept)),
        server_([this](const archway::testing::HttpRecord& request) { return Forward(request); }) {
    std::lock_guard<std::mutex> lock(mu_);
    host_ = server_.host();
  }
  std::string host() const { return server_.host(); }
  std::vector<archway::testing::HttpRecord> Requests() const { return server_.Requests(); }

 private:
  archway::testing::HttpReply Forward(const archway::testing::HttpRecord& request) {
    std::string target = request.target;
    archway::testing::HttpReply reply;
    if (intercept_(request, target, reply)) return reply;
    std::vector<std::pair<std::string, std::string>> headers;
    for (const char* name : {"accept", "content-type", "authorization"}) {
      if (request.HasHeader(name)) headers.emplace_back(name, request.Header(name));
    }
    reply = archway::testing::HttpCall(upstream_, request.method, target, headers, request.body);
    std::vector<std::pair<std::string, std::string>> kept;
    for (const auto& [name, value] : reply.headers) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (lower == "transfer-encoding" || lower == "connection" || (lower == "content-length" && request.method != "HEAD")) continue;
      std::string rewritten = value;
      if (lower == "location" && rewritten.find(upstream_) != std::string::npos) {
        std::lock_guard<std::mutex> lock(mu_);
        rewritten.replace(rewritten.find(upstream_), upstream_.size(), host_);
      }
      kept.emplace_back(name, rewritten);
    }
    reply.headers = kept;
    return reply;
  }

  std::string upstream_;
  Intercept intercept_;
  std::mutex mu_;
  std::string host_;
  archway::testing::LoopbackHttpServer server_;  // last: serves once the rest is set up
};

std::vector<Reference> Via(const std::string& host, const std::vector<Reference>& sources) {
  std::vector<Reference> out;
  for (const auto& source : sources) out.push_back(Ref(host + "/" + source.repository + ":" + source.tag));
  return out;
}

// A registry that does not do cross-repository mounts (as some hosted registries): the
// proxy drops ?mount=&from=, so the real registry opens a plain upload (202). The
// publisher must copy the blob instead.
TEST_F(PublisherTest, RefusedMountFallsBackToCopy) {
  PushSources(registry_);
  RegistryProxy no_mounts(registry_.host(), [](const archway::testing::HttpRecord& request, std::string& target,
                                               archway::testing::HttpReply&) {
    if (request.method == "POST" && target.find("mount=") != std::string::npos) target = target.substr(0, target.find('?'));
    return false;
  });
  registry_.ResetRequests();
  auto published = publisher_.Publish(Ref(no_mounts.host() + "/app/web:1"), Via(no_mounts.host(), sources_), {});
  ASSERT_TRUE(published.ok()) << published.error().message;
  EXPECT_EQ(published->blobs_mounted, 0);
  EXPECT_GT(published->blobs_copied, 0);
  int mount_attempts = 0;
  for (const auto& request : no_mounts.Requests()) mount_attempts += request.target.find("mount=") != std::string::npos;
  EXPECT_EQ(mount_attempts, published->blobs_copied) << "each copy follows a refused mount";

  auto copy = Skopeo({"copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
                      "docker://" + registry_.host() + "/app/web:1", "docker://" + registry_.host() + "/fresh/web:1"});
  EXPECT_EQ(copy.exit_code, 0) << copy.output;
}

// A registry that does not accept OCI indexes (older hosted registries answered 400
// MANIFEST_INVALID): a one-line error naming the media type.
TEST_F(PublisherTest, RegistryRefusingTheMediaTypeIsAClearError) {
  PushSources(registry_);
  RegistryProxy no_oci_index(registry_.host(), [](const archway::testing::HttpRecord& request, std::string&,
                                                  archway::testing::HttpReply& reply) {
    if (request.method != "PUT" || request.Header("content-type") != media_type::kOciIndex) return false;
    reply.status = 400;
    reply.headers = {{"Content-Type", "application/json"}};
    reply.body = R"({"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"unsupported media type"}]})";
    return true;
  });
  auto published = publisher_.Publish(Ref(no_oci_index.host() + "/app/web:1"), Via(no_oci_index.host(), sources_), {});
  ASSERT_FALSE(published.ok());
  const std::string& message = published.error().message;
  EXPECT_NE(message.find("pushing the index to " + no_oci_index.host() + "/app/web"), std::string::npos) << message;
  EXPECT_NE(message.find(media_type::kOciIndex), std::string::npos) << message;
  EXPECT_NE(message.find("MANIFEST_INVALID"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

// Another push to the same tag lands between ours and the read-back (played by a proxy
// that serves the tag from elsewhere): the digest mismatch is reported, not hidden.
TEST_F(PublisherTest, ReadBackMismatchIsReported) {
  PushSources(registry_);
  std::string other = archway::testing::BuildahManifestList(registry_, "app/web:racer", {"linux/riscv64"});
  RegistryProxy racing(registry_.host(), [](const archway::testing::HttpRecord& request, std::string& target,
                                            archway::testing::HttpReply&) {
    if ((request.method == "GET" || request.method == "HEAD") && request.Path() == "/v2/app/web/manifests/1") {
      target = "/v2/app/web/manifests/racer";
    }
    return false;
  });
  auto published = publisher_.Publish(Ref(racing.host() + "/app/web:1"), Via(racing.host(), sources_), {});
  ASSERT_FALSE(published.ok());
  EXPECT_EQ(published.error().code, ErrorCode::kConflict);
  EXPECT_NE(published.error().message.find("digest mismatch on read-back"), std::string::npos) << published.error().message;
  EXPECT_NE(published.error().message.find(other), std::string::npos) << published.error().message;
}

// Source registry with htpasswd, target registry with token auth: blobs are streamed
// across, each registry gets its own credentials.
TEST_F(PublisherTest, CrossRegistryWithEachRegistrysCredentials) {
  RegistryServerOptions source_options;
  source_options.auth = RegistryAuth::kHtpasswd;
  source_options.users = {{"reader", "r-secret"}};
  RegistryServer source(source_options);
  RegistryServerOptions target_options;
  target_options.auth = RegistryAuth::kToken;
  target_options.users = {{"ci", "ci-secret"}};
  target_options.grants = {{"ci", "app/web", {"pull", "push"}}};
  RegistryServer target(target_options);
  PushSources(source);

  Keychain keychain;
  keychain.Add(source.host(), Basic("reader", "r-secret"));
  keychain.Add(target.host(), Basic("ci", "ci-secret"));
  PublishOptions options;
  options.keychain = &keychain;
  target.ResetRequests();
  auto published = Publish(target.host() + "/app/web:1", options);
  ASSERT_TRUE(published.ok()) << published.error().message;
  EXPECT_EQ(published->blobs_mounted, 0);
  EXPECT_GT(published->blobs_copied, 0);
  EXPECT_EQ(target.CountRequests("POST", ".*"), published->blobs_copied) << target.DescribeRequests();

  auto raw = Skopeo({"inspect", "--raw", "--tls-verify=false", "--creds", "ci:ci-secret",
                     "docker://" + target.host() + "/app/web:1"});
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  EXPECT_EQ("sha256:" + Sha256Hex(raw.output.substr(0, raw.output.find_last_not_of('\n') + 1)), published->digest);

  target.ResetRequests();
  auto again = Publish(target.host() + "/app/web:1", options);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->writes, 0);
  EXPECT_EQ(Writes(target), 0) << target.DescribeRequests();

  // Without push rights on the target: a clear unauthorized error.
  Keychain reader_only;
  reader_only.Add(source.host(), Basic("reader", "r-secret"));
  options.keychain = &reader_only;
  auto denied = Publish(target.host() + "/app/web:2", options);
  ASSERT_FALSE(denied.ok());
  EXPECT_TRUE(denied.error().code == ErrorCode::kUnauthorized || denied.error().code == ErrorCode::kForbidden)
      << denied.error().message;
}

}  // namespace
}  // namespace archway::registry

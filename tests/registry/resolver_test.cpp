// Resolver against a real docker-registry: the request economics of resolver.h counted
// from the registry's side (its access log), caching, singleflight, tenant separation,
// and platforms from fixtures made by buildah and by hand (attestations, Windows, schema1,
// data-only artifacts).
#include "registry/resolver.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "registry/client.h"
#include "tests/support/fixtures.h"
#include "tests/support/http_server.h"
#include "tests/support/registry_server.h"

namespace archway::registry {
namespace {

using archway::testing::BuildahImage;
using archway::testing::BuildahManifestList;
using archway::testing::PushBlob;
using archway::testing::PushRaw;
using archway::testing::RegistryAuth;
using archway::testing::RegistryServer;
using json = nlohmann::json;
using std::chrono::seconds;

Reference Ref(const std::string& text) {
  auto ref = ParseReference(text);
  EXPECT_TRUE(ref.ok()) << text;
  return *ref;
}

std::vector<std::string> Strings(const std::vector<Platform>& platforms) {
  std::vector<std::string> out;
  for (const auto& p : platforms) out.push_back(p.String());
  return out;
}

AuthConfig Basic(const std::string& user, const std::string& password) {
  AuthConfig auth;
  auth.username = user;
  auth.password = password;
  return auth;
}

// A clock the test moves by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
  std::mutex mu;
  std::function<std::chrono::steady_clock::time_point()> Function() {
    return [this] {
      std::lock_guard<std::mutex> lock(mu);
      return now;
    };
  }
  void Advance(std::chrono::milliseconds by) {
    std::lock_guard<std::mutex> lock(mu);
    now += by;
  }
};

struct Pushed {
  std::string digest;
  std::string media_type;
  size_t size = 0;
};

// A hand-made image (config + one layer) pushed by digest; the config JSON is as given.
Pushed PushImage(RegistryServer& registry, const std::string& repo, const std::string& config,
                 const std::string& manifest_type = media_type::kOciManifest,
                 const std::string& config_type = media_type::kOciConfig, const std::string& tag = "") {
  std::string config_digest = PushBlob(registry, repo, config);
  std::string layer = "layer for " + config;
  std::string layer_digest = PushBlob(registry, repo, layer);
  bool oci = manifest_type == media_type::kOciManifest;
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", manifest_type},
                   {"config", {{"mediaType", config_type}, {"digest", config_digest}, {"size", config.size()}}},
                   {"layers", json::array({{{"mediaType", oci ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                                              : "application/vnd.docker.image.rootfs.diff.tar.gzip"},
                                            {"digest", layer_digest},
                                            {"size", layer.size()}}})}};
  std::string bytes = manifest.dump();
  std::string digest = "sha256:" + Sha256Hex(bytes);
  EXPECT_EQ(PushRaw(registry, repo, tag.empty() ? digest : tag, manifest_type, bytes), digest);
  return {digest, manifest_type, bytes.size()};
}

json Entry(const Pushed& child, json platform, json annotations = nullptr) {
  json entry = {{"mediaType", child.media_type}, {"digest", child.digest}, {"size", child.size}};
  if (!platform.is_null()) entry["platform"] = std::move(platform);
  if (!annotations.is_null()) entry["annotations"] = std::move(annotations);
  return entry;
}

std::string PushIndex(RegistryServer& registry, const std::string& repo, const std::string& tag, json entries,
                      const std::string& type = media_type::kOciIndex) {
  json index = {{"schemaVersion", 2}, {"mediaType", type}, {"manifests", std::move(entries)}};
  return PushRaw(registry, repo, tag, type, index.dump());
}

class ResolverTest : public ::testing::Test {
 protected:
  ResolverOptions Options() {
    ResolverOptions options;
    options.tag_ttl = seconds(60);
    options.failure_ttl = seconds(10);
    options.clock = clock_.Function();
    options.cache_observer = [this](bool hit) { (hit ? hits_ : misses_)++; };
    return options;
  }

  RegistryServer registry_;
  Client client_{ClientOptions{}};
  FakeClock clock_;
  std::atomic<int> hits_{0};
  std::atomic<int> misses_{0};
};

TEST_F(ResolverTest, ColdListByTagIsOneGet) {
  std::string digest = BuildahManifestList(registry_, "app/multi:1", {"linux/amd64", "linux/arm64", "linux/arm/v7"});
  registry_.ResetRequests();
  Resolver resolver(client_, Options());
  auto resolved = resolver.Resolve(Ref(registry_.host() + "/app/multi:1"));
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(resolved->digest, digest);
  EXPECT_EQ(resolved->media_type, media_type::kOciIndex);
  EXPECT_EQ(Strings(resolved->platforms), (std::vector<std::string>{"linux/amd64", "linux/arm/v7", "linux/arm64"}));
  EXPECT_FALSE(resolved->data_only);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 1) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/app/multi/manifests/1"), 1);
}

TEST_F(ResolverTest, ColdSingleImageIsManifestPlusConfig) {
  std::string digest = BuildahImage(registry_, "app/one:1", "linux/arm64");
  registry_.ResetRequests();
  Resolver resolver(client_, Options());
  auto resolved = resolver.Resolve(Ref(registry_.host() + "/app/one:1"));
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(resolved->digest, digest);
  EXPECT_EQ(Strings(resolved->platforms), std::vector<std::string>{"linux/arm64"});
  EXPECT_EQ(registry_.CountRequests("", ".*"), 2) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/app/one/manifests/1"), 1);
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/app/one/blobs/sha256:[0-9a-f]+"), 1);
}

TEST_F(ResolverTest, HotIsZeroRequestsAndWarmIsOneHead) {
  BuildahImage(registry_, "app/one:1", "linux/arm/v7");
  Resolver resolver(client_, Options());
  Reference ref = Ref(registry_.host() + "/app/one:1");
  auto cold = resolver.Resolve(ref);
  ASSERT_TRUE(cold.ok()) << cold.error().message;

  registry_.ResetRequests();
  hits_ = 0;
  auto hot = resolver.Resolve(ref);
  ASSERT_TRUE(hot.ok()) << hot.error().message;
  EXPECT_EQ(hot->digest, cold->digest);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();
  EXPECT_EQ(hits_.load(), 1);

  clock_.Advance(seconds(61));  // the tag entry expires; the digest's platforms do not
  registry_.ResetRequests();
  auto warm = resolver.Resolve(ref);
  ASSERT_TRUE(warm.ok()) << warm.error().message;
  EXPECT_EQ(Strings(warm->platforms), std::vector<std::string>{"linux/arm/v7"});
  EXPECT_EQ(warm->digest, cold->digest);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 1) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("HEAD", "/v2/app/one/manifests/1"), 1);

  registry_.ResetRequests();  // the HEAD refreshed the tag entry
  ASSERT_TRUE(resolver.Resolve(ref).ok());
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();
}

// Cached() answers from memory only: never a request, whatever it knows.
TEST_F(ResolverTest, CachedAnswersFromMemoryAlone) {
  std::string digest = BuildahManifestList(registry_, "app/multi:1", {"linux/amd64", "linux/arm64"});
  Resolver resolver(client_, Options());
  Reference ref = Ref(registry_.host() + "/app/multi:1");
  registry_.ResetRequests();
  auto cold = resolver.Cached(ref);
  ASSERT_TRUE(cold.ok());
  EXPECT_EQ(*cold, nullptr);
  EXPECT_EQ(hits_.load() + misses_.load(), 0);  // a question it could not answer is not counted

  ASSERT_TRUE(resolver.Resolve(ref).ok());
  registry_.ResetRequests();
  hits_ = 0;
  auto hot = resolver.Cached(ref);
  ASSERT_TRUE(hot.ok() && *hot);
  EXPECT_EQ((*hot)->digest, digest);
  EXPECT_EQ(Strings((*hot)->platforms), (std::vector<std::string>{"linux/amd64", "linux/arm64"}));
  EXPECT_EQ(hits_.load(), 1);
  auto by_digest = resolver.Cached(Ref(registry_.host() + "/app/multi@" + digest));
  ASSERT_TRUE(by_digest.ok() && *by_digest);
  EXPECT_EQ((*by_digest)->digest, digest);

  clock_.Advance(seconds(61));  // the tag needs a HEAD now: only Resolve() may send it
  auto expired = resolver.Cached(ref);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, nullptr);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();

  Keychain someone;
  someone.Add(registry_.host(), Basic("someone", "secret"));
  ASSERT_TRUE(resolver.Resolve(ref).ok());
  auto other_tenant = resolver.Cached(ref, &someone);  // another credential's key
  ASSERT_TRUE(other_tenant.ok());
  EXPECT_EQ(*other_tenant, nullptr);

  Reference missing = Ref(registry_.host() + "/app/missing:1");
  ASSERT_FALSE(resolver.Resolve(missing).ok());
  registry_.ResetRequests();
  auto remembered = resolver.Cached(missing);
  ASSERT_FALSE(remembered.ok());
  EXPECT_EQ(remembered.error().code, ErrorCode::kNotFound);
  clock_.Advance(seconds(11));
  auto forgotten = resolver.Cached(missing);
  ASSERT_TRUE(forgotten.ok());
  EXPECT_EQ(*forgotten, nullptr);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();
}

TEST_F(ResolverTest, MovedTagCostsHeadAndOneGet) {
  Pushed amd = PushImage(registry_, "app/moving", R"({"os":"linux","architecture":"amd64"})");
  Pushed arm = PushImage(registry_, "app/moving", R"({"os":"linux","architecture":"arm64"})");
  std::string first = PushIndex(registry_, "app/moving", "latest", json::array({Entry(amd, {{"os", "linux"}, {"architecture", "amd64"}})}));
  Resolver resolver(client_, Options());
  Reference ref = Ref(registry_.host() + "/app/moving");
  auto before = resolver.Resolve(ref);
  ASSERT_TRUE(before.ok()) << before.error().message;
  EXPECT_EQ(before->digest, first);

  std::string second = PushIndex(registry_, "app/moving", "latest",
                                 json::array({Entry(amd, {{"os", "linux"}, {"architecture", "amd64"}}),
                                              Entry(arm, {{"os", "linux"}, {"architecture", "arm64"}})}));
  registry_.ResetRequests();
  auto still_cached = resolver.Resolve(ref);  // within tag_ttl the cached answer stands
  ASSERT_TRUE(still_cached.ok());
  EXPECT_EQ(still_cached->digest, first);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0);

  clock_.Advance(seconds(61));
  registry_.ResetRequests();
  auto after = resolver.Resolve(ref);
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->digest, second);
  EXPECT_EQ(Strings(after->platforms), (std::vector<std::string>{"linux/amd64", "linux/arm64"}));
  EXPECT_EQ(registry_.CountRequests("HEAD", "/v2/app/moving/manifests/latest"), 1) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("GET", ".*"), 1) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("", ".*"), 2);
}

// A node contradicted the list at a digest: its platforms stand (the digest cannot change),
// the contradiction is remembered once, and the tag is revalidated at its next look-up
// (one HEAD) rather than at its TTL, so a fixed image pushed under the same tag is seen.
TEST_F(ResolverTest, ASuspectDigestKeepsItsPlatformsAndRevalidatesItsTagOnce) {
  Pushed amd = PushImage(registry_, "app/lying", R"({"os":"linux","architecture":"amd64"})");
  Pushed arm = PushImage(registry_, "app/lying", R"({"os":"linux","architecture":"arm64"})");
  const std::string lying = PushIndex(registry_, "app/lying", "1",
                                      json::array({Entry(amd, {{"os", "linux"}, {"architecture", "amd64"}}),
                                                   Entry(arm, {{"os", "linux"}, {"architecture", "arm64"}})}));
  Resolver resolver(client_, Options());
  const Reference ref = Ref(registry_.host() + "/app/lying:1");
  ASSERT_TRUE(resolver.Resolve(ref).ok());
  const Platform arm64 = *ParsePlatform("linux/arm64");
  EXPECT_TRUE(resolver.Suspect(lying).empty());
  EXPECT_TRUE(resolver.MarkSuspect(lying, arm64));
  EXPECT_FALSE(resolver.MarkSuspect(lying, arm64));  // reported once
  EXPECT_EQ(Strings(resolver.Suspect(lying)), std::vector<std::string>{"linux/arm64"});

  registry_.ResetRequests();
  auto by_digest = resolver.Resolve(Ref(registry_.host() + "/app/lying@" + lying));
  ASSERT_TRUE(by_digest.ok());
  EXPECT_EQ(Strings(by_digest->platforms), (std::vector<std::string>{"linux/amd64", "linux/arm64"}));
  auto cached = resolver.Cached(ref);  // the tag must be confirmed first: only Resolve() may ask
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(*cached, nullptr);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();

  auto confirmed = resolver.Resolve(ref);  // within tag_ttl, yet one HEAD
  ASSERT_TRUE(confirmed.ok());
  EXPECT_EQ(confirmed->digest, lying);
  EXPECT_EQ(registry_.CountRequests("HEAD", "/v2/app/lying/manifests/1"), 1) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("", ".*"), 1) << registry_.DescribeRequests();
  registry_.ResetRequests();
  ASSERT_TRUE(resolver.Resolve(ref).ok());  // confirmed after the mark: fresh again
  auto hot = resolver.Cached(ref);
  ASSERT_TRUE(hot.ok() && *hot);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();

  // The image is fixed under the same tag; the next contradiction makes the tag's next
  // look-up see the new digest at once.
  const std::string fixed =
      PushIndex(registry_, "app/lying", "1", json::array({Entry(amd, {{"os", "linux"}, {"architecture", "amd64"}})}));
  EXPECT_TRUE(resolver.MarkSuspect(lying, *ParsePlatform("linux/arm/v7")));
  EXPECT_EQ(Strings(resolver.Suspect(lying)), (std::vector<std::string>{"linux/arm/v7", "linux/arm64"}));
  auto after = resolver.Resolve(ref);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->digest, fixed);
  EXPECT_EQ(Strings(after->platforms), std::vector<std::string>{"linux/amd64"});
  EXPECT_TRUE(resolver.Suspect(fixed).empty());
}

TEST_F(ResolverTest, FailuresAreCachedBriefly) {
  Resolver resolver(client_, Options());
  Reference ref = Ref(registry_.host() + "/app/missing:1");
  auto first = resolver.Resolve(ref);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, ErrorCode::kNotFound) << first.error().message;
  EXPECT_EQ(registry_.CountRequests("", ".*"), 1) << registry_.DescribeRequests();

  registry_.ResetRequests();
  auto again = resolver.Resolve(ref);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(again.error().message, first.error().message);
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();

  // Once the failure expires the registry is asked again, and now the image exists.
  BuildahImage(registry_, "app/missing:1", "linux/amd64");
  clock_.Advance(seconds(11));
  registry_.ResetRequests();
  auto later = resolver.Resolve(ref);
  ASSERT_TRUE(later.ok()) << later.error().message;
  EXPECT_EQ(Strings(later->platforms), std::vector<std::string>{"linux/amd64"});
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/app/missing/manifests/1"), 1) << registry_.DescribeRequests();
}

TEST_F(ResolverTest, ConcurrentLookupsOfOneKeyShareOneRequest) {
  BuildahManifestList(registry_, "app/popular:1", {"linux/amd64", "linux/arm64"});
  registry_.ResetRequests();
  constexpr int kThreads = 8;
  // Every thread reports its cache miss before any request is made: the observer holds
  // them until all have missed, so without singleflight each would fetch.
  std::mutex mu;
  std::condition_variable all_missed;
  int missed = 0;
  ResolverOptions options = Options();
  options.cache_observer = [&](bool hit) {
    if (hit) return;
    std::unique_lock<std::mutex> lock(mu);
    ++missed;
    all_missed.notify_all();
    all_missed.wait_for(lock, seconds(2), [&] { return missed >= kThreads; });
  };
  Resolver resolver(client_, options);
  Reference ref = Ref(registry_.host() + "/app/popular:1");
  std::vector<std::thread> threads;
  std::vector<std::string> digests(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto resolved = resolver.Resolve(ref);
      digests[i] = resolved.ok() ? resolved->digest : "error: " + resolved.error().message;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(missed, kThreads);
  for (const auto& digest : digests) EXPECT_EQ(digest, digests[0]);
  EXPECT_EQ(digests[0].rfind("sha256:", 0), 0u) << digests[0];
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/app/popular/manifests/1"), 1) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("", ".*"), 1);
}

TEST_F(ResolverTest, ByDigestSkipsTheTagAndIsCachedForLong) {
  std::string digest = BuildahManifestList(registry_, "app/pinned:1", {"linux/amd64", "linux/s390x"});
  registry_.ResetRequests();
  Resolver resolver(client_, Options());
  Reference ref = Ref(registry_.host() + "/app/pinned:1@" + digest);
  auto resolved = resolver.Resolve(ref);
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(resolved->digest, digest);
  EXPECT_EQ(Strings(resolved->platforms), (std::vector<std::string>{"linux/amd64", "linux/s390x"}));
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/app/pinned/manifests/" + digest), 1) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("", ".*"), 1);

  clock_.Advance(std::chrono::hours(24));  // far past any tag_ttl: a digest never needs re-validation
  registry_.ResetRequests();
  ASSERT_TRUE(resolver.Resolve(ref).ok());
  EXPECT_EQ(registry_.CountRequests("", ".*"), 0) << registry_.DescribeRequests();
}

TEST_F(ResolverTest, AttestationsAndUnknownEntriesAreIgnored) {
  Pushed amd = PushImage(registry_, "app/attested", R"({"os":"linux","architecture":"amd64"})");
  Pushed arm = PushImage(registry_, "app/attested", R"({"os":"linux","architecture":"aarch64","variant":"v8"})");
  Pushed att = PushImage(registry_, "app/attested", R"({"architecture":"unknown","os":"unknown"})", media_type::kOciManifest,
                         "application/vnd.in-toto+json");
  json unknown = {{"os", "unknown"}, {"architecture", "unknown"}};
  PushIndex(registry_, "app/attested", "1",
            json::array({Entry(amd, {{"os", "linux"}, {"architecture", "amd64"}}),
                         Entry(arm, {{"os", "linux"}, {"architecture", "aarch64"}, {"variant", "v8"}}),
                         Entry(att, unknown,
                               {{"vnd.docker.reference.type", "attestation-manifest"},
                                {"vnd.docker.reference.digest", amd.digest}}),
                         Entry(att, {{"os", "linux"}, {"architecture", "arm"}},
                               {{"vnd.docker.reference.type", "attestation-manifest"}})}));
  registry_.ResetRequests();
  Resolver resolver(client_, Options());
  auto resolved = resolver.Resolve(Ref(registry_.host() + "/app/attested:1"));
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(Strings(resolved->platforms), (std::vector<std::string>{"linux/amd64", "linux/arm64"}));
  EXPECT_EQ(registry_.CountRequests("", ".*"), 1) << registry_.DescribeRequests();
}

TEST_F(ResolverTest, SinglePlatformIndexWithProvenance) {
  Pushed arm = PushImage(registry_, "app/buildx", R"({"os":"linux","architecture":"arm","variant":"v6"})");
  Pushed att = PushImage(registry_, "app/buildx", "{}", media_type::kOciManifest, "application/vnd.in-toto+json");
  PushIndex(registry_, "app/buildx", "1",
            json::array({Entry(arm, {{"os", "linux"}, {"architecture", "arm"}, {"variant", "v6"}}),
                         Entry(att, {{"os", "unknown"}, {"architecture", "unknown"}},
                               {{"vnd.docker.reference.type", "attestation-manifest"}})}));
  Resolver resolver(client_, Options());
  auto resolved = resolver.Resolve(Ref(registry_.host() + "/app/buildx:1"));
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(Strings(resolved->platforms), std::vector<std::string>{"linux/arm/v6"});
}

TEST_F(ResolverTest, WindowsAndLinuxList) {
  Pushed linux_image = PushImage(registry_, "app/mixed", R"({"os":"linux","architecture":"amd64"})",
                                 media_type::kDockerManifest, media_type::kDockerConfig);
  Pushed windows_image =
      PushImage(registry_, "app/mixed", R"({"os":"windows","architecture":"amd64","os.version":"10.0.20348.2582"})",
                media_type::kDockerManifest, media_type::kDockerConfig);
  std::string digest = PushIndex(
      registry_, "app/mixed", "1",
      json::array({Entry(linux_image, {{"os", "linux"}, {"architecture", "amd64"}}),
                   Entry(windows_image, {{"os", "windows"}, {"architecture", "amd64"}, {"os.version", "10.0.20348.2582"}})}),
      media_type::kDockerList);
  Resolver resolver(client_, Options());
  auto resolved = resolver.Resolve(Ref(registry_.host() + "/app/mixed:1"));
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(resolved->digest, digest);
  EXPECT_EQ(resolved->media_type, media_type::kDockerList);
  EXPECT_EQ(Strings(resolved->platforms), (std::vector<std::string>{"linux/amd64", "windows/amd64"}));
}

TEST_F(ResolverTest, WindowsEntriesOfTwoBuildsAreBothKept) {
  Pushed ltsc2022 =
      PushImage(registry_, "app/win", R"({"os":"windows","architecture":"amd64","os.version":"10.0.20348.643"})",
                media_type::kDockerManifest, media_type::kDockerConfig);
  Pushed ltsc2019 =
      PushImage(registry_, "app/win", R"({"os":"windows","architecture":"amd64","os.version":"10.0.17763.2803"})",
                media_type::kDockerManifest, media_type::kDockerConfig);
  PushIndex(registry_, "app/win", "1",
            json::array({Entry(ltsc2022, {{"os", "windows"}, {"architecture", "amd64"}, {"os.version", "10.0.20348.643"}}),
                         Entry(ltsc2019, {{"os", "windows"}, {"architecture", "amd64"}, {"os.version", "10.0.17763.2803"}})}),
            media_type::kDockerList);
  Resolver resolver(client_, Options());
  auto resolved = resolver.Resolve(Ref(registry_.host() + "/app/win:1"));
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  ASSERT_EQ(resolved->platforms.size(), 2u);
  EXPECT_EQ(resolved->platforms[0].os_version, "10.0.17763.2803");
  EXPECT_EQ(resolved->platforms[1].os_version, "10.0.20348.643");
}

TEST_F(ResolverTest, EntriesWithoutPlatformAreResolvedFromTheChild) {
  Pushed ppc = PushImage(registry_, "app/bare", R"({"os":"linux","architecture":"ppc64le"})");
  PushIndex(registry_, "app/bare", "1", json::array({Entry(ppc, nullptr)}));
  registry_.ResetRequests();
  Resolver resolver(client_, Options());
  auto resolved = resolver.Resolve(Ref(registry_.host() + "/app/bare:1"));
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(Strings(resolved->platforms), std::vector<std::string>{"linux/ppc64le"});
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/app/bare/manifests/.*"), 2) << registry_.DescribeRequests();
  EXPECT_EQ(registry_.CountRequests("GET", "/v2/app/bare/blobs/.*"), 1);
}

TEST_F(ResolverTest, DataOnlyArtifacts) {
  // An image config that declares no platform (its config is read), and an artifact whose
  // config is not an image config at all (nothing more to read).
  PushImage(registry_, "app/data", R"({"created":"2024-01-01T00:00:00Z","rootfs":{"type":"layers","diff_ids":[]}})",
            media_type::kOciManifest, media_type::kOciConfig, "config");
  PushImage(registry_, "app/data", "{}", media_type::kOciManifest, "application/vnd.oci.empty.v1+json", "artifact");
  registry_.ResetRequests();
  Resolver resolver(client_, Options());
  auto config = resolver.Resolve(Ref(registry_.host() + "/app/data:config"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_TRUE(config->data_only);
  EXPECT_TRUE(config->platforms.empty());
  EXPECT_EQ(registry_.CountRequests("", ".*"), 2) << registry_.DescribeRequests();

  registry_.ResetRequests();
  auto artifact = resolver.Resolve(Ref(registry_.host() + "/app/data:artifact"));
  ASSERT_TRUE(artifact.ok()) << artifact.error().message;
  EXPECT_TRUE(artifact->data_only);
  EXPECT_TRUE(artifact->platforms.empty());
  EXPECT_EQ(registry_.CountRequests("", ".*"), 1) << registry_.DescribeRequests();
}

TEST_F(ResolverTest, SeparatesCredentials) {
  archway::testing::RegistryServerOptions secured_options;
  secured_options.auth = RegistryAuth::kHtpasswd;
  secured_options.users = {{"alice", "a-secret"}, {"bob", "b-secret"}};
  RegistryServer secured(secured_options);
  BuildahManifestList(secured, "team/app:1", {"linux/amd64", "linux/arm64"});
  secured.ResetRequests();
  Resolver resolver(client_, Options());
  Reference ref = Ref(secured.host() + "/team/app:1");
  Keychain alice, bob;
  alice.Add(secured.host(), Basic("alice", "a-secret"));
  bob.Add(secured.host(), Basic("bob", "b-secret"));

  auto anonymous = resolver.Resolve(ref);
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.error().code, ErrorCode::kUnauthorized) << anonymous.error().message;

  auto as_alice = resolver.Resolve(ref, &alice);
  ASSERT_TRUE(as_alice.ok()) << as_alice.error().message;
  auto as_bob = resolver.Resolve(ref, &bob);
  ASSERT_TRUE(as_bob.ok()) << as_bob.error().message;
  EXPECT_EQ(as_alice->digest, as_bob->digest);
  int fetched = 0;  // successful manifest GETs (the Basic flow may add 401s before them)
  for (const auto& request : secured.Requests()) {
    fetched += request.method == "GET" && request.path == "/v2/team/app/manifests/1" && request.status == 200;
  }
  EXPECT_EQ(fetched, 2) << "one fetch per tenant: " << secured.DescribeRequests();

  // Each tenant's answer is now hot for that tenant only; the anonymous failure stays cached.
  secured.ResetRequests();
  ASSERT_TRUE(resolver.Resolve(ref, &alice).ok());
  ASSERT_TRUE(resolver.Resolve(ref, &bob).ok());
  EXPECT_FALSE(resolver.Resolve(ref).ok());
  EXPECT_EQ(secured.CountRequests("", ".*"), 0) << secured.DescribeRequests();
}

// Docker Distribution no longer accepts schema1 pushes, so a small HTTP peer plays a
// legacy registry serving one schema1 manifest.
TEST(ResolverSchema1Test, PlatformFromArchitectureField) {
  const std::string body =
      R"({"schemaVersion":1,"name":"old/app","tag":"v1","architecture":"armhf","fsLayers":[],"history":[]})";
  const std::string digest = "sha256:" + Sha256Hex(body);
  archway::testing::LoopbackHttpServer legacy([&](const archway::testing::HttpRecord& request) {
    archway::testing::HttpReply reply;
    if (request.Path() == "/v2/old/app/manifests/v1") {
      reply.headers = {{"Content-Type", media_type::kDockerSchema1}, {"Docker-Content-Digest", digest}};
      if (request.method != "HEAD") reply.body = body;
    } else {
      reply.status = 404;
    }
    return reply;
  });
  Client client{ClientOptions{}};
  Resolver resolver(client, ResolverOptions{});
  auto resolved = resolver.Resolve(Ref(legacy.host() + "/old/app:v1"));
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(resolved->digest, digest);
  EXPECT_EQ(resolved->media_type, media_type::kDockerSchema1);
  EXPECT_EQ(Strings(resolved->platforms), std::vector<std::string>{"linux/arm/v7"});
  EXPECT_EQ(legacy.Requests().size(), 1u);
}

}  // namespace
}  // namespace archway::registry

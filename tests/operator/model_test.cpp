// Spec parsing, the operator config, Job building and status rendering: the pure parts.
#include <gtest/gtest.h>

#include <functional>

#include "operator/config.h"
#include "operator/job_builder.h"
#include "operator/spec.h"
#include "operator/status.h"
#include "tests/operator/openapi_validator.h"

namespace archway::op {
namespace {

const std::string kRoot = ARCHWAY_SOURCE_DIR;

Json BuildExample() { return optest::LoadYamlFile(kRoot + "/crds/examples/build-mode.yaml"); }

MultiArchImage ParseOk(Json object) {
  object["metadata"]["uid"] = "bcadeb64-7997-41e3-b646-dfd2b4aa8c7e";
  object["metadata"]["generation"] = 1;
  auto mai = ParseMultiArchImage(object);
  EXPECT_TRUE(mai.ok()) << mai.error().message;
  return mai.ok() ? *mai : MultiArchImage{};
}

std::string ParseError(Json spec) {
  auto parsed = ParseSpec(spec);
  return parsed.ok() ? "" : parsed.error().message;
}

TEST(Spec, MetadataFieldsOfTheWrongTypeAreErrorsNotCrashes) {
  // Found by fuzz_operator_spec: metadata.namespace as a list threw from json::value().
  for (const char* key : {"namespace", "name", "uid"}) {
    Json object = BuildExample();
    object["metadata"][key] = Json::array({"linux/amd64"});
    auto parsed = ParseMultiArchImage(object);
    ASSERT_FALSE(parsed.ok()) << key;
    EXPECT_NE(parsed.error().message.find(std::string("metadata.") + key + ": must be a string"), std::string::npos)
        << parsed.error().message;
  }
}

TEST(Spec, ErrorsQuotingLongValuesCutThemBetweenCharacters) {
  // Found with fuzz_operator_reconcile (corpus: utf8-override-key.json, utf8-long-image.json):
  // an error quoting the first 200 bytes of a platformOverrides key, or the first 64 of an
  // over-long spec.image, cut a two-byte character, and the InvalidSpec status that
  // carried it could not be written.
  std::string odd = "x";
  for (int i = 0; i < 2100; ++i) odd += "\xC3\xA9";  // é
  Json overridden = BuildExample();
  overridden["spec"]["build"]["platformOverrides"] = {{odd.substr(0, 301), Json::object()}};
  Json long_image = BuildExample();
  long_image["spec"]["image"] = odd;
  for (const Json& object : {overridden, long_image}) {
    auto parsed = ParseMultiArchImage(object);
    ASSERT_FALSE(parsed.ok());
    EXPECT_NO_THROW((void)Json(parsed.error().message).dump()) << parsed.error().message.substr(0, 80);
  }
}

TEST(Spec, ParsesBothExamples) {
  MultiArchImage build = ParseOk(BuildExample());
  ASSERT_TRUE(build.spec.build);
  EXPECT_EQ(build.spec.platforms.size(), 3u);
  EXPECT_EQ(build.spec.platforms[2].String(), "linux/arm/v7");
  EXPECT_EQ(build.spec.build->platform_overrides.at("linux/arm/v7").dockerfile, "Dockerfile.armv7");
  EXPECT_EQ(build.spec.push_secret, "regcred");
  MultiArchImage sources = ParseOk(optest::LoadYamlFile(kRoot + "/crds/examples/sources-mode.yaml"));
  ASSERT_EQ(sources.spec.sources.size(), 2u);
  EXPECT_EQ(sources.spec.sources[0].text, "registry.lan:5000/web:1.4-amd64");
  EXPECT_EQ(sources.spec.sources[0].ref.domain, "registry.lan:5000");
  EXPECT_EQ(sources.spec.sources[0].ref.tag, "1.4-amd64");
  EXPECT_FALSE(sources.spec.build);
}

TEST(Spec, ErrorsNameTheField) {
  Json spec = BuildExample()["spec"];
  Json s = spec;
  s["platforms"][1] = "linux/arm64/8";
  EXPECT_NE(ParseError(s).find("spec.platforms[1]"), std::string::npos) << ParseError(s);
  s = spec;
  s["platforms"][0] = "linux/" + std::string(60, 'z');  // would make a Job name longer than 63
  EXPECT_NE(ParseError(s).find("spec.platforms[0]: is longer than 40 characters"), std::string::npos) << ParseError(s);
  s = spec;
  s["platforms"].push_back("linux/aarch64");  // normalises to linux/arm64: a duplicate
  EXPECT_NE(ParseError(s).find("duplicate platform linux/arm64"), std::string::npos) << ParseError(s);
  s = spec;
  s["sources"] = Json::array({{{"image", "a:1"}}});
  EXPECT_NE(ParseError(s).find("exactly one of spec.sources or spec.build"), std::string::npos);
  s = spec;
  s["image"] = "registry.lan/web@sha256:" + std::string(64, 'a');
  EXPECT_NE(ParseError(s).find("must be a tag"), std::string::npos);
  s = spec;
  s["platforms"].push_back("windows/amd64");
  EXPECT_NE(ParseError(s).find("Linux platforms only"), std::string::npos);
  s = spec;
  s["build"]["platformOverrides"]["linux/s390x"] = {{"dockerfile", "D"}};
  EXPECT_NE(ParseError(s).find("not in spec.platforms"), std::string::npos);
  s = spec;
  s["build"]["contextDir"] = "../outside";
  EXPECT_NE(ParseError(s).find("spec.build.contextDir"), std::string::npos);
}

TEST(Spec, FollowedBaseImagesAreTagsListedOrReportedNotBoth) {
  Json spec = BuildExample()["spec"];
  EXPECT_TRUE(ParseSpec(spec)->build->FollowsBaseImages());  // the example lists two
  spec["build"].erase("baseImages");
  EXPECT_FALSE(ParseSpec(spec)->build->FollowsBaseImages());
  spec["build"]["baseImages"] = Json::array({"debian:12-slim", "registry.lan:5000/base/runtime:3"});
  auto listed = ParseSpec(spec);
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  ASSERT_EQ(listed->build->base_images.size(), 2u);
  EXPECT_EQ(listed->build->base_images[0].text, "debian:12-slim");
  EXPECT_EQ(listed->build->base_images[0].ref.String(), "docker.io/library/debian:12-slim");
  EXPECT_TRUE(listed->build->FollowsBaseImages());
  EXPECT_TRUE(listed->build->rebuild_on_base_change);  // rebuildPolicy defaults to OnBaseChange

  Json follow = BuildExample()["spec"];
  follow["build"].erase("baseImages");
  follow["build"]["followBaseImages"] = true;
  follow["build"]["rebuildPolicy"] = "Never";
  auto followed = ParseSpec(follow);
  ASSERT_TRUE(followed.ok()) << followed.error().message;
  EXPECT_TRUE(followed->build->follow_base_images);
  EXPECT_TRUE(followed->build->base_images.empty());
  EXPECT_TRUE(followed->build->FollowsBaseImages());
  EXPECT_FALSE(followed->build->rebuild_on_base_change);

  auto error_of = [&](const std::function<void(Json&)>& change) {
    Json s = BuildExample()["spec"];
    s["build"].erase("baseImages");
    change(s["build"]);
    return ParseError(s);
  };
  EXPECT_NE(error_of([](Json& b) { b["baseImages"] = Json::array({"debian@sha256:" + std::string(64, 'a')}); })
                .find("spec.build.baseImages[0]: is pinned by digest"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& b) { b["baseImages"] = Json::array({"debian:12", "docker.io/library/debian:12"}); })
                .find("spec.build.baseImages[1]: duplicate base image docker.io/library/debian:12"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& b) { b["baseImages"] = "debian:12"; }).find("spec.build.baseImages: must be a list"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& b) { b["baseImages"] = Json::array({7}); }).find("spec.build.baseImages[0]"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& b) { b["baseImages"] = Json::array({"not a reference"}); }).find("spec.build.baseImages[0]"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& b) {
              b["baseImages"] = Json::array();
              for (int i = 0; i < 17; ++i) b["baseImages"].push_back("base" + std::to_string(i) + ":1");
            }).find("lists more than 16 images"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& b) {
              b["baseImages"] = Json::array({"debian:12"});
              b["followBaseImages"] = true;
            }).find("not both"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& b) { b["followBaseImages"] = "yes"; }).find("spec.build.followBaseImages: must be true or false"),
            std::string::npos);
  EXPECT_NE(error_of([](Json& b) { b["rebuildPolicy"] = "Daily"; }).find("spec.build.rebuildPolicy: Unsupported value"),
            std::string::npos);
  // followBaseImages: false with a list is the list.
  EXPECT_EQ(error_of([](Json& b) {
              b["baseImages"] = Json::array({"debian:12"});
              b["followBaseImages"] = false;
            }),
            "");
}

TEST(JobBuilder, ShapedLikeTheSampleJob) {
  MultiArchImage mai = ParseOk(BuildExample());
  OperatorConfig config;
  registry::Platform arm64{"linux", "arm64", "", ""};
  Json job = BuildJob(mai, arm64, config, false);
  Json sample = optest::LoadJsonFile(kRoot + "/tests/operator/testdata/job-created.json");
  EXPECT_EQ(job["apiVersion"], sample["apiVersion"]);
  EXPECT_EQ(job["kind"], sample["kind"]);
  for (const char* label : {"app.kubernetes.io/managed-by", "archway.dev/multiarchimage", "archway.dev/platform"})
    EXPECT_TRUE(job["metadata"]["labels"].contains(label)) << label;
  EXPECT_EQ(job["metadata"]["labels"]["archway.dev/platform"], "linux-arm64");
  Json owner = job["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["apiVersion"], "archway.dev/v1alpha1");
  EXPECT_EQ(owner["kind"], "MultiArchImage");
  EXPECT_EQ(owner["name"], "api");
  EXPECT_EQ(owner["uid"], "bcadeb64-7997-41e3-b646-dfd2b4aa8c7e");
  EXPECT_TRUE(owner["controller"].get<bool>());
  EXPECT_TRUE(owner["blockOwnerDeletion"].get<bool>());
  const Json& pod = job["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Never");
  EXPECT_EQ(pod["nodeSelector"]["kubernetes.io/os"], "linux");
  EXPECT_EQ(pod["nodeSelector"]["kubernetes.io/arch"], "arm64");
  EXPECT_EQ(pod["nodeSelector"]["archway.dev/builder"], "true");
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"], job["metadata"]["labels"]);

  const Json& build = pod["containers"][0];
  EXPECT_EQ(build["image"], "quay.io/buildah/stable:v1.37");
  std::vector<std::string> command = build["command"];
  std::vector<std::string> argv(command.begin() + 4, command.end());
  std::vector<std::string> want = {"--platform", "linux/arm64", "-f", "Dockerfile", "--build-arg", "VERSION=2.0",
                                   "-t", "registry.lan:5000/api:2.0-linux-arm64", "."};
  EXPECT_EQ(argv, want);
  EXPECT_EQ(build["workingDir"], "/workspace/src");
  EXPECT_EQ(build["resources"]["limits"]["memory"], "2Gi");
  bool auth_env = false;
  for (const auto& e : build["env"]) auth_env = auth_env || (e["name"] == "REGISTRY_AUTH_FILE" && e["value"] == "/var/run/archway/push/config.json");
  EXPECT_TRUE(auth_env);
  EXPECT_EQ(pod["volumes"][1]["secret"]["secretName"], "regcred");
  EXPECT_EQ(pod["volumes"][1]["secret"]["items"][0]["key"], ".dockerconfigjson");
  const Json& clone = pod["initContainers"][0];
  EXPECT_EQ(clone["env"][0]["value"], "https://git.lan/api.git");
  EXPECT_EQ(clone["env"][1]["value"], "v2.0");
}

TEST(JobBuilder, OverridesEmulationAndBuildkit) {
  Json buildah_only = BuildExample();
  buildah_only["spec"]["build"]["platformOverrides"]["linux/arm/v7"].erase("strategy");
  MultiArchImage mai = ParseOk(buildah_only);
  OperatorConfig config;
  registry::Platform armv7{"linux", "arm", "v7", ""};
  Json job = BuildJob(mai, armv7, config, true);
  const Json& pod = job["spec"]["template"]["spec"];
  EXPECT_FALSE(pod["nodeSelector"].contains("kubernetes.io/arch"));  // emulated: any Linux node
  EXPECT_EQ(job["metadata"]["annotations"]["archway.dev/emulated"], "true");
  std::string argv = pod["containers"][0]["command"].dump();
  EXPECT_NE(argv.find("\"Dockerfile.armv7\""), std::string::npos);
  EXPECT_NE(argv.find("\"BASE=arm32v7/debian:12\""), std::string::npos);
  EXPECT_NE(argv.find("\"registry.lan:5000/api:2.0-linux-arm-v7\""), std::string::npos);

  Json object = BuildExample();
  object["spec"]["build"]["strategy"] = "buildkit";
  MultiArchImage kit = ParseOk(object);
  Json kjob = BuildJob(kit, armv7, config, false);
  const Json& c = kjob["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "moby/buildkit:v0.16.0-rootless");
  EXPECT_EQ(c["command"][0], "buildctl-daemonless.sh");
  EXPECT_NE(c["command"].dump().find("type=image,name=registry.lan:5000/api:2.0-linux-arm-v7,push=true"), std::string::npos);
  EXPECT_NE(c["command"].dump().find("filename=Dockerfile.armv7"), std::string::npos);
  EXPECT_NE(c["env"].dump().find("DOCKER_CONFIG"), std::string::npos);

  // The example builds linux/arm/v7 with buildkit and the rest with buildah.
  MultiArchImage mixed = ParseOk(BuildExample());
  registry::Platform arm64{"linux", "arm64", "", ""};
  EXPECT_EQ(BuildJob(mixed, armv7, config, false)["spec"]["template"]["spec"]["containers"][0]["image"],
            config.buildkit_image);
  EXPECT_EQ(BuildJob(mixed, arm64, config, false)["spec"]["template"]["spec"]["containers"][0]["image"],
            config.buildah_image);
  // builderImage: the override's first; the build's unless the override has its own strategy.
  Json images = BuildExample();
  images["spec"]["build"]["builderImage"] = "registry.lan/buildah:1.37";
  MultiArchImage with_image = ParseOk(images);
  EXPECT_EQ(BuilderImage(with_image, config, arm64), "registry.lan/buildah:1.37");
  EXPECT_EQ(BuilderImage(with_image, config, armv7), config.buildkit_image);
  images["spec"]["build"]["platformOverrides"]["linux/arm/v7"]["builderImage"] = "registry.lan/buildkit:armv7";
  EXPECT_EQ(BuilderImage(ParseOk(images), config, armv7), "registry.lan/buildkit:armv7");
  Json bad = BuildExample()["spec"];
  bad["build"]["platformOverrides"]["linux/arm/v7"]["strategy"] = "kaniko";
  EXPECT_NE(ParseError(bad).find("spec.build.platformOverrides[linux/arm/v7].strategy: Unsupported value"),
            std::string::npos);
}

TEST(JobBuilder, NamesAreDeterministicBoundedAndChangeWithTheSpec) {
  MultiArchImage mai = ParseOk(BuildExample());
  registry::Platform arm64{"linux", "arm64", "", ""};
  std::string hash = SpecHash(mai.spec_json);
  EXPECT_EQ(hash.size(), 8u);
  EXPECT_EQ(JobName("api", arm64, hash), "api-linux-arm64-" + hash);
  EXPECT_EQ(SpecHash(ParseOk(BuildExample()).spec_json), hash);
  Json changed = BuildExample();
  changed["spec"]["build"]["git"]["revision"] = "v2.1";
  EXPECT_NE(SpecHash(ParseOk(changed).spec_json), hash);
  std::string long_name(80, 'a');
  std::string name = JobName(long_name, registry::Platform{"linux", "arm", "v7", ""}, hash);
  EXPECT_LE(name.size(), 63u);
  EXPECT_EQ(name.substr(name.size() - 22), "-linux-arm-v7-" + hash);
  // Found with fuzz_operator_reconcile (corpus: utf8-resource-name.json): a name the API
  // would not admit, shortened inside a character, gave a Job name that is not UTF-8.
  std::string accented = "x";
  for (int i = 0; i < 40; ++i) accented += "\xC3\xA9";
  name = JobName(accented, registry::Platform{"linux", "amd64", "", ""}, hash);
  EXPECT_LE(name.size(), 63u);
  EXPECT_NO_THROW((void)Json(name).dump()) << name;
}

TEST(Config, DefaultsFileAndFlags) {
  auto defaults = ParseOperatorConfig("");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->metrics_listen, ":9091");
  EXPECT_EQ(defaults->health_listen, ":8081");
  EXPECT_TRUE(defaults->leader_election_enabled);
  EXPECT_EQ(defaults->leader_election_lease_name, "archway-operator");
  EXPECT_EQ(defaults->resync, std::chrono::minutes(10));
  EXPECT_EQ(defaults->buildah_image, "quay.io/buildah/stable:v1.37");

  // The file exactly as docs/design.md names its keys (with real values for the elided ones).
  auto file = ParseOperatorConfig(R"(
kubeconfig: ""
metricsListen: ":9191"
healthListen: ":8181"
leaderElection: {enabled: true, namespace: archway-system, leaseName: archway-operator}
resync: 2m
registries: {configFile: /etc/archway/registries.yaml, dockerConfig: /etc/archway/docker/config.json}
builder:
  buildahImage: quay.io/buildah/stable:v1.38
  buildkitImage: moby/buildkit:v0.16.0-rootless
)");
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(file->metrics_listen, ":9191");
  EXPECT_EQ(file->resync, std::chrono::minutes(2));
  EXPECT_EQ(file->buildah_image, "quay.io/buildah/stable:v1.38");

  OperatorConfig c = *file;
  ASSERT_TRUE(ApplyConfigFlags(c, {"--config", "x.yaml", "--metricsListen", ":1", "--leader-election-enabled=false",
                                   "--builder.buildahImage=b:1", "--resync", "30s"})
                  .ok());
  EXPECT_EQ(c.metrics_listen, ":1");
  EXPECT_FALSE(c.leader_election_enabled);
  EXPECT_EQ(c.buildah_image, "b:1");
  EXPECT_EQ(c.resync, std::chrono::seconds(30));

  EXPECT_EQ(defaults->min_base_rebuild_interval, std::chrono::hours(1));
  EXPECT_EQ(defaults->binfmt_image, "");
  auto bases = ParseOperatorConfig("baseImages: {minRebuildInterval: 30m}\nbuilder: {binfmtImage: tonistiigi/binfmt:latest}\n");
  ASSERT_TRUE(bases.ok()) << bases.error().message;
  EXPECT_EQ(bases->min_base_rebuild_interval, std::chrono::minutes(30));
  EXPECT_EQ(bases->binfmt_image, "tonistiigi/binfmt:latest");
  ASSERT_TRUE(ApplyConfigFlags(c, {"--base-images-min-rebuild-interval", "0s"}).ok());
  EXPECT_EQ(c.min_base_rebuild_interval, std::chrono::milliseconds(0));
  EXPECT_FALSE(ParseOperatorConfig("baseImages: {minRebuildInterval: often}\n").ok());

  auto typo = ParseOperatorConfig("metricListen: \":1\"\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("metricListen"), std::string::npos);
  EXPECT_FALSE(ParseOperatorConfig("resync: soon\n").ok());
  EXPECT_FALSE(ApplyConfigFlags(c, {"--nope", "1"}).ok());

  // The exec-format-error watcher: on unless turned off, by the file or a flag.
  EXPECT_TRUE(defaults->exec_format_watcher_enabled);
  auto off = ParseOperatorConfig("execFormatWatcher: {enabled: false}\n");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->exec_format_watcher_enabled);
  ASSERT_TRUE(ApplyConfigFlags(c, {"--exec-format-watcher-enabled=false"}).ok());
  EXPECT_FALSE(c.exec_format_watcher_enabled);
  EXPECT_FALSE(ParseOperatorConfig("execFormatWatcher: {enabled: maybe}\n").ok());
}

TEST(Status, TransitionTimeChangesOnlyOnTransitions) {
  DesiredStatus building{phase::kBuilding, "", {{"linux/arm64", "", "", "j", state::kRunning, ""}}, false,
                         reason::kBuilding, "0 of 1 platforms built"};
  auto observed = [](const Json& status) { return ReadObservedStatus(Json{{"status", status}}); };
  Json s1 = RenderStatus(building, ObservedStatus{}, 1, "2026-11-23T15:00:00Z");
  EXPECT_EQ(s1["conditions"][0]["lastTransitionTime"], "2026-11-23T15:00:00Z");
  EXPECT_EQ(s1["observedGeneration"], 1);
  // Same state later: identical JSON, so the reconciler writes nothing.
  EXPECT_EQ(RenderStatus(building, observed(s1), 1, "2026-11-23T15:05:00Z"), s1);
  // Another False reason: no transition of the status.
  DesiredStatus waiting = building;
  waiting.reason = reason::kNoBuilderNode;
  Json s2 = RenderStatus(waiting, observed(s1), 1, "2026-11-23T15:06:00Z");
  EXPECT_EQ(s2["conditions"][0]["lastTransitionTime"], "2026-11-23T15:00:00Z");
  DesiredStatus ready{phase::kReady, "sha256:ab", {}, true, reason::kPublished, "published"};
  Json s3 = RenderStatus(ready, observed(s2), 1, "2026-11-23T15:07:00Z");
  EXPECT_EQ(s3["conditions"][0]["lastTransitionTime"], "2026-11-23T15:07:00Z");
  EXPECT_EQ(s3["digest"], "sha256:ab");
  EXPECT_EQ(observed(s3).ready.status, "True");
  EXPECT_EQ(observed(s3).ready.reason, "Published");
}

TEST(Status, BaseImagesAndOtherConditionsRoundTripAndKeepTheirTransitionTimes) {
  DesiredStatus built{phase::kReady, "sha256:ab", {{"linux/arm64", "sha256:01", "", "web-linux-arm64-1234abcd",
                                                   state::kSucceeded, "", "", "docker.io/library/debian@sha256:0b"}},
                      true, reason::kPublished, "published"};
  built.base_images = {BaseImageStatus{"debian:12-slim", "sha256:1f", "",
                                       {BaseImagePlatform{"linux/arm64", "sha256:0b", ""}}, "2026-11-23T15:00:00Z"}};
  built.last_base_rebuild = BaseRebuild{"2026-11-23T15:00:00Z", "base debian:12-slim linux/arm64 changed a -> b", "1234abcd"};
  built.conditions = {ConditionState{condition::kBaseImageUnavailable, false, base_reason::kResolved, "following 1"}};
  auto observed = [](const Json& status) { return ReadObservedStatus(Json{{"status", status}}); };
  Json s1 = RenderStatus(built, ObservedStatus{}, 2, "2026-11-23T15:01:00Z");
  ASSERT_EQ(s1["conditions"].size(), 2u);
  EXPECT_EQ(s1["conditions"][1]["type"], "BaseImageUnavailable");
  EXPECT_EQ(s1["conditions"][1]["status"], "False");
  EXPECT_EQ(s1["baseImages"][0]["platforms"][0]["digest"], "sha256:0b");
  EXPECT_FALSE(s1["baseImages"][0]["platforms"][0].contains("latest"));
  EXPECT_EQ(s1["platforms"][0]["baseReport"], "docker.io/library/debian@sha256:0b");
  EXPECT_EQ(s1["lastBaseRebuild"]["run"], "1234abcd");

  const ObservedStatus read = observed(s1);
  EXPECT_EQ(read.base_images, built.base_images);
  EXPECT_EQ(read.last_base_rebuild, built.last_base_rebuild);
  EXPECT_EQ(read.platforms, built.platforms);
  ASSERT_NE(read.FindCondition("BaseImageUnavailable"), nullptr);
  EXPECT_EQ(RenderStatus(built, read, 2, "2026-11-23T15:09:00Z"), s1) << "a steady state renders what is stored";

  DesiredStatus unavailable = built;
  unavailable.conditions[0] = {condition::kBaseImageUnavailable, true, base_reason::kResolveFailed, "base x: 503"};
  Json s2 = RenderStatus(unavailable, read, 2, "2026-11-23T15:10:00Z");
  EXPECT_EQ(s2["conditions"][1]["lastTransitionTime"], "2026-11-23T15:10:00Z");
  EXPECT_EQ(s2["conditions"][0]["lastTransitionTime"], s1["conditions"][0]["lastTransitionTime"])
      << "Ready did not transition";
  for (const Json& odd : {Json{{"baseImages", "x"}}, Json{{"baseImages", Json::array({5, {{"image", 3}}})}},
                          Json{{"baseImages", Json::array({{{"image", "a:1"}, {"platforms", "linux/amd64"}}})}},
                          Json{{"lastBaseRebuild", Json::array()}}}) {
    ObservedStatus o = observed(odd);
    EXPECT_LE(o.base_images.size(), 1u);
    for (const auto& b : o.base_images) EXPECT_TRUE(b.platforms.empty());
    EXPECT_TRUE(o.last_base_rebuild.empty());
  }
}

TEST(Status, TheStoredStatusIsReadOnceAndOddFieldsReadAsAbsent) {
  const Json object = {{"status",
                        {{"observedGeneration", 3},
                         {"phase", "Ready"},
                         {"digest", "sha256:ab"},
                         {"platforms", Json::array({{{"platform", "linux/amd64"}, {"digest", "sha256:01"},
                                                     {"job", "web-linux-amd64-1234abcd"}, {"state", "Succeeded"}},
                                                    {{"platform", 5}},
                                                    "junk",
                                                    {{"platform", "linux/arm64"}, {"digest", 7}}})},
                         {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}, {"reason", "Published"},
                                                      {"message", "published"},
                                                      {"lastTransitionTime", "2026-11-23T15:07:00Z"}}})}}}};
  ObservedStatus observed = ReadObservedStatus(object);
  EXPECT_EQ(observed.stored, object["status"]);
  EXPECT_EQ(observed.observed_generation, 3);
  EXPECT_EQ(observed.phase, "Ready");
  EXPECT_EQ(observed.digest, "sha256:ab");
  ASSERT_EQ(observed.platforms.size(), 2u);
  ASSERT_NE(observed.FindPlatform("linux/amd64"), nullptr);
  EXPECT_EQ(observed.FindPlatform("linux/amd64")->job, "web-linux-amd64-1234abcd");
  EXPECT_EQ(observed.FindPlatform("linux/arm64")->digest, "");
  EXPECT_EQ(observed.FindPlatform("linux/s390x"), nullptr);
  EXPECT_EQ(observed.ready.message, "published");
  for (const Json& odd : {Json(), Json{{"status", "Ready"}}, Json{{"status", {{"phase", 1}, {"conditions", "x"}}}}}) {
    ObservedStatus none = ReadObservedStatus(odd);
    EXPECT_EQ(none.phase, "");
    EXPECT_EQ(none.ready.status, "");
  }
}

}  // namespace
}  // namespace archway::op

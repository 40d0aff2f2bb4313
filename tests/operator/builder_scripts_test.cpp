// The shell the builder Jobs run, run here with /bin/sh: the emulated Job's
// `emulation-check` init container against a binfmt_misc directory laid out as the
// kernel shows it (the test's stand-in for the node's /proc/sys/fs/binfmt_misc), and
// the Job's other pieces the generated Job must carry. The buildah `build` container
// itself runs for real in builder_e2e_test.
#include <sys/utsname.h>

#include <gtest/gtest.h>

#include "operator/job_builder.h"
#include "tests/operator/openapi_validator.h"
#include "tests/support/process.h"

namespace archway::op {
namespace {

const std::string kRoot = ARCHWAY_SOURCE_DIR;

MultiArchImage Example(const std::string& dockerfile_text, testing::TempDir& dir) {
  nlohmann::json object = optest::LoadYamlFile(kRoot + "/crds/examples/build-mode.yaml");
  object["metadata"]["uid"] = "bcadeb64-7997-41e3-b646-dfd2b4aa8c7e";
  object["spec"]["build"].erase("platformOverrides");
  testing::WriteFile(dir.File("Dockerfile"), dockerfile_text);
  auto mai = ParseMultiArchImage(object);
  EXPECT_TRUE(mai.ok()) << mai.error().message;
  return *mai;
}

const nlohmann::json* InitContainer(const nlohmann::json& job, const std::string& name) {
  for (const auto& c : job["spec"]["template"]["spec"]["initContainers"])
    if (c["name"] == name) return &c;
  return nullptr;
}

std::string Machine() {
  utsname u{};
  uname(&u);
  return u.machine;
}

// Runs the emulation check of `job` in `dir` with `binfmt` as the node's binfmt_misc.
testing::CommandResult RunCheck(const nlohmann::json& job, const testing::TempDir& dir, const std::string& binfmt,
                                const std::string& native_override = "") {
  const nlohmann::json* check = InitContainer(job, "emulation-check");
  EXPECT_NE(check, nullptr);
  std::vector<std::string> argv = {"env", "-i", "--chdir=" + dir.path(), "PATH=/usr/bin:/bin", "NODE_NAME=amd-01",
                                   "ARCHWAY_TERMINATION_LOG=" + dir.File("termination-log"),
                                   "ARCHWAY_BINFMT_DIR=" + binfmt};
  for (const auto& e : (*check)["env"]) {
    if (!e.contains("value")) continue;  // NODE_NAME comes from the downward API
    std::string value = e["value"];
    if (e["name"] == "ARCHWAY_NATIVE_MACHINES" && !native_override.empty()) value = native_override;
    argv.push_back(e["name"].get<std::string>() + "=" + value);
  }
  for (const auto& a : (*check)["command"]) argv.push_back(a);
  return testing::RunCommand(argv, std::chrono::seconds(20));
}

TEST(EmulationCheck, AnEmulatedJobChecksTheNodesHandlerAndMountsItReadOnly) {
  testing::TempDir dir("archway-emulation");
  MultiArchImage mai = Example("FROM debian:12\nRUN echo hi\n", dir);
  OperatorConfig config;
  nlohmann::json job = BuildJob(mai, registry::ParsePlatform("linux/arm64").value(), config, true);
  const nlohmann::json& pod = job["spec"]["template"]["spec"];
  ASSERT_EQ(pod["initContainers"].size(), 2u) << "clone, then the check; no installer unless configured";
  const nlohmann::json* check = InitContainer(job, "emulation-check");
  ASSERT_NE(check, nullptr);
  EXPECT_EQ((*check)["image"], config.git_image);
  EXPECT_EQ((*check)["terminationMessagePolicy"], "File");
  EXPECT_EQ((*check)["workingDir"], pod["containers"][0]["workingDir"]);
  EXPECT_EQ((*check)["volumeMounts"][1]["mountPath"], "/host/binfmt_misc");
  EXPECT_TRUE((*check)["volumeMounts"][1]["readOnly"].get<bool>());
  EXPECT_FALSE((*check).contains("securityContext")) << "the check needs no privileges";
  bool host_path = false;
  for (const auto& v : pod["volumes"])
    host_path |= v["name"] == "binfmt-misc" && v["hostPath"]["path"] == "/proc/sys/fs/binfmt_misc";
  EXPECT_TRUE(host_path);

  // A native Job has none of it.
  nlohmann::json native = BuildJob(mai, registry::ParsePlatform("linux/arm64").value(), config, false);
  EXPECT_EQ(native["spec"]["template"]["spec"]["initContainers"].size(), 1u);
  EXPECT_EQ(native["spec"]["template"]["spec"]["volumes"].dump().find("binfmt"), std::string::npos);

  // The opt-in installer: privileged, before the check, tonistiigi/binfmt's arguments.
  config.binfmt_image = "registry.lan/tonistiigi/binfmt:qemu-v8";
  nlohmann::json installing = BuildJob(mai, registry::ParsePlatform("linux/arm/v7").value(), config, true);
  const nlohmann::json& inits = installing["spec"]["template"]["spec"]["initContainers"];
  ASSERT_EQ(inits.size(), 3u);
  EXPECT_EQ(inits[1]["name"], "binfmt-install");
  EXPECT_EQ(inits[1]["image"], "registry.lan/tonistiigi/binfmt:qemu-v8");
  EXPECT_EQ(inits[1]["args"], nlohmann::json::array({"--install", "arm"}));
  EXPECT_TRUE(inits[1]["securityContext"]["privileged"].get<bool>());
  EXPECT_EQ(inits[2]["name"], "emulation-check");

  // An architecture QEMU has no handler for is not checked (nothing to look for).
  nlohmann::json sparc = BuildJob(mai, registry::ParsePlatform("linux/sparc64").value(), OperatorConfig{}, true);
  EXPECT_EQ(sparc["spec"]["template"]["spec"]["initContainers"].size(), 1u);
}

TEST(EmulationCheck, FailsWithAMessageSayingWhatTheNodeLacks) {
  testing::TempDir dir("archway-emulation");
  MultiArchImage mai = Example("FROM debian:12\n  run apt-get update\n", dir);
  nlohmann::json job = BuildJob(mai, registry::ParsePlatform("linux/arm64").value(), OperatorConfig{}, true);
  const std::string binfmt = dir.File("binfmt_misc");
  testing::RunCommand({"mkdir", "-p", binfmt});
  const std::string never_native = "no-such-machine";

  auto expect_failure = [&](const std::string& want) {
    std::remove(dir.File("termination-log").c_str());
    auto r = RunCheck(job, dir, binfmt, never_native);
    EXPECT_EQ(r.exit_code, 3) << r.output;
    std::string message = testing::ReadFile(dir.File("termination-log"));
    EXPECT_NE(message.find(want), std::string::npos) << message;
    EXPECT_NE(message.find("node amd-01"), std::string::npos) << message;
    EXPECT_NE(message.find("tonistiigi/binfmt --install arm64"), std::string::npos) << message;
    EXPECT_NE(message.find("builder.binfmtImage"), std::string::npos) << message;
    EXPECT_LE(message.size(), 4096u);
  };
  expect_failure("binfmt_misc is not mounted there");
  testing::WriteFile(binfmt + "/status", "enabled\n");
  expect_failure("has no QEMU handler for linux/arm64 (/proc/sys/fs/binfmt_misc/qemu-aarch64 is missing)");
  testing::WriteFile(binfmt + "/qemu-aarch64",
                     "disabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\nmagic 7f454c46\n");
  expect_failure("the QEMU handler qemu-aarch64 for linux/arm64 is disabled");
  testing::WriteFile(binfmt + "/qemu-aarch64", "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: \noffset 0\n");
  expect_failure("was registered without the F flag");

  // As tonistiigi/binfmt registers it (flags CF): the check passes.
  testing::WriteFile(binfmt + "/qemu-aarch64", "enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: CF\noffset 0\n");
  auto ok = RunCheck(job, dir, binfmt, never_native);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("emulates linux/arm64 with qemu-aarch64"), std::string::npos) << ok.output;
}

TEST(EmulationCheck, NeedsNoHandlerOnANativeNodeOrForADockerfileWithoutRun) {
  testing::TempDir dir("archway-emulation");
  const std::string empty = dir.File("empty-binfmt");
  testing::RunCommand({"mkdir", "-p", empty});
  MultiArchImage copy_only = Example("FROM debian:12\nCOPY app /app\n# RUN is only a comment here\n", dir);
  nlohmann::json job = BuildJob(copy_only, registry::ParsePlatform("linux/arm64").value(), OperatorConfig{}, true);
  auto r = RunCheck(job, dir, empty, "no-such-machine");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("has no RUN step"), std::string::npos) << r.output;

  MultiArchImage with_run = Example("FROM debian:12\nRUN true\n", dir);
  nlohmann::json native = BuildJob(with_run, registry::ParsePlatform("linux/arm64").value(), OperatorConfig{}, true);
  auto here = RunCheck(native, dir, empty, Machine());  // the node turns out to be of the platform
  EXPECT_EQ(here.exit_code, 0) << here.output;
  EXPECT_NE(here.output.find("natively"), std::string::npos) << here.output;
}

TEST(BuildahJob, TheBuildReportsItsBaseInTheTerminationMessage) {
  testing::TempDir dir("archway-buildah-job");
  MultiArchImage mai = Example("FROM debian:12\n", dir);
  nlohmann::json job = BuildJob(mai, registry::ParsePlatform("linux/arm64").value(), OperatorConfig{}, false);
  const nlohmann::json& build = job["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(build["terminationMessagePolicy"], "File");
  const std::string script = build["command"][2];
  EXPECT_NE(script.find("org.opencontainers.image.base.name"), std::string::npos);
  EXPECT_NE(script.find("/dev/termination-log"), std::string::npos);
  // The script parses as POSIX sh.
  auto parsed = testing::RunCommand({"sh", "-n", "-c", script});
  EXPECT_EQ(parsed.exit_code, 0) << parsed.output;
  const nlohmann::json* check = nullptr;
  nlohmann::json emulated = BuildJob(mai, registry::ParsePlatform("linux/arm64").value(), OperatorConfig{}, true);
  check = InitContainer(emulated, "emulation-check");
  ASSERT_NE(check, nullptr);
  auto check_parsed = testing::RunCommand({"sh", "-n", "-c", (*check)["command"][2]});
  EXPECT_EQ(check_parsed.exit_code, 0) << check_parsed.output;
}

TEST(BuildahJob, RunNamesCarryTheBaseDigestsOfARebuild) {
  testing::TempDir dir("archway-buildah-job");
  MultiArchImage mai = Example("FROM debian:12\n", dir);
  const std::string spec_hash = SpecHash(mai.spec_json);
  EXPECT_EQ(RunHash(mai.spec_json, {}), spec_hash) << "a spec's first run keeps the names it always had";
  const std::string a = RunHash(mai.spec_json, {"debian:12 linux/amd64 sha256:1", "debian:12 linux/arm64 sha256:2"});
  EXPECT_EQ(a, RunHash(mai.spec_json, {"debian:12 linux/arm64 sha256:2", "debian:12 linux/amd64 sha256:1"}));
  EXPECT_NE(a, RunHash(mai.spec_json, {"debian:12 linux/amd64 sha256:1", "debian:12 linux/arm64 sha256:3"}));
  EXPECT_NE(a, spec_hash);
  EXPECT_EQ(a.size(), 8u);
  nlohmann::json job = BuildJob(mai, registry::ParsePlatform("linux/arm64").value(), OperatorConfig{}, false, a);
  EXPECT_EQ(job["metadata"]["name"], "api-linux-arm64-" + a);
  EXPECT_EQ(job["metadata"]["labels"]["archway.dev/spec-hash"], spec_hash);
}

}  // namespace
}  // namespace archway::op

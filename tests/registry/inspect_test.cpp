// `archway inspect` end to end: the real binary against real registries — output, --json,
// --platform-only, credentials from a Docker config and from registries.yaml, and the
// one-line failures with their exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/fixtures.h"
#include "tests/support/process.h"
#include "tests/support/registry_server.h"

namespace archway {
namespace {

using archway::testing::CommandResult;
using archway::testing::RegistryAuth;
using archway::testing::RegistryServer;
using archway::testing::RegistryServerOptions;
using archway::testing::RunCommand;
using archway::testing::TempDir;

class InspectTest : public ::testing::Test {
 protected:
  // The machine's own ~/.docker/config.json and registries.yaml must not leak in.
  CommandResult Inspect(std::vector<std::string> args, const std::string& docker_config = "",
                        const std::string& registries = "") {
    args.insert(args.begin(), {ARCHWAY_BINARY, "inspect", "--docker-config",
                               docker_config.empty() ? dir_.File("absent.json") : docker_config, "--registries",
                               registries.empty() ? dir_.File("absent.yaml") : registries});
    return RunCommand(args, std::chrono::seconds(60));
  }

  TempDir dir_{"archway-inspect-test"};
};

bool IsOneLine(const std::string& text) {
  return !text.empty() && text.back() == '\n' && text.find('\n') == text.size() - 1;
}

TEST_F(InspectTest, PrintsPlatformsDigestAndMediaType) {
  RegistryServer registry;
  std::string digest =
      archway::testing::BuildahManifestList(registry, "app/multi:1", {"linux/amd64", "linux/arm64", "linux/arm/v7"});
  std::string ref = registry.host() + "/app/multi:1";

  auto human = Inspect({ref});
  ASSERT_EQ(human.exit_code, 0) << human.output;
  EXPECT_NE(human.output.find("digest      " + digest + "\n"), std::string::npos) << human.output;
  EXPECT_NE(human.output.find("media type  application/vnd.oci.image.index.v1+json\n"), std::string::npos) << human.output;
  EXPECT_NE(human.output.find("platform    linux/amd64\nplatform    linux/arm/v7\nplatform    linux/arm64\n"),
            std::string::npos)
      << human.output;

  registry.ResetRequests();
  auto json_run = Inspect({ref, "--json"});
  ASSERT_EQ(json_run.exit_code, 0) << json_run.output;
  auto parsed = nlohmann::json::parse(json_run.output);
  EXPECT_EQ(parsed["reference"], ref);
  EXPECT_EQ(parsed["digest"], digest);
  EXPECT_EQ(parsed["mediaType"], "application/vnd.oci.image.index.v1+json");
  EXPECT_EQ(parsed["platforms"], nlohmann::json({"linux/amd64", "linux/arm/v7", "linux/arm64"}));
  EXPECT_EQ(parsed["dataOnly"], false);
  EXPECT_EQ(parsed["registryRequests"], 1);
  EXPECT_EQ(registry.CountRequests("", ".*"), 1) << registry.DescribeRequests();

  auto only = Inspect({ref, "--platform-only"});
  ASSERT_EQ(only.exit_code, 0) << only.output;
  EXPECT_EQ(only.output, "linux/amd64\nlinux/arm/v7\nlinux/arm64\n");
}

TEST_F(InspectTest, SingleImageByDigest) {
  RegistryServer registry;
  std::string digest = archway::testing::BuildahImage(registry, "app/one:1", "linux/arm/v7");
  auto run = Inspect({registry.host() + "/app/one@" + digest, "--platform-only"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "linux/arm/v7\n");
}

TEST_F(InspectTest, NotFoundIsOneLineAndExitOne) {
  RegistryServer registry;
  std::string ref = registry.host() + "/app/missing:1";
  auto run = Inspect({ref});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(IsOneLine(run.output)) << run.output;
  EXPECT_EQ(run.output.rfind("archway: inspect " + ref + ": not found: ", 0), 0u) << run.output;
}

TEST_F(InspectTest, UnauthorizedUntilCredentialsAreGiven) {
  RegistryServerOptions options;
  options.auth = RegistryAuth::kHtpasswd;
  options.users = {{"ci", "s3cret"}};
  RegistryServer registry(options);
  archway::testing::BuildahImage(registry, "team/app:1", "linux/arm64");
  std::string ref = registry.host() + "/team/app:1";

  auto denied = Inspect({ref});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_TRUE(IsOneLine(denied.output)) << denied.output;
  EXPECT_EQ(denied.output.rfind("archway: inspect " + ref + ": unauthorized", 0), 0u) << denied.output;
  EXPECT_EQ(denied.output.find("s3cret"), std::string::npos);

  // Docker's config.json ...
  archway::testing::WriteFile(dir_.File("config.json"),
                              R"({"auths":{")" + registry.host() + R"(":{"auth":"Y2k6czNjcmV0"}}})");  // ci:s3cret
  auto with_docker_config = Inspect({ref, "--platform-only"}, dir_.File("config.json"));
  ASSERT_EQ(with_docker_config.exit_code, 0) << with_docker_config.output;
  EXPECT_EQ(with_docker_config.output, "linux/arm64\n");

  // ... or k3s's registries.yaml.
  archway::testing::WriteFile(dir_.File("registries.yaml"), "configs:\n  \"" + registry.host() +
                                                                "\":\n    auth:\n      username: ci\n      password: s3cret\n");
  auto with_registries = Inspect({ref, "--platform-only"}, "", dir_.File("registries.yaml"));
  ASSERT_EQ(with_registries.exit_code, 0) << with_registries.output;
  EXPECT_EQ(with_registries.output, "linux/arm64\n");
}

TEST_F(InspectTest, BadReferenceAndNetworkFailures) {
  auto bad = Inspect({"Registry.lan/Web:1.4"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(IsOneLine(bad.output)) << bad.output;
  EXPECT_EQ(bad.output.rfind("archway: inspect Registry.lan/Web:1.4: invalid reference", 0), 0u) << bad.output;

  std::string dead = "127.0.0.1:" + std::to_string(archway::testing::FreePort()) + "/app/web:1";
  auto network = Inspect({dead});
  EXPECT_EQ(network.exit_code, 1);
  EXPECT_TRUE(IsOneLine(network.output)) << network.output;
  EXPECT_EQ(network.output.rfind("archway: inspect " + dead + ": network", 0), 0u) << network.output;
}

TEST_F(InspectTest, UsageErrorsExitTwo) {
  auto none = RunCommand({ARCHWAY_BINARY, "inspect"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.output.find("missing IMAGE"), std::string::npos) << none.output;
  auto unknown = RunCommand({ARCHWAY_BINARY, "inspect", "nginx", "--frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("unknown flag --frobnicate"), std::string::npos) << unknown.output;
  auto two = RunCommand({ARCHWAY_BINARY, "inspect", "a", "b"});
  EXPECT_EQ(two.exit_code, 2);
  auto help = RunCommand({ARCHWAY_BINARY, "inspect", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--registries FILE"), std::string::npos) << help.output;
}

}  // namespace
}  // namespace archway

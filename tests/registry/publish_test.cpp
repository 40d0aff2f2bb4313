// `archway publish` end to end: the real binary, images from buildah, the result read by
// skopeo; output and --json, re-runs, --dry-run, --annotation, --platform, and the
// one-line failures with their exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/fixtures.h"
#include "tests/support/process.h"
#include "tests/support/registry_server.h"

namespace archway {
namespace {

using archway::testing::CommandResult;
using archway::testing::RegistryServer;
using archway::testing::RunCommand;
using archway::testing::TempDir;
using json = nlohmann::json;

class PublishCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (std::string platform : {"linux/amd64", "linux/arm64"}) {
      std::string repo = "src/" + platform.substr(6) + ":1";
      buildah_.Push(buildah_.Build(platform), registry_, repo);
      sources_.push_back(registry_.host() + "/" + repo);
    }
  }

  CommandResult Publish(std::vector<std::string> args) {
    args.insert(args.begin(), {ARCHWAY_BINARY, "publish", "--docker-config", dir_.File("absent.json"), "--registries",
                               dir_.File("absent.yaml")});
    return RunCommand(args, std::chrono::seconds(60));
  }
  std::vector<std::string> WithSources(std::vector<std::string> args) {
    args.insert(args.begin() + 1, sources_.begin(), sources_.end());
    return args;
  }
  int Writes() {
    return registry_.CountRequests("PUT", ".*") + registry_.CountRequests("POST", ".*") +
           registry_.CountRequests("PATCH", ".*");
  }

  TempDir dir_{"archway-publish-test"};
  RegistryServer registry_;
  archway::testing::Buildah buildah_;
  std::vector<std::string> sources_;
};

std::string LastLine(const std::string& output) {
  std::string trimmed = output.substr(0, output.find_last_not_of('\n') + 1);
  return trimmed.substr(trimmed.rfind('\n') + 1);
}

TEST_F(PublishCommandTest, PublishesPrintsTheDigestAndRerunsWithoutWrites) {
  std::string target = registry_.host() + "/app/web:1.4";
  auto first = Publish(WithSources({target, "--annotation", "org.opencontainers.image.version=1.4"}));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  std::string digest = LastLine(first.output);
  ASSERT_EQ(digest.rfind("sha256:", 0), 0u) << first.output;
  EXPECT_NE(first.output.find("linux/arm64"), std::string::npos) << first.output;

  auto raw = RunCommand({"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + target});
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  json index = json::parse(raw.output);
  EXPECT_EQ(index["manifests"].size(), 2u);
  EXPECT_EQ(index["annotations"]["org.opencontainers.image.version"], "1.4");

  registry_.ResetRequests();
  auto again = Publish(WithSources({target, "--annotation", "org.opencontainers.image.version=1.4", "--json"}));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  json out = json::parse(again.output);
  EXPECT_EQ(out["digest"], digest);
  EXPECT_EQ(out["mediaType"], "application/vnd.oci.image.index.v1+json");
  EXPECT_EQ(out["writes"], 0);
  ASSERT_EQ(out["entries"].size(), 2u);
  EXPECT_EQ(out["entries"][0]["platform"], "linux/amd64");
  EXPECT_EQ(out["entries"][0]["source"], sources_[0]);
  EXPECT_EQ(Writes(), 0) << registry_.DescribeRequests();
}

TEST_F(PublishCommandTest, DryRunWritesNothing) {
  std::string target = registry_.host() + "/app/web:dry";
  registry_.ResetRequests();
  auto dry = Publish(WithSources({target, "--dry-run", "--json"}));
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_EQ(json::parse(dry.output)["dryRun"], true);
  EXPECT_EQ(Writes(), 0) << registry_.DescribeRequests();
  auto absent = RunCommand({"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + target});
  EXPECT_NE(absent.exit_code, 0) << absent.output;
}

TEST_F(PublishCommandTest, PlatformFilterOnAListSource) {
  archway::testing::BuildahManifestList(registry_, "src/list:1", {"linux/amd64", "linux/arm/v7", "linux/s390x"});
  auto run = Publish({registry_.host() + "/app/filtered:1", registry_.host() + "/src/list:1", "--platform", "linux/arm/v7",
                      "--platform", "linux/s390x", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  json out = json::parse(run.output);
  ASSERT_EQ(out["entries"].size(), 2u);
  EXPECT_EQ(out["entries"][0]["platform"], "linux/arm/v7");
  EXPECT_EQ(out["entries"][1]["platform"], "linux/s390x");
}

TEST_F(PublishCommandTest, FailuresAreOneLineWithExitOne) {
  std::string target = registry_.host() + "/app/web:1";
  std::string missing = registry_.host() + "/src/nothing:1";
  auto not_found = Publish({target, sources_[0], missing});
  EXPECT_EQ(not_found.exit_code, 1);
  EXPECT_EQ(not_found.output.rfind("archway: publish " + target + ": not found: source " + missing + ": ", 0), 0u)
      << not_found.output;
  EXPECT_EQ(not_found.output.find('\n'), not_found.output.size() - 1) << not_found.output;

  auto duplicate = Publish({target, sources_[0], sources_[0]});
  EXPECT_EQ(duplicate.exit_code, 1);
  EXPECT_NE(duplicate.output.find("platform linux/amd64 is provided by both"), std::string::npos) << duplicate.output;

  auto docker = Publish(WithSources({target, "--format", "docker"}));
  EXPECT_EQ(docker.exit_code, 1);
  EXPECT_NE(docker.output.find("--format docker"), std::string::npos) << docker.output;
}

TEST_F(PublishCommandTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Publish({}).exit_code, 2);
  auto no_source = Publish({registry_.host() + "/app/web:1"});
  EXPECT_EQ(no_source.exit_code, 2);
  EXPECT_NE(no_source.output.find("missing SOURCE"), std::string::npos) << no_source.output;
  auto format = Publish(WithSources({registry_.host() + "/app/web:1", "--format", "zip"}));
  EXPECT_EQ(format.exit_code, 2);
  EXPECT_NE(format.output.find("--format must be oci or docker"), std::string::npos) << format.output;
  auto platform = Publish(WithSources({registry_.host() + "/app/web:1", "--platform", "amd64"}));
  EXPECT_EQ(platform.exit_code, 2);
  EXPECT_NE(platform.output.find("invalid platform"), std::string::npos) << platform.output;
  auto annotation = Publish(WithSources({registry_.host() + "/app/web:1", "--annotation", "novalue"}));
  EXPECT_EQ(annotation.exit_code, 2);
}

}  // namespace
}  // namespace archway

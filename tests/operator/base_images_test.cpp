// What builds report about their base images, what a base's tag holds, and what the
// pods of a finished Job say (base_images.h, job_report.h).
#include "operator/base_images.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "operator/job_report.h"
#include "tests/operator/openapi_validator.h"

namespace archway::op {
namespace {

const std::string kRoot = ARCHWAY_SOURCE_DIR;
std::string Digest(char c) { return "sha256:" + std::string(64, c); }
registry::Platform P(const std::string& text) { return registry::ParsePlatform(text).value(); }

TEST(BaseReport, WhatBuildahWrote) {
  auto one = ParseBaseReport(R"({"baseImages":[{"name":"docker.io/library/debian:12-slim","digest":")" + Digest('b') +
                             R"("}]})" "\n");
  ASSERT_TRUE(one.ok()) << one.error().message;
  ASSERT_EQ(one->bases.size(), 1u);
  EXPECT_EQ(one->bases[0].image, "docker.io/library/debian:12-slim");
  EXPECT_EQ(one->bases[0].digest, Digest('b'));
  auto scratch = ParseBaseReport(R"({"baseImages":[]})");
  ASSERT_TRUE(scratch.ok());
  EXPECT_TRUE(scratch->bases.empty());
}

TEST(BaseReport, ANameQuotedInTheErrorIsCutBetweenCharacters) {
  // Found with fuzz_operator_reconcile (corpus: utf8-base-report-name.json): the quoted name
  // was cut at byte 200 inside "é", and the status carrying the message could not be written.
  std::string name = "x";
  for (int i = 0; i < 150; ++i) name += "\xC3\xA9";
  auto report = ParseBaseReport(R"({"baseImages":[{"name":")" + name + R"(","digest":")" + Digest('b') + R"("}]})");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("names \"x\xC3\xA9"), std::string::npos);
  EXPECT_NO_THROW((void)nlohmann::json(report.error().message).dump());
}

TEST(BaseReport, WhatCannotBeUsedSaysWhy) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "is missing (the Job's termination message is empty)"},
      {"exec format error", "is not a JSON object"},
      {R"({"error":"buildah recorded no org.opencontainers.image.base.name annotation"})",
       "the build could not report its base image: buildah recorded no"},
      {R"({"error":5})", "has an error that is not a string"},
      {R"({"bases":[]})", "has no baseImages list"},
      {R"({"baseImages":["debian"]})", "entry that is not an object"},
      {R"({"baseImages":[{"name":"debian:12"}]})", "without a name and a digest"},
      {R"({"baseImages":[{"name":"not a ref","digest":")" + Digest('b') + R"("}]})", "names \"not a ref\""},
      {R"({"baseImages":[{"name":"debian:12","digest":"md5:abc"}]})", "gives \"md5:abc\", not a sha256 digest"},
      {std::string(5000, ' '), "longer than the termination message limit"},
  };
  for (const auto& [message, want] : cases) {
    auto r = ParseBaseReport(message);
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_NE(r.error().message.find(want), std::string::npos) << r.error().message;
  }
}

TEST(ResolvedBase, APlatformTakesItsListEntryOrAnOlderArmVariant) {
  ResolvedBase list{Digest('f'), true, {{"linux/amd64", Digest('a')}, {"linux/arm/v6", Digest('6')}}, {}};
  EXPECT_EQ(list.DigestFor(P("linux/amd64")), Digest('a'));
  EXPECT_EQ(list.DigestFor(P("linux/arm/v7")), Digest('6'));  // arm/v7 pulls the arm/v6 entry
  EXPECT_EQ(list.DigestFor(P("linux/arm64")), "");
  ResolvedBase single{Digest('1'), false, {}, {}};
  EXPECT_EQ(single.DigestFor(P("linux/arm64")), Digest('1'));
}

TEST(JobReport, TheBuildsMessageAndWhereItRan) {
  JobReport r = ReadJobReport({optest::LoadJsonFile(kRoot + "/tests/operator/testdata/pod-build-succeeded.json")});
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.node, "pi-01");
  auto parsed = ParseBaseReport(r.build_message);
  ASSERT_TRUE(parsed.ok()) << r.build_message;
  EXPECT_EQ(parsed->bases[0].image, "docker.io/library/debian:12-slim");
  EXPECT_EQ(r.emulation_message, "");
}

TEST(JobReport, AFailedEmulationCheckFromAnyRetryNewestFirst) {
  nlohmann::json failed = optest::LoadJsonFile(kRoot + "/tests/operator/testdata/pod-emulation-check-failed.json");
  nlohmann::json older = failed;
  older["metadata"]["creationTimestamp"] = "2026-11-23T15:10:00Z";
  older["status"]["initContainerStatuses"][1]["state"]["terminated"]["message"] = "older";
  nlohmann::json newest = failed;
  newest["metadata"]["creationTimestamp"] = "2026-11-23T15:20:00Z";
  newest["status"]["initContainerStatuses"][1]["state"] = {{"running", {{"startedAt", "2026-11-23T15:20:01Z"}}}};
  JobReport r = ReadJobReport({older, newest, failed});
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.build_message, "");
  EXPECT_NE(r.emulation_message.find("has no QEMU handler for linux/arm64"), std::string::npos) << r.emulation_message;
  EXPECT_FALSE(ReadJobReport({}).found);
  // Pods of odd shapes read as nothing said.
  JobReport odd = ReadJobReport({nlohmann::json{{"status", {{"containerStatuses", "x"}}}}, nlohmann::json::array(),
                                 nlohmann::json{{"status", {{"containerStatuses", {{{"name", "build"}, {"state", 1}}}}}}}});
  EXPECT_TRUE(odd.found);
  EXPECT_EQ(odd.build_message, "");
}

}  // namespace
}  // namespace archway::op

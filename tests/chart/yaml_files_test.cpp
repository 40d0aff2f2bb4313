// Every YAML file users or Kubernetes read parses: crds/ (and its examples), the chart's
// non-template files, docs/ and any CI configuration. Chart templates are Go templates
// (checked by rendering them in chart_test.cpp); tests/ is left out because test fixtures
// may be malformed on purpose.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/chart/chart_support.h"

namespace archway::charttest {
namespace {

bool Skipped(const std::filesystem::path& relative) {
  std::vector<std::string> parts;
  for (const auto& part : relative) parts.push_back(part.string());
  const std::string& first = parts.front();
  if (first == "tests" || first.rfind("build", 0) == 0) return true;
  if (first[0] == '.' && first != ".github" && first != ".gitlab" && first != ".gitlab-ci.yml") return true;
  return parts.size() >= 3 && first == "charts" && parts[2] == "templates";
}

std::vector<std::filesystem::path> YamlFiles() {
  std::vector<std::filesystem::path> files;
  const auto root = SourceDir();
  for (auto it = std::filesystem::recursive_directory_iterator(root); it != std::filesystem::recursive_directory_iterator();
       ++it) {
    const auto relative = std::filesystem::relative(it->path(), root);
    if (Skipped(relative)) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    const auto ext = it->path().extension().string();
    if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(relative);
  }
  return files;
}

TEST(YamlFiles, EveryYamlFileParses) {
  const auto files = YamlFiles();
  bool crd = false, values = false, chart = false;
  for (const auto& file : files) {
    SCOPED_TRACE(file.string());
    crd |= file == "crds/archway.dev_multiarchimages.yaml";
    values |= file == "charts/archway/values.yaml";
    chart |= file == "charts/archway/Chart.yaml";
    try {
      const auto docs = YAML::LoadAll(ReadFile(SourceDir() / file));
      EXPECT_FALSE(docs.empty()) << "empty YAML file";
      for (const auto& doc : docs) EXPECT_TRUE(doc.IsMap() || doc.IsNull()) << "top level is not a mapping";
    } catch (const YAML::Exception& e) {
      ADD_FAILURE() << file << ": " << e.what();
    }
  }
  EXPECT_TRUE(crd && values && chart) << "the walk missed files it must cover";
}

// The examples are MultiArchImage objects the CRD accepts in shape: apiVersion, kind, and
// exactly one of spec.sources / spec.build (the CRD's CEL rule).
TEST(YamlFiles, ExamplesAreMultiArchImages) {
  const auto dir = SourceDir() / "crds" / "examples";
  ASSERT_TRUE(std::filesystem::is_directory(dir));
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().filename().string());
    for (const auto& doc : YAML::LoadAll(ReadFile(entry.path()))) {
      if (!doc.IsMap()) continue;
      ++examples;
      EXPECT_EQ(doc["apiVersion"].as<std::string>(""), "archway.dev/v1alpha1");
      EXPECT_EQ(doc["kind"].as<std::string>(""), "MultiArchImage");
      EXPECT_FALSE(doc["spec"]["image"].as<std::string>("").empty());
      EXPECT_TRUE(doc["spec"]["platforms"].IsSequence());
      EXPECT_NE(static_cast<bool>(doc["spec"]["sources"]), static_cast<bool>(doc["spec"]["build"]));
    }
  }
  EXPECT_GE(examples, 2);
}

}  // namespace
}  // namespace archway::charttest

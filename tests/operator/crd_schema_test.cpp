// The CRD's schema rejects bad specs the way the API would, and accepts the examples.
#include <fstream>
#include <memory>

#include <gtest/gtest.h>

#include "tests/operator/openapi_validator.h"

namespace archway::optest {
namespace {

using Json = nlohmann::json;

const std::string kRoot = ARCHWAY_SOURCE_DIR;

Json Crd() { return LoadYamlFile(kRoot + "/crds/archway.dev_multiarchimages.yaml"); }
Json Schema() { return Crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]; }
Json Testdata(const std::string& name) { return LoadJsonFile(kRoot + "/tests/operator/testdata/" + name); }

std::string Describe(const std::vector<SchemaCause>& causes) {
  std::string out;
  for (const auto& c : causes) out += c.field + ": " + c.message + "\n";
  return out;
}

bool HasCause(const std::vector<SchemaCause>& causes, const std::string& field, const std::string& message_part) {
  for (const auto& c : causes)
    if (c.field == field && c.message.find(message_part) != std::string::npos) return true;
  return false;
}

Json ValidSources() {
  return Json::parse(R"({"apiVersion":"archway.dev/v1alpha1","kind":"MultiArchImage","metadata":{"name":"web"},
    "spec":{"image":"registry.lan:5000/web:1.4","platforms":["linux/amd64","linux/arm64"],
            "sources":[{"image":"registry.lan:5000/web:1.4-amd64"}]}})");
}

TEST(CrdSchema, NamesScopeAndSubresources) {
  Json crd = Crd();
  EXPECT_EQ(crd["metadata"]["name"], "multiarchimages.archway.dev");
  EXPECT_EQ(crd["spec"]["group"], "archway.dev");
  EXPECT_EQ(crd["spec"]["scope"], "Namespaced");
  EXPECT_EQ(crd["spec"]["names"]["kind"], "MultiArchImage");
  EXPECT_EQ(crd["spec"]["names"]["shortNames"], Json::array({"mai"}));
  const Json& version = crd["spec"]["versions"][0];
  EXPECT_EQ(version["name"], "v1alpha1");
  EXPECT_TRUE(version["served"].get<bool>());
  EXPECT_TRUE(version["storage"].get<bool>());
  EXPECT_TRUE(version["subresources"].contains("status"));
}

TEST(CrdSchema, PrinterColumnsMatchWhatKubectlPrinted) {
  // kubectl-get-mai.txt was printed by a real apiserver from requests/crd.yaml's columns.
  Json columns = Crd()["spec"]["versions"][0]["additionalPrinterColumns"];
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& c : columns) got.emplace_back(c["name"], c["jsonPath"]);
  std::vector<std::pair<std::string, std::string>> want = {{"Image", ".spec.image"},
                                                           {"Platforms", ".spec.platforms"},
                                                           {"Phase", ".status.phase"},
                                                           {"Digest", ".status.digest"},
                                                           {"Age", ".metadata.creationTimestamp"},
                                                           {"Bases", ".status.baseImages[*].image"},
                                                           {"Base-Rebuild", ".status.lastBaseRebuild.time"}};
  EXPECT_EQ(got, want);
  // The two base-image columns are for -o wide only; plain kubectl get prints the rest.
  for (const auto& c : columns) EXPECT_EQ(c.value("priority", 0), c["name"] == "Bases" || c["name"] == "Base-Rebuild");
  want.resize(5);
  std::string header;
  std::getline(*std::make_unique<std::ifstream>(kRoot + "/tests/operator/testdata/kubectl-get-mai.txt"), header);
  for (const auto& [name, path] : want) {
    std::string upper = name;
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    EXPECT_NE(header.find(upper), std::string::npos) << upper;
  }
}

TEST(CrdSchema, PlatformPatternIsTheOneTheApiEnforced) {
  // The real 422 quotes the pattern it enforced; ours must be the same.
  std::string message = Testdata("status-422-mai-bad-platform.json")["details"]["causes"][0]["message"];
  std::string pattern = Schema()["properties"]["spec"]["properties"]["platforms"]["items"]["pattern"];
  EXPECT_NE(message.find("'" + pattern + "'"), std::string::npos) << message;
}

TEST(CrdSchema, ExamplesAreValid) {
  for (const char* name : {"sources-mode.yaml", "build-mode.yaml", "build-follow-bases.yaml"}) {
    Json example = LoadYamlFile(kRoot + "/crds/examples/" + name);
    auto causes = ValidateSchema(Schema(), example);
    EXPECT_TRUE(causes.empty()) << name << "\n" << Describe(causes);
  }
}

TEST(CrdSchema, BadPlatformRejectedAsTheApiDid) {
  Json bad = Testdata("mai-bad2.json");
  bad["spec"]["sources"] = Json::array({{{"image", "registry.lan:5000/web:1.4-amd64"}}});
  auto causes = ValidateSchema(Schema(), bad);
  Json want = Testdata("status-422-mai-bad-platform.json")["details"]["causes"][0];
  ASSERT_EQ(causes.size(), 1u) << Describe(causes);
  EXPECT_EQ(causes[0].field, want["field"]);
  EXPECT_EQ(causes[0].message, want["message"]);
}

TEST(CrdSchema, OverlongPlatformIsRejectedBeforeItNamesAJob) {
  // Job names (63 characters) and child tags are derived from each platform, so the API
  // refuses platforms that the operator could not name a Job after (found by fuzzing).
  Json example = LoadYamlFile(kRoot + "/crds/examples/build-mode.yaml");
  example["spec"]["platforms"][0] = "linux/" + std::string(60, 'z');
  example["spec"]["build"].erase("platformOverrides");  // it names platforms[2], not [0]
  auto causes = ValidateSchema(Schema(), example);
  ASSERT_EQ(causes.size(), 1u) << Describe(causes);
  EXPECT_EQ(causes[0].field, "spec.platforms[0]");
  // v1.28's wording, checked against the real apiserver in tests/apiserver (v1.31+ says
  // "Too long: may not be more than 40 bytes").
  EXPECT_EQ(causes[0].message, "Too long: may not be longer than 40");
}

TEST(CrdSchema, MultipleCausesMatchTheApi) {
  // The object the real apiserver answered status-422-mai-multiple-causes.json for.
  Json bad = Json::parse(R"({"apiVersion":"archway.dev/v1alpha1","kind":"MultiArchImage","metadata":{"name":"bad"},
    "spec":{"platforms":["linux/amd64","Linux/ARM64","arm64"],"format":"zip","sources":[{"image":"x"}]}})");
  auto causes = ValidateSchema(Schema(), bad);
  const Json sample = Testdata("status-422-mai-multiple-causes.json");
  for (const auto& want : sample["details"]["causes"]) {
    EXPECT_TRUE(HasCause(causes, want["field"], want["message"])) << want.dump() << "\n" << Describe(causes);
  }
}

TEST(CrdSchema, ExactlyOneOfSourcesOrBuild) {
  Json both = ValidSources();
  both["spec"]["build"] = {{"git", {{"url", "https://git.lan/web.git"}}}};
  EXPECT_TRUE(HasCause(ValidateSchema(Schema(), both), "spec", "exactly one of spec.sources or spec.build"));
  Json neither = ValidSources();
  neither["spec"].erase("sources");
  EXPECT_TRUE(HasCause(ValidateSchema(Schema(), neither), "spec", "exactly one of spec.sources or spec.build"));
  EXPECT_TRUE(ValidateSchema(Schema(), ValidSources()).empty());
}

TEST(CrdSchema, EnumsAndRequiredFields) {
  Json build = LoadYamlFile(kRoot + "/crds/examples/build-mode.yaml");
  build["spec"]["build"]["emulation"] = "Sometimes";
  build["spec"]["build"]["strategy"] = "kaniko";
  build["spec"]["build"]["git"].erase("url");
  auto causes = ValidateSchema(Schema(), build);
  EXPECT_TRUE(HasCause(causes, "spec.build.emulation", "Unsupported value: \"Sometimes\"")) << Describe(causes);
  EXPECT_TRUE(HasCause(causes, "spec.build.strategy", "Unsupported value: \"kaniko\"")) << Describe(causes);
  EXPECT_TRUE(HasCause(causes, "spec.build.git.url", "Required value")) << Describe(causes);

  Json no_image = ValidSources();
  no_image["spec"].erase("image");
  EXPECT_TRUE(HasCause(ValidateSchema(Schema(), no_image), "spec.image", "Required value"));
  Json empty_platforms = ValidSources();
  empty_platforms["spec"]["platforms"] = Json::array();
  EXPECT_TRUE(HasCause(ValidateSchema(Schema(), empty_platforms), "spec.platforms", "at least 1 items"));
  Json typo = ValidSources();
  typo["spec"]["platfroms"] = Json::array({"linux/amd64"});
  EXPECT_TRUE(HasCause(ValidateSchema(Schema(), typo), "spec.platfroms", "unknown field"));
  Json variant_ok = ValidSources();
  variant_ok["spec"]["platforms"] = Json::array({"linux/arm/v7", "windows/amd64"});
  EXPECT_TRUE(ValidateSchema(Schema(), variant_ok).empty());
}

TEST(CrdSchema, BaseImageFields) {
  Json build = LoadYamlFile(kRoot + "/crds/examples/build-mode.yaml");
  Json both = build;
  both["spec"]["build"]["followBaseImages"] = true;
  EXPECT_TRUE(HasCause(ValidateSchema(Schema(), both), "spec.build",
                       "set spec.build.baseImages or spec.build.followBaseImages: true, not both"));
  Json follow_only = build;
  follow_only["spec"]["build"].erase("baseImages");
  follow_only["spec"]["build"]["followBaseImages"] = true;
  EXPECT_TRUE(ValidateSchema(Schema(), follow_only).empty()) << Describe(ValidateSchema(Schema(), follow_only));
  Json empty_list = both;
  empty_list["spec"]["build"]["baseImages"] = Json::array();
  EXPECT_TRUE(ValidateSchema(Schema(), empty_list).empty());

  Json bad = build;
  bad["spec"]["build"]["rebuildPolicy"] = "Daily";
  bad["spec"]["build"]["followBaseImages"] = "yes";
  bad["spec"]["build"]["baseImages"] = Json::array({"debian:12", "debian:12", ""});
  bad["spec"]["build"]["platformOverrides"]["linux/arm/v7"]["strategy"] = "kaniko";
  auto causes = ValidateSchema(Schema(), bad);
  EXPECT_TRUE(HasCause(causes, "spec.build.rebuildPolicy", "Unsupported value: \"Daily\"")) << Describe(causes);
  EXPECT_TRUE(HasCause(causes, "spec.build.followBaseImages", "must be of type boolean")) << Describe(causes);
  EXPECT_TRUE(HasCause(causes, "spec.build.baseImages[1]", "Duplicate value: \"debian:12\"")) << Describe(causes);
  EXPECT_TRUE(HasCause(causes, "spec.build.baseImages[2]", "at least 1 chars long")) << Describe(causes);
  EXPECT_TRUE(HasCause(causes, "spec.build.platformOverrides.linux/arm/v7.strategy", "Unsupported value: \"kaniko\""))
      << Describe(causes);
  Json many = build;
  many["spec"]["build"]["baseImages"] = Json::array();
  for (int i = 0; i < 17; ++i) many["spec"]["build"]["baseImages"].push_back("base" + std::to_string(i) + ":1");
  EXPECT_TRUE(HasCause(ValidateSchema(Schema(), many), "spec.build.baseImages", "Too many: 17: must have at most 16 items"));
  // No defaults for the new fields: an API default would change stored specs, and so
  // the Job names of resources that existed before.
  const Json props = Schema()["properties"]["spec"]["properties"]["build"]["properties"];
  for (const char* field : {"baseImages", "followBaseImages", "rebuildPolicy"})
    EXPECT_FALSE(props[field].contains("default")) << field;
}

TEST(CrdSchema, TheStatusTheOperatorWritesIsValid) {
  Json object = LoadYamlFile(kRoot + "/crds/examples/build-follow-bases.yaml");
  object["status"] = LoadYamlFile(kRoot + "/tests/operator/testdata/status-follow-bases.json");
  auto causes = ValidateSchema(Schema(), object);
  EXPECT_TRUE(causes.empty()) << Describe(causes);
}

}  // namespace
}  // namespace archway::optest

// base/config_keys: one key table read from YAML and from flags.
#include "base/config_keys.h"

#include <gtest/gtest.h>

namespace archway {
namespace {

struct Settings {
  std::string name = "default";
  std::string deep = "d";
  std::vector<std::string> items{"x"};
  bool cleared = false;
};

std::vector<ConfigKey> Keys(Settings& s) {
  auto text = [](std::string& field) {
    return [&field](const std::string& value) -> Status {
      if (value == "bad") return Error(ErrorCode::kInvalidArgument, "\"bad\" is not allowed");
      field = value;
      return Status::Ok();
    };
  };
  return {
      {.name = "name", .set = text(s.name), .flag_aliases = {"n"}},
      {.name = "a.b.deep", .set = text(s.deep)},
      {.name = "items",
       .set_list =
           [&s](std::vector<std::string> items) {
             s.items = std::move(items);
             return Status::Ok();
           },
       .set_null = [&s] { s.cleared = true; }},
  };
}

std::string YamlError(const std::string& yaml) {
  Settings s;
  Status status = ApplyConfigYaml(yaml, Keys(s));
  return status.ok() ? "<ok>" : status.error().message;
}

TEST(ConfigKeys, NestedMapsSpellTheKeyPath) {
  Settings s;
  ASSERT_TRUE(ApplyConfigYaml("name: n1\na: {b: {deep: v}}\nitems: [p, q]\n", Keys(s)).ok());
  EXPECT_EQ(s.name, "n1");
  EXPECT_EQ(s.deep, "v");
  EXPECT_EQ(s.items, (std::vector<std::string>{"p", "q"}));
}

TEST(ConfigKeys, NoValueKeepsTheDefaultUnlessTheKeySaysOtherwise) {
  Settings s;
  ASSERT_TRUE(ApplyConfigYaml("name:\na:\nitems: ~\n", Keys(s)).ok());
  EXPECT_EQ(s.name, "default");
  EXPECT_EQ(s.deep, "d");
  EXPECT_TRUE(s.cleared);
  EXPECT_TRUE(ApplyConfigYaml("", Keys(s)).ok());
}

TEST(ConfigKeys, ErrorsNameTheKey) {
  EXPECT_EQ(YamlError("nme: x\n"), "config: unknown key \"nme\"");
  EXPECT_EQ(YamlError("a: {b: {deeper: 1}}\n"), "config: unknown key \"a.b.deeper\"");
  EXPECT_EQ(YamlError("a: [1]\n"), "config key \"a\": expected a mapping (b)");
  EXPECT_EQ(YamlError("name: {x: 1}\n"), "config key \"name\": expected a single value");
  EXPECT_EQ(YamlError("name: bad\n"), "config key \"name\": \"bad\" is not allowed");
  EXPECT_EQ(YamlError("items: {x: 1}\n"), "config key \"items\": expected a list");
  EXPECT_EQ(YamlError("items: [[1]]\n"), "config key \"items\": expected a list of single values");
  EXPECT_EQ(YamlError("[1]\n"), "config: expected a mapping at the top level");
  EXPECT_EQ(YamlError("name: [\n").rfind("config: not valid YAML", 0), 0u);
}

TEST(ConfigKeys, FlagsMatchTheKeyInAnySpelling) {
  Settings s;
  ASSERT_TRUE(ApplyConfigFlags({"--config", "f.yaml", "--A-B-DEEP", "v", "--items=p,,q", "--n", "n2"}, Keys(s)).ok());
  EXPECT_EQ(s.deep, "v");
  EXPECT_EQ(s.items, (std::vector<std::string>{"p", "q"}));
  EXPECT_EQ(s.name, "n2");
  ASSERT_TRUE(ApplyConfigFlags({"--a.b_deep=w"}, Keys(s)).ok());
  EXPECT_EQ(s.deep, "w");
  EXPECT_EQ(ApplyConfigFlags({"--name", "bad"}, Keys(s)).error().message, "--name: \"bad\" is not allowed");
  EXPECT_EQ(ApplyConfigFlags({"--nope=1"}, Keys(s)).error().message, "unknown flag --nope (see --help)");
  EXPECT_EQ(ApplyConfigFlags({"--name"}, Keys(s)).error().message, "--name: missing value");
  EXPECT_EQ(ApplyConfigFlags({"name"}, Keys(s)).error().message, "unexpected argument \"name\"");
}

TEST(ConfigKeys, ReadConfigFileNamesAMissingFile) {
  auto text = ReadConfigFile("/nonexistent/archway.yaml");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code, ErrorCode::kNotFound);
  EXPECT_NE(text.error().message.find("/nonexistent/archway.yaml"), std::string::npos);
}

}  // namespace
}  // namespace archway

#include "registry/registries_config.h"

#include <gtest/gtest.h>

namespace archway::registry {
namespace {

TEST(RegistriesConfigTest, ParsesMirrorsRewritesAndConfigs) {
  const char* yaml = R"yaml(
mirrors:
  docker.io:
    endpoint:
      - "https://mirror.lan:5000"
      - "http://10.0.0.5:5000/v2"
    rewrite:
      "^library/(.*)": "mirrored/$1"
      "^(.*)$": "all/$1"
  "*":
    endpoint: ["https://catchall.lan"]
configs:
  "mirror.lan:5000":
    auth:
      username: u
      password: p
    tls:
      ca_file: /ca.pem
      cert_file: /c.pem
      key_file: /k.pem
  "registry.lan":
    auth:
      auth: dXNlcjpwYXNz
    tls:
      insecure_skip_verify: true
  tokenized.lan:
    auth: {token: abc, identity_token: idt}
)yaml";
  auto config = ParseRegistriesYaml(yaml);
  ASSERT_TRUE(config.ok()) << config.error().message;
  const Mirror& hub = config->mirrors.at("docker.io");
  ASSERT_EQ(hub.endpoints.size(), 2u);
  EXPECT_EQ(hub.endpoints[1], "http://10.0.0.5:5000/v2");
  ASSERT_EQ(hub.rewrites.size(), 2u);
  EXPECT_EQ(hub.rewrites[0].first, "^library/(.*)") << "rewrite order is the file's order";
  EXPECT_EQ(hub.rewrites[0].second, "mirrored/$1");
  EXPECT_EQ(config->mirrors.at("*").endpoints[0], "https://catchall.lan");
  const HostConfig& mirror = config->configs.at("mirror.lan:5000");
  EXPECT_EQ(mirror.auth->username, "u");
  EXPECT_EQ(mirror.tls.ca_file, "/ca.pem");
  EXPECT_EQ(mirror.tls.key_file, "/k.pem");
  EXPECT_TRUE(config->configs.at("registry.lan").tls.insecure_skip_verify);
  EXPECT_EQ(config->configs.at("registry.lan").auth->password, "pass");
  EXPECT_EQ(config->configs.at("tokenized.lan").auth->registry_token, "abc");
  EXPECT_EQ(config->configs.at("tokenized.lan").auth->identity_token, "idt");

  Keychain keychain = config->ToKeychain();
  EXPECT_EQ(keychain.Lookup("mirror.lan:5000")->password, "p");
  EXPECT_EQ(keychain.Lookup("registry.lan")->username, "user");
  EXPECT_EQ(keychain.size(), 3u);
}

TEST(RegistriesConfigTest, EmptyAndMissingAreEmpty) {
  auto empty = ParseRegistriesYaml("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->mirrors.empty());
  auto missing = LoadRegistriesYaml("/nonexistent/registries.yaml");
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->configs.empty());
  auto nulls = ParseRegistriesYaml("mirrors:\nconfigs:\n");
  ASSERT_TRUE(nulls.ok()) << nulls.error().message;
}

TEST(RegistriesConfigTest, ErrorsNameTheOffendingKey) {
  struct Case {
    const char* yaml;
    const char* key;
  };
  const Case cases[] = {
      {"- a\n- b\n", "(top level)"},
      {"mirror:\n  x: {}\n", "mirror"},
      {"mirrors:\n  docker.io:\n    endpoint: https://x\n", "mirrors.docker.io.endpoint"},
      {"mirrors:\n  docker.io:\n    endpoints: [a]\n", "mirrors.docker.io.endpoints"},
      {"mirrors:\n  docker.io:\n    rewrite: {\"(\": x}\n", "mirrors.docker.io.rewrite"},
      {"configs:\n  r:\n    tls:\n      insecure_skip_verify: maybe\n", "configs.r.tls.insecure_skip_verify"},
      {"configs:\n  r:\n    tls:\n      cert_file: /c\n", "configs.r.tls"},
      {"configs:\n  r:\n    auth:\n      auth: \"!!!\"\n", "configs.r.auth.auth"},
      {"configs:\n  r:\n    auth:\n      user: x\n", "configs.r.auth.user"},
      {"configs:\n  r:\n    auth:\n      username: [x]\n", "configs.r.auth.username"},
      {"mirrors: [\n", "registries.yaml"},
  };
  for (const auto& c : cases) {
    auto config = ParseRegistriesYaml(c.yaml);
    ASSERT_FALSE(config.ok()) << c.yaml;
    EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(config.error().message.find(c.key), std::string::npos) << c.yaml << " -> " << config.error().message;
  }
}

}  // namespace
}  // namespace archway::registry

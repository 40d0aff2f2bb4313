#include "registry/credentials.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "base/encoding.h"

namespace archway::registry {
namespace {

TEST(KeychainTest, ReadsAuthAndUsernamePasswordEntries) {
  std::string json = R"({"auths":{
      "registry.lan:5000":{"auth":")" + Base64Encode("ci:pa:ss") + R"("},
      "https://index.docker.io/v1/":{"username":"hub","password":"hubpw"},
      "ghcr.io":{"identitytoken":"refresh"},
      "empty.lan":{}
    },"credsStore":"desktop"})";
  auto keychain = Keychain::FromDockerConfigJson(json);
  ASSERT_TRUE(keychain.ok()) << keychain.error().message;
  auto lan = keychain->Lookup("registry.lan:5000");
  ASSERT_TRUE(lan.has_value());
  EXPECT_EQ(lan->username, "ci");
  EXPECT_EQ(lan->password, "pa:ss") << "only the first colon separates user and password";
  for (const char* hub : {"docker.io", "index.docker.io", "registry-1.docker.io"}) {
    auto auth = keychain->Lookup(hub);
    ASSERT_TRUE(auth.has_value()) << hub;
    EXPECT_EQ(auth->username, "hub");
  }
  EXPECT_EQ(keychain->Lookup("ghcr.io")->identity_token, "refresh");
  EXPECT_FALSE(keychain->Lookup("empty.lan").has_value()) << "an entry without credentials is skipped";
  EXPECT_FALSE(keychain->Lookup("registry.lan").has_value()) << "the port is part of the host";
  EXPECT_EQ(keychain->size(), 3u);
}

TEST(KeychainTest, ReadsLegacyDockercfgAndSecretBodies) {
  std::string dockercfg = R"({"registry.lan":{"auth":")" + Base64Encode("old:pw") + R"(","email":"a@b"}})";
  auto legacy = Keychain::FromDockerCfg(dockercfg);
  ASSERT_TRUE(legacy.ok()) << legacy.error().message;
  EXPECT_EQ(legacy->Lookup("registry.lan")->password, "pw");
  // A kubernetes.io/dockerconfigjson Secret's .dockerconfigjson is a config.json body.
  std::string secret_body = R"({"auths":{"registry.lan":{"username":"u","password":"p","auth":")" +
                            Base64Encode("u:p") + R"("}}})";
  auto secret = Keychain::FromDockerConfigJson(secret_body);
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(secret->Lookup("REGISTRY.lan")->username, "u");
}

TEST(KeychainTest, RejectsMalformedInputWithoutEchoingSecrets) {
  struct Case {
    std::string json;
    std::string reason;
  };
  const Case cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "not a JSON object"},
      {R"({"auths":[]})", "\"auths\" is not an object"},
      {R"({"auths":{"r":"x"}})", "not an object"},
      {R"({"auths":{"r":{"auth":5}}})", "auth is not a string"},
      {R"({"auths":{"r":{"auth":"%%%secret%%%"}}})", "not valid base64"},
      {R"({"auths":{"r":{"auth":")" + Base64Encode("nocolon") + R"("}}})", "user:password"},
  };
  for (const auto& c : cases) {
    auto k = Keychain::FromDockerConfigJson(c.json);
    ASSERT_FALSE(k.ok()) << c.json;
    EXPECT_EQ(k.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(k.error().message.find(c.reason), std::string::npos) << k.error().message;
    EXPECT_EQ(k.error().message.find("secret"), std::string::npos) << "never echo credential material";
    EXPECT_EQ(k.error().message.find("nocolon"), std::string::npos);
  }
}

TEST(KeychainTest, MergePrefersThisOverFallbackAndFingerprintsDiffer) {
  Keychain a;
  a.Add("registry.lan", AuthConfig{"alice", "1", "", ""});
  Keychain b;
  b.Add("registry.lan", AuthConfig{"bob", "2", "", ""});
  b.Add("other.lan", AuthConfig{"carol", "3", "", ""});
  Keychain merged = a.MergedOver(b);
  EXPECT_EQ(merged.Lookup("registry.lan")->username, "alice");
  EXPECT_EQ(merged.Lookup("other.lan")->username, "carol");

  EXPECT_EQ(Keychain().Fingerprint("registry.lan"), "");
  EXPECT_EQ(a.Fingerprint("registry.lan").size(), 64u);
  EXPECT_NE(a.Fingerprint("registry.lan"), b.Fingerprint("registry.lan"));
  Keychain same;
  same.Add("https://registry.lan/v2/", AuthConfig{"alice", "1", "", ""});
  EXPECT_EQ(a.Fingerprint("registry.lan"), same.Fingerprint("registry.lan"));
  // "ab"+"c" and "a"+"bc" must not collide.
  Keychain x, y;
  x.Add("r", AuthConfig{"ab", "c", "", ""});
  y.Add("r", AuthConfig{"a", "bc", "", ""});
  EXPECT_NE(x.Fingerprint("r"), y.Fingerprint("r"));
}

TEST(KeychainTest, FileLoadingAndDefaultPath) {
  auto missing = Keychain::FromDockerConfigFile("/nonexistent/archway/config.json");
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->empty());

  std::string dir = std::filesystem::temp_directory_path() / ("archway-keychain-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << "{broken";
  auto broken = Keychain::FromDockerConfigFile(dir + "/config.json");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find(dir + "/config.json"), std::string::npos);

  const char* old = std::getenv("DOCKER_CONFIG");
  std::string saved = old ? old : "";
  setenv("DOCKER_CONFIG", dir.c_str(), 1);
  EXPECT_EQ(Keychain::DefaultDockerConfigPath(), dir + "/config.json");
  if (old) {
    setenv("DOCKER_CONFIG", saved.c_str(), 1);
  } else {
    unsetenv("DOCKER_CONFIG");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace archway::registry

// Per-host TLS from registries.yaml against a real docker-registry serving HTTPS with a
// self-signed certificate: the configured CA verifies it, no CA fails, and
// insecure_skip_verify skips verification.
#include <gtest/gtest.h>

#include "registry/client.h"
#include "tests/support/registry_server.h"

namespace archway::registry {
namespace {

using archway::testing::RegistryServer;
using archway::testing::RegistryServerOptions;

Reference Ref(const std::string& text) {
  auto ref = ParseReference(text);
  EXPECT_TRUE(ref.ok()) << text;
  return *ref;
}

// The registry is on loopback, which defaults to plain HTTP; listing it with https://
// makes both pulls and pushes use TLS, as a k3s registries.yaml would.
RegistriesConfig HttpsConfig(const RegistryServer& registry, const std::string& tls_lines) {
  auto yaml = ParseRegistriesYaml("mirrors:\n  \"" + registry.host() + "\":\n    endpoint: [\"https://" +
                                  registry.host() + "\"]\nconfigs:\n  \"" + registry.host() + "\":\n    tls:\n" +
                                  tls_lines);
  EXPECT_TRUE(yaml.ok()) << yaml.error().message;
  return *yaml;
}

TEST(ClientTlsTest, CaFileVerifiesAndMissingCaFails) {
  RegistryServer registry(RegistryServerOptions::Tls());
  const std::string body = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciIndex + R"(","manifests":[]})";
  Reference ref = Ref(registry.host() + "/secure/app:v1");

  ClientOptions trusted;
  trusted.registries = HttpsConfig(registry, "      ca_file: " + registry.ca_file() + "\n");
  Client client(trusted);
  auto pushed = client.PutManifest(ref, media_type::kOciIndex, body);
  ASSERT_TRUE(pushed.ok()) << pushed.error().message;
  auto fetched = client.GetManifest(ref);
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->bytes, body);

  ClientOptions untrusted;
  untrusted.registries = HttpsConfig(registry, "      insecure_skip_verify: false\n");
  auto refused = Client(untrusted).GetManifest(ref);
  ASSERT_FALSE(refused.ok()) << "a self-signed certificate must not verify against the system CAs";
  EXPECT_EQ(refused.error().code, ErrorCode::kNetwork) << refused.error().message;

  ClientOptions insecure;
  insecure.registries = HttpsConfig(registry, "      insecure_skip_verify: true\n");
  auto skipped = Client(insecure).GetManifest(ref);
  ASSERT_TRUE(skipped.ok()) << skipped.error().message;
}

}  // namespace
}  // namespace archway::registry

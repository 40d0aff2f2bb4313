#include "webhook/config.h"

#include <gtest/gtest.h>

namespace archway::webhook {
namespace {

TEST(WebhookConfig, DefaultsMatchTheDesign) {
  auto config = ParseWebhookConfig("");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->listen, ":8443");
  EXPECT_EQ(config->tls_cert_file, "/tls/tls.crt");
  EXPECT_EQ(config->tls_key_file, "/tls/tls.key");
  EXPECT_EQ(config->metrics_listen, ":9090");
  EXPECT_EQ(config->budget, std::chrono::seconds(2));
  EXPECT_EQ(config->no_common_platform, NoCommonPlatformPolicy::kPending);
  EXPECT_EQ(config->skip_namespaces, std::vector<std::string>{"kube-system"});
  EXPECT_EQ(config->registries_config_file, "/etc/archway/registries.yaml");
  EXPECT_EQ(config->docker_config, "/etc/archway/docker/config.json");
  EXPECT_EQ(config->global_pull_secret.ns, "archway-system");
  EXPECT_EQ(config->global_pull_secret.name, "archway-pull");
  EXPECT_EQ(config->kubeconfig, "");
}

TEST(WebhookConfig, ParsesTheDesignExample) {
  auto config = ParseWebhookConfig(R"(
listen: ":8443"
tls: {certFile: /tls/a.crt, keyFile: /tls/a.key}
metricsListen: "127.0.0.1:9091"
budget: 1500ms
noCommonPlatform: deny
skipNamespaces: [kube-system, archway-system]
registries:
  configFile: /etc/archway/registries.yaml
  dockerConfig: /etc/archway/docker/config.json
globalPullSecret: {namespace: ops, name: pull}
kubeconfig: /k.yaml
)");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->tls_cert_file, "/tls/a.crt");
  EXPECT_EQ(config->metrics_listen, "127.0.0.1:9091");
  EXPECT_EQ(config->budget, std::chrono::milliseconds(1500));
  EXPECT_EQ(config->no_common_platform, NoCommonPlatformPolicy::kDeny);
  EXPECT_EQ(config->skip_namespaces, (std::vector<std::string>{"kube-system", "archway-system"}));
  EXPECT_EQ(config->global_pull_secret.ns, "ops");
  EXPECT_EQ(config->kubeconfig, "/k.yaml");
}

TEST(WebhookConfig, ErrorsNameTheKey) {
  auto typo = ParseWebhookConfig("budjet: 2s\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("budjet"), std::string::npos);
  auto policy = ParseWebhookConfig("noCommonPlatform: maybe\n");
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.error().message.find("pending, deny or ignore"), std::string::npos);
  EXPECT_FALSE(ParseWebhookConfig("budget: soon\n").ok());
  EXPECT_FALSE(ParseWebhookConfig("listen: 8443\n").ok());
  EXPECT_FALSE(ParseWebhookConfig("tls: {certFile: [a]}\n").ok());
  EXPECT_FALSE(ParseWebhookConfig("- a\n").ok());
}

TEST(WebhookConfig, FlagsOverrideTheFile) {
  auto config = ParseWebhookConfig("budget: 5s\nlisten: \":1\"\n");
  ASSERT_TRUE(config.ok());
  Status s = ApplyFlags(*config, {"--config", "/ignored.yaml", "--budget", "250ms", "--listen=127.0.0.1:0",
                                  "--tls-cert", "/c", "--tls-key-file", "/k", "--no-common-platform", "ignore",
                                  "--skip-namespaces", "a,b", "--global-pull-secret", "ns/name", "--metricsListen",
                                  ":0", "--kubeconfig", "/kc"});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(config->budget, std::chrono::milliseconds(250));
  EXPECT_EQ(config->listen, "127.0.0.1:0");
  EXPECT_EQ(config->tls_cert_file, "/c");
  EXPECT_EQ(config->tls_key_file, "/k");
  EXPECT_EQ(config->no_common_platform, NoCommonPlatformPolicy::kIgnore);
  EXPECT_EQ(config->skip_namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(config->global_pull_secret.name, "name");
  EXPECT_EQ(config->metrics_listen, ":0");
  EXPECT_EQ(config->kubeconfig, "/kc");
  EXPECT_FALSE(ApplyFlags(*config, {"--nope", "x"}).ok());
  EXPECT_FALSE(ApplyFlags(*config, {"--budget"}).ok());
  EXPECT_FALSE(ApplyFlags(*config, {"--global-pull-secret", "noslash"}).ok());
  ASSERT_TRUE(ApplyFlags(*config, {"--global-pull-secret", ""}).ok());
  EXPECT_TRUE(config->global_pull_secret.empty());
}

TEST(WebhookConfig, ListenAddresses) {
  auto any = ParseListenAddress(":8443");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->port, 8443);
  auto v6 = ParseListenAddress("[::1]:9");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_FALSE(ParseListenAddress("8443").ok());
  EXPECT_FALSE(ParseListenAddress(":99999").ok());
  EXPECT_FALSE(ParseListenAddress("::1:9").ok());
}

}  // namespace
}  // namespace archway::webhook

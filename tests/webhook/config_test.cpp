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
  EXPECT_EQ(config->on_miss, OnMissPolicy::kGate);
  EXPECT_EQ(config->gate_timeout, std::chrono::minutes(2));
  EXPECT_EQ(config->gate_lease_namespace, "archway-system");
  EXPECT_EQ(config->gate_lease_name, "archway-webhook-gates");
  EXPECT_EQ(config->gate_lease_duration, std::chrono::seconds(15));
}

TEST(WebhookConfig, SchedulingGateKeys) {
  auto config = ParseWebhookConfig("onMiss: admit\ngateTimeout: 30s\ngateLease: {namespace: ops, name: g, duration: 3s}\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->on_miss, OnMissPolicy::kAdmit);
  EXPECT_EQ(config->gate_timeout, std::chrono::seconds(30));
  EXPECT_EQ(config->gate_lease_namespace, "ops");
  EXPECT_EQ(config->gate_lease_name, "g");
  EXPECT_EQ(config->gate_lease_duration, std::chrono::seconds(3));
  auto bad = ParseWebhookConfig("onMiss: wait\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("gate or admit"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(ParseWebhookConfig("gateTimeout: 0s\n").ok());
  EXPECT_FALSE(ParseWebhookConfig("gateLease: {name: \"\"}\n").ok());
  WebhookConfig flags;
  ASSERT_TRUE(ApplyFlags(flags, {"--on-miss", "admit", "--gate-timeout=5s", "--gate-lease-duration", "2s"}).ok());
  EXPECT_EQ(flags.on_miss, OnMissPolicy::kAdmit);
  EXPECT_EQ(flags.gate_timeout, std::chrono::seconds(5));
  EXPECT_EQ(flags.gate_lease_duration, std::chrono::seconds(2));
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

TEST(WebhookConfig, ErrorsSayWhatIsWrongWhere) {
  auto message = [](const std::string& yaml) {
    auto config = ParseWebhookConfig(yaml);
    return config.ok() ? std::string("<ok>") : config.error().message;
  };
  EXPECT_EQ(message("budjet: 2s\n"), "config: unknown key \"budjet\"");
  EXPECT_EQ(message("tls: {certFile: a, keyFil: b}\n"), "config: unknown key \"tls.keyFil\"");
  EXPECT_EQ(message("tls: 5\n"), "config key \"tls\": expected a mapping (certFile, keyFile)");
  EXPECT_EQ(message("tls: {certFile: [a]}\n"), "config key \"tls.certFile\": expected a single value");
  EXPECT_EQ(message("skipNamespaces: a\n"), "config key \"skipNamespaces\": expected a list");
  EXPECT_EQ(message("listen: 8443\n"),
            "config key \"listen\": listen address \"8443\": expected HOST:PORT or :PORT");
  EXPECT_EQ(message("noCommonPlatform: maybe\n"),
            "config key \"noCommonPlatform\": \"maybe\" is no policy: expected pending, deny or ignore");
  EXPECT_EQ(message("globalPullSecret: {namespace: \"\", name: pull}\n"),
            "config key \"globalPullSecret.namespace\" is empty");
  EXPECT_EQ(message("- a\n"), "config: expected a mapping at the top level");
}

TEST(WebhookConfig, KeysWithNoValue) {
  // Most keep their default; a list or the pull secret written empty means none.
  auto config = ParseWebhookConfig("listen:\ntls: {certFile: }\nbudget:\nskipNamespaces:\nglobalPullSecret:\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->listen, ":8443");
  EXPECT_EQ(config->tls_cert_file, "/tls/tls.crt");
  EXPECT_EQ(config->budget, std::chrono::seconds(2));
  EXPECT_TRUE(config->skip_namespaces.empty());
  EXPECT_TRUE(config->global_pull_secret.empty());
}

TEST(WebhookConfig, FlagSpellingsAndAliases) {
  WebhookConfig config;
  Status s = ApplyFlags(config, {"--tls.certFile=/c", "--TLS-KEY", "/k", "--registries", "/r.yaml", "--docker-config",
                                 "/d.json", "--skipNamespaces", "a,,b", "--global-pull-secret=ns/n", "--metrics_listen",
                                 "[::1]:9"});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(config.tls_cert_file, "/c");
  EXPECT_EQ(config.tls_key_file, "/k");
  EXPECT_EQ(config.registries_config_file, "/r.yaml");
  EXPECT_EQ(config.docker_config, "/d.json");
  EXPECT_EQ(config.skip_namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(config.global_pull_secret.ns, "ns");
  EXPECT_EQ(config.metrics_listen, "[::1]:9");
  Status bad = ApplyFlags(config, {"--listen", "8443"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "--listen: listen address \"8443\": expected HOST:PORT or :PORT");
  EXPECT_EQ(ApplyFlags(config, {"--nope", "x"}).error().message, "unknown flag --nope (see --help)");
  EXPECT_EQ(ApplyFlags(config, {"--budget"}).error().message, "--budget: missing value");
  EXPECT_EQ(ApplyFlags(config, {"stray"}).error().message, "unexpected argument \"stray\"");
}

}  // namespace
}  // namespace archway::webhook

// The files the chart renders are read by the binaries' own parsers: the webhook's and the
// operator's config files (unknown keys are errors there) and registries.yaml. A key the
// chart misspells, or a value the binary would refuse, fails here rather than in a pod.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "operator/config.h"
#include "registry/registries_config.h"
#include "tests/chart/chart_support.h"
#include "webhook/config.h"

namespace archway::charttest {
namespace {

std::string ConfigText(const Rendered& rendered, const std::string& configmap) {
  const YAML::Node cm = rendered.Find("ConfigMap", configmap);
  return cm ? cm["data"]["config.yaml"].as<std::string>("") : "";
}

TEST(ChartConfigFiles, TheWebhookParsesItsRenderedConfig) {
  const Rendered r = RenderChart({"--set", "webhook.budget=1500ms", "--set", "webhook.noCommonPlatform=deny",
                                  "--set", "webhook.onMiss=admit", "--set", "webhook.gateTimeout=45s",
                                  "--set", "webhook.mode=audit", "--set", "globalPullSecret.name=archway-pull", "--set-json",
                                  R"(webhook.skipNamespaces=["monitoring"])"},
                                 "platform");
  SKIP_WITHOUT_CHART_RENDERER();
  ASSERT_TRUE(r.ok()) << r.Describe();
  auto config = webhook::ParseWebhookConfig(ConfigText(r, "archway-webhook"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->listen, ":8443");
  EXPECT_EQ(config->metrics_listen, ":9090");
  EXPECT_EQ(config->tls_cert_file, "/tls/tls.crt");
  EXPECT_EQ(config->tls_key_file, "/tls/tls.key");
  EXPECT_EQ(config->budget.count(), 1500);
  EXPECT_EQ(config->on_miss, webhook::OnMissPolicy::kAdmit);
  EXPECT_EQ(config->gate_timeout, std::chrono::seconds(45));
  EXPECT_EQ(config->gate_lease_namespace, "platform");
  EXPECT_EQ(config->no_common_platform, webhook::NoCommonPlatformPolicy::kDeny);
  EXPECT_EQ(config->mode, webhook::Mode::kAudit);
  EXPECT_EQ(config->skip_namespaces, (std::vector<std::string>{"kube-system", "platform", "monitoring"}));
  EXPECT_EQ(config->global_pull_secret.ns, "platform");
  EXPECT_EQ(config->global_pull_secret.name, "archway-pull");
  EXPECT_EQ(config->registries_config_file, "/etc/archway/registries/registries.yaml");
  EXPECT_EQ(config->kubeconfig, "");

  // No global pull secret by default: the name is empty, which the webhook reads as none.
  const Rendered defaults = RenderChart({});
  ASSERT_TRUE(defaults.ok()) << defaults.Describe();
  auto default_config = webhook::ParseWebhookConfig(ConfigText(defaults, "archway-webhook"));
  ASSERT_TRUE(default_config.ok()) << default_config.error().message;
  EXPECT_TRUE(default_config->global_pull_secret.empty());
  EXPECT_EQ(default_config->no_common_platform, webhook::NoCommonPlatformPolicy::kPending);
  EXPECT_EQ(default_config->budget.count(), 2000);
  EXPECT_EQ(default_config->on_miss, webhook::OnMissPolicy::kGate);
  EXPECT_EQ(default_config->gate_timeout, std::chrono::minutes(2));
  EXPECT_EQ(default_config->gate_lease_namespace, "archway-system");
  EXPECT_EQ(default_config->gate_lease_name, "archway-webhook-gates");
  EXPECT_EQ(default_config->gate_lease_duration, std::chrono::seconds(15));
}

// webhook.preferredPlatforms' {platform, weight} maps reach the webhook as its items; the
// values schema refuses a weight outside 1-100 and a platform that is not os/arch.
TEST(ChartConfigFiles, PreferredPlatformsReachTheWebhook) {
  const Rendered r = RenderChart({"--set-json", R"(webhook.preferredPlatforms=[{"platform":"linux/arm64","weight":50},)"
                                                R"({"platform":"linux/amd64","weight":10}])"});
  SKIP_WITHOUT_CHART_RENDERER();
  ASSERT_TRUE(r.ok()) << r.Describe();
  auto config = webhook::ParseWebhookConfig(ConfigText(r, "archway-webhook"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->preferred_platforms, (std::vector<webhook::PreferredPlatform>{{"linux", "arm64", 50},
                                                                                 {"linux", "amd64", 10}}));
  auto defaults = webhook::ParseWebhookConfig(ConfigText(RenderChart({}), "archway-webhook"));
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  EXPECT_TRUE(defaults->preferred_platforms.empty());
  for (const char* bad : {R"(webhook.preferredPlatforms=[{"platform":"linux/arm64","weight":0}])",
                          R"(webhook.preferredPlatforms=[{"platform":"linux/arm64","weight":101}])",
                          R"(webhook.preferredPlatforms=[{"platform":"linux/arm64","weight":"high"}])",
                          R"(webhook.preferredPlatforms=[{"platform":"arm64","weight":5}])",
                          R"(webhook.preferredPlatforms=[{"platform":"linux/arm64"}])"}) {
    EXPECT_FALSE(RenderChart({"--set-json", bad}).ok()) << bad;
  }
}

TEST(ChartConfigFiles, TheOperatorParsesItsRenderedConfig) {
  const Rendered r = RenderChart({"--set", "operator.resync=5m", "--set", "operator.leaderElection.leaseName=aw-lease",
                                  "--set", "operator.builder.buildkitImage=registry.lan/buildkit:1"},
                                 "platform");
  SKIP_WITHOUT_CHART_RENDERER();
  ASSERT_TRUE(r.ok()) << r.Describe();
  auto config = op::ParseOperatorConfig(ConfigText(r, "archway-operator"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->metrics_listen, ":9091");
  EXPECT_EQ(config->health_listen, ":8081");
  EXPECT_TRUE(config->leader_election_enabled);
  EXPECT_EQ(config->leader_election_namespace, "platform");
  EXPECT_EQ(config->leader_election_lease_name, "aw-lease");
  EXPECT_EQ(config->resync.count(), 5 * 60 * 1000);
  EXPECT_EQ(config->buildah_image, "quay.io/buildah/stable:v1.37");
  EXPECT_EQ(config->buildkit_image, "registry.lan/buildkit:1");
  EXPECT_EQ(config->git_image, "alpine/git:2.45.2");
  EXPECT_EQ(config->registries_config_file, "/etc/archway/registries/registries.yaml");
  EXPECT_EQ(config->binfmt_image, "");  // opt-in: emulated Jobs only check the node
  EXPECT_EQ(config->min_base_rebuild_interval, std::chrono::hours(1));
  // The Role lets it use exactly the Lease its config names.
  const YAML::Node role = r.Find("Role", "archway-operator-leader-election");
  ASSERT_TRUE(role);
  EXPECT_EQ(role["metadata"]["namespace"].as<std::string>(""), config->leader_election_namespace);
  bool named = false;
  for (const auto& rule : role["rules"]) {
    for (const auto& name : Strings(rule["resourceNames"])) named |= name == config->leader_election_lease_name;
  }
  EXPECT_TRUE(named);
}

TEST(ChartConfigFiles, TheOperatorReadsTheEmulationAndBaseImageValues) {
  const Rendered r = RenderChart({"--set", "operator.builder.binfmtImage=registry.lan/binfmt:qemu-v8", "--set",
                                  "operator.minBaseRebuildInterval=30m"});
  SKIP_WITHOUT_CHART_RENDERER();
  ASSERT_TRUE(r.ok()) << r.Describe();
  auto config = op::ParseOperatorConfig(ConfigText(r, "archway-operator"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->binfmt_image, "registry.lan/binfmt:qemu-v8");
  EXPECT_EQ(config->min_base_rebuild_interval, std::chrono::minutes(30));
  EXPECT_FALSE(RenderChart({"--set", "operator.minBaseRebuildInterval=hourly"}).ok());  // the values schema refuses it
}

TEST(ChartConfigFiles, TheRegistryEngineParsesTheRenderedRegistriesYaml) {
  TempDir dir;
  const auto values = dir.Write("values.yaml", R"yaml(registries:
  config:
    mirrors:
      docker.io:
        endpoint: ["https://mirror.lan:5000"]
        rewrite:
          "^library/(.*)": "mirrored/$1"
    configs:
      "mirror.lan:5000":
        auth: {username: ci, password: secret}
        tls: {insecure_skip_verify: true}
)yaml");
  const Rendered r = RenderChart({"-f", values.string()});
  SKIP_WITHOUT_CHART_RENDERER();
  ASSERT_TRUE(r.ok()) << r.Describe();
  auto text = SecretData(r.Find("Secret", "archway-registries"), "registries.yaml");
  ASSERT_TRUE(text);
  auto parsed = registry::ParseRegistriesYaml(*text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->mirrors.count("docker.io"), 1u);
  EXPECT_EQ(parsed->mirrors.at("docker.io").endpoints, std::vector<std::string>{"https://mirror.lan:5000"});
  ASSERT_EQ(parsed->mirrors.at("docker.io").rewrites.size(), 1u);
  EXPECT_EQ(parsed->mirrors.at("docker.io").rewrites[0].second, "mirrored/$1");
  ASSERT_EQ(parsed->configs.count("mirror.lan:5000"), 1u);
  EXPECT_TRUE(parsed->configs.at("mirror.lan:5000").auth.has_value());
  EXPECT_TRUE(parsed->configs.at("mirror.lan:5000").tls.insecure_skip_verify);

  // With nothing configured the Secret still holds a valid, empty registries.yaml.
  const Rendered empty = RenderChart({});
  ASSERT_TRUE(empty.ok()) << empty.Describe();
  auto empty_text = SecretData(empty.Find("Secret", "archway-registries"), "registries.yaml");
  ASSERT_TRUE(empty_text);
  auto empty_parsed = registry::ParseRegistriesYaml(*empty_text);
  ASSERT_TRUE(empty_parsed.ok()) << empty_parsed.error().message;
  EXPECT_TRUE(empty_parsed->mirrors.empty() && empty_parsed->configs.empty());
}

}  // namespace
}  // namespace archway::charttest

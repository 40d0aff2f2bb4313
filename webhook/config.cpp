#include "webhook/config.h"

#include "base/config_keys.h"
#include "base/duration.h"

namespace archway::webhook {
namespace {

Error Invalid(const std::string& message) { return Error(ErrorCode::kInvalidArgument, message); }

Result<SecretRef> ParseSecretRef(const std::string& text) {
  if (text.empty()) return SecretRef{};
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() ||
      text.find('/', slash + 1) != std::string::npos) {
    return Invalid("global pull secret \"" + text + "\": expected NAMESPACE/NAME");
  }
  return SecretRef{text.substr(0, slash), text.substr(slash + 1)};
}

// A listen address is checked when set, and kept as written.
Result<std::string> CheckedListen(const std::string& value) {
  if (auto address = ParseListenAddress(value); !address.ok()) return address.error();
  return value;
}

Result<std::chrono::milliseconds> PositiveDuration(const std::string& value) {
  auto duration = ParseDuration(value);
  if (duration.ok() && duration->count() <= 0) return Invalid("\"" + value + "\" is no positive duration");
  return duration;
}

// Every key of the file, bound to `c`.
std::vector<ConfigKey> Keys(WebhookConfig& c) {
  return {
      {.name = "listen", .set = ConfigSetter(c.listen, CheckedListen)},
      {.name = "tls.certFile", .set = ConfigSetter(c.tls_cert_file, ConfigText), .flag_aliases = {"tls-cert"}},
      {.name = "tls.keyFile", .set = ConfigSetter(c.tls_key_file, ConfigText), .flag_aliases = {"tls-key"}},
      {.name = "metricsListen", .set = ConfigSetter(c.metrics_listen, CheckedListen)},
      {.name = "budget", .set = ConfigSetter(c.budget, ParseDuration)},
      {.name = "noCommonPlatform", .set = ConfigSetter(c.no_common_platform, ParsePolicy)},
      {.name = "mode", .set = ConfigSetter(c.mode, ParseMode)},
      {.name = "skipNamespaces",
       .set_list =
           [&c](std::vector<std::string> names) {
             c.skip_namespaces = std::move(names);
             return Status::Ok();
           },
       .set_null = [&c] { c.skip_namespaces.clear(); }},
      {.name = "registries.configFile", .set = ConfigSetter(c.registries_config_file, ConfigText), .flag_aliases = {"registries"}},
      {.name = "registries.dockerConfig", .set = ConfigSetter(c.docker_config, ConfigText), .flag_aliases = {"docker-config"}},
      // NAMESPACE/NAME in one value (the flag's form), or the map's two keys; "" for none.
      {.name = "globalPullSecret",
       .set = ConfigSetter(c.global_pull_secret, ParseSecretRef),
       .set_null = [&c] { c.global_pull_secret = {}; }},
      {.name = "globalPullSecret.namespace", .set = ConfigSetter(c.global_pull_secret.ns, ConfigText)},
      {.name = "globalPullSecret.name", .set = ConfigSetter(c.global_pull_secret.name, ConfigText)},
      {.name = "kubeconfig", .set = ConfigSetter(c.kubeconfig, ConfigText)},
      {.name = "onMiss", .set = ConfigSetter(c.on_miss, ParseOnMiss)},
      {.name = "gateTimeout", .set = ConfigSetter(c.gate_timeout, PositiveDuration)},
      {.name = "gateLease.namespace", .set = ConfigSetter(c.gate_lease_namespace, ConfigText)},
      {.name = "gateLease.name", .set = ConfigSetter(c.gate_lease_name, ConfigText)},
      {.name = "gateLease.duration", .set = ConfigSetter(c.gate_lease_duration, PositiveDuration)},
      {.name = "workloads.daemonSets", .set = ConfigSetter(c.daemon_sets, ParseConfigBool)},
      {.name = "preferredPlatforms",
       .set_list =
           [&c](std::vector<std::string> items) -> Status {
             auto parsed = ParsePreferredPlatforms(items);
             if (!parsed.ok()) return parsed.error();
             c.preferred_platforms = std::move(*parsed);
             return Status::Ok();
           },
       .set_null = [&c] { c.preferred_platforms.clear(); }},
  };
}

Status CheckSecretRef(const WebhookConfig& config) {
  if (!config.global_pull_secret.name.empty() && config.global_pull_secret.ns.empty()) {
    return Invalid("config key \"globalPullSecret.namespace\" is empty");
  }
  if (config.gate_lease_namespace.empty() || config.gate_lease_name.empty()) {
    return Invalid("config keys \"gateLease.namespace\" and \"gateLease.name\" must not be empty");
  }
  return Status::Ok();
}

}  // namespace

const char* PolicyName(NoCommonPlatformPolicy policy) {
  switch (policy) {
    case NoCommonPlatformPolicy::kPending: return "pending";
    case NoCommonPlatformPolicy::kDeny: return "deny";
    case NoCommonPlatformPolicy::kIgnore: return "ignore";
  }
  return "pending";
}

Result<NoCommonPlatformPolicy> ParsePolicy(const std::string& text) {
  if (text == "pending") return NoCommonPlatformPolicy::kPending;
  if (text == "deny") return NoCommonPlatformPolicy::kDeny;
  if (text == "ignore") return NoCommonPlatformPolicy::kIgnore;
  return Invalid("\"" + text + "\" is no policy: expected pending, deny or ignore");
}

const char* OnMissName(OnMissPolicy policy) { return policy == OnMissPolicy::kAdmit ? "admit" : "gate"; }

Result<OnMissPolicy> ParseOnMiss(const std::string& text) {
  if (text == "gate") return OnMissPolicy::kGate;
  if (text == "admit") return OnMissPolicy::kAdmit;
  return Invalid("\"" + text + "\" is no onMiss policy: expected gate or admit");
}

const char* ModeName(Mode mode) { return mode == Mode::kAudit ? "audit" : "enforce"; }

Result<Mode> ParseMode(const std::string& text) {
  if (text == "enforce") return Mode::kEnforce;
  if (text == "audit") return Mode::kAudit;
  return Invalid("\"" + text + "\" is no mode: expected enforce or audit");
}

Result<WebhookConfig> ParseWebhookConfig(const std::string& yaml_text) {
  WebhookConfig config;
  if (Status s = ApplyConfigYaml(yaml_text, Keys(config)); !s.ok()) return s.error();
  if (Status s = CheckSecretRef(config); !s.ok()) return s.error();
  return config;
}

Result<WebhookConfig> LoadWebhookConfig(const std::string& path) {
  auto text = ReadConfigFile(path);
  if (!text.ok()) return text.error();
  auto config = ParseWebhookConfig(*text);
  if (!config.ok()) return config.error().Wrap(path);
  return config;
}

Status ApplyFlags(WebhookConfig& config, const std::vector<std::string>& args) {
  if (Status s = ApplyConfigFlags(args, Keys(config)); !s.ok()) return s;
  return CheckSecretRef(config);
}

std::string FlagsHelp() {
  return "usage: archway webhook [--config FILE] [flags]\n"
         "Every flag overrides the config key of the same name:\n"
         "  --listen ADDR                 HTTPS admission address (listen, default \":8443\")\n"
         "  --tls-cert-file FILE          server certificate chain (tls.certFile; alias --tls-cert)\n"
         "  --tls-key-file FILE           its private key (tls.keyFile; alias --tls-key)\n"
         "  --metrics-listen ADDR         plain-HTTP /metrics address (metricsListen, default \":9090\")\n"
         "  --budget DURATION             answer within this time (budget, default 2s)\n"
         "  --no-common-platform POLICY   pending | deny | ignore (noCommonPlatform)\n"
         "  --mode MODE                   enforce | audit: decide, but only annotate and warn (mode)\n"
         "  --skip-namespaces A,B         namespaces never mutated (skipNamespaces)\n"
         "  --registries-config-file FILE k3s registries.yaml (registries.configFile; alias --registries)\n"
         "  --docker-config FILE          Docker config.json (registries.dockerConfig)\n"
         "  --global-pull-secret NS/NAME  pull secret used for every pod, \"\" for none (globalPullSecret)\n"
         "  --kubeconfig FILE             \"\" = in-cluster (kubeconfig)\n"
         "  --on-miss POLICY              gate | admit: a pod whose look-ups miss the budget (onMiss, default gate)\n"
         "  --gate-timeout DURATION       a gated pod is released without affinity after it (gateTimeout, default 2m)\n"
         "  --gate-lease-namespace NS     the gate controller's Lease (gateLease.namespace, default archway-system)\n"
         "  --gate-lease-name NAME        (gateLease.name, default archway-webhook-gates)\n"
         "  --gate-lease-duration D       (gateLease.duration, default 15s)\n"
         "  --workloads-daemon-sets BOOL  give DaemonSets' pod templates their node affinity (workloads.daemonSets,\n"
         "                                default true)\n"
         "  --preferred-platforms LIST    prefer these platforms where the images run on them, weight 1-100\n"
         "                                (preferredPlatforms, e.g. linux/arm64=50,linux/amd64=10; default none)\n";
}

}  // namespace archway::webhook

// The webhook's configuration: the YAML file of docs/design.md "Names users see", with a
// default for every key, and command-line flags of the same names overriding it, both
// read from one key table (base/config_keys.h: unknown keys are errors naming them; a key
// written with no value keeps its default, but for skipNamespaces and globalPullSecret,
// where it means none).
//
//   listen: ":8443"                    --listen
//   tls: {certFile: ..., keyFile: ...} --tls-cert-file, --tls-key-file (--tls-cert/--tls-key alias)
//   metricsListen: ":9090"             --metrics-listen
//   budget: 2s                         --budget
//   noCommonPlatform: pending          --no-common-platform   (pending | deny | ignore)
//   mode: enforce                      --mode                 (enforce | audit: webhook/audit.h)
//   skipNamespaces: [kube-system]      --skip-namespaces a,b
//   registries: {configFile, dockerConfig}  --registries-config-file, --docker-config
//   globalPullSecret: {namespace, name}     --global-pull-secret ns/name ("" = none)
//   kubeconfig: ""                     --kubeconfig           ("" = in-cluster, else a path)
//   onMiss: gate                       --on-miss              (gate | admit: a pod whose look-ups miss the budget)
//   gateTimeout: 2m                    --gate-timeout         (a gated pod is released without affinity after it)
//   gateLease: {namespace: archway-system, name: archway-webhook-gates, duration: 15s}
//                                      --gate-lease-namespace, --gate-lease-name, --gate-lease-duration
//   workloads: {daemonSets: true}      --workloads-daemon-sets (mutate DaemonSets' pod templates)
//   preferredPlatforms: []             --preferred-platforms linux/arm64=50,linux/amd64=10
//                                      (items "os/arch=weight": preferred_platforms.h)
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/listen_address.h"
#include "base/result.h"
#include "webhook/preferred_platforms.h"

namespace archway::webhook {

enum class NoCommonPlatformPolicy { kPending, kDeny, kIgnore };

const char* PolicyName(NoCommonPlatformPolicy policy);
Result<NoCommonPlatformPolicy> ParsePolicy(const std::string& text);

// What admission does with a pod whose look-ups miss the budget (gates.h): hold it with a
// scheduling gate until they finish (where the API server serves gates; otherwise, and
// without an API server, admit), or admit it without affinity.
enum class OnMissPolicy { kGate, kAdmit };

const char* OnMissName(OnMissPolicy policy);
Result<OnMissPolicy> ParseOnMiss(const std::string& text);
// enforce: pods get the affinity decided; audit: they get only the annotation
// archway.dev/would-require and a warning saying what enforce would have done (audit.h).
enum class Mode { kEnforce, kAudit };

const char* ModeName(Mode mode);
Result<Mode> ParseMode(const std::string& text);

struct SecretRef {
  std::string ns;
  std::string name;
  bool empty() const { return name.empty(); }
};

struct WebhookConfig {
  std::string listen = ":8443";
  std::string tls_cert_file = "/tls/tls.crt";
  std::string tls_key_file = "/tls/tls.key";
  std::string metrics_listen = ":9090";
  std::chrono::milliseconds budget{2000};
  NoCommonPlatformPolicy no_common_platform = NoCommonPlatformPolicy::kPending;
  Mode mode = Mode::kEnforce;
  std::vector<std::string> skip_namespaces{"kube-system"};
  std::string registries_config_file = "/etc/archway/registries.yaml";
  std::string docker_config = "/etc/archway/docker/config.json";
  SecretRef global_pull_secret{"archway-system", "archway-pull"};
  std::string kubeconfig;  // "" = in-cluster (then $KUBECONFIG, ~/.kube/config)
  OnMissPolicy on_miss = OnMissPolicy::kGate;
  std::chrono::milliseconds gate_timeout{std::chrono::minutes(2)};
  // The Lease through which one replica at a time runs the gate controller.
  std::string gate_lease_namespace = "archway-system";
  std::string gate_lease_name = "archway-webhook-gates";
  std::chrono::milliseconds gate_lease_duration{15000};
  bool daemon_sets = true;  // workloads.daemonSets
  std::vector<PreferredPlatform> preferred_platforms;  // none: no preferred terms
};

// Parses the YAML text over the defaults. Unknown keys are errors (a typo must not silently
// fall back to a default); errors name the key.
Result<WebhookConfig> ParseWebhookConfig(const std::string& yaml_text);
// Reads and parses `path`.
Result<WebhookConfig> LoadWebhookConfig(const std::string& path);

// Applies `--flag value` / `--flag=value` pairs over `config` (--config FILE is skipped:
// the caller loads it first). The file's key spellings are accepted too (--metricsListen,
// --tls.certFile), and the aliases --tls-cert, --tls-key, --registries, --docker-config.
Status ApplyFlags(WebhookConfig& config, const std::vector<std::string>& args);

// The usage text listing every flag.
std::string FlagsHelp();

}  // namespace archway::webhook

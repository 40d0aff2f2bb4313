// `archway webhook --config FILE [--flag VALUE ...]`: the mutating admission webhook.
// Reads the config (webhook/config.h), builds the registry engine, connects to the API
// when there is one (kubeconfig or in-cluster; without one it serves with pull secrets
// and the node check off), and serves HTTPS admission + plain-HTTP metrics until
// SIGTERM/SIGINT, then drains requests in flight.
#include <csignal>
#include <cstdio>
#include <unistd.h>

#include "base/duration.h"
#include "base/log.h"
#include "cmd/command.h"
#include "cmd/server_process.h"
#include "cmd/registry_options.h"
#include "kube/client.h"
#include "kube/config.h"
#include "registry/client.h"
#include "registry/resolver.h"
#include "webhook/admitter.h"
#include "webhook/config.h"
#include "webhook/gate_controller.h"
#include "webhook/kube_cluster.h"
#include "webhook/kube_daemonsets.h"
#include "webhook/metrics.h"
#include "webhook/server.h"
#include "webhook/template_patcher.h"
#include "webhook/tls_context.h"

namespace archway::cmd {
namespace {

std::string Hostname() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) return "archway-webhook";
  return host;
}

// The gate controller's own API client: a burst of gated pods is released at this rate
// (client-side QPS), and its writes do not queue behind the Events of admission.
kube::ClientOptions GateClientOptions() {
  kube::ClientOptions options;
  options.qps = 50;
  options.burst = 100;
  options.user_agent = "archway-webhook-gates";
  return options;
}

int Fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "archway webhook: %s\n", message.c_str());
  return code;
}

int Run(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::fputs(webhook::FlagsHelp().c_str(), stdout);
      return 0;
    }
  }
  const std::string config_path = ConfigFlag(args);
  // Before any thread starts: the main thread alone receives the stop signals.
  StopSignals stop_signals;
  log::SetSink(log::JsonStderrSink());

  webhook::WebhookConfig config;
  if (!config_path.empty()) {
    auto loaded = webhook::LoadWebhookConfig(config_path);
    if (!loaded.ok()) return Fail(loaded.error().message, 2);
    config = *loaded;
  }
  if (Status s = webhook::ApplyFlags(config, args); !s.ok()) return Fail(s.error().message + "\n" + webhook::FlagsHelp(), 2);
  auto https_address = ParseListenAddress(config.listen);
  auto metrics_address = ParseListenAddress(config.metrics_listen);
  if (!https_address.ok()) return Fail(https_address.error().message, 2);
  if (!metrics_address.ok()) return Fail(metrics_address.error().message, 2);

  webhook::Metrics metrics;
  RegistryFlags registry_flags;
  registry_flags.registries_file = config.registries_config_file;
  registry_flags.docker_config = config.docker_config;
  auto client_options = BuildClientOptions(registry_flags);
  if (!client_options.ok()) return Fail(client_options.error().message);
  // Look-ups past the budget continue in the background to warm the cache; these bound
  // how long a hanging registry can hold a look-up thread.
  client_options->connect_timeout = std::chrono::milliseconds(3000);
  client_options->request_timeout = std::chrono::milliseconds(10000);
  client_options->user_agent = "archway-webhook";
  client_options->observer = [&metrics](const registry::RequestEvent& event) { metrics.RegistryRequest(event); };
  registry::Client registry_client(std::move(*client_options));
  registry::ResolverOptions resolver_options;
  resolver_options.cache_observer = [&metrics](bool hit) { metrics.CacheLookup(hit); };
  registry::Resolver resolver(registry_client, resolver_options);

  std::unique_ptr<kube::Client> kube_client;
  std::unique_ptr<webhook::KubeCluster> cluster;
  auto cluster_config = kube::LoadDefault(config.kubeconfig);
  if (!cluster_config.ok()) {
    if (!config.kubeconfig.empty() || cluster_config.error().code != ErrorCode::kNotFound) {
      return Fail("Kubernetes API: " + cluster_config.error().message);
    }
    log::Info("no Kubernetes API configured (no kubeconfig, not in a cluster): pull secrets and the node check are off");
  } else {
    auto made = kube::NewHttpClient(*cluster_config);
    if (!made.ok()) return Fail("Kubernetes API: " + made.error().message);
    kube_client = std::move(*made);
    cluster = std::make_unique<webhook::KubeCluster>(*kube_client, config.global_pull_secret, Hostname(), &metrics);
    cluster->Start();
  }

  // Scheduling gates on a miss (webhook/gates.h): where the API serves them; the gate
  // controller runs wherever there is an API (it also writes the Events that waited for a
  // pod's name, and releases pods gated before onMiss was changed).
  bool gate_on_miss = false;
  std::unique_ptr<kube::Client> gate_client;
  std::unique_ptr<webhook::GateController> gates;
  if (kube_client) {
    const webhook::GateSupport support = webhook::DetectSchedulingGates(*kube_client);
    gate_on_miss = config.on_miss == webhook::OnMissPolicy::kGate && support.supported;
    if (config.on_miss == webhook::OnMissPolicy::kGate && !support.supported) {
      log::Warn("onMiss is gate but the API server does not serve scheduling gates: pods whose look-ups miss the "
                "budget are admitted without affinity (as onMiss: admit)",
                {{"reason", support.reason}});
    }
    auto made = kube::NewHttpClient(*cluster_config, GateClientOptions());
    if (!made.ok()) return Fail("Kubernetes API: " + made.error().message);
    gate_client = std::move(*made);
    webhook::GateControllerOptions gate_options;
    gate_options.decision.policy = config.no_common_platform;
    gate_options.decision.skip_namespaces = config.skip_namespaces;
    gate_options.decision.preferred_platforms = config.preferred_platforms;
    gate_options.gate_timeout = config.gate_timeout;
    gate_options.lease_namespace = config.gate_lease_namespace;
    gate_options.lease_name = config.gate_lease_name;
    gate_options.lease_duration = config.gate_lease_duration;
    gate_options.identity = LeaseIdentity(Hostname());
    gates = std::make_unique<webhook::GateController>(
        *gate_client, resolver, gate_options,
        webhook::GateControllerDeps{
            .secrets = cluster.get(), .nodes = cluster.get(), .namespaces = cluster.get(), .metrics = &metrics});
    gates->Start();
  } else if (config.on_miss == webhook::OnMissPolicy::kGate) {
    log::Info("no Kubernetes API: onMiss is admit (nothing could release a gated pod)");
  }

  auto tls = webhook::TlsContextProvider::Create(config.tls_cert_file, config.tls_key_file);
  if (!tls.ok()) return Fail(tls.error().message);

  webhook::AdmitterOptions admitter_options;
  admitter_options.decision.policy = config.no_common_platform;
  admitter_options.mode = config.mode;
  admitter_options.decision.skip_namespaces = config.skip_namespaces;
  admitter_options.decision.preferred_platforms = config.preferred_platforms;
  admitter_options.budget = config.budget;
  admitter_options.gate_on_miss = gate_on_miss;
  admitter_options.gate_controller = gates != nullptr;
  admitter_options.gate_timeout = config.gate_timeout;
  admitter_options.daemon_sets = config.daemon_sets;
  webhook::AdmitterDeps deps;
  deps.metrics = &metrics;
  if (cluster) {
    deps.secrets = cluster.get();
    deps.nodes = cluster.get();
    deps.namespaces = cluster.get();
    deps.events = cluster.get();
  }
  // DaemonSets' Events, and their templates patched after a look-up missed the budget.
  std::unique_ptr<webhook::KubeDaemonSets> daemon_set_api;
  std::unique_ptr<webhook::TemplatePatcher> template_patcher;
  if (cluster && config.daemon_sets) {
    daemon_set_api = std::make_unique<webhook::KubeDaemonSets>(*kube_client, Hostname());
    template_patcher = std::make_unique<webhook::TemplatePatcher>(
        *daemon_set_api, resolver, cluster.get(), cluster.get(), cluster.get(), &metrics,
        webhook::TemplatePatcherOptions{.decision = admitter_options.decision});
    template_patcher->Start();
    deps.templates = template_patcher.get();
  }
  auto admitter = std::make_unique<webhook::Admitter>(resolver, admitter_options, deps);

  webhook::ServerOptions server_options;
  server_options.https = *https_address;
  server_options.metrics = *metrics_address;
  webhook::KubeCluster* cluster_view = cluster.get();
  webhook::Server server(server_options, *admitter, **tls, metrics,
                         [cluster_view] { return cluster_view == nullptr || cluster_view->HasSynced(); });
  if (Status s = server.Start(); !s.ok()) return Fail(s.error().message);
  log::Info("archway webhook serving",
            {{"https_port", std::to_string(server.https_port())},
             {"metrics_port", std::to_string(server.metrics_port())},
             {"budget", FormatDuration(config.budget)},
             {"noCommonPlatform", webhook::PolicyName(config.no_common_platform)},
             {"onMiss", gate_on_miss ? "gate" : "admit"},
             {"daemonSets", config.daemon_sets ? "on" : "off"},
             {"mode", webhook::ModeName(config.mode)},
             {"kubernetes", cluster ? "on" : "off"}});

  const int signal_number = stop_signals.Wait();
  log::Info("stopping: draining requests in flight", {{"signal", std::to_string(signal_number)}});
  server.Shutdown(config.budget + std::chrono::seconds(5));
  if (gates) gates->Stop();  // releases the Lease: a standby replica takes over at once
  if (cluster) cluster->Stop();
  log::Info("archway webhook stopped");
  // Every answer is written. Look-ups still running past their budget only warm a cache
  // that ends with this process, and a hanging registry would hold them for the client's
  // request timeout: exit without waiting for (or destroying) the look-up pool, nor for a
  // template patch waiting on one (its DaemonSet is placed at its next update).
  std::fflush(nullptr);
  _exit(0);
}

CommandRegistration registration("webhook", "serve the mutating admission webhook (HTTPS)", Run);

}  // namespace
}  // namespace archway::cmd

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
#include "webhook/kube_cluster.h"
#include "webhook/metrics.h"
#include "webhook/server.h"
#include "webhook/tls_context.h"

namespace archway::cmd {
namespace {

std::string Hostname() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) return "archway-webhook";
  return host;
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
    cluster = std::make_unique<webhook::KubeCluster>(*kube_client, config.global_pull_secret, Hostname());
    cluster->Start();
  }

  auto tls = webhook::TlsContextProvider::Create(config.tls_cert_file, config.tls_key_file);
  if (!tls.ok()) return Fail(tls.error().message);

  webhook::AdmitterOptions admitter_options;
  admitter_options.decision.policy = config.no_common_platform;
  admitter_options.mode = config.mode;
  admitter_options.decision.skip_namespaces = config.skip_namespaces;
  admitter_options.budget = config.budget;
  webhook::AdmitterDeps deps;
  deps.metrics = &metrics;
  if (cluster) {
    deps.secrets = cluster.get();
    deps.nodes = cluster.get();
    deps.events = cluster.get();
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
             {"mode", webhook::ModeName(config.mode)},
             {"kubernetes", cluster ? "on" : "off"}});

  const int signal_number = stop_signals.Wait();
  log::Info("stopping: draining requests in flight", {{"signal", std::to_string(signal_number)}});
  server.Shutdown(config.budget + std::chrono::seconds(5));
  if (cluster) cluster->Stop();
  log::Info("archway webhook stopped");
  // Every answer is written. Look-ups still running past their budget only warm a cache
  // that ends with this process, and a hanging registry would hold them for the client's
  // request timeout: exit without waiting for (or destroying) the look-up pool.
  std::fflush(nullptr);
  _exit(0);
}

CommandRegistration registration("webhook", "serve the mutating admission webhook (HTTPS)", Run);

}  // namespace
}  // namespace archway::cmd

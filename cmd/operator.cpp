// `archway operator --config FILE [--key value ...]`: the MultiArchImage operator.
// Reads the config (operator/config.h), connects to the API (kubeconfig or in-cluster),
// serves /healthz + /readyz and /metrics, campaigns for the Lease when leader election is
// on, and runs the controller only while leading. SIGTERM/SIGINT release the Lease.
#include <csignal>
#include <cstdio>
#include <thread>
#include <unistd.h>

#include "base/duration.h"
#include "base/log.h"
#include "cmd/command.h"
#include "cmd/server_process.h"
#include "cmd/registry_options.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/events.h"
#include "kube/leader.h"
#include "operator/config.h"
#include "operator/controller.h"
#include "operator/health_server.h"
#include "operator/metrics.h"
#include "registry/client.h"
#include "registry/resolver.h"

namespace archway::cmd {
namespace {

constexpr const char* kUsage =
    "usage: archway operator [--config FILE] [--<key> VALUE ...]\n"
    "\n"
    "Runs the MultiArchImage operator. Every key of the config file can be overridden by a\n"
    "flag of the same name: --kubeconfig, --metricsListen (or --metrics-listen), --healthListen,\n"
    "--leaderElection.enabled, --leaderElection.namespace, --leaderElection.leaseName, --resync,\n"
    "--registries.configFile, --registries.dockerConfig, --builder.buildahImage,\n"
    "--builder.buildkitImage, --builder.gitImage.\n";

int Run(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  const std::string config_path = ConfigFlag(args);
  // Before any thread starts: the main thread alone receives the stop signals.
  StopSignals stop_signals;

  log::SetSink(log::JsonStderrSink());
  op::OperatorConfig config;
  if (!config_path.empty()) {
    auto loaded = op::LoadOperatorConfig(config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "archway operator: %s\n", loaded.error().message.c_str());
      return 2;
    }
    config = *loaded;
  }
  if (Status s = op::ApplyConfigFlags(config, args); !s.ok()) {
    std::fprintf(stderr, "archway operator: %s\n%s", s.error().message.c_str(), kUsage);
    return 2;
  }

  auto cluster = kube::LoadDefault(config.kubeconfig);
  if (!cluster.ok()) {
    std::fprintf(stderr, "archway operator: no Kubernetes API: %s\n", cluster.error().message.c_str());
    return 1;
  }
  auto kube_client = kube::NewHttpClient(*cluster);
  if (!kube_client.ok()) {
    std::fprintf(stderr, "archway operator: %s\n", kube_client.error().message.c_str());
    return 1;
  }
  RegistryFlags registry_flags;
  registry_flags.registries_file = config.registries_config_file;
  registry_flags.docker_config = config.registries_docker_config;
  auto registry_options = BuildClientOptions(registry_flags);
  if (!registry_options.ok()) {
    std::fprintf(stderr, "archway operator: %s\n", registry_options.error().message.c_str());
    return 1;
  }
  registry::Client registry_client(std::move(*registry_options));
  registry::ResolverOptions resolver_options;
  registry::Resolver resolver(registry_client, resolver_options);

  op::Metrics metrics;
  op::HealthServer metrics_server(config.metrics_listen, nullptr, [&metrics] { return metrics.Exposition(); });
  if (Status s = metrics_server.Start(); !s.ok()) {
    std::fprintf(stderr, "archway operator: metrics: %s\n", s.error().message.c_str());
    return 1;
  }

  const std::string identity = LeaseIdentity("archway-operator");
  kube::EventRecorder events(**kube_client, {"archway.dev/operator", identity});
  op::Controller controller(**kube_client, registry_client, resolver, &events, &metrics, config);
  std::unique_ptr<kube::LeaderElector> elector;

  op::HealthServer health(config.health_listen, [&] {
    // A standby replica is ready (it serves probes and waits for the Lease); the leader
    // is ready once its caches have synced.
    if (!config.leader_election_enabled) return controller.Synced();
    return elector != nullptr && (!elector->IsLeader() || controller.Synced());
  });
  if (Status s = health.Start(); !s.ok()) {
    std::fprintf(stderr, "archway operator: health: %s\n", s.error().message.c_str());
    return 1;
  }

  log::Info("archway operator starting", {{"identity", identity}, {"metricsListen", config.metrics_listen},
                                          {"healthListen", config.health_listen},
                                          {"leaderElection", config.leader_election_enabled ? "true" : "false"},
                                          {"resync", FormatDuration(config.resync)}});
  if (config.leader_election_enabled) {
    kube::LeaderElectionConfig le;
    le.lease_namespace = config.leader_election_namespace;
    le.lease_name = config.leader_election_lease_name;
    le.identity = identity;
    le.on_started_leading = [&] {
      log::Info("became leader; starting the controller", {{"identity", identity}});
      controller.Start();
    };
    le.on_stopped_leading = [&] {
      // As controller-runtime does: a replica that lost the Lease exits and restarts
      // clean rather than racing the new leader.
      log::Warn("lost leadership; exiting", {{"identity", identity}});
      kill(getpid(), SIGTERM);
    };
    elector = std::make_unique<kube::LeaderElector>(**kube_client, le);
    elector->Start();
  } else {
    controller.Start();
  }

  const int signal = stop_signals.Wait();
  log::Info("stopping", {{"signal", std::to_string(signal)}});
  if (elector) elector->Stop();
  controller.Stop();
  health.Stop();
  metrics_server.Stop();
  return 0;
}

CommandRegistration reg("operator", "run the MultiArchImage operator (--config FILE)", Run);

}  // namespace
}  // namespace archway::cmd

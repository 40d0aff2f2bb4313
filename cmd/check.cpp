// archway check -f FILE|DIR|-: which workloads of a set of manifests can run on which
// platforms, before they are deployed (check/report.h has the output and exit codes).
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "check/evaluate.h"
#include "check/manifests.h"
#include "check/report.h"
#include "check/resolve.h"
#include "check/targets.h"
#include "cmd/command.h"
#include "cmd/registry_options.h"
#include "kube/client.h"
#include "kube/config.h"
#include "registry/client.h"
#include "registry/resolver.h"

namespace archway::cmd {
namespace {

constexpr const char* kUsage =
    "usage: archway check -f FILE|DIR|- [-f ...] [--platforms LIST | --kubeconfig [PATH]] [--json]\n"
    "                     [--fail-on none|any|missing] [--show-affinity] [registry flags]\n"
    "\n"
    "Reads Kubernetes manifests (multi-document YAML, JSON, kind: List; directories\n"
    "recursively; - for standard input) and says for each Pod, Deployment, ReplicaSet,\n"
    "StatefulSet, DaemonSet, Job, CronJob and ReplicationController which platforms its\n"
    "images share and whether it can run on each target platform. Other kinds are counted.\n"
    "  helm template . | archway check -f - --platforms linux/amd64,linux/arm64\n"
    "  kubectl get deploy,ds,sts -A -o yaml | archway check -f - --kubeconfig\n"
    "\n"
    "  -f, --filename PATH   a file, a directory or - (standard input); repeatable\n"
    "  --platforms LIST      target platforms, e.g. linux/amd64,linux/arm64,linux/arm/v7\n"
    "  --kubeconfig [PATH]   target the platforms of a cluster's Ready nodes (without PATH:\n"
    "                        in-cluster, $KUBECONFIG or ~/.kube/config, its current context)\n"
    "  --json                one JSON report (schema archway.dev/check/v1) on stdout\n"
    "  --fail-on WHEN        any (default): exit 1 when a workload cannot run on some target\n"
    "                        or an image cannot be resolved; missing: only when it runs on\n"
    "                        no target; none: never\n"
    "  --show-affinity       the webhook's answer for each workload's pods (its own code)\n"
    "  --concurrency N       image look-ups at a time (default 8)\n"
    "\n"
    "Exit status: 0 every workload runs on every target, 1 some cannot (--fail-on), 2 usage\n"
    "error or a document/workload that could not be read (reasons on stderr).\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "archway: check: %s\n%s%s", problem.c_str(), kUsage, kRegistryFlagsHelp);
  return 2;
}

struct CheckFlags {
  std::vector<std::string> paths;
  std::string platforms;
  bool cluster = false;
  std::string kubeconfig;
  bool json = false;
  bool show_affinity = false;
  check::FailOn fail_on = check::FailOn::kAny;
  size_t concurrency = 8;
};

// The value of the flag at args[i] (advancing i), or an error naming the flag.
Result<std::string> Value(const std::vector<std::string>& args, size_t& i) {
  if (i + 1 >= args.size()) return Error(ErrorCode::kInvalidArgument, args[i] + " needs a value");
  return args[++i];
}

// The progress line on a terminal: "resolving images: 3/10", rewritten in place.
void Progress(size_t done, size_t total) {
  std::fprintf(stderr, "\rresolving images: %zu/%zu", done, total);
  if (done == total) std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

int Check(const std::vector<std::string>& args) {
  RegistryFlags registry_flags;
  CheckFlags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::printf("%s%s", kUsage, kRegistryFlagsHelp);
      return 0;
    }
    auto consumed = ConsumeRegistryFlag(args, i, registry_flags);
    if (!consumed.ok()) return Usage(consumed.error().message);
    if (*consumed) continue;
    if (arg == "-f" || arg == "--filename") {
      auto v = Value(args, i);
      if (!v.ok()) return Usage(v.error().message);
      flags.paths.push_back(*v);
    } else if (arg.starts_with("--filename=")) {
      flags.paths.push_back(arg.substr(11));
    } else if (arg == "--platforms") {
      auto v = Value(args, i);
      if (!v.ok()) return Usage(v.error().message);
      flags.platforms = *v;
    } else if (arg == "--kubeconfig") {
      flags.cluster = true;
      // The value is optional: without one, the current context.
      if (i + 1 < args.size() && !args[i + 1].starts_with("-")) flags.kubeconfig = args[++i];
    } else if (arg.starts_with("--kubeconfig=")) {
      flags.cluster = true;
      flags.kubeconfig = arg.substr(13);
    } else if (arg == "--json") {
      flags.json = true;
    } else if (arg == "--show-affinity") {
      flags.show_affinity = true;
    } else if (arg == "--fail-on") {
      auto v = Value(args, i);
      if (!v.ok()) return Usage(v.error().message);
      auto fail_on = check::ParseFailOn(*v);
      if (!fail_on.ok()) return Usage(fail_on.error().message);
      flags.fail_on = *fail_on;
    } else if (arg == "--concurrency") {
      auto v = Value(args, i);
      if (!v.ok()) return Usage(v.error().message);
      char* end = nullptr;
      const unsigned long n = std::strtoul(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || n < 1 || n > 64) return Usage("--concurrency: a number from 1 to 64");
      flags.concurrency = n;
    } else if (arg == "-") {
      return Usage("- is a file name: write -f -");
    } else {
      return Usage((arg.starts_with("-") ? "unknown flag " : "unexpected argument ") + arg);
    }
  }
  if (flags.paths.empty()) return Usage("no manifests: give -f FILE, -f DIR or -f -");
  if (flags.cluster && !flags.platforms.empty()) return Usage("--platforms and --kubeconfig exclude each other");

  check::Report report;
  report.fail_on = flags.fail_on;
  report.show_affinity = flags.show_affinity;
  check::EvaluateOptions evaluate_options;
  if (!flags.platforms.empty()) {
    auto platforms = check::ParsePlatformList(flags.platforms);
    if (!platforms.ok()) return Usage("--platforms: " + platforms.error().message);
    report.targets.source = check::TargetInfo::Source::kFlag;
    report.targets.platforms = std::move(*platforms);
  } else if (flags.cluster) {
    auto cluster = kube::LoadDefault(flags.kubeconfig);
    if (!cluster.ok()) {
      std::fprintf(stderr, "archway: check: no Kubernetes API: %s\n", cluster.error().message.c_str());
      return 2;
    }
    auto client = kube::NewHttpClient(*cluster);
    if (!client.ok()) {
      std::fprintf(stderr, "archway: check: %s\n", client.error().message.c_str());
      return 2;
    }
    auto nodes = check::ReadyNodePlatforms(**client);
    if (!nodes.ok()) {
      std::fprintf(stderr, "archway: check: %s\n", nodes.error().message.c_str());
      return 2;
    }
    report.targets.source = check::TargetInfo::Source::kCluster;
    report.targets.platforms = nodes->platforms;
    report.targets.ready_nodes = nodes->ready_nodes;
    report.targets.cluster = cluster->server;
    // The webhook's node check: what the Ready nodes run.
    std::set<webhook::OsArch> ready;
    for (const auto& platform : nodes->platforms) ready.insert({platform.os, platform.architecture});
    evaluate_options.facts.ready_node_platforms = std::move(ready);
    if (nodes->platforms.empty()) {
      std::fprintf(stderr, "archway: check: the cluster has no Ready node with kubernetes.io/os and arch labels\n");
      return 2;
    }
  }

  check::Manifests manifests;
  bool read_stdin = false;
  for (const auto& path : flags.paths) {
    if (path == "-") {
      if (read_stdin) return Usage("-f - given twice");
      read_stdin = true;
      std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      check::ReadManifestText("-", text, manifests);
    } else {
      check::ReadManifestPath(path, manifests);
    }
  }
  report.manifests = &manifests;

  std::vector<std::string> images;
  for (const auto& workload : manifests.workloads) {
    auto names = check::ImagesOf(workload);
    if (names.ok()) images.insert(images.end(), names->begin(), names->end());
  }
  auto requests = std::make_shared<std::atomic<int>>(0);
  auto client_options = BuildClientOptions(registry_flags, requests);
  if (!client_options.ok()) return Usage(DescribeError(client_options.error()));
  registry::Client client(std::move(*client_options));
  registry::Resolver resolver(client, registry::ResolverOptions{});
  check::ResolveOptions resolve_options;
  resolve_options.concurrency = flags.concurrency;
  if (!flags.json && isatty(STDERR_FILENO) == 1) resolve_options.progress = Progress;
  const check::ImageTable table = check::ResolveImages(resolver, images, resolve_options);
  report.images = table.size();
  report.registry_requests = requests->load();

  for (const auto& workload : manifests.workloads) {
    report.results.push_back(check::Evaluate(workload, table, report.targets.platforms, evaluate_options));
  }
  if (flags.json) {
    std::printf("%s\n", check::RenderJson(report).dump(2).c_str());
  } else {
    std::fputs(check::RenderText(report).c_str(), stdout);
  }
  std::fflush(stdout);
  for (const auto& line : check::ReasonLines(report)) std::fprintf(stderr, "archway: check: %s\n", line.c_str());
  return report.ExitCode();
}

CommandRegistration registration("check", "which workloads of a set of manifests run on which platforms", Check);

}  // namespace
}  // namespace archway::cmd

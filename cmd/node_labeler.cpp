// `archway node-labeler`: labels the Node it runs on with archway.dev/arm-variant and,
// on arm64, archway.dev/arm32 (nodeinfo/labels.h), then re-checks every --interval until
// SIGTERM/SIGINT. `--print` shows this machine's facts and labels without an API.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/log.h"
#include "cmd/command.h"
#include "cmd/server_process.h"
#include "kube/client.h"
#include "kube/config.h"
#include "nodeinfo/labeler.h"

namespace archway::cmd {
namespace {

constexpr const char* kUsage =
    "usage: archway node-labeler [--node-name NAME] [--kubeconfig PATH] [--interval DURATION]\n"
    "                            [--once] [--dry-run]\n"
    "       archway node-labeler --print [--json] [--node-arch ARCH] [--cpuinfo FILE]\n"
    "\n"
    "Labels the Node it runs on: archway.dev/arm-variant=v5|v6|v7|v8 (the variant containerd\n"
    "on the node selects images for; v8 on arm64) and, on arm64 nodes, archway.dev/arm32=v8|none\n"
    "(whether a 32-bit arm program executes natively, proven by executing one). It patches only\n"
    "its own Node and only those two labels, removing one that no longer applies, and writes\n"
    "nothing when they are already right.\n"
    "\n"
    "  --node-name NAME      the Node (default: $NODE_NAME, set from the downward API)\n"
    "  --kubeconfig PATH     default: in-cluster, then $KUBECONFIG, then ~/.kube/config\n"
    "  --interval DURATION   re-check period (default 10m)\n"
    "  --once                check once and exit (status 1 on failure)\n"
    "  --dry-run             read the Node and print the patch, write nothing\n"
    "  --print               no API: print this machine's facts and the labels it would get\n"
    "  --json                with --print: one JSON object\n"
    "  --node-arch ARCH      with --print: the node's kubernetes.io/arch (default: this binary's)\n"
    "  --cpuinfo FILE        with --print: read FILE instead of /proc/cpuinfo\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "archway node-labeler: %s\n%s", problem.c_str(), kUsage);
  return 2;
}

struct Flags {
  std::string node_name;
  std::string kubeconfig;
  std::chrono::milliseconds interval{std::chrono::minutes(10)};
  bool once = false;
  bool dry_run = false;
  bool print = false;
  bool json = false;
  std::string node_arch;
  std::string cpuinfo_path = "/proc/cpuinfo";
};

nlohmann::ordered_json LabelsJson(const nodeinfo::LabelPlan& plan) {
  nlohmann::ordered_json labels = nlohmann::ordered_json::object();
  for (const auto& [key, value] : plan.labels) labels[key] = value ? nlohmann::ordered_json(*value) : nullptr;
  return labels;
}

std::string LabelsText(const nodeinfo::LabelPlan& plan) {
  std::string text;
  for (const auto& [key, value] : plan.labels) {
    if (!text.empty()) text += ",";
    text += key + (value ? "=" + *value : "-");
  }
  return text;
}

std::string Joined(const std::vector<std::string>& notes) {
  std::string text;
  for (const auto& note : notes) text += (text.empty() ? "" : "; ") + note;
  return text;
}

nlohmann::ordered_json FactsJson(const nodeinfo::NodeFacts& facts) {
  char hex[2][32];
  std::snprintf(hex[0], sizeof(hex[0]), "0x%llx", static_cast<unsigned long long>(facts.hwcap));
  std::snprintf(hex[1], sizeof(hex[1]), "0x%llx", static_cast<unsigned long long>(facts.hwcap2));
  nlohmann::ordered_json out;
  out["nodeArch"] = facts.node_arch;
  out["nodeArchSource"] = facts.node_arch_source;
  out["buildArch"] = facts.process_arch;
  out["machine"] = facts.machine;
  out["hwcap"] = hex[0];
  out["hwcap2"] = hex[1];
  if (facts.cpuinfo) {
    const auto& c = *facts.cpuinfo;
    out["cpuinfo"] = {{"processors", c.processors}, {"cpuArchitecture", c.cpu_architecture},
                      {"modelName", c.model_name},   {"cpuImplementer", c.cpu_implementer},
                      {"cpuPart", c.cpu_part},       {"hardware", c.hardware},
                      {"model", c.model},            {"features", c.features}};
  } else {
    out["cpuinfo"] = {{"error", facts.cpuinfo_error}};
  }
  nlohmann::ordered_json handlers = nlohmann::ordered_json::array();
  for (const auto& h : nodeinfo::HandlersFor(facts.binfmt, nodeinfo::Arm32ProbeElf())) {
    handlers.push_back({{"name", h.name}, {"interpreter", h.interpreter}, {"flags", h.flags}});
  }
  out["binfmtMisc"] = {{"visible", facts.binfmt.visible}, {"enabled", facts.binfmt.enabled},
                       {"arm32Handlers", handlers}, {"problem", facts.binfmt.problem}};
  if (facts.arm32) {
    out["arm32Probe"] = {{"support", nodeinfo::Arm32SupportName(facts.arm32->support)},
                         {"machine", facts.arm32->machine}, {"detail", facts.arm32->detail}};
  }
  return out;
}

int Print(const Flags& flags) {
  nodeinfo::GatherOptions options;
  options.cpuinfo_path = flags.cpuinfo_path;
  options.probe_arm32 = true;
  const bool given = !flags.node_arch.empty();
  nodeinfo::NodeFacts facts =
      nodeinfo::GatherLocalFacts(given ? flags.node_arch : nodeinfo::BuildArch(),
                                 given ? "--node-arch" : "this binary's architecture", options);
  nodeinfo::LabelPlan plan = nodeinfo::PlanLabels(facts);
  if (flags.json) {
    nlohmann::ordered_json out;
    out["facts"] = FactsJson(facts);
    out["labels"] = LabelsJson(plan);
    out["notes"] = plan.notes;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  const nlohmann::ordered_json f = FactsJson(facts);
  std::printf("node arch     %s (%s)\n", facts.node_arch.c_str(), facts.node_arch_source.c_str());
  std::printf("uname -m      %s (archway built for %s)\n", facts.machine.c_str(), facts.process_arch.c_str());
  std::printf("AT_HWCAP      %s, AT_HWCAP2 %s\n", f["hwcap"].get<std::string>().c_str(),
              f["hwcap2"].get<std::string>().c_str());
  if (facts.cpuinfo) {
    const auto& c = *facts.cpuinfo;
    std::printf("cpuinfo       %d processors, CPU architecture \"%s\", model name \"%s\"", c.processors,
                c.cpu_architecture.c_str(), c.model_name.c_str());
    if (!c.cpu_part.empty()) std::printf(", implementer %s part %s", c.cpu_implementer.c_str(), c.cpu_part.c_str());
    if (!c.model.empty()) std::printf(", %s", c.model.c_str());
    std::printf("\n");
  } else {
    std::printf("cpuinfo       unreadable: %s\n", facts.cpuinfo_error.c_str());
  }
  auto handlers = nodeinfo::HandlersFor(facts.binfmt, nodeinfo::Arm32ProbeElf());
  if (!facts.binfmt.visible) {
    std::printf("binfmt_misc   not visible (%s)\n", facts.binfmt.problem.c_str());
  } else if (handlers.empty()) {
    std::printf("binfmt_misc   %s, no handler for 32-bit arm programs\n", facts.binfmt.enabled ? "enabled" : "disabled");
  }
  for (const auto& h : handlers) {
    std::printf("binfmt_misc   %s -> %s (flags %s)\n", h.name.c_str(), h.interpreter.c_str(), h.flags.c_str());
  }
  if (facts.arm32) {
    std::printf("arm32 probe   %s: %s\n", nodeinfo::Arm32SupportName(facts.arm32->support), facts.arm32->detail.c_str());
  }
  for (const auto& [key, value] : plan.labels) {
    std::printf("label         %s%s\n", key.c_str(), value ? ("=" + *value).c_str() : " (absent)");
  }
  for (const auto& note : plan.notes) std::printf("note          %s\n", note.c_str());
  return 0;
}

nodeinfo::FactsSource LocalFacts() {
  return [](const std::string& node_arch) {
    nodeinfo::GatherOptions options;
    options.probe_arm32 = node_arch == "arm64";
    std::string arch = node_arch.empty() ? nodeinfo::BuildArch() : node_arch;
    return nodeinfo::GatherLocalFacts(arch, node_arch.empty() ? "this binary's architecture (the Node has no "
                                                                "kubernetes.io/arch label)"
                                                              : "the Node's kubernetes.io/arch label",
                                      options);
  };
}

int Run(const std::vector<std::string>& args) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--once") {
      flags.once = true;
    } else if (arg == "--dry-run") {
      flags.dry_run = true;
    } else if (arg == "--print") {
      flags.print = true;
    } else if (arg == "--json") {
      flags.json = true;
    } else if (arg == "--node-name" || arg == "--kubeconfig" || arg == "--interval" || arg == "--node-arch" ||
               arg == "--cpuinfo") {
      const std::string* v = value();
      if (v == nullptr) return Usage(arg + " needs a value");
      if (arg == "--node-name") flags.node_name = *v;
      if (arg == "--kubeconfig") flags.kubeconfig = *v;
      if (arg == "--node-arch") flags.node_arch = *v;
      if (arg == "--cpuinfo") flags.cpuinfo_path = *v;
      if (arg == "--interval") {
        auto parsed = ParseDuration(*v);
        if (!parsed.ok()) return Usage("--interval: " + parsed.error().message);
        if (parsed->count() < 1000) return Usage("--interval must be at least 1s");
        flags.interval = *parsed;
      }
    } else {
      return Usage("unknown argument " + arg);
    }
  }
  if (flags.print) {
    if (flags.once || flags.dry_run || !flags.node_name.empty() || !flags.kubeconfig.empty()) {
      return Usage("--print uses no API: it excludes --once, --dry-run, --node-name and --kubeconfig");
    }
    return Print(flags);
  }
  if (flags.json || !flags.node_arch.empty() || flags.cpuinfo_path != "/proc/cpuinfo") {
    return Usage("--json, --node-arch and --cpuinfo go with --print (with the API, the Node's own label decides)");
  }
  if (flags.node_name.empty()) {
    const char* env = std::getenv("NODE_NAME");
    if (env != nullptr) flags.node_name = env;
  }
  if (flags.node_name.empty()) {
    return Usage("no node name: set NODE_NAME (the chart sets it from spec.nodeName) or pass --node-name");
  }
  if (std::string problem = nodeinfo::NodeNameProblem(flags.node_name); !problem.empty()) {
    return Usage("node name \"" + flags.node_name + "\" " + problem);
  }

  // Before any thread starts: the main thread alone receives the stop signals.
  StopSignals stop_signals;
  log::SetSink(log::JsonStderrSink());
  auto cluster = kube::LoadDefault(flags.kubeconfig);
  if (!cluster.ok()) {
    std::fprintf(stderr, "archway node-labeler: no Kubernetes API: %s\n", cluster.error().message.c_str());
    return 1;
  }
  auto client = kube::NewHttpClient(*cluster);
  if (!client.ok()) {
    std::fprintf(stderr, "archway node-labeler: %s\n", client.error().message.c_str());
    return 1;
  }

  const nodeinfo::FactsSource facts = LocalFacts();
  std::chrono::milliseconds retry{5000};
  bool reported = false;
  for (;;) {
    auto outcome = nodeinfo::Reconcile(**client, flags.node_name, facts, flags.dry_run);
    std::chrono::milliseconds wait = flags.interval;
    if (!outcome.ok()) {
      log::Error("node labels not checked", {{"node", flags.node_name}, {"error", outcome.error().message}});
      if (flags.once || flags.dry_run) return 1;
      wait = std::min(retry, flags.interval);
      retry = std::min(retry * 2, std::chrono::milliseconds(std::chrono::minutes(5)));
    } else {
      retry = std::chrono::milliseconds(5000);
      const auto& o = *outcome;
      if (flags.dry_run) {
        std::printf("%s\n", o.patch.is_null() ? "no change" : o.patch.dump().c_str());
        for (const auto& note : o.plan.notes) std::printf("note: %s\n", note.c_str());
        return 0;
      }
      const log::Level level = o.written || !reported ? log::Level::kInfo : log::Level::kDebug;
      log::Write(level, o.written ? "node labelled" : "node labels already right",
                 {{"node", flags.node_name},
                  {"nodeArch", o.facts.node_arch},
                  {"labels", LabelsText(o.plan)},
                  {"patch", o.patch.is_null() ? "" : o.patch.dump()},
                  {"notes", Joined(o.plan.notes)}});
      reported = true;
      if (flags.once) return 0;
    }
    if (int signal = stop_signals.WaitFor(wait); signal != 0) {
      log::Info("stopping", {{"signal", std::to_string(signal)}});
      return 0;
    }
  }
}

CommandRegistration registration("node-labeler", "label this node's arm variant and 32-bit arm support", Run);

}  // namespace
}  // namespace archway::cmd

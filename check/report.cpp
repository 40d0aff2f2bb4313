#include "check/report.h"

#include <algorithm>

#include "check/join.h"

namespace archway::check {
namespace {

using OJson = nlohmann::ordered_json;

std::string Pad(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

// The shared-platforms column: "linux/amd64,linux/arm64", "none", "any (data-only)", "?".
std::string SharedText(const WorkloadResult& result) {
  if (!result.resolved) return "? (unresolved)";
  if (!result.shared) return "any (data-only)";
  if (result.shared->empty()) return "none";
  std::vector<std::string> names;
  for (const auto& os_arch : *result.shared) names.push_back(os_arch.String());
  return Join(names, ",");
}

std::string TargetsLine(const TargetInfo& targets) {
  switch (targets.source) {
    case TargetInfo::Source::kNone:
      return "targets: none given (--platforms or --kubeconfig): listing what each workload supports";
    case TargetInfo::Source::kFlag: {
      std::vector<std::string> names;
      for (const auto& platform : targets.platforms) names.push_back(platform.String());
      return "targets: " + Join(names) + " (--platforms)";
    }
    case TargetInfo::Source::kCluster: {
      std::vector<std::string> counts;
      for (const auto& [platform, n] : targets.ready_nodes) {
        counts.push_back(platform + " (" + std::to_string(n) + (n == 1 ? " node)" : " nodes)"));
      }
      return "targets: the Ready nodes of " + (targets.cluster.empty() ? std::string("the cluster") : targets.cluster) +
             ": " + (counts.empty() ? std::string("none") : Join(counts));
    }
  }
  return "";
}

OJson SourceJson(const Source& source) {
  return OJson{{"file", source.file}, {"document", source.document}, {"item", source.item}, {"line", source.line}};
}

OJson Strings(const std::vector<std::string>& items) {
  OJson out = OJson::array();
  for (const auto& item : items) out.push_back(item);
  return out;
}

OJson WebhookJson(const WebhookView& view) {
  OJson out;
  out["result"] = webhook::ResultName(view.result);
  out["patch"] = view.patch.empty() ? OJson::array() : OJson::parse(view.patch);
  out["nodeAffinity"] = view.node_affinity.is_null() ? OJson() : OJson::parse(view.node_affinity.dump());
  OJson annotations = OJson::object();
  for (const auto& [key, value] : view.annotations) annotations[key] = value;
  out["annotations"] = std::move(annotations);
  out["warnings"] = Strings(view.warnings);
  out["denied"] = view.denial.empty() ? OJson() : OJson(view.denial);
  return out;
}

std::vector<std::string> TargetsWhere(const WorkloadResult& result, Verdict verdict) {
  std::vector<std::string> out;
  for (const auto& target : result.targets) {
    if (target.verdict == verdict) out.push_back(target.platform.String());
  }
  return out;
}

}  // namespace

const char* FailOnName(FailOn fail_on) {
  switch (fail_on) {
    case FailOn::kNone: return "none";
    case FailOn::kMissing: return "missing";
    case FailOn::kAny: break;
  }
  return "any";
}

Result<FailOn> ParseFailOn(const std::string& text) {
  if (text == "any") return FailOn::kAny;
  if (text == "missing") return FailOn::kMissing;
  if (text == "none") return FailOn::kNone;
  return Error(ErrorCode::kInvalidArgument, "--fail-on \"" + text + "\": expected none, any or missing");
}

bool Report::Fails(const WorkloadResult& result) const {
  if (!result.problem.empty()) return false;
  switch (fail_on) {
    case FailOn::kNone: return false;
    case FailOn::kMissing: return !result.RunsSomewhere();
    case FailOn::kAny: break;
  }
  return !result.RunsEverywhere();
}

int Report::ExitCode() const {
  if (manifests != nullptr && !manifests->problems.empty()) return 2;
  bool fails = false;
  for (const auto& result : results) {
    if (!result.problem.empty()) return 2;
    fails = fails || Fails(result);
  }
  return fails ? 1 : 0;
}

std::string RenderText(const Report& report) {
  std::string out = TargetsLine(report.targets) + "\n";
  const std::vector<Workload> no_workloads;
  const std::vector<Workload>& workloads = report.manifests ? report.manifests->workloads : no_workloads;
  size_t id_width = 8, shared_width = 9;
  for (size_t i = 0; i < report.results.size() && i < workloads.size(); ++i) {
    id_width = std::max(id_width, workloads[i].Id().size());
    shared_width = std::max(shared_width, SharedText(report.results[i]).size());
  }
  std::string header = Pad("WORKLOAD", id_width + 2) + Pad("PLATFORMS", shared_width + 2);
  std::vector<size_t> target_widths;
  for (const auto& platform : report.targets.platforms) {
    target_widths.push_back(std::max<size_t>(platform.String().size(), 7) + 2);
    header += Pad(platform.String(), target_widths.back());
  }
  while (!header.empty() && header.back() == ' ') header.pop_back();
  out += header + "\n";
  int runs_everywhere = 0, failing = 0, invalid = 0;
  for (size_t i = 0; i < report.results.size() && i < workloads.size(); ++i) {
    const WorkloadResult& result = report.results[i];
    std::string line = Pad(workloads[i].Id(), id_width + 2);
    if (!result.problem.empty()) {
      ++invalid;
      out += line + "invalid: " + result.problem + "\n";
      continue;
    }
    if (result.RunsEverywhere()) ++runs_everywhere;
    if (report.Fails(result)) ++failing;
    line += Pad(SharedText(result), shared_width + 2);
    for (size_t t = 0; t < result.targets.size() && t < target_widths.size(); ++t) {
      line += Pad(VerdictName(result.targets[t].verdict), target_widths[t]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
    for (const auto& reason : result.reasons) out += "    " + reason + "\n";
    if (report.show_affinity) {
      const WebhookView& view = result.webhook;
      out += "    webhook: " + std::string(webhook::ResultName(view.result));
      if (!view.denial.empty()) out += ": would deny: " + view.denial;
      out += "\n";
      if (!view.node_affinity.is_null()) out += "      nodeAffinity: " + view.node_affinity.dump() + "\n";
      for (const auto& [key, value] : view.annotations) out += "      annotation " + key + ": " + value + "\n";
      for (const auto& warning : view.warnings) out += "      warning: " + warning + "\n";
    }
  }
  std::string summary = "summary: " + std::to_string(report.results.size()) + " workload" +
                        (report.results.size() == 1 ? "" : "s");
  if (report.manifests) {
    summary += " in " + std::to_string(report.manifests->files) + " file" + (report.manifests->files == 1 ? "" : "s");
  }
  summary += ": " + std::to_string(runs_everywhere) +
             (report.targets.platforms.empty() ? " with a common platform" : " run on every target");
  summary += ", " + std::to_string(failing) + " failing (--fail-on " + FailOnName(report.fail_on) + ")";
  if (invalid > 0) summary += ", " + std::to_string(invalid) + " invalid";
  summary += "; " + std::to_string(report.images) + " image" + (report.images == 1 ? "" : "s");
  if (report.registry_requests >= 0) summary += ", " + std::to_string(report.registry_requests) + " registry requests";
  if (report.manifests) {
    if (!report.manifests->problems.empty()) {
      summary += "; " + std::to_string(report.manifests->problems.size()) + " unreadable document" +
                 (report.manifests->problems.size() == 1 ? "" : "s");
    }
    if (const int ignored = report.manifests->IgnoredCount(); ignored > 0) {
      std::vector<std::string> kinds;
      for (const auto& [kind, n] : report.manifests->ignored) kinds.push_back(kind + (n > 1 ? " x" + std::to_string(n) : ""));
      summary += "; " + std::to_string(ignored) + " other object" + (ignored == 1 ? "" : "s") + " ignored (" +
                 Join(kinds) + ")";
    }
  }
  out += summary + "\n";
  return out;
}

nlohmann::ordered_json RenderJson(const Report& report) {
  OJson out;
  out["schema"] = kReportSchema;
  OJson targets;
  targets["source"] = report.targets.source == TargetInfo::Source::kFlag      ? "flag"
                      : report.targets.source == TargetInfo::Source::kCluster ? "cluster"
                                                                              : "none";
  OJson target_platforms = OJson::array();
  for (const auto& platform : report.targets.platforms) target_platforms.push_back(platform.String());
  targets["platforms"] = std::move(target_platforms);
  OJson ready = OJson::object();
  for (const auto& [platform, n] : report.targets.ready_nodes) ready[platform] = n;
  targets["readyNodes"] = std::move(ready);
  out["targets"] = std::move(targets);

  const std::vector<Workload> no_workloads;
  const std::vector<Workload>& workloads = report.manifests ? report.manifests->workloads : no_workloads;
  OJson list = OJson::array();
  int runs_everywhere = 0, failing = 0, invalid = 0;
  size_t unresolved_images = 0;
  std::vector<std::string> unresolved_seen;
  for (size_t i = 0; i < report.results.size() && i < workloads.size(); ++i) {
    const Workload& workload = workloads[i];
    const WorkloadResult& result = report.results[i];
    OJson w;
    w["kind"] = workload.kind;
    w["apiVersion"] = workload.api_version;
    w["namespace"] = workload.ns;
    w["name"] = workload.name;
    w["source"] = SourceJson(workload.source);
    w["problem"] = result.problem.empty() ? OJson() : OJson(result.problem);
    if (!result.problem.empty()) ++invalid;
    OJson images = OJson::array();
    for (const auto& info : result.images) {
      OJson image;
      image["image"] = info.image;
      OJson platforms = OJson::array();
      if (info.platforms) {
        for (const auto& platform : info.platforms->platforms) platforms.push_back(platform.String());
      }
      image["platforms"] = std::move(platforms);
      image["dataOnly"] = info.outcome.data_only;
      image["error"] = info.platforms ? OJson() : OJson(info.outcome.error);
      if (!info.platforms && std::find(unresolved_seen.begin(), unresolved_seen.end(), info.image) == unresolved_seen.end()) {
        unresolved_seen.push_back(info.image);
        ++unresolved_images;
      }
      images.push_back(std::move(image));
    }
    w["images"] = std::move(images);
    if (result.resolved && result.shared) {
      OJson shared = OJson::array();
      for (const auto& os_arch : *result.shared) shared.push_back(os_arch.String());
      w["platforms"] = std::move(shared);
    } else {
      w["platforms"] = OJson();
    }
    w["runsEverywhere"] = result.RunsEverywhere();
    w["runsSomewhere"] = result.RunsSomewhere();
    if (result.problem.empty() && result.RunsEverywhere()) ++runs_everywhere;
    OJson target_results = OJson::array();
    for (const auto& target : result.targets) {
      target_results.push_back(OJson{{"platform", target.platform.String()},
                                     {"runs", VerdictName(target.verdict)},
                                     {"lacking", Strings(target.lacking)},
                                     {"unresolved", Strings(target.unresolved)}});
    }
    w["targets"] = std::move(target_results);
    w["reasons"] = Strings(result.reasons);
    const bool fails = report.Fails(result);
    if (fails) ++failing;
    w["fails"] = fails;
    w["webhook"] = report.show_affinity && result.problem.empty() ? WebhookJson(result.webhook) : OJson();
    list.push_back(std::move(w));
  }
  out["workloads"] = std::move(list);

  OJson problems = OJson::array();
  OJson ignored_kinds = OJson::object();
  int files = 0, ignored = 0;
  if (report.manifests) {
    for (const auto& problem : report.manifests->problems) {
      problems.push_back(OJson{{"source", SourceJson(problem.source)}, {"message", problem.message}});
    }
    for (const auto& [kind, n] : report.manifests->ignored) ignored_kinds[kind] = n;
    files = report.manifests->files;
    ignored = report.manifests->IgnoredCount();
  }
  out["problems"] = std::move(problems);
  out["ignored"] = OJson{{"count", ignored}, {"kinds", std::move(ignored_kinds)}};
  out["summary"] = OJson{{"files", files},
                         {"workloads", report.results.size()},
                         {"runEverywhere", runs_everywhere},
                         {"failing", failing},
                         {"invalid", invalid},
                         {"images", report.images},
                         {"unresolved", unresolved_images},
                         {"registryRequests", report.registry_requests}};
  out["failOn"] = FailOnName(report.fail_on);
  out["exitCode"] = report.ExitCode();
  return out;
}

std::vector<std::string> ReasonLines(const Report& report) {
  std::vector<std::string> lines;
  if (report.manifests == nullptr) return lines;
  for (const auto& problem : report.manifests->problems) lines.push_back(problem.String());
  const auto& workloads = report.manifests->workloads;
  for (size_t i = 0; i < report.results.size() && i < workloads.size(); ++i) {
    const WorkloadResult& result = report.results[i];
    const std::string where = workloads[i].source.String() + ": " + workloads[i].Id();
    if (!result.problem.empty()) {
      lines.push_back(where + ": " + result.problem);
      continue;
    }
    if (!report.Fails(result)) continue;
    std::vector<std::string> parts;
    if (const auto no = TargetsWhere(result, Verdict::kDoesNotRun); !no.empty()) {
      parts.push_back("cannot run on " + Join(no));
    }
    if (const auto unknown = TargetsWhere(result, Verdict::kUnknown); !unknown.empty()) {
      parts.push_back("cannot be checked on " + Join(unknown) + " (an image could not be resolved)");
    }
    if (result.targets.empty()) {
      parts.push_back(!result.resolved ? "cannot be checked (an image could not be resolved)"
                                       : "its images share no platform");
    }
    lines.push_back(where + " " + Join(parts, "; "));
  }
  return lines;
}

}  // namespace archway::check

// What `archway check` reports: a table for people, JSON for scripts, one-line reasons
// for stderr, and the exit code.
//
// Exit code: 2 when a document could not be read or a workload's pod is invalid (no
// containers, a field of the wrong shape); otherwise 1 when a workload fails by
// --fail-on, else 0:
//   any      (default) a workload cannot run on some target platform, or an image of it
//            could not be resolved; with no targets: its images share no platform
//   missing  a workload can run on none of the targets (it would never start anywhere)
//   none     never (report only)
//
// JSON (RenderJson), schema "archway.dev/check/v1"; every key is always present:
//   {
//     "schema": "archway.dev/check/v1",
//     "targets": {"source": "flag" | "cluster" | "none",
//                 "platforms": ["linux/amd64", ...],
//                 "readyNodes": {"linux/amd64": 2, ...}},          // {} unless "cluster"
//     "workloads": [{
//       "kind": "Deployment", "apiVersion": "apps/v1", "namespace": "shop" | "",
//       "name": "web",
//       "source": {"file": "deploy.yaml" | "-", "document": 1, "item": 0, "line": 3},
//       "problem": null | "the pod template has no containers",      // then the rest is empty
//       "images": [{"image": "...", "platforms": ["linux/arm/v7", ...], "dataOnly": false,
//                   "error": null | "not found: manifest unknown"}],
//       "platforms": ["linux/amd64", ...] | null,   // (os/arch) shared by every image;
//                                                   // null: unresolved, or all data-only
//       "runsEverywhere": true, "runsSomewhere": true,
//       "targets": [{"platform": "linux/arm64", "runs": "yes" | "no" | "unknown",
//                    "lacking": ["image", ...], "unresolved": ["image", ...]}],
//       "reasons": ["ghcr.io/x/agent:1.2 has no linux/arm/v7 (it is built for linux/amd64)"],
//       "fails": true,                               // by --fail-on
//       "webhook": null | {                          // with --show-affinity
//         "result": "mutated" | "skipped" | ... (decision.h ResultName),
//         "patch": [JSON Patch ops] ,                // [] when none
//         "nodeAffinity": {...} | null,              // the template's, with the patch applied
//         "annotations": {"archway.dev/platforms": "linux/amd64"},
//         "warnings": ["..."], "denied": null | "message"}
//     }],
//     "problems": [{"source": {...as above}, "message": "..."}],
//     "ignored": {"count": 1, "kinds": {"v1/Service": 1}},
//     "summary": {"files": 1, "workloads": 3, "runEverywhere": 1, "failing": 2,
//                 "invalid": 0, "images": 4, "unresolved": 0,
//                 "registryRequests": 4},             // -1 when not counted
//     "failOn": "any", "exitCode": 1
//   }
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "check/evaluate.h"
#include "check/manifests.h"
#include "registry/platform.h"

namespace archway::check {

inline constexpr const char* kReportSchema = "archway.dev/check/v1";

enum class FailOn { kNone, kAny, kMissing };
const char* FailOnName(FailOn fail_on);
Result<FailOn> ParseFailOn(const std::string& text);

struct TargetInfo {
  enum class Source { kNone, kFlag, kCluster };
  Source source = Source::kNone;
  std::vector<registry::Platform> platforms;
  std::map<std::string, int> ready_nodes;  // kCluster: by platform
  std::string cluster;                     // kCluster: the context or server, for the text
};

struct Report {
  TargetInfo targets;
  const Manifests* manifests = nullptr;
  std::vector<WorkloadResult> results;  // one per manifests->workloads, in order
  size_t images = 0;                    // distinct references
  int registry_requests = -1;           // -1: not counted
  bool show_affinity = false;
  FailOn fail_on = FailOn::kAny;

  // Whether this workload fails by fail_on (problems are not failures: they are exit 2).
  bool Fails(const WorkloadResult& result) const;
  int ExitCode() const;
};

// The table: a line naming the targets, one line per workload (kind/namespace/name, the
// platforms its images share, yes/no/unknown per target), indented reasons under it, the
// webhook's answer with show_affinity, and a summary line.
std::string RenderText(const Report& report);

nlohmann::ordered_json RenderJson(const Report& report);

// One line per unreadable document, invalid workload and failing workload, each naming
// the file and document: "deploy.yaml: document 2 (line 14): Deployment/shop/legacy
// cannot run on linux/arm64".
std::vector<std::string> ReasonLines(const Report& report);

}  // namespace archway::check

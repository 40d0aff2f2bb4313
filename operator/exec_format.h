// Finding `exec format error` in a Pod's container statuses, deciding what it means
// for the image and the node, and what of each Pod the watcher keeps. Pure: no I/O.
//
// What the status can say (recorded shapes and their sources:
// tests/operator/testdata/exec-format-error/README.md):
//  - runc (containerd's and CRI-O's default runtime) execs the entrypoint after the
//    container has started, so the runtime's words go to the container's log
//    ("exec /app: exec format error"; runc < 1.1: "standard_init_linux.go:228: exec user
//    process caused: exec format error") and the status only says the container exited:
//    terminated {reason: Error, exitCode: 1 (runc < 1.2) or 255}, then waiting
//    {reason: CrashLoopBackOff, message: "back-off 10s restarting failed container=..."}.
//    With terminationMessagePolicy: FallbackToLogsOnError the kubelet copies the log's
//    tail into terminated.message, and the words are in the status.
//  - a runtime whose start fails on the exec (containerd: terminated {reason:
//    StartError, exitCode: 128, message: "failed to start containerd task ...: ..."})
//    puts them in terminated.message; a waiting.message may carry them too.
// So there are two kinds of evidence: the words in a status message (stated), and an
// unexplained exit 1/255 with no message (crashed), which is an exec format error only
// when the image was not built for the node's platform: the watcher resolves the image
// to tell (JudgeFailure below).
//
// Fields read: metadata.{name,namespace,uid,resourceVersion,ownerReferences,
// annotations[archway.dev/platforms, archway.dev/skipped-reason]}, spec.{nodeName,
// imagePullSecrets[].name, initContainers,containers,ephemeralContainers[].{name,image}},
// status.{initContainerStatuses,containerStatuses,ephemeralContainerStatuses}[].{name,
// image,imageID,restartCount,state,lastState}.{waiting.{reason,message},
// terminated.{reason,message,exitCode}}. Everything through kube/object.h: a field of
// the wrong type reads as absent.
#pragma once

#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "kube/node.h"
#include "kube/object.h"
#include "registry/platform.h"
#include "registry/resolver.h"

namespace archway::op {

using Json = nlohmann::json;

// Written by the node labeler (nodeinfo/labels.h) on arm and arm64 nodes.
inline constexpr const char* kArmVariantLabel = "archway.dev/arm-variant";

enum class Evidence {
  kStated,   // a status message says "exec format error" (any case)
  kCrashed,  // exited 1 or 255 with reason Error and no message: runc's shape, words in the log
};

const char* EvidenceName(Evidence evidence);  // "stated", "crashed"

struct ContainerFailure {
  std::string container;   // its name
  std::string list;        // "initContainers", "containers", "ephemeralContainers"
  std::string image;       // as the spec names it (the status's when the spec has none)
  std::string image_id;    // status imageID ("docker.io/library/web@sha256:..."): what the node ran; "" = unknown
  Evidence evidence = Evidence::kCrashed;
  std::string field;       // where it was read: "lastState.terminated", "state.waiting", ...
  std::string reason;      // that state's reason: "StartError", "Error", "CrashLoopBackOff"
  std::optional<int64_t> exit_code;
  std::string message;     // the line of the status message that says it (bounded); "" for kCrashed
  int64_t restart_count = 0;

  bool operator==(const ContainerFailure&) const = default;
};

struct PodFailures {
  std::string ns;
  std::string name;
  std::string uid;
  std::string node;                                  // spec.nodeName, "" = not scheduled
  std::optional<kube::OwnerReference> controller;    // the ownerReference with controller: true
  std::string platforms_annotation;                  // archway.dev/platforms ("" = not written)
  std::string skipped_reason;                        // archway.dev/skipped-reason
  std::vector<std::string> pull_secrets;             // spec.imagePullSecrets[].name
  std::vector<ContainerFailure> failures;            // at most one per container: stated wins over crashed

  bool operator==(const PodFailures&) const = default;
};

// Reads `pod` (any JSON; a Pod of an odd shape yields fewer failures, never an error).
PodFailures DetectExecFormatErrors(const Json& pod);

// What the watcher caches of a Pod: its informer (kube/typed_informer.h) decodes every Pod
// into one as it arrives and drops the JSON. Every Pod keeps its namespace, name, uid and
// resourceVersion; a Pod with a failure also keeps what DetectExecFormatErrors found in it
// (its node, controller, archway annotations, pull secrets and, per failing container, its
// name, image, imageID, the evidence and restart count; messages cut to the line that
// matters). Its strings are std::pmr, in the memory resource it was made with (the
// informer's pool); a copy's are on the default heap. So 10,000 Pods (1 in 100 failing)
// cost ~420 bytes each in use, ~390 of RSS over the floor (the cache's entry: 320-byte map
// node + 48-byte uid; `bench/exec-watcher-rss.sh`, 2026-12-02; the JSON trimmed to these
// fields, as kept before, cost 4,260 bytes of RSS each), and ReadCachedPod(CachePod(p))
// reads as p: its failures are DetectExecFormatErrors(p)'s and, for a Pod with failures,
// so is everything else.
struct CachedFailure {
  std::pmr::string container, list, image, image_id, field, reason, message;
  Evidence evidence = Evidence::kCrashed;
  std::optional<int64_t> exit_code;
  int64_t restart_count = 0;
};
struct CachedPodFailures {
  std::pmr::string node;
  bool has_controller = false;
  std::pmr::string controller_api_version, controller_kind, controller_name, controller_uid;
  std::pmr::string platforms_annotation, skipped_reason;
  std::pmr::vector<std::pmr::string> pull_secrets;
  std::pmr::vector<CachedFailure> failures;
};
struct CachedPod {
  std::pmr::string ns, name, uid, resource_version;
  std::pmr::vector<CachedPodFailures> failing;  // empty for a healthy Pod (most): no allocation; else one

  bool Failing() const { return !failing.empty(); }
};

CachedPod CachePod(const Json& pod, std::pmr::memory_resource* memory = std::pmr::get_default_resource());
// A healthy Pod reads as its namespace, name and uid (no failures).
PodFailures ReadCachedPod(const CachedPod& cached);

// The node as the verdict reads it: its platform labels.
struct NodePlatform {
  std::string name;
  std::string os;       // kubernetes.io/os
  std::string arch;     // kubernetes.io/arch
  std::string variant;  // archway.dev/arm-variant ("" when unlabelled)
  bool known = false;   // the Node was in the cache with an arch label
};
NodePlatform ReadNodePlatform(const std::string& name, const std::optional<Json>& node);

// Whether `platforms` (an image's, as resolved) hold one the node runs natively: same
// os and architecture, and for arm an entry variant no newer than the node's (a v7
// binary does not run on a v6 node; v6 runs on v7). An unknown node variant matches any.
bool SupportsNode(const std::vector<registry::Platform>& platforms, const NodePlatform& node);

enum class Verdict {
  kNone,          // nothing to report (a crash of an image built for the node, or not knowable yet)
  kRetry,         // crashed, and the image could not be resolved: ask again later
  kWrongPlatform, // exec format error: the image has no build for the node's platform
  kListLies,      // exec format error where the resolved list says the node's platform runs
  kUnresolved,    // stated exec format error; the image's platforms could not be read
};

struct Judgement {
  Verdict verdict = Verdict::kNone;
  std::string digest;                         // the digest resolved (for kListLies: the suspect one)
  std::vector<registry::Platform> platforms;  // the image's resolved platforms
  std::string note;                           // the Event note for the pod (and owner), when reported
};

// Decides one failure: `resolved` is what archway's resolver says of the image (by the
// imageID's digest when there is one), `node` the node it ran on.
Judgement JudgeFailure(const PodFailures& pod, const ContainerFailure& failure, const NodePlatform& node,
                       const Result<registry::ImagePlatforms>& resolved);

// The Warning Event note naming a digest whose list said the node's platform runs.
std::string SuspectNote(const ContainerFailure& failure, const NodePlatform& node, const Judgement& judgement);

}  // namespace archway::op

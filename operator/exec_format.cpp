#include "operator/exec_format.h"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace archway::op {
namespace {

// Written by the webhook (webhook/decision.h); the operator cannot include it (layering).
constexpr const char* kPlatformsAnnotation = "archway.dev/platforms";
constexpr const char* kSkippedReasonAnnotation = "archway.dev/skipped-reason";

constexpr std::string_view kWords = "exec format error";
constexpr size_t kMatchedLineMax = 240;  // bytes of a message line kept around the words
constexpr size_t kOtherMessageMax = 160;  // bytes kept of a message that does not say them

// The container lists, each with its status list, in the order the kubelet starts them.
struct ContainerList {
  const char* spec;
  const char* status;
};
constexpr ContainerList kLists[] = {{"initContainers", "initContainerStatuses"},
                                    {"containers", "containerStatuses"},
                                    {"ephemeralContainers", "ephemeralContainerStatuses"}};

// The states of one container status that can hold the evidence, in the order read.
struct StateField {
  const char* state;  // "state", "lastState"
  const char* kind;   // "terminated", "waiting"
};
constexpr StateField kStates[] = {
    {"state", "terminated"}, {"lastState", "terminated"}, {"state", "waiting"}, {"lastState", "waiting"}};

size_t FindWords(std::string_view text) {
  auto it = std::search(text.begin(), text.end(), kWords.begin(), kWords.end(),
                        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  return it == text.end() ? std::string_view::npos : static_cast<size_t>(it - text.begin());
}

bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// text[begin, end) moved inwards to UTF-8 boundaries (a cut inside a character would make
// the Event's JSON invalid) and stripped of surrounding whitespace.
std::string Cut(std::string_view text, size_t begin, size_t end) {
  end = std::min(end, text.size());
  while (begin < end && IsUtf8Continuation(text[begin])) ++begin;
  while (end > begin && end < text.size() && IsUtf8Continuation(text[end])) --end;
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

// What is kept of a status message: the line that says the words (a window around them
// when the line is long), else the start of its first line.
std::string BoundedMessage(std::string_view message) {
  const size_t at = FindWords(message);
  if (at == std::string_view::npos) {
    size_t start = 0;
    while (start < message.size() && std::isspace(static_cast<unsigned char>(message[start]))) ++start;
    return Cut(message, start, std::min(message.find('\n', start), start + kOtherMessageMax));
  }
  size_t line_begin = message.rfind('\n', at);
  line_begin = line_begin == std::string_view::npos ? 0 : line_begin + 1;
  size_t line_end = std::min(message.find('\n', at), message.size());
  if (line_end - line_begin > kMatchedLineMax) {
    // Keep the words and what precedes them (the program the runtime tried to exec).
    const size_t end = std::min(line_end, at + kWords.size() + 40);
    line_begin = std::max(line_begin, end > kMatchedLineMax ? end - kMatchedLineMax : 0);
    line_end = end;
  }
  return Cut(message, line_begin, line_end);
}

std::string StringOr(const Json& object, kube::JsonPath path) { return kube::StringAt(object, path).value_or(""); }

// The failure one container status shows, if any.
std::optional<ContainerFailure> ReadStatus(const Json& status) {
  std::optional<ContainerFailure> crashed;
  for (const StateField& f : kStates) {
    const Json* state = kube::ObjectAt(status, {f.state, f.kind});
    if (state == nullptr) continue;
    const std::string message = BoundedMessage(StringOr(*state, {"message"}));
    ContainerFailure failure;
    failure.field = std::string(f.state) + "." + f.kind;
    failure.reason = StringOr(*state, {"reason"});
    failure.exit_code = kube::IntAt(*state, {"exitCode"});
    if (FindWords(message) != std::string_view::npos) {
      failure.evidence = Evidence::kStated;
      failure.message = message;
      return failure;
    }
    const bool runc_exit = failure.exit_code == 1 || failure.exit_code == 255;
    if (!crashed && std::string_view(f.kind) == "terminated" && failure.reason == "Error" && runc_exit &&
        message.empty()) {
      failure.evidence = Evidence::kCrashed;
      crashed = std::move(failure);
    }
  }
  return crashed;
}

// name -> image of one spec list.
std::string SpecImage(const Json& pod, const char* list, const std::string& container) {
  if (const Json* entries = kube::ArrayAt(pod, {"spec", list})) {
    for (const Json& entry : *entries) {
      if (StringOr(entry, {"name"}) == container) return StringOr(entry, {"image"});
    }
  }
  return "";
}

std::string NodePlatformString(const NodePlatform& node) {
  std::string s = (node.os.empty() ? "linux" : node.os) + "/" + node.arch;
  if (node.arch == "arm" && !node.variant.empty()) s += "/" + node.variant;
  return s;
}

std::string Join(const std::vector<registry::Platform>& platforms) {
  std::string out;
  for (const auto& p : platforms) out += (out.empty() ? "" : ", ") + p.String();
  return out;
}

// "v7" -> 7; 0 when not a variant number.
int VariantNumber(const std::string& variant) {
  if (variant.size() < 2 || variant[0] != 'v') return 0;
  int n = 0;
  for (size_t i = 1; i < variant.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(variant[i])) || n > 1000) return 0;
    n = n * 10 + (variant[i] - '0');
  }
  return n;
}

std::string Subject(const PodFailures& pod, const ContainerFailure& failure) {
  std::string s = "Container " + failure.container + " (" + failure.image;
  if (const auto at = failure.image_id.find("@sha256:"); at != std::string::npos)
    s += ", ran " + failure.image_id.substr(at + 1, 19) + "...";
  return s + ") of pod " + pod.ns + "/" + pod.name;
}

std::string NodeText(const NodePlatform& node) {
  if (!node.known) return "node " + (node.name.empty() ? std::string("(unscheduled)") : node.name) + " (platform unknown)";
  std::string s = "node " + node.name + " (" + NodePlatformString(node);
  if (node.arch == "arm64" && !node.variant.empty()) s += ", arm variant " + node.variant;
  return s + ")";
}

// How the pod came to be where it is, from what the webhook wrote on it.
std::string Placement(const PodFailures& pod) {
  if (!pod.skipped_reason.empty()) return " archway left its placement alone: " + pod.skipped_reason + ".";
  if (!pod.platforms_annotation.empty())
    return " archway gave the pod a node affinity for " + pod.platforms_annotation + ".";
  return " The pod has no archway.dev/platforms annotation: the webhook did not place it (it was unavailable "
         "under failurePolicy Ignore, the namespace or the pod is excluded, or the pod predates archway).";
}

std::string EvidenceText(const ContainerFailure& failure) {
  if (failure.evidence == Evidence::kStated) return "the runtime reported \"" + failure.message + "\" (" + failure.field + ")";
  return "it exited " + std::to_string(failure.exit_code.value_or(0)) +
         " with reason Error and no message, which is how runc reports a failed exec (the words are in the "
         "container's log)";
}

}  // namespace

const char* EvidenceName(Evidence evidence) { return evidence == Evidence::kStated ? "stated" : "crashed"; }

PodFailures DetectExecFormatErrors(const Json& pod) {
  PodFailures out;
  out.ns = kube::NamespaceOf(pod);
  out.name = kube::NameOf(pod);
  out.uid = kube::UidOf(pod);
  out.node = StringOr(pod, {"spec", "nodeName"});
  for (const auto& owner : kube::OwnerReferencesOf(pod)) {
    if (owner.controller) {
      out.controller = owner;
      break;
    }
  }
  out.platforms_annotation = kube::AnnotationOf(pod, kPlatformsAnnotation);
  out.skipped_reason = kube::AnnotationOf(pod, kSkippedReasonAnnotation);
  if (const Json* secrets = kube::ArrayAt(pod, {"spec", "imagePullSecrets"})) {
    for (const Json& secret : *secrets) {
      if (auto name = kube::StringAt(secret, {"name"}); name && !name->empty()) out.pull_secrets.push_back(*name);
    }
  }
  for (const ContainerList& list : kLists) {
    const Json* statuses = kube::ArrayAt(pod, {"status", list.status});
    if (statuses == nullptr) continue;
    for (const Json& status : *statuses) {
      auto failure = ReadStatus(status);
      if (!failure) continue;
      failure->container = StringOr(status, {"name"});
      failure->list = list.spec;
      failure->image = SpecImage(pod, list.spec, failure->container);
      if (failure->image.empty()) failure->image = StringOr(status, {"image"});
      failure->image_id = StringOr(status, {"imageID"});
      failure->restart_count = kube::IntAt(status, {"restartCount"}).value_or(0);
      out.failures.push_back(std::move(*failure));
    }
  }
  return out;
}

CachedPod CachePod(const Json& pod, std::pmr::memory_resource* memory) {
  auto text = [memory](std::string_view s) { return std::pmr::string(s, memory); };
  CachedPod cached{.ns = text(kube::NamespaceOf(pod)),
                   .name = text(kube::NameOf(pod)),
                   .uid = text(kube::UidOf(pod)),
                   .resource_version = text(StringOr(pod, {"metadata", "resourceVersion"})),
                   .failing = std::pmr::vector<CachedPodFailures>(memory)};
  const PodFailures found = DetectExecFormatErrors(pod);
  if (found.failures.empty()) return cached;  // a healthy Pod: its identity only

  CachedPodFailures failing{.node = text(found.node),
                            .has_controller = found.controller.has_value(),
                            .controller_api_version = text(found.controller ? found.controller->api_version : ""),
                            .controller_kind = text(found.controller ? found.controller->kind : ""),
                            .controller_name = text(found.controller ? found.controller->name : ""),
                            .controller_uid = text(found.controller ? found.controller->uid : ""),
                            .platforms_annotation = text(found.platforms_annotation),
                            .skipped_reason = text(found.skipped_reason),
                            .pull_secrets = std::pmr::vector<std::pmr::string>(memory),
                            .failures = std::pmr::vector<CachedFailure>(memory)};
  failing.pull_secrets.reserve(found.pull_secrets.size());
  for (const auto& name : found.pull_secrets) failing.pull_secrets.emplace_back(name);
  failing.failures.reserve(found.failures.size());
  for (const ContainerFailure& f : found.failures) {
    failing.failures.push_back(CachedFailure{.container = text(f.container),
                                             .list = text(f.list),
                                             .image = text(f.image),
                                             .image_id = text(f.image_id),
                                             .field = text(f.field),
                                             .reason = text(f.reason),
                                             .message = text(f.message),
                                             .evidence = f.evidence,
                                             .exit_code = f.exit_code,
                                             .restart_count = f.restart_count});
  }
  cached.failing.push_back(std::move(failing));
  return cached;
}

PodFailures ReadCachedPod(const CachedPod& cached) {
  PodFailures out;
  out.ns = cached.ns;
  out.name = cached.name;
  out.uid = cached.uid;
  if (!cached.Failing()) return out;
  const CachedPodFailures& failing = cached.failing.front();
  out.node = failing.node;
  if (failing.has_controller) {
    out.controller = kube::OwnerReference{std::string(failing.controller_api_version),
                                          std::string(failing.controller_kind), std::string(failing.controller_name),
                                          std::string(failing.controller_uid), true};
  }
  out.platforms_annotation = failing.platforms_annotation;
  out.skipped_reason = failing.skipped_reason;
  out.pull_secrets.assign(failing.pull_secrets.begin(), failing.pull_secrets.end());
  for (const CachedFailure& f : failing.failures) {
    out.failures.push_back(ContainerFailure{.container = std::string(f.container),
                                            .list = std::string(f.list),
                                            .image = std::string(f.image),
                                            .image_id = std::string(f.image_id),
                                            .evidence = f.evidence,
                                            .field = std::string(f.field),
                                            .reason = std::string(f.reason),
                                            .exit_code = f.exit_code,
                                            .message = std::string(f.message),
                                            .restart_count = f.restart_count});
  }
  return out;
}

NodePlatform ReadNodePlatform(const std::string& name, const std::optional<Json>& node) {
  NodePlatform out;
  out.name = name;
  if (!node) return out;
  const kube::NodeState state = kube::ReadNode(*node);
  out.os = state.Label(kube::kOsLabel);
  out.arch = state.Label(kube::kArchLabel);
  out.variant = state.Label(kArmVariantLabel);
  out.known = !out.arch.empty();
  return out;
}

bool SupportsNode(const std::vector<registry::Platform>& platforms, const NodePlatform& node) {
  const std::string os = node.os.empty() ? "linux" : node.os;
  for (const auto& p : platforms) {
    if (p.os != os || p.architecture != node.arch) continue;
    if (node.arch != "arm" || node.variant.empty() || p.variant.empty()) return true;
    const int image = VariantNumber(p.variant), host = VariantNumber(node.variant);
    if (image == 0 || host == 0 || image <= host) return true;
  }
  return false;
}

Judgement JudgeFailure(const PodFailures& pod, const ContainerFailure& failure, const NodePlatform& node,
                       const Result<registry::ImagePlatforms>& resolved) {
  Judgement j;
  const bool stated = failure.evidence == Evidence::kStated;
  if (!resolved.ok()) {
    if (!stated) {
      j.verdict = Verdict::kRetry;
      return j;
    }
    j.verdict = Verdict::kUnresolved;
    j.note = Subject(pod, failure) + " failed with exec format error on " + NodeText(node) + ": " + EvidenceText(failure) +
             ". archway could not read the image's platforms: " + resolved.error().message + "." + Placement(pod);
    return j;
  }
  j.digest = resolved->digest;
  j.platforms = resolved->platforms;
  const std::string listed = resolved->data_only ? "no platform (a data-only artifact)" : Join(resolved->platforms);
  if (!node.known || resolved->data_only) {
    if (!stated) return j;  // nothing to compare a crash with
    j.verdict = Verdict::kUnresolved;
    j.note = Subject(pod, failure) + " failed with exec format error on " + NodeText(node) + ": " + EvidenceText(failure) +
             ". The image lists " + listed + "." + Placement(pod);
    return j;
  }
  const std::string platform = NodePlatformString(node);
  if (SupportsNode(resolved->platforms, node)) {
    if (!stated) return j;  // a crash of an image built for this node: not archway's business
    j.verdict = Verdict::kListLies;
    j.note = Subject(pod, failure) + " failed with exec format error on " + NodeText(node) + ": " + EvidenceText(failure) +
             ", yet the image lists " + listed + ". Its " + platform +
             " entry probably holds a binary of another architecture (or the container runs a program it "
             "fetched for another one). archway marked digest " + j.digest +
             " suspect; check that entry, rebuild it, or keep this workload off " + node.arch + " nodes.";
    return j;
  }
  j.verdict = Verdict::kWrongPlatform;
  j.note = Subject(pod, failure) + (stated ? " failed with exec format error on " : " cannot run on ") + NodeText(node) +
           ": " + EvidenceText(failure) + ". The image is built for " + listed + " only, not " + platform + "." +
           Placement(pod) + " Rebuild the image for " + platform +
           " (a MultiArchImage publishes the list) or keep this workload off " + node.arch + " nodes.";
  return j;
}

std::string SuspectNote(const ContainerFailure& failure, const NodePlatform& node, const Judgement& judgement) {
  const std::string platform = NodePlatformString(node);
  return "Image " + failure.image + " at digest " + judgement.digest + " lists " + Join(judgement.platforms) +
         ", but its container " + failure.container + " failed with exec format error on " + NodeText(node) +
         ". archway's cache entry for this digest is marked suspect: its " + platform +
         " entry is probably not a " + platform +
         " build. The webhook still places pods by what the registry lists; fix the image's " + platform +
         " entry, or pin the workload with a nodeSelector on kubernetes.io/arch.";
}

}  // namespace archway::op

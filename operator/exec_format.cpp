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
// when the line is long), else the start of its first line. Idempotent, so a trimmed Pod
// reads like the whole one.
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

void CopyString(const Json& from, kube::JsonPath path, const char* key, Json& to) {
  if (auto value = kube::StringAt(from, path)) to[key] = *value;
}

Json TrimState(const Json& status, const char* state_name) {
  Json state = Json::object();
  for (const char* kind : {"terminated", "waiting"}) {
    const Json* s = kube::ObjectAt(status, {state_name, kind});
    if (s == nullptr) continue;
    Json kept = Json::object();
    CopyString(*s, {"reason"}, "reason", kept);
    if (auto message = kube::StringAt(*s, {"message"})) kept["message"] = BoundedMessage(*message);
    if (auto code = kube::IntAt(*s, {"exitCode"})) kept["exitCode"] = *code;
    state[kind] = std::move(kept);
  }
  return state;
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

Json TrimPod(const Json& pod) {
  Json metadata = Json::object();
  for (const char* key : {"name", "namespace", "uid", "resourceVersion"}) CopyString(pod, {"metadata", key}, key, metadata);
  Json trimmed = {{"metadata", metadata}};
  const PodFailures failures = DetectExecFormatErrors(pod);
  if (failures.failures.empty()) return trimmed;  // a healthy Pod: its key, uid and version

  Json& md = trimmed["metadata"];
  if (failures.controller) {
    const auto& c = *failures.controller;
    md["ownerReferences"] = Json::array(
        {{{"apiVersion", c.api_version}, {"kind", c.kind}, {"name", c.name}, {"uid", c.uid}, {"controller", true}}});
  }
  for (const char* key : {kPlatformsAnnotation, kSkippedReasonAnnotation}) {
    if (auto value = kube::StringAt(pod, {"metadata", "annotations", key})) md["annotations"][key] = *value;
  }
  Json spec = Json::object();
  CopyString(pod, {"spec", "nodeName"}, "nodeName", spec);
  if (!failures.pull_secrets.empty()) {
    spec["imagePullSecrets"] = Json::array();
    for (const auto& name : failures.pull_secrets) spec["imagePullSecrets"].push_back({{"name", name}});
  }
  Json status = Json::object();
  for (const ContainerList& list : kLists) {
    const Json* statuses = kube::ArrayAt(pod, {"status", list.status});
    if (statuses == nullptr) continue;
    for (const Json& entry : *statuses) {
      if (!ReadStatus(entry)) continue;
      const std::string name = StringOr(entry, {"name"});
      Json kept = {{"name", name}};
      for (const char* key : {"image", "imageID"}) CopyString(entry, {key}, key, kept);
      if (auto restarts = kube::IntAt(entry, {"restartCount"})) kept["restartCount"] = *restarts;
      for (const char* state : {"state", "lastState"}) {
        Json s = TrimState(entry, state);
        if (!s.empty()) kept[state] = std::move(s);
      }
      status[list.status].push_back(std::move(kept));
      const std::string image = SpecImage(pod, list.spec, name);
      if (!image.empty()) spec[list.spec].push_back({{"name", name}, {"image", image}});
    }
  }
  trimmed["spec"] = std::move(spec);
  trimmed["status"] = std::move(status);
  return trimmed;
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

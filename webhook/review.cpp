#include "webhook/review.h"

#include <utility>

#include "base/encoding.h"
#include "webhook/filtered_json.h"
#include "webhook/json_text.h"

namespace archway::webhook {
namespace {

Error Invalid(const std::string& message) { return Error(ErrorCode::kInvalidArgument, message); }

// Moves out the string obj[key] ("" when absent or not a string): the review is read once
// and dropped, so its strings need not be copied.
std::string TakeString(Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return std::move(it->get_ref<std::string&>());
}

// What of a review is built: the members read below and the pod fields PlanPod() and
// Decide() read (decision.h lists them; add a field here when a rule starts reading it).
// Parsing is most of a cached request's CPU time, and the rest of a pod (volumes, probes,
// managedFields, ...) is most of its bytes. Values of unexpected types are kept, so the
// decision still reports them as malformed.
using Member = JsonShape::Member;
constexpr JsonShape kPresence{};  // an object or list built empty: the patch needs to know it exists
constexpr Member kContainerMembers[] = {{"image", nullptr}};
constexpr JsonShape kContainer{kContainerMembers};
constexpr Member kGateMembers[] = {{"name", nullptr}};  // gates.h: is archway's gate there already
constexpr JsonShape kGate{kGateMembers};
constexpr Member kSpecMembers[] = {{"affinity", nullptr},       {"containers", &kContainer},
                                   {"imagePullSecrets", nullptr}, {"initContainers", &kContainer},
                                   {"nodeName", nullptr},         {"nodeSelector", nullptr},
                                   {"schedulingGates", &kGate}};
constexpr JsonShape kSpec{kSpecMembers};
// Who made the pod (generateName, ownerReferences) is read again on demand (ReadPodOrigin):
// building it costs a cached admission 3% of its instructions, and few need it.
constexpr Member kMetadataMembers[] = {{"annotations", nullptr}, {"labels", &kPresence}, {"name", nullptr}};
constexpr JsonShape kMetadata{kMetadataMembers};
constexpr Member kPodMembers[] = {{"metadata", &kMetadata}, {"spec", &kSpec}};
constexpr JsonShape kPod{kPodMembers};
constexpr Member kRequestMembers[] = {{"uid", nullptr},       {"kind", nullptr},      {"operation", nullptr},
                                      {"namespace", nullptr}, {"name", nullptr},      {"dryRun", nullptr},
                                      {"object", &kPod}};
constexpr JsonShape kRequest{kRequestMembers};
constexpr Member kReviewMembers[] = {{"kind", nullptr}, {"apiVersion", nullptr}, {"request", &kRequest}};
constexpr JsonShape kReview{kReviewMembers};

// A DaemonSet (object and oldObject): its name and uid, and its pod template read as a pod.
constexpr Member kDaemonSetMetadataMembers[] = {{"name", nullptr}, {"uid", nullptr}};
constexpr JsonShape kDaemonSetMetadata{kDaemonSetMetadataMembers};
constexpr Member kDaemonSetSpecMembers[] = {{"template", &kPod}};
constexpr JsonShape kDaemonSetSpec{kDaemonSetSpecMembers};
constexpr Member kDaemonSetMembers[] = {{"metadata", &kDaemonSetMetadata}, {"spec", &kDaemonSetSpec}};
constexpr JsonShape kDaemonSet{kDaemonSetMembers};
constexpr Member kDaemonSetRequestMembers[] = {{"object", &kDaemonSet}, {"oldObject", &kDaemonSet}};
constexpr JsonShape kDaemonSetRequest{kDaemonSetRequestMembers};
constexpr Member kDaemonSetReviewMembers[] = {{"request", &kDaemonSetRequest}};
constexpr JsonShape kDaemonSetReview{kDaemonSetReviewMembers};

// Who made a pod (ReadPodOrigin): what kube::OwnerReferencesOf reads of each owner.
constexpr Member kOwnerMembers[] = {
    {"apiVersion", nullptr}, {"controller", nullptr}, {"kind", nullptr}, {"name", nullptr}, {"uid", nullptr}};
constexpr JsonShape kOwner{kOwnerMembers};
constexpr Member kOriginMetadataMembers[] = {{"generateName", nullptr}, {"ownerReferences", &kOwner}};
constexpr JsonShape kOriginMetadata{kOriginMetadataMembers};
constexpr Member kOriginPodMembers[] = {{"metadata", &kOriginMetadata}};
constexpr JsonShape kOriginPod{kOriginPodMembers};
constexpr Member kOriginRequestMembers[] = {{"object", &kOriginPod}};
constexpr JsonShape kOriginRequest{kOriginRequestMembers};
constexpr Member kOriginReviewMembers[] = {{"request", &kOriginRequest}};
constexpr JsonShape kOriginReview{kOriginReviewMembers};

// Moves out obj[key] (null when absent).
Json Take(Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? Json() : std::move(*it);
}

// review.request read again with `shape` (the body was read once already: it is JSON).
Json RequestReadAgain(std::string_view body, const JsonShape& shape) {
  Json review;
  if (!ParseJsonShaped(body, shape, review)) return nullptr;
  return Take(review, "request");
}

}  // namespace

const JsonShape& AdmissionReviewShape() { return kReview; }

Result<AdmissionRequest> ParseAdmissionReview(std::string_view body) {
  Json review;
  if (!ParseJsonShaped(body, kReview, review)) return Invalid("request body is not valid JSON");
  if (!review.is_object()) return Invalid("request body is not an AdmissionReview object");
  if (TakeString(review, "kind") != "AdmissionReview") return Invalid("request body is not an AdmissionReview");
  AdmissionRequest request;
  request.api_version = TakeString(review, "apiVersion");
  if (request.api_version != "admission.k8s.io/v1" && request.api_version != "admission.k8s.io/v1beta1") {
    return Invalid("unsupported AdmissionReview apiVersion \"" + request.api_version + "\"");
  }
  auto req = review.find("request");
  if (req == review.end() || !req->is_object()) return Invalid("AdmissionReview has no request");
  request.uid = TakeString(*req, "uid");
  if (request.uid.empty()) return Invalid("AdmissionReview request has no uid");
  if (auto kind = req->find("kind"); kind != req->end() && kind->is_object()) {
    request.group = TakeString(*kind, "group");
    request.kind = TakeString(*kind, "kind");
  }
  request.operation = TakeString(*req, "operation");
  request.ns = TakeString(*req, "namespace");
  request.name = TakeString(*req, "name");
  if (auto dry_run = req->find("dryRun"); dry_run != req->end() && dry_run->is_boolean()) {
    request.dry_run = dry_run->get<bool>();
  }
  if (auto object = req->find("object"); object != req->end()) request.object = std::move(*object);
  if (request.IsDaemonSet()) {
    Json again = RequestReadAgain(body, kDaemonSetReview);
    request.object = Take(again, "object");
    request.old_object = Take(again, "oldObject");
  }
  if (request.name.empty() && request.object.is_object()) {
    // The pod's own name (an old API server sends none in the request); not moved out:
    // the object is the pod as the decision reads it.
    if (auto metadata = request.object.find("metadata"); metadata != request.object.end() && metadata->is_object()) {
      if (auto name = metadata->find("name"); name != metadata->end() && name->is_string()) request.name = *name;
    }
  }
  return request;
}

Json ReadPodOrigin(std::string_view body) {
  Json again = RequestReadAgain(body, kOriginReview);
  return Take(again, "object");
}

std::string EncodeAdmissionResponse(const AdmissionRequest& request, const Decision& decision, std::string_view patch) {
  // Written directly rather than built as a Json tree and dumped: this runs for every
  // request. The bytes are what dumping that tree gives (members in Json's sorted order);
  // strings go through Json's own escaping, replacing invalid UTF-8 (image names come from
  // the request) rather than throwing.
  const bool allowed = decision.allowed();
  const bool patched = allowed && !patch.empty();
  std::string out;
  out.reserve(192 + (patched ? patch.size() / 3 * 4 : 0) + request.uid.size());
  out += "{\"apiVersion\":";
  AppendJsonString(request.api_version.empty() ? std::string_view("admission.k8s.io/v1") : request.api_version, out);
  out += ",\"kind\":\"AdmissionReview\",\"response\":{\"allowed\":";
  out += allowed ? "true" : "false";
  if (patched) {
    out += ",\"patch\":\"";  // base64: nothing to escape
    AppendBase64(patch, out);
    out += "\",\"patchType\":\"JSONPatch\"";
  }
  if (!allowed) {
    out += ",\"status\":{\"code\":";
    out += std::to_string(decision.denial->code);
    out += ",\"message\":";
    AppendJsonString(decision.denial->message, out);
    out += ",\"reason\":";
    AppendJsonString(decision.denial->reason, out);
    out += '}';
  }
  out += ",\"uid\":";
  AppendJsonString(request.uid, out);
  if (!decision.warnings.empty()) {
    out += ",\"warnings\":[";
    for (size_t i = 0; i < decision.warnings.size(); ++i) {
      if (i > 0) out += ',';
      AppendJsonString(decision.warnings[i], out);
    }
    out += ']';
  }
  out += "}}";
  return out;
}

}  // namespace archway::webhook

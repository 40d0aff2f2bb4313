#include "webhook/review.h"

#include <utility>

#include "base/encoding.h"
#include "webhook/filtered_json.h"
#include "webhook/json_text.h"

namespace archway::webhook {
namespace {

Error Invalid(const std::string& message) { return Error(ErrorCode::kInvalidArgument, message); }

std::string StringAt(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
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
// generateName and ownerReferences: where an Event goes for a pod that has no name yet.
constexpr Member kMetadataMembers[] = {{"annotations", nullptr},  {"generateName", nullptr}, {"labels", &kPresence},
                                       {"name", nullptr},         {"ownerReferences", nullptr}};
constexpr JsonShape kMetadata{kMetadataMembers};
constexpr Member kPodMembers[] = {{"metadata", &kMetadata}, {"spec", &kSpec}};
constexpr JsonShape kPod{kPodMembers};
constexpr Member kRequestMembers[] = {{"uid", nullptr},       {"kind", nullptr},      {"operation", nullptr},
                                      {"namespace", nullptr}, {"name", nullptr},      {"dryRun", nullptr},
                                      {"object", &kPod}};
constexpr JsonShape kRequest{kRequestMembers};
constexpr Member kReviewMembers[] = {{"kind", nullptr}, {"apiVersion", nullptr}, {"request", &kRequest}};
constexpr JsonShape kReview{kReviewMembers};

}  // namespace

const JsonShape& AdmissionReviewShape() { return kReview; }

Result<AdmissionRequest> ParseAdmissionReview(std::string_view body) {
  Json review;
  if (!ParseJsonShaped(body, kReview, review)) return Invalid("request body is not valid JSON");
  if (!review.is_object()) return Invalid("request body is not an AdmissionReview object");
  if (StringAt(review, "kind") != "AdmissionReview") return Invalid("request body is not an AdmissionReview");
  AdmissionRequest request;
  request.api_version = StringAt(review, "apiVersion");
  if (request.api_version != "admission.k8s.io/v1" && request.api_version != "admission.k8s.io/v1beta1") {
    return Invalid("unsupported AdmissionReview apiVersion \"" + request.api_version + "\"");
  }
  auto req = review.find("request");
  if (req == review.end() || !req->is_object()) return Invalid("AdmissionReview has no request");
  request.uid = StringAt(*req, "uid");
  if (request.uid.empty()) return Invalid("AdmissionReview request has no uid");
  if (auto kind = req->find("kind"); kind != req->end() && kind->is_object()) {
    request.group = StringAt(*kind, "group");
    request.kind = StringAt(*kind, "kind");
  }
  request.operation = StringAt(*req, "operation");
  request.ns = StringAt(*req, "namespace");
  request.name = StringAt(*req, "name");
  if (auto dry_run = req->find("dryRun"); dry_run != req->end() && dry_run->is_boolean()) {
    request.dry_run = dry_run->get<bool>();
  }
  if (auto object = req->find("object"); object != req->end()) request.object = std::move(*object);
  if (request.object.is_object()) {
    if (auto metadata = request.object.find("metadata"); metadata != request.object.end()) {
      if (request.name.empty()) request.name = StringAt(*metadata, "name");
      request.generate_name = StringAt(*metadata, "generateName");
    }
  }
  return request;
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

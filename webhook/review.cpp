#include "webhook/review.h"

#include <unordered_set>

#include "base/encoding.h"

namespace archway::webhook {
namespace {

Error Invalid(const std::string& message) { return Error(ErrorCode::kInvalidArgument, message); }

std::string StringAt(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// Members of a review that no decision reads. They are dropped while parsing (not built
// into the DOM): parsing is most of a cached request's CPU time. None of these names is
// one whose presence the patch depends on (metadata.annotations, spec.affinity, ...);
// an annotation or label that happens to have such a name only disappears from the copy
// the decision reads, which looks at annotations by their own names.
bool KeepMember(int /*depth*/, Json::parse_event_t event, Json& parsed) {
  static const std::unordered_set<std::string> kUnused = {
      "managedFields", "userInfo", "options", "oldObject", "requestKind", "requestResource", "volumes",
      "volumeMounts", "resources", "ports", "env", "envFrom", "command", "args", "livenessProbe", "readinessProbe",
      "startupProbe", "securityContext", "lifecycle", "tolerations", "ownerReferences", "labels", "status"};
  if (event != Json::parse_event_t::key || !parsed.is_string()) return true;
  return kUnused.count(parsed.get_ref<const std::string&>()) == 0;
}

}  // namespace

Result<AdmissionRequest> ParseAdmissionReview(std::string_view body) {
  Json review = Json::parse(body, KeepMember, /*allow_exceptions=*/false);
  if (review.is_discarded()) return Invalid("request body is not valid JSON");
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
  if (request.name.empty() && request.object.is_object()) {
    // generateName pods have no name yet; the prefix still identifies them in messages.
    if (auto metadata = request.object.find("metadata"); metadata != request.object.end()) {
      request.name = StringAt(*metadata, "name");
    }
  }
  return request;
}

std::string EncodeAdmissionResponse(const AdmissionRequest& request, const Decision& decision) {
  Json response = {{"uid", request.uid}, {"allowed", decision.allowed}};
  if (!decision.allowed) {
    response["status"] = {{"code", decision.status_code},
                          {"reason", decision.status_reason},
                          {"message", decision.status_message}};
  }
  if (decision.allowed && !decision.patch.empty()) {
    response["patchType"] = "JSONPatch";
    response["patch"] = Base64Encode(decision.patch.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  if (!decision.warnings.empty()) response["warnings"] = decision.warnings;
  Json review = {{"apiVersion", request.api_version.empty() ? "admission.k8s.io/v1" : request.api_version},
                 {"kind", "AdmissionReview"},
                 {"response", std::move(response)}};
  // Replace invalid UTF-8 (image names come from the request) rather than throw.
  return review.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace archway::webhook

#include "webhook/review.h"

#include <unordered_set>
#include <utility>
#include <vector>

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

// Members of a review that no decision reads. They are skipped while parsing (never built
// into the DOM): parsing is most of a cached request's CPU time. None of these names is
// one whose presence the patch depends on (metadata.annotations, spec.affinity, ...);
// an annotation or label that happens to have such a name only disappears from the copy
// the decision reads, which looks at annotations by their own names.
bool IsUnusedMember(const std::string& key) {
  static const std::unordered_set<std::string> kUnused = {
      "managedFields", "userInfo", "options", "oldObject", "requestKind", "requestResource", "volumes",
      "volumeMounts", "resources", "ports", "env", "envFrom", "command", "args", "livenessProbe", "readinessProbe",
      "startupProbe", "securityContext", "lifecycle", "tolerations", "ownerReferences", "labels", "status"};
  return kUnused.count(key) != 0;
}

// A SAX handler (nlohmann::json::sax_parse) that builds the DOM of everything but the
// unused members. Unlike a parse callback, which builds each value before it is
// discarded, a skipped member here costs only the lexer's scan.
class FilteringDomBuilder {
 public:
  explicit FilteringDomBuilder(Json& root) : root_(root) {}

  bool null() { return Scalar(nullptr); }
  bool boolean(bool value) { return Scalar(value); }
  bool number_integer(Json::number_integer_t value) { return Scalar(value); }
  bool number_unsigned(Json::number_unsigned_t value) { return Scalar(value); }
  bool number_float(Json::number_float_t value, const std::string& /*text*/) { return Scalar(value); }
  bool string(std::string& value) { return Scalar(std::move(value)); }
  bool binary(Json::binary_t& value) { return Scalar(std::move(value)); }
  bool start_object(std::size_t /*elements*/) { return Open(Json::value_t::object); }
  bool start_array(std::size_t /*elements*/) { return Open(Json::value_t::array); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(std::string& name) {
    if (skip_depth_ > 0) return true;
    if (IsUnusedMember(name)) {
      skip_next_value_ = true;
    } else {
      key_ = std::move(name);
    }
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/, const nlohmann::detail::exception& /*e*/) {
    return false;
  }

 private:
  // True when the value starting now is (inside) a skipped member.
  bool SkipValue() {
    if (skip_depth_ > 0) return true;
    if (!skip_next_value_) return false;
    skip_next_value_ = false;
    return true;
  }
  template <typename Value>
  bool Scalar(Value&& value) {
    if (!SkipValue()) Place(Json(std::forward<Value>(value)));
    return true;
  }
  bool Open(Json::value_t type) {
    if (SkipValue()) {
      ++skip_depth_;
      return true;
    }
    stack_.push_back(Place(Json(type)));
    return true;
  }
  bool Close() {
    if (skip_depth_ > 0) {
      --skip_depth_;
    } else {
      stack_.pop_back();
    }
    return true;
  }
  // Stores `value` where the parser is (root, array element or object member; a repeated
  // member replaces the earlier one, as Json::parse does) and returns it.
  Json* Place(Json&& value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    Json& slot = parent[std::move(key_)];
    slot = std::move(value);
    return &slot;
  }

  Json& root_;
  std::vector<Json*> stack_;  // open containers; elements stay put while a child is open
  std::string key_;
  bool skip_next_value_ = false;
  int skip_depth_ = 0;  // > 0: inside a skipped object or array
};

}  // namespace

Result<AdmissionRequest> ParseAdmissionReview(std::string_view body) {
  Json review;
  FilteringDomBuilder builder(review);
  if (!Json::sax_parse(body.begin(), body.end(), &builder)) return Invalid("request body is not valid JSON");
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
  // Written directly rather than built as a Json tree and dumped: this runs for every
  // request. The bytes are what dumping that tree gives (members in Json's sorted order);
  // strings go through Json's own escaping, replacing invalid UTF-8 (image names come from
  // the request) rather than throwing.
  auto quoted = [](const std::string& text) { return Json(text).dump(-1, ' ', false, Json::error_handler_t::replace); };
  std::string patch;
  if (decision.allowed && !decision.patch.empty()) {
    patch = Base64Encode(decision.patch.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  std::string out;
  out.reserve(160 + patch.size() + request.uid.size());
  out += "{\"apiVersion\":";
  out += quoted(request.api_version.empty() ? "admission.k8s.io/v1" : request.api_version);
  out += ",\"kind\":\"AdmissionReview\",\"response\":{\"allowed\":";
  out += decision.allowed ? "true" : "false";
  if (!patch.empty()) {
    out += ",\"patch\":\"";  // base64: nothing to escape
    out += patch;
    out += "\",\"patchType\":\"JSONPatch\"";
  }
  if (!decision.allowed) {
    out += ",\"status\":{\"code\":";
    out += std::to_string(decision.status_code);
    out += ",\"message\":";
    out += quoted(decision.status_message);
    out += ",\"reason\":";
    out += quoted(decision.status_reason);
    out += '}';
  }
  out += ",\"uid\":";
  out += quoted(request.uid);
  if (!decision.warnings.empty()) {
    out += ",\"warnings\":[";
    for (size_t i = 0; i < decision.warnings.size(); ++i) {
      if (i > 0) out += ',';
      out += quoted(decision.warnings[i]);
    }
    out += ']';
  }
  out += "}}";
  return out;
}

}  // namespace archway::webhook

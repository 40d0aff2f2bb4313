// admission.k8s.io AdmissionReview in and out (the shapes a real kube-apiserver sends are in
// tests/webhook/testdata/admissionreview-*.json; docs/design.md "What the Kubernetes API
// server does").
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "webhook/decision.h"

namespace archway::webhook {

struct AdmissionRequest {
  std::string api_version;  // echoed in the answer ("admission.k8s.io/v1")
  std::string uid;
  std::string group;        // request.kind.group ("" for core)
  std::string kind;         // request.kind.kind ("Pod")
  std::string operation;    // CREATE, UPDATE, ...
  std::string ns;
  std::string name;         // "" with generateName (ReadPodOrigin)
  bool dry_run = false;
  // request.object (null when absent), built with only the fields decision.h reads: the
  // rest of the pod is left out while parsing. For a DaemonSet, its metadata name and uid
  // and its spec.template with the fields decision.h reads of a pod.
  Json object;
  // request.oldObject of a DaemonSet UPDATE, built as `object` (null otherwise).
  Json old_object;

  bool IsPodCreate() const { return group.empty() && kind == "Pod" && operation == "CREATE"; }
  bool IsDaemonSet() const { return std::string_view(group) == "apps" && std::string_view(kind) == "DaemonSet"; }
};

struct JsonShape;  // filtered_json.h

// The members of a review ParseAdmissionReview builds (the rest is checked, not built).
const JsonShape& AdmissionReviewShape();

// kInvalidArgument when the body is not JSON or not an AdmissionReview with a request
// and a uid (then no valid answer can be built: the server answers HTTP 400).
// A review is read once with the pod's shape; a DaemonSet's is read a second time with
// its own, so a pod's admission builds no member it does not need.
Result<AdmissionRequest> ParseAdmissionReview(std::string_view body);

// Who made the pod of a review ParseAdmissionReview read: request.object read again with
// only metadata.generateName and metadata.ownerReferences (apiVersion, kind, name, uid and
// controller of each; kube::OwnerReferencesOf reads them). Read on demand rather than
// built for every admission: for the Events of a pod with no name yet (they go to its
// controller) and for a pod that carries archway.dev/platforms (daemonset.h). Null when
// the review has no object.
Json ReadPodOrigin(std::string_view body);

// The AdmissionReview answer for `decision` with its JSON Patch text (patch.h; "" for none),
// base64-encoded, its warnings, and the status when denied, as compact JSON.
std::string EncodeAdmissionResponse(const AdmissionRequest& request, const Decision& decision, std::string_view patch);

}  // namespace archway::webhook

// An in-process fake kube-apiserver for tests (Boost.Beast, plain HTTP or HTTPS on a
// free 127.0.0.1 port). It keeps the real API's semantics for the resources archway uses —
// Secrets, Nodes, Pods, Namespaces, Jobs, Leases, Events (core and events.k8s.io),
// MultiArchImages — with response shapes copied from a real v1.32 apiserver
// (tests/kube/testdata):
//  - one global, monotonically increasing resourceVersion, bumped by every write;
//  - uid, creationTimestamp, generation filled in on create; generation bumped on spec
//    changes only; the status subresource ignores everything but status, the main
//    resource ignores status (Jobs, MultiArchImages, Pods, Nodes);
//  - 404 NotFound, 409 AlreadyExists, 409 Conflict on a stale resourceVersion,
//    422 Invalid (missing name, bad JSON shape), Status bodies exactly as the real API's;
//  - merge-patch and JSON-patch; DELETE answers the object for built-ins and a Status
//    Success for MultiArchImages; deleting an owner deletes what it owns (ownerReferences
//    uid), recursively;
//  - label selectors (=, ==, !=, in, notin, exists, !key) and field selectors
//    (metadata.name, metadata.namespace, type for Secrets, status.phase, spec.nodeName);
//  - list paging with opaque continue tokens (410 Expired after Compact());
//  - watches: chunked, one JSON event per line (ADDED/MODIFIED/DELETED/BOOKMARK),
//    from a resourceVersion; a watch from a compacted RV gets HTTP 200 and one ERROR
//    line (410 Expired, "too old resource version: X (Y)"); timeoutSeconds honoured,
//    BOOKMARKs every bookmark_interval when allowWatchBookmarks=true.
//  - validation the real apiserver showed archway's objects must pass: pull-secret types
//    need their key holding JSON; events.k8s.io Events need reportingController,
//    reportingInstance, action, reason and a Normal/Warning type; MultiArchImages lose
//    every field the CRD in crds/ does not declare (pruning), as a structural schema does;
//  - pods: scheduling gates (KEP-3521) only at creation (qualified names, no duplicates, not
//    with spec.nodeName; the PodScheduled=False SchedulingGated condition set), afterwards
//    only removed; a pod update changes nothing in spec but images, activeDeadlineSeconds
//    and added tolerations, and on a gated pod (KEP-3838) added nodeSelector entries and
//    node affinity additions (required terms set when there were none, else requirements
//    appended to each existing term; preferred terms freely), worded as the real API's.
// Test hooks count requests by verb, inject failures, drop watches, compact history and
// set objects directly.
//
// tests/apiserver/fakeapi_test.cpp runs the same calls on this fake and on a real
// kube-apiserver and compares what archway can observe. Deliberate differences:
//  - every namespace exists (no Namespace lifecycle): the real API answers 404 for a
//    create in a namespace that does not exist;
//  - no admission chain (webhooks, ServiceAccount, defaults beyond the ones above), no
//    RBAC, no dryRun (a dry-run write is stored), no server-side apply;
//  - deleting an owner deletes what it owns at once, where the real garbage collector
//    (kube-controller-manager) does it asynchronously, and not at all without one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "kube/config.h"
#include "kube/resource.h"

namespace archway::fakeapi {

using Json = nlohmann::json;

struct FakeApiOptions {
  // When non-empty, requests must carry "Authorization: Bearer <token>" (else 401).
  std::string required_token{};
  std::chrono::milliseconds bookmark_interval{1000};
  // HTTPS instead of HTTP when set (PEM). With client_ca_pem, clients must present a
  // certificate signed by it (as an apiserver's --client-ca-file).
  std::string tls_cert_pem{};
  std::string tls_key_pem{};
  std::string client_ca_pem{};
};

// One request as received (for assertions).
struct RecordedRequest {
  std::string method{};   // GET, POST, PUT, PATCH, DELETE
  std::string verb{};     // Kubernetes verb: get, list, watch, create, update, patch, delete
  std::string path{};     // without query
  std::string query{};
  std::string authorization{};
};

class FakeApiServer {
 public:
  explicit FakeApiServer(FakeApiOptions options = {});
  ~FakeApiServer();  // Stop()s
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  // Binds 127.0.0.1 on a free port and serves on background threads.
  Status Start();
  void Stop();

  std::string url() const;  // "http://127.0.0.1:PORT" (https with TLS options)
  int port() const;
  // A ClusterConfig pointing at this server (with the required token if any).
  kube::ClusterConfig ClusterConfig() const;

  // --- request accounting ---
  // Requests with this Kubernetes verb ("get", "list", "watch", "create", "update",
  // "patch", "delete") since the last ResetCounts().
  int64_t RequestCount(const std::string& verb) const;
  // create + update + patch + delete.
  int64_t WriteCount() const;
  std::vector<RecordedRequest> Requests() const;
  void ResetCounts();

  // --- fault injection ---
  // The next `count` requests whose path starts with `path_prefix` (and, if non-empty,
  // whose method is `method`) answer `http_status` with a Status body (InternalError for
  // 5xx, TooManyRequests for 429, Conflict for 409); `retry_after_seconds` > 0 adds a
  // Retry-After header.
  void FailNext(const std::string& path_prefix, int count, int http_status, int retry_after_seconds = 0,
                const std::string& method = "");
  // Answer `count` requests on `path_prefix` with a non-JSON body (like a proxy's HTML).
  void FailNextWithBody(const std::string& path_prefix, int count, int http_status, const std::string& body);
  // Forgets every pending FailNext / FailNextWithBody rule.
  void ClearFaults();
  // Ends every open watch stream abruptly (connection closed, no terminating chunk).
  void DropWatches();
  // Forgets history: watches from an RV older than the current one get 410 Expired, and
  // every continue token issued so far expires.
  void Compact();
  // Number of watch streams open now.
  int OpenWatches() const;

  // --- direct state access (no validation, no request counted) ---
  // Creates or replaces the object (metadata.name, namespace for namespaced resources),
  // filling metadata as a create would, bumping the RV and notifying watchers. Keeps the
  // status given, so a test can e.g. mark a Job succeeded. Answers the stored object.
  Json Put(const kube::ResourceRef& ref, Json object);
  // Deletes directly (with cascading); false if absent.
  bool Remove(const kube::ResourceRef& ref, const std::string& ns, const std::string& name);
  std::optional<Json> Peek(const kube::ResourceRef& ref, const std::string& ns, const std::string& name) const;
  // Objects of one resource, in one namespace ("" = all), sorted by namespace/name.
  std::vector<Json> Objects(const kube::ResourceRef& ref, const std::string& ns = "") const;
  int64_t CurrentResourceVersion() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::fakeapi

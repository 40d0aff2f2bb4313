// A Kubernetes API client: typed REST calls on JSON objects, and watch streams.
// `Client` is abstract so that logic above it can be tested; NewHttpClient is the real
// one (HTTP/1.1 over TLS, bearer token or client certificate, client-side QPS limit,
// bounded retries with backoff on 429/5xx honouring Retry-After). Thread-safe. A write
// whose object cannot be serialised (a string that is not UTF-8) fails with
// kInvalidArgument before anything is sent, as every failure does: an error, never a throw.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "kube/config.h"
#include "kube/errors.h"
#include "kube/resource.h"

namespace archway::kube {

using Json = nlohmann::json;

struct ListOptions {
  std::string label_selector{};   // "app=web,tier!=db"
  std::string field_selector{};   // "type=kubernetes.io/dockerconfigjson"
  int64_t limit = 0;            // 0 = no paging
  std::string continue_token{};   // from a previous page
  std::string resource_version{}; // "" = most recent (quorum read)
};

struct ListResult {
  std::vector<Json> items{};
  std::string resource_version{};  // the list's RV: watch from here
  std::string continue_token{};    // "" on the last page
  std::optional<int64_t> remaining_item_count{};
};

enum class PatchType {
  kMerge,  // application/merge-patch+json (RFC 7386)
  kJson,   // application/json-patch+json (RFC 6902)
};

struct DeleteOptions {
  std::optional<int64_t> grace_period_seconds{};
  std::string propagation_policy{};  // "", "Foreground", "Background", "Orphan"
};

struct WatchOptions {
  std::string resource_version{};  // watch changes after this RV (normally a list's RV)
  std::string label_selector{};
  std::string field_selector{};
  bool allow_bookmarks = true;
  int timeout_seconds = 300;     // server ends the stream after this; 0 = server default
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type = Type::kAdded;
  Json object{};
};

const char* WatchEventTypeName(WatchEvent::Type type);

// Called for each event in order; return false to end the watch.
using WatchHandler = std::function<bool(const WatchEvent&)>;

class Client {
 public:
  virtual ~Client() = default;

  // `ns` is ignored for cluster-scoped resources; for namespaced ones, List/Watch with
  // ns "" cover all namespaces.
  virtual Result<Json> Get(const ResourceRef& ref, const std::string& ns, const std::string& name) = 0;
  virtual Result<ListResult> List(const ResourceRef& ref, const std::string& ns, const ListOptions& options = {}) = 0;
  // Creates `object` (its metadata.namespace may be empty; `ns` wins). Answers the stored object.
  virtual Result<Json> Create(const ResourceRef& ref, const std::string& ns, const Json& object) = 0;
  // PUT of the whole object; metadata.resourceVersion guards against lost updates (409 Conflict).
  virtual Result<Json> Update(const ResourceRef& ref, const std::string& ns, const Json& object) = 0;
  // PUT to the /status subresource: only `status` changes.
  virtual Result<Json> UpdateStatus(const ResourceRef& ref, const std::string& ns, const Json& object) = 0;
  // `subresource` "" or "status".
  virtual Result<Json> Patch(const ResourceRef& ref, const std::string& ns, const std::string& name,
                             PatchType type, const Json& patch, const std::string& subresource = "") = 0;
  // Answers what the API answered: the object (built-ins, graceful) or a Status (custom resources).
  virtual Result<Json> Delete(const ResourceRef& ref, const std::string& ns, const std::string& name,
                              const DeleteOptions& options = {}) = 0;

  // GET of a path that names no resource ("/version"): the JSON it answers.
  virtual Result<Json> GetPath(const std::string& path) = 0;

  // Streams events until the server ends the stream (OK), `handler` returns false (OK),
  // `stop` is requested (OK), or an error: transport failure / truncated line (kNetwork),
  // an ERROR event or a non-200 answer (its Status mapped as in errors.h; 410 Expired ->
  // kGone: re-list, then watch from the new RV). Blocks the calling thread.
  virtual Status Watch(const ResourceRef& ref, const std::string& ns, const WatchOptions& options,
                       const WatchHandler& handler, std::stop_token stop) = 0;
};

struct ClientOptions {
  double qps = 20;             // client-side token bucket refill rate...
  int burst = 40;              // ...and size
  int max_retries = 5;         // for 429 / 5xx / connection failures on idempotent calls
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds request_timeout{30000};
  std::string user_agent = "archway/0.1";
};

// The real client. Fails when the TLS material in `config` does not parse.
Result<std::unique_ptr<Client>> NewHttpClient(const ClusterConfig& config, const ClientOptions& options = {});

// Every page of a list (following `continue`); limit = page size. On a 410 Expired
// continue token it restarts from the first page once. `each_item`, when set, is applied
// to every item as its page arrives, before the next page is asked for: a caller that
// keeps a few fields of each object never holds more than one page of whole objects.
Result<ListResult> ListAll(Client& client, const ResourceRef& ref, const std::string& ns,
                           ListOptions options = {}, const std::function<void(Json& item)>& each_item = {});

// client-go's RetryOnConflict: runs `fn` (which should GET, modify, and UPDATE) again
// while it fails with 409 Conflict, up to `attempts` times.
Status RetryOnConflict(const std::function<Status()>& fn, int attempts = 5);

// "ns/name" or "name": the key used by informers and work queues.
std::string ObjectKey(const Json& object);
std::string ObjectKey(const std::string& ns, const std::string& name);
// Splits a key back. {"", name} for cluster-scoped keys.
std::pair<std::string, std::string> SplitObjectKey(const std::string& key);

}  // namespace archway::kube

#include "tests/fakeapi/fake_api_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "base/encoding.h"
#include "kube/time.h"
#include "tests/fakeapi/selectors.h"
#include "tests/operator/openapi_validator.h"

namespace archway::fakeapi {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using kube::ResourceRef;

struct ResourceInfo {
  ResourceRef ref;
  bool status_subresource = false;  // status written only through /status
  bool generation = false;          // metadata.generation tracked
  bool custom = false;              // a CRD: DELETE answers a Status; lists keep apiVersion/kind in items
  bool delete_returns_object = false;
  std::string Id() const { return ref.group + "/" + ref.resource; }
  std::string GroupResource() const { return ref.group.empty() ? ref.resource : ref.resource + "." + ref.group; }
};

// The custom resource the tests install (crds/archway.dev_multiarchimages.yaml).
const kube::ResourceRef kMultiArchImages{"archway.dev", "v1alpha1", "multiarchimages", "MultiArchImage", true};

const std::vector<ResourceInfo>& Known() {
  namespace r = kube::resources;
  static const std::vector<ResourceInfo> known = {
      {r::kSecrets, false, false, false, false},
      {r::kNodes, true, false, false, false},
      {r::kPods, true, false, false, true},
      {r::kNamespaces, true, false, false, true},
      {r::kCoreEvents, false, false, false, false},
      {r::kEvents, false, false, false, false},
      {r::kJobs, true, true, false, false},
      {r::kLeases, false, false, false, false},
      {kMultiArchImages, true, true, true, false},
  };
  return known;
}

const ResourceInfo* Find(const std::string& group, const std::string& version, const std::string& resource) {
  for (const auto& info : Known())
    if (info.ref.group == group && info.ref.version == version && info.ref.resource == resource) return &info;
  return nullptr;
}

std::string NowTime() { return kube::FormatTime(std::chrono::system_clock::now()); }

// The MultiArchImage schema of crds/, read once: the real apiserver prunes every field it
// does not declare (so a status field missing from the CRD is silently lost there).
const Json& MultiArchImageSchema() {
  static const Json schema =
      optest::LoadYamlFile(std::string(ARCHWAY_SOURCE_DIR) + "/crds/archway.dev_multiarchimages.yaml")["spec"]["versions"][0]
                                                                                                      ["schema"]["openAPIV3Schema"];
  return schema;
}

std::string NewUid() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string RandomSuffix() {
  static std::mutex mu;
  static std::mt19937 rng{std::random_device{}()};
  static const char* alphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::lock_guard lock(mu);
  std::string s;
  for (int i = 0; i < 5; ++i) s += alphabet[rng() % 27];
  return s;
}

std::string Base64Url(const std::string& data) {
  std::string s = Base64Encode(data);
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::optional<std::string> FromBase64Url(std::string s) {
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4) s += '=';
  return Base64Decode(s);
}

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') out += ' ';
    else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
             std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(const std::string& query) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    size_t amp = query.find('&', start);
    std::string pair = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    auto eq = pair.find('=');
    if (!pair.empty()) out[UrlDecode(pair.substr(0, eq))] = eq == std::string::npos ? "" : UrlDecode(pair.substr(eq + 1));
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return out;
}

// A failure answer: HTTP status + a Status body as the real API builds it.
struct ApiFailure {
  int code;
  Json body;
};

ApiFailure Failure(int code, const std::string& reason, const std::string& message, Json details = nullptr) {
  Json status = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Failure"},
                 {"message", message}, {"reason", reason}};
  if (!details.is_null()) status["details"] = std::move(details);
  status["code"] = code;
  return {code, status};
}

Json Details(const ResourceInfo& info, const std::string& name, const std::string& kind) {
  Json d = {{"name", name}};
  if (!info.ref.group.empty()) d["group"] = info.ref.group;
  d["kind"] = kind;
  return d;
}

ApiFailure NotFound(const ResourceInfo& info, const std::string& name) {
  return Failure(404, "NotFound", info.GroupResource() + " \"" + name + "\" not found", Details(info, name, info.ref.resource));
}

ApiFailure Conflict(const ResourceInfo& info, const std::string& name) {
  return Failure(409, "Conflict",
                 "Operation cannot be fulfilled on " + info.GroupResource() + " \"" + name +
                     "\": the object has been modified; please apply your changes to the latest version and try again",
                 Details(info, name, info.ref.resource));
}

ApiFailure Invalid(const ResourceInfo& info, const std::string& name, const Json& causes) {
  std::string qualified = info.ref.group.empty() ? info.ref.kind : info.ref.kind + "." + info.ref.group;
  std::string message = qualified + " \"" + name + "\" is invalid: ";
  std::vector<std::string> parts;
  for (const auto& c : causes) parts.push_back(c.value("field", "") + ": " + c.value("message", ""));
  if (parts.size() == 1) {
    message += parts[0];
  } else {
    message += "[";
    for (size_t i = 0; i < parts.size(); ++i) message += (i ? ", " : "") + parts[i];
    message += "]";
  }
  Json details = Details(info, name, info.ref.kind);
  details["causes"] = causes;
  return Failure(422, "Invalid", message, details);
}

Json Cause(const std::string& reason, const std::string& message, const std::string& field) {
  return {{"reason", reason}, {"message", message}, {"field", field}};
}

// Exactly six fractional digits, as metav1.MicroTime's parser demands.
bool IsMicroTime(const std::string& s) {
  static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$)");
  return std::regex_match(s, re);
}

// The pull-secret types need their key, holding JSON, as the real apiserver validates them
// ("data[.dockerconfigjson]: Required value"); Go's JSON error text is not reproduced.
void ValidateSecretType(const Json& obj, Json& causes) {
  const std::string type = obj.value("type", Json("")).is_string() ? obj.value("type", "") : "";
  std::string key;
  if (type == "kubernetes.io/dockerconfigjson") key = ".dockerconfigjson";
  if (type == "kubernetes.io/dockercfg") key = ".dockercfg";
  if (key.empty()) return;
  const std::string field = "data[" + key + "]";
  const Json data = obj.value("data", Json::object());
  if (!data.is_object() || !data.contains(key) || !data[key].is_string()) {
    causes.push_back(Cause("FieldValueRequired", "Required value", field));
    return;
  }
  auto decoded = Base64Decode(data[key].get<std::string>());
  if (!decoded || !Json::accept(*decoded)) {
    causes.push_back(Cause("FieldValueInvalid", "Invalid value: \"<secret contents redacted>\": not valid JSON", field));
  }
}

bool IsDnsSubdomain(const std::string& s) {
  static const std::regex re(R"(^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)");
  return !s.empty() && s.size() <= 253 && std::regex_match(s, re);
}

// metav1 qualified names (a scheduling gate's name): an optional DNS-subdomain prefix and
// "/", then 1-63 of [-A-Za-z0-9_.] starting and ending alphanumeric.
bool IsQualifiedName(const std::string& s) {
  static const std::regex name_re(R"(^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$)");
  const auto slash = s.find('/');
  const std::string name = slash == std::string::npos ? s : s.substr(slash + 1);
  if (slash != std::string::npos && !IsDnsSubdomain(s.substr(0, slash))) return false;
  return !name.empty() && name.size() <= 63 && std::regex_match(name, name_re);
}

const Json& Spec(const Json& pod) {
  static const Json empty = Json::object();
  return pod.is_object() && pod.contains("spec") && pod["spec"].is_object() ? pod["spec"] : empty;
}

std::vector<std::string> GateNames(const Json& spec) {
  std::vector<std::string> names;
  if (!spec.contains("schedulingGates") || !spec["schedulingGates"].is_array()) return names;
  for (const auto& gate : spec["schedulingGates"]) names.push_back(gate.is_object() ? gate.value("name", "") : "");
  return names;
}

// The pod create rules for scheduling gates (KEP-3521), as the real API words them.
void ValidatePodGates(const Json& pod, Json& causes) {
  const Json& spec = Spec(pod);
  const std::vector<std::string> gates = GateNames(spec);
  std::set<std::string> seen;
  for (size_t i = 0; i < gates.size(); ++i) {
    const std::string field = "spec.schedulingGates[" + std::to_string(i) + "]";
    if (!IsQualifiedName(gates[i])) {
      causes.push_back(Cause("FieldValueInvalid",
                             "Invalid value: \"" + gates[i] + "\": name part must consist of alphanumeric characters, "
                             "'-', '_' or '.', and must start and end with an alphanumeric character",
                             field));
    } else if (!seen.insert(gates[i]).second) {
      causes.push_back(Cause("FieldValueDuplicate", "Duplicate value: \"" + gates[i] + "\"", field));
    }
  }
  if (!gates.empty() && spec.contains("nodeName") && spec["nodeName"].is_string() &&
      !spec["nodeName"].get<std::string>().empty()) {
    causes.push_back(Cause("FieldValueForbidden", "Forbidden: cannot be set until all schedulingGates have been cleared",
                           "spec.nodeName"));
  }
}

// KEP-3838: an existing nodeSelectorTerm may only gain requirements, appended.
bool TermOnlyGained(const Json& next, const Json& old) {
  for (const char* list : {"matchExpressions", "matchFields"}) {
    const Json before = old.is_object() ? old.value(list, Json::array()) : Json::array();
    const Json after = next.is_object() ? next.value(list, Json::array()) : Json::array();
    if (!before.is_array() || !after.is_array() || before.size() > after.size()) return false;
    for (size_t i = 0; i < before.size(); ++i) {
      if (before[i] != after[i]) return false;
    }
  }
  return true;
}

const Json* NodeAffinityOf(const Json& spec) {
  if (!spec.contains("affinity") || !spec["affinity"].is_object()) return nullptr;
  const Json& affinity = spec["affinity"];
  return affinity.contains("nodeAffinity") && affinity["nodeAffinity"].is_object() ? &affinity["nodeAffinity"] : nullptr;
}

// What the real API allows a pod update to change in spec (ValidatePodUpdate): images,
// activeDeadlineSeconds, added tolerations, removed scheduling gates, and on a pod that
// was gated (KEP-3838) added nodeSelector entries and node affinity additions (required
// terms set when there were none, else requirements appended to each; preferred terms
// freely). Everything else in spec is immutable.
void ValidatePodUpdate(const Json& current, const Json& next, Json& causes) {
  const Json& old_spec = Spec(current);
  const Json& new_spec = Spec(next);
  const std::vector<std::string> old_gates = GateNames(old_spec);
  const std::vector<std::string> new_gates = GateNames(new_spec);
  for (size_t i = 0; i < new_gates.size(); ++i) {
    if (std::find(old_gates.begin(), old_gates.end(), new_gates[i]) == old_gates.end()) {
      causes.push_back(Cause("FieldValueForbidden",
                             "Forbidden: only deletion is allowed, but found new scheduling gate '" + new_gates[i] + "'",
                             "spec.schedulingGates[" + std::to_string(i) + "].name"));
    }
  }
  Json munged = new_spec;
  auto keep_old = [&](const char* field) {
    if (old_spec.contains(field)) munged[field] = old_spec[field];
    else munged.erase(field);
  };
  for (const char* list : {"containers", "initContainers"}) {
    if (!munged.contains(list) || !old_spec.contains(list) || !munged[list].is_array() || !old_spec[list].is_array() ||
        munged[list].size() != old_spec[list].size()) {
      continue;
    }
    for (size_t i = 0; i < munged[list].size(); ++i) {
      if (!munged[list][i].is_object() || !old_spec[list][i].is_object()) continue;
      if (old_spec[list][i].contains("image")) munged[list][i]["image"] = old_spec[list][i]["image"];
      else munged[list][i].erase("image");
    }
  }
  keep_old("activeDeadlineSeconds");
  const Json old_tolerations = old_spec.value("tolerations", Json::array());
  const Json new_tolerations = new_spec.value("tolerations", Json::array());
  for (const auto& toleration : old_tolerations) {
    if (std::find(new_tolerations.begin(), new_tolerations.end(), toleration) == new_tolerations.end()) {
      causes.push_back(Cause("FieldValueForbidden", "Forbidden: existing toleration can not be modified except its "
                                                    "tolerationSeconds", "spec.tolerations"));
      break;
    }
  }
  keep_old("tolerations");
  keep_old("schedulingGates");
  if (!old_gates.empty()) {
    const Json old_selector = old_spec.value("nodeSelector", Json::object());
    const Json new_selector = new_spec.value("nodeSelector", Json::object());
    for (const auto& [key, value] : old_selector.items()) {
      if (!new_selector.is_object() || !new_selector.contains(key) || new_selector[key] != value) {
        causes.push_back(Cause("FieldValueInvalid",
                               "Invalid value: " + new_selector.dump() +
                                   ": only additions to spec.nodeSelector are allowed (no mutations or deletions)",
                               "spec.nodeSelector"));
        break;
      }
    }
    keep_old("nodeSelector");
    const Json* old_affinity = NodeAffinityOf(old_spec);
    const Json* new_affinity = NodeAffinityOf(munged);
    const char* required = "requiredDuringSchedulingIgnoredDuringExecution";
    if (old_affinity && old_affinity->contains(required) && (*old_affinity)[required].is_object()) {
      const Json old_terms = (*old_affinity)[required].value("nodeSelectorTerms", Json::array());
      Json new_terms = Json::array();
      if (new_affinity && new_affinity->contains(required) && (*new_affinity)[required].is_object()) {
        new_terms = (*new_affinity)[required].value("nodeSelectorTerms", Json::array());
      }
      const std::string terms_field =
          "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
      if (!old_terms.empty() && old_terms.size() != new_terms.size()) {
        causes.push_back(Cause("FieldValueInvalid",
                               "Invalid value: " + new_terms.dump() +
                                   ": no additions/deletions to non-empty NodeSelectorTerms list are allowed",
                               terms_field));
      } else {
        for (size_t i = 0; i < old_terms.size(); ++i) {
          if (!TermOnlyGained(new_terms[i], old_terms[i])) {
            causes.push_back(Cause("FieldValueInvalid",
                                   "Invalid value: " + new_terms[i].dump() +
                                       ": only additions are allowed (no mutations or deletions)",
                                   terms_field + "[" + std::to_string(i) + "]"));
          }
        }
      }
    }
    // Then the node affinity is compared as it was, the rest of affinity as it is.
    const bool had_affinity = old_spec.contains("affinity");
    if (!munged.contains("affinity")) {
      if (old_affinity) munged["affinity"] = {{"nodeAffinity", *old_affinity}};
    } else if (!had_affinity && munged["affinity"].is_object() && !munged["affinity"].contains("podAffinity") &&
               !munged["affinity"].contains("podAntiAffinity")) {
      munged.erase("affinity");
    } else if (munged["affinity"].is_object()) {
      if (old_affinity) munged["affinity"]["nodeAffinity"] = *old_affinity;
      else munged["affinity"].erase("nodeAffinity");
    }
  }
  if (munged != old_spec) {
    causes.push_back(Cause("FieldValueForbidden",
                           "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                           "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                           "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
                           "to 1 if it was previously negative)",
                           "spec"));
  }
}

const Json& Meta(const Json& obj) {
  static const Json empty = Json::object();
  return obj.contains("metadata") && obj["metadata"].is_object() ? obj["metadata"] : empty;
}
std::string MetaString(const Json& obj, const char* key) {
  const Json& m = Meta(obj);
  return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : "";
}
std::string Key(const std::string& ns, const std::string& name) { return ns + "/" + name; }
std::string KeyOf(const Json& obj) { return Key(MetaString(obj, "namespace"), MetaString(obj, "name")); }

struct HistoryEvent {
  int64_t rv;
  std::string resource_id;
  std::string type;  // ADDED, MODIFIED, DELETED
  Json object;       // the new (or, for DELETED, last) state
  Json previous;     // state before (null for ADDED)
};

struct FailRule {
  std::string prefix;
  std::string method;
  int remaining;
  int status;
  int retry_after;
  std::string body;  // non-empty: raw body instead of a Status
};

struct Response {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

Response JsonResponse(int status, const Json& body) { return {status, body.dump(), {}}; }
Response FailureResponse(const ApiFailure& f) { return JsonResponse(f.code, f.body); }

}  // namespace

struct FakeApiServer::Impl {
  FakeApiOptions options;
  mutable std::mutex mu;  // guards the store, history, counters, rules
  std::condition_variable changed;  // a write happened, or a drop/stop
  std::map<std::string, std::map<std::string, Json>> store;  // resource id -> "ns/name" -> object
  std::vector<HistoryEvent> history;
  int64_t rv = 100;
  int64_t compacted_rv = 0;  // history at or below this is gone
  uint64_t drop_generation = 0;
  bool stopping = false;
  std::map<std::string, int64_t> verb_counts;
  std::vector<RecordedRequest> requests;
  std::list<FailRule> rules;

  // Networking.
  net::io_context ioc;
  std::unique_ptr<ssl::context> tls_ctx;  // set when serving HTTPS
  std::unique_ptr<tcp::acceptor> acceptor;
  int port = 0;
  std::thread accept_thread;
  std::mutex conn_mu;
  struct Conn {
    std::shared_ptr<tcp::socket> socket;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
    bool watching = false;
  };
  std::map<int, Conn> conns;
  int next_conn = 0;
  std::atomic<int> open_watches{0};

  // ---- store ----

  // Requires mu. Records a write and wakes watchers.
  void Record(const ResourceInfo& info, const std::string& type, const Json& object, const Json& previous) {
    history.push_back({rv, info.Id(), type, object, previous});
    changed.notify_all();
  }

  Json Stamp(const ResourceInfo& info, Json obj) {
    obj["apiVersion"] = info.ref.ApiVersion();
    obj["kind"] = info.ref.kind;
    return obj;
  }

  // Requires mu. Deletes an object and, transitively, what it owns.
  void DeleteLocked(const ResourceInfo& info, const std::string& key, bool cascade) {
    auto& objects = store[info.Id()];
    auto it = objects.find(key);
    if (it == objects.end()) return;
    Json last = it->second;
    objects.erase(it);
    ++rv;
    last["metadata"]["resourceVersion"] = std::to_string(rv);
    Record(info, "DELETED", last, last);
    if (!cascade) return;
    const std::string uid = MetaString(last, "uid");
    for (const auto& other : Known()) {
      std::vector<std::string> owned;
      for (const auto& [k, obj] : store[other.Id()]) {
        const Json& m = Meta(obj);
        if (!m.contains("ownerReferences") || !m["ownerReferences"].is_array()) continue;
        for (const auto& ref : m["ownerReferences"])
          if (ref.is_object() && ref.value("uid", "") == uid) owned.push_back(k);
      }
      for (const auto& k : owned) DeleteLocked(other, k, true);
    }
  }

  // Requires mu. The objects of a resource as they were at `at_rv`, rebuilt from history.
  std::map<std::string, Json> SnapshotLocked(const ResourceInfo& info, int64_t at_rv) {
    std::map<std::string, Json> snapshot = store[info.Id()];
    for (auto it = history.rbegin(); it != history.rend() && it->rv > at_rv; ++it) {
      if (it->resource_id != info.Id()) continue;
      std::string key = KeyOf(it->object);
      if (it->type == "ADDED") snapshot.erase(key);
      else snapshot[key] = it->previous;
    }
    return snapshot;
  }

  // Fills server-owned metadata on create; applies defaults and type rules.
  Json PrepareCreate(const ResourceInfo& info, Json obj, const std::string& ns, bool keep_status) {
    obj = Stamp(info, std::move(obj));
    if (info.custom && !keep_status) obj = optest::PruneUnknownFields(MultiArchImageSchema(), std::move(obj));
    Json& m = obj["metadata"];
    if (info.ref.namespaced) m["namespace"] = ns;
    else m.erase("namespace");
    m["uid"] = NewUid();
    m["resourceVersion"] = std::to_string(rv);
    m["creationTimestamp"] = NowTime();
    if (info.generation) m["generation"] = 1;
    else m.erase("generation");
    m.erase("deletionTimestamp");
    const std::string& r = info.ref.resource;
    if (info.status_subresource && !keep_status) {
      obj.erase("status");
      if (r == "jobs" || r == "nodes" || r == "namespaces") obj["status"] = Json::object();
      if (r == "pods") obj["status"] = {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
      if (r == "pods" && !GateNames(Spec(obj)).empty()) {
        // Set by the API server itself (kubectl shows SchedulingGated).
        obj["status"]["conditions"] = {{{"lastProbeTime", nullptr},
                                        {"lastTransitionTime", NowTime()},
                                        {"message", "Scheduling is blocked due to non-empty scheduling gates"},
                                        {"reason", "SchedulingGated"},
                                        {"status", "False"},
                                        {"type", "PodScheduled"}}};
      }
      if (r == "namespaces") obj["status"] = {{"phase", "Active"}};
    }
    if (r == "secrets") {
      if (!obj.contains("type")) obj["type"] = "Opaque";
      if (obj.contains("stringData") && obj["stringData"].is_object()) {
        for (auto& [k, v] : obj["stringData"].items())
          if (v.is_string()) obj["data"][k] = Base64Encode(v.get<std::string>());
        obj.erase("stringData");
      }
    }
    if (r == "jobs") {
      Json& spec = obj["spec"];
      const std::string uid = m["uid"];
      const std::string name = m.value("name", "");
      if (!spec.contains("parallelism")) spec["parallelism"] = 1;
      if (!spec.contains("completions")) spec["completions"] = 1;
      if (!spec.contains("backoffLimit")) spec["backoffLimit"] = 6;
      if (!spec.contains("completionMode")) spec["completionMode"] = "NonIndexed";
      if (!spec.contains("suspend")) spec["suspend"] = false;
      if (!spec.contains("manualSelector")) spec["manualSelector"] = false;
      if (!spec.contains("podReplacementPolicy")) spec["podReplacementPolicy"] = "TerminatingOrFailed";
      spec["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
      Json& labels = spec["template"]["metadata"]["labels"];
      labels["batch.kubernetes.io/controller-uid"] = uid;
      labels["batch.kubernetes.io/job-name"] = name;
      labels["controller-uid"] = uid;
      labels["job-name"] = name;
    }
    if (r == "multiarchimages" && obj.contains("spec") && obj["spec"].is_object() && !obj["spec"].contains("format"))
      obj["spec"]["format"] = "oci";
    if (r == "events" && info.ref.group == "events.k8s.io") {
      if (!obj.contains("deprecatedSource")) obj["deprecatedSource"] = Json::object();
      if (!obj.contains("deprecatedFirstTimestamp")) obj["deprecatedFirstTimestamp"] = nullptr;
      if (!obj.contains("deprecatedLastTimestamp")) obj["deprecatedLastTimestamp"] = nullptr;
    }
    if (r == "events" && info.ref.group.empty() && !obj.contains("eventTime")) obj["eventTime"] = nullptr;
    return obj;
  }

  // Type-specific validation shared by create and update. Returns a failure or nullopt.
  std::optional<ApiFailure> Validate(const ResourceInfo& info, const Json& obj) {
    const std::string name = MetaString(obj, "name");
    const std::string& r = info.ref.resource;
    Json causes = Json::array();
    if (name.empty()) {
      causes.push_back(Cause("FieldValueRequired", "Required value: name or generateName is required", "metadata.name"));
    } else if (!IsDnsSubdomain(name)) {
      causes.push_back(Cause("FieldValueInvalid",
                             "Invalid value: \"" + name + "\": a lowercase RFC 1123 subdomain must consist of lower case "
                             "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                             "metadata.name"));
    }
    if (r == "pods") {
      const Json* containers = obj.contains("spec") && obj["spec"].is_object() && obj["spec"].contains("containers")
                                   ? &obj["spec"]["containers"] : nullptr;
      if (!containers || !containers->is_array() || containers->empty())
        causes.push_back(Cause("FieldValueRequired", "Required value", "spec.containers"));
      ValidatePodGates(obj, causes);
    }
    if (r == "jobs") {
      if (!obj.contains("spec") || !obj["spec"].is_object() || !obj["spec"].contains("template"))
        causes.push_back(Cause("FieldValueRequired", "Required value", "spec.template"));
    }
    if (r == "multiarchimages") {
      static const std::regex platform_re("^[a-z0-9]+/[a-z0-9]+(/v[0-9]+)?$");
      if (!obj.contains("spec") || !obj["spec"].is_object() || !obj["spec"].contains("image") ||
          !obj["spec"]["image"].is_string())
        causes.push_back(Cause("FieldValueRequired", "Required value", "spec.image"));
      if (obj.contains("spec") && obj["spec"].is_object() && obj["spec"].contains("platforms")) {
        const Json& platforms = obj["spec"]["platforms"];
        for (size_t i = 0; platforms.is_array() && i < platforms.size(); ++i) {
          std::string p = platforms[i].is_string() ? platforms[i].get<std::string>() : platforms[i].dump();
          std::string field = "spec.platforms[" + std::to_string(i) + "]";
          if (!platforms[i].is_string() || !std::regex_match(p, platform_re))
            causes.push_back(Cause("FieldValueInvalid",
                                   "Invalid value: \"" + p + "\": " + field +
                                       " in body should match '^[a-z0-9]+/[a-z0-9]+(/v[0-9]+)?$'", field));
        }
      }
    }
    if (r == "events" && info.ref.group == "events.k8s.io") {
      if (!obj.contains("eventTime")) causes.push_back(Cause("FieldValueRequired", "Required value", "eventTime"));
      for (const char* field : {"reportingController", "reportingInstance", "action", "reason"}) {
        const std::string value = obj.value(field, Json("")).is_string() ? obj.value(field, "") : "";
        if (value.empty()) causes.push_back(Cause("FieldValueRequired", "Required value", field));
        else if (value.size() > 128)
          causes.push_back(Cause("FieldValueTooLong", "Too long: must have at most 128 bytes", field));
      }
      const std::string type = obj.value("type", Json("")).is_string() ? obj.value("type", "") : "";
      if (type != "Normal" && type != "Warning")
        causes.push_back(Cause("FieldValueInvalid", "Invalid value: \"" + type + "\": has invalid value: " + type, "type"));
      if (obj.contains("note") && obj["note"].is_string() && obj["note"].get<std::string>().size() > 1024)
        causes.push_back(Cause("FieldValueTooLong", "Too long: must have at most 1024 bytes", "note"));
    }
    if (r == "secrets") ValidateSecretType(obj, causes);
    if (!causes.empty()) return Invalid(info, name, causes);
    return std::nullopt;
  }

  // Decoding errors the real API reports as 400 before validation (MicroTime format).
  std::optional<ApiFailure> Decode(const ResourceInfo& info, const Json& obj) {
    auto check = [&](const Json& parent, const char* field) -> std::optional<ApiFailure> {
      if (!parent.is_object() || !parent.contains(field) || parent[field].is_null()) return std::nullopt;
      std::string value = parent[field].is_string() ? parent[field].get<std::string>() : parent[field].dump();
      if (IsMicroTime(value)) return std::nullopt;
      std::string frac = value.size() > 19 ? value.substr(19) : value;
      return Failure(400, "BadRequest",
                     info.ref.kind + " in version \"" + info.ref.version + "\" cannot be handled as a " + info.ref.kind +
                         ": parsing time \"" + value + "\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"" +
                         frac + "\" as \".000000\"");
    };
    if (info.ref.resource == "leases" && obj.contains("spec")) {
      if (auto f = check(obj["spec"], "acquireTime")) return f;
      if (auto f = check(obj["spec"], "renewTime")) return f;
    }
    if (info.ref.resource == "events" && info.ref.group == "events.k8s.io")
      if (auto f = check(obj, "eventTime")) return f;
    return std::nullopt;
  }

  // ---- handlers (require mu) ----

  Response Create(const ResourceInfo& info, const std::string& ns, Json body) {
    if (!body.contains("metadata") || !body["metadata"].is_object()) body["metadata"] = Json::object();
    Json& m = body["metadata"];
    std::string body_ns = m.contains("namespace") && m["namespace"].is_string() ? m["namespace"].get<std::string>() : "";
    if (info.ref.namespaced && !body_ns.empty() && body_ns != ns)
      return FailureResponse(Failure(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"));
    if ((!m.contains("name") || m["name"] == "") && m.contains("generateName") && m["generateName"].is_string())
      m["name"] = m["generateName"].get<std::string>() + RandomSuffix();
    if (auto f = Decode(info, body)) return FailureResponse(*f);
    if (auto f = Validate(info, body)) return FailureResponse(*f);
    std::string name = m["name"];
    std::string key = Key(info.ref.namespaced ? ns : "", name);
    auto& objects = store[info.Id()];
    if (objects.count(key))
      return FailureResponse(Failure(409, "AlreadyExists", info.GroupResource() + " \"" + name + "\" already exists",
                                     Details(info, name, info.ref.resource)));
    ++rv;
    Json stored = PrepareCreate(info, std::move(body), info.ref.namespaced ? ns : "", false);
    objects[key] = stored;
    Record(info, "ADDED", stored, nullptr);
    return JsonResponse(201, stored);
  }

  // The common tail of PUT and PATCH: `incoming` is the full new object.
  Response Replace(const ResourceInfo& info, const std::string& ns, const std::string& name, Json incoming,
                   const std::string& subresource) {
    auto& objects = store[info.Id()];
    std::string key = Key(info.ref.namespaced ? ns : "", name);
    auto it = objects.find(key);
    if (it == objects.end()) return FailureResponse(NotFound(info, name));
    const Json current = it->second;
    if (!incoming.is_object()) return FailureResponse(Failure(400, "BadRequest", "the body of the request is not a JSON object"));
    if (!incoming.contains("metadata") || !incoming["metadata"].is_object()) incoming["metadata"] = Json::object();
    std::string body_name = MetaString(incoming, "name");
    if (body_name.empty()) incoming["metadata"]["name"] = name;
    else if (body_name != name)
      return FailureResponse(Failure(400, "BadRequest", "the name of the object (" + body_name +
                                                             ") does not match the name on the URL (" + name + ")"));
    std::string body_rv = MetaString(incoming, "resourceVersion");
    if (!body_rv.empty() && body_rv != MetaString(current, "resourceVersion")) return FailureResponse(Conflict(info, name));
    if (body_rv.empty() && info.custom)
      return FailureResponse(Invalid(info, name, Json::array({Cause("FieldValueInvalid",
                                                                    "Invalid value: 0x0: must be specified for an update",
                                                                    "metadata.resourceVersion")})));
    if (auto f = Decode(info, incoming)) return FailureResponse(*f);
    Json next;
    if (subresource == "status") {
      next = current;  // only status may change
      if (incoming.contains("status")) next["status"] = incoming["status"];
      else next.erase("status");
    } else {
      next = Stamp(info, std::move(incoming));
      if (info.status_subresource) {
        if (current.contains("status")) next["status"] = current["status"];
        else next.erase("status");
      }
      Json& m = next["metadata"];
      const Json& cm = current["metadata"];
      for (const char* kept : {"uid", "creationTimestamp", "namespace", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
        if (cm.contains(kept)) m[kept] = cm[kept];
        else m.erase(kept);
      }
      if (info.generation) {
        int64_t generation = cm.value("generation", int64_t{1});
        bool spec_changed = next.value("spec", Json()) != current.value("spec", Json());
        m["generation"] = spec_changed ? generation + 1 : generation;
      } else {
        m.erase("generation");
      }
      if (info.ref.resource == "pods") {
        Json causes = Json::array();
        ValidatePodUpdate(current, next, causes);
        if (!causes.empty()) return FailureResponse(Invalid(info, name, causes));
      }
      if (auto f = Validate(info, next)) return FailureResponse(*f);
    }
    if (info.custom) next = optest::PruneUnknownFields(MultiArchImageSchema(), std::move(next));
    next["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"];
    if (next == current) return JsonResponse(200, current);  // a no-op write stores nothing
    // Removing the last finalizer of an object being deleted completes the deletion.
    if (next["metadata"].contains("deletionTimestamp") &&
        (!next["metadata"].contains("finalizers") || next["metadata"]["finalizers"].empty())) {
      objects[key] = next;
      DeleteLocked(info, key, true);
      return JsonResponse(200, next);
    }
    ++rv;
    next["metadata"]["resourceVersion"] = std::to_string(rv);
    objects[key] = next;
    Record(info, "MODIFIED", next, current);
    return JsonResponse(200, next);
  }

  Response Patch(const ResourceInfo& info, const std::string& ns, const std::string& name, const std::string& content_type,
                 const std::string& body, const std::string& subresource) {
    auto& objects = store[info.Id()];
    auto it = objects.find(Key(info.ref.namespaced ? ns : "", name));
    if (it == objects.end()) return FailureResponse(NotFound(info, name));
    Json patch = Json::parse(body, nullptr, false);
    if (patch.is_discarded()) return FailureResponse(Failure(400, "BadRequest", "error decoding patch: invalid JSON"));
    Json patched = it->second;
    std::string ct = content_type.substr(0, content_type.find(';'));
    if (ct == "application/merge-patch+json" ||
        (ct == "application/strategic-merge-patch+json" && !info.custom)) {
      if (!patch.is_object()) return FailureResponse(Failure(400, "BadRequest", "merge patch must be a JSON object"));
      patched.merge_patch(patch);
    } else if (ct == "application/json-patch+json") {
      if (!patch.is_array())
        return FailureResponse(Failure(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"));
      try {
        patched = patched.patch(patch);
      } catch (const std::exception& e) {
        return FailureResponse(Failure(422, "Invalid", std::string("the server rejected our request due to an error in our request: ") + e.what()));
      }
    } else {
      return FailureResponse(Failure(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json"));
    }
    // A patch carrying metadata.resourceVersion is a precondition (checked by Replace);
    // without one it applies to whatever is current.
    if (MetaString(patched, "resourceVersion").empty()) patched["metadata"]["resourceVersion"] = it->second["metadata"]["resourceVersion"];
    return Replace(info, ns, name, std::move(patched), subresource);
  }

  Response Delete(const ResourceInfo& info, const std::string& ns, const std::string& name, const std::string& body,
                  const std::map<std::string, std::string>& query) {
    auto& objects = store[info.Id()];
    std::string key = Key(info.ref.namespaced ? ns : "", name);
    auto it = objects.find(key);
    if (it == objects.end()) return FailureResponse(NotFound(info, name));
    std::string policy;
    Json options = body.empty() ? Json::object() : Json::parse(body, nullptr, false);
    if (options.is_object()) policy = options.value("propagationPolicy", "");
    if (auto q = query.find("propagationPolicy"); q != query.end()) policy = q->second;
    Json current = it->second;
    const Json& m = current["metadata"];
    if (m.contains("finalizers") && m["finalizers"].is_array() && !m["finalizers"].empty()) {
      if (!m.contains("deletionTimestamp")) {
        ++rv;
        current["metadata"]["deletionTimestamp"] = NowTime();
        current["metadata"]["deletionGracePeriodSeconds"] = 0;
        current["metadata"]["resourceVersion"] = std::to_string(rv);
        Record(info, "MODIFIED", current, it->second);
        it->second = current;
      }
      return JsonResponse(200, current);
    }
    if (info.ref.resource == "pods") {
      // An unbound pod: MODIFIED with deletionTimestamp, then DELETED (as seen on a real API).
      ++rv;
      Json marked = current;
      marked["metadata"]["deletionTimestamp"] = NowTime();
      marked["metadata"]["deletionGracePeriodSeconds"] = 0;
      marked["metadata"]["resourceVersion"] = std::to_string(rv);
      Record(info, "MODIFIED", marked, current);
      it->second = marked;
      current = marked;
    }
    DeleteLocked(info, key, policy != "Orphan");
    if (info.delete_returns_object) return JsonResponse(200, current);
    Json details = {{"name", name}};
    if (!info.ref.group.empty()) details["group"] = info.ref.group;
    details["kind"] = info.ref.resource;
    details["uid"] = MetaString(current, "uid");
    return JsonResponse(200, {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()},
                              {"status", "Success"}, {"details", details}});
  }

  std::string ContinueToken(int64_t at_rv, const std::string& last_key) {
    // The real token: unpadded base64url of {"v":"meta.k8s.io/v1","rv":N,"start":"<key>\u0000"}.
    Json token = {{"v", "meta.k8s.io/v1"}, {"rv", at_rv}, {"start", last_key + std::string(1, '\0')}};
    return Base64Url(token.dump());
  }

  Response List(const ResourceInfo& info, const std::string& ns, const std::map<std::string, std::string>& q) {
    auto labels = ParseLabelSelector(q.count("labelSelector") ? q.at("labelSelector") : "");
    if (!labels.ok()) return FailureResponse(Failure(400, "BadRequest", labels.error().message));
    auto fields = ParseFieldSelector(q.count("fieldSelector") ? q.at("fieldSelector") : "");
    if (!fields.ok()) return FailureResponse(Failure(400, "BadRequest", fields.error().message));
    if (Status s = CheckFieldSelector(*fields, info.ref.resource); !s.ok())
      return FailureResponse(Failure(400, "BadRequest", s.error().message));
    int64_t limit = 0;
    if (q.count("limit")) limit = std::atoll(q.at("limit").c_str());
    int64_t at_rv = rv;
    std::string start;
    std::map<std::string, Json> snapshot;
    if (q.count("continue") && !q.at("continue").empty()) {
      auto decoded = FromBase64Url(q.at("continue"));
      Json token = decoded ? Json::parse(*decoded, nullptr, false) : Json();
      if (!token.is_object() || !token.contains("rv") || !token["rv"].is_number_integer() || !token.contains("start") ||
          !token["start"].is_string())
        return FailureResponse(Failure(400, "BadRequest", "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"));
      at_rv = token["rv"];
      start = token["start"];
      if (at_rv < compacted_rv) {
        ApiFailure f = Failure(410, "Expired",
                               "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.");
        f.body["metadata"]["continue"] = ContinueToken(-1, start.empty() ? start : start.substr(0, start.size() - 1));
        return FailureResponse(f);
      }
      snapshot = at_rv == -1 ? store[info.Id()] : SnapshotLocked(info, at_rv);
      if (at_rv == -1) at_rv = rv;
    } else {
      snapshot = store[info.Id()];
    }
    Json items = Json::array();
    std::string last_key;
    int64_t remaining = 0;
    for (const auto& [key, obj] : snapshot) {
      if (!start.empty() && key < start) continue;
      if (info.ref.namespaced && !ns.empty() && MetaString(obj, "namespace") != ns) continue;
      if (!MatchesLabels(*labels, obj) || !MatchesFields(*fields, obj, info.ref.resource)) continue;
      if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) {
        ++remaining;
        continue;
      }
      Json item = obj;
      if (!info.custom) {  // built-in list items carry no apiVersion/kind
        item.erase("apiVersion");
        item.erase("kind");
      }
      items.push_back(std::move(item));
      last_key = key;
    }
    Json meta = {{"resourceVersion", std::to_string(at_rv)}};
    if (remaining > 0) {
      meta["continue"] = ContinueToken(at_rv, last_key);
      // Only exact without selectors, as on the real API.
      if (labels->empty() && fields->empty()) meta["remainingItemCount"] = remaining;
    } else if (info.custom) {
      meta["continue"] = "";
    }
    return JsonResponse(200, {{"kind", info.ref.kind + "List"}, {"apiVersion", info.ref.ApiVersion()},
                              {"metadata", meta}, {"items", items}});
  }

  // ---- watch ----

  template <class Stream>
  void ServeWatch(Stream& socket, const ResourceInfo& info, const std::string& ns,
                  const std::map<std::string, std::string>& q) {
    auto write = [&](const std::string& data) {
      boost::system::error_code ec;
      net::write(socket, net::buffer(data), ec);
      return !ec;
    };
    auto chunk = [&](const std::string& line) {
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", line.size());
      return write(std::string(size) + line + "\r\n");
    };
    auto labels = ParseLabelSelector(q.count("labelSelector") ? q.at("labelSelector") : "");
    auto fields = ParseFieldSelector(q.count("fieldSelector") ? q.at("fieldSelector") : "");
    std::optional<ApiFailure> failure;
    if (!labels.ok()) failure = Failure(400, "BadRequest", labels.error().message);
    else if (!fields.ok()) failure = Failure(400, "BadRequest", fields.error().message);
    else if (Status s = CheckFieldSelector(*fields, info.ref.resource); !s.ok())
      failure = Failure(400, "BadRequest", s.error().message);
    if (failure) {
      std::string body = failure->body.dump();
      write("HTTP/1.1 " + std::to_string(failure->code) + " Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
      return;
    }
    const bool bookmarks = q.count("allowWatchBookmarks") && q.at("allowWatchBookmarks") == "true";
    const int timeout_seconds = q.count("timeoutSeconds") ? std::atoi(q.at("timeoutSeconds").c_str()) : 1800;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds > 0 ? timeout_seconds : 1800);
    const std::string from = q.count("resourceVersion") ? q.at("resourceVersion") : "";

    if (!write("HTTP/1.1 200 OK\r\nAudit-Id: " + NewUid() +
               "\r\nCache-Control: no-cache, private\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"))
      return;
    auto matches = [&](const Json& obj) {
      if (obj.is_null()) return false;
      if (info.ref.namespaced && !ns.empty() && MetaString(obj, "namespace") != ns) return false;
      return MatchesLabels(*labels, obj) && MatchesFields(*fields, obj, info.ref.resource);
    };
    std::unique_lock lock(mu);
    const uint64_t my_drop = drop_generation;
    int64_t scanned;
    std::vector<std::string> lines;
    if (from.empty() || from == "0") {
      for (const auto& [key, obj] : store[info.Id()])
        if (matches(obj)) lines.push_back(Json({{"type", "ADDED"}, {"object", obj}}).dump());
      scanned = rv;
    } else {
      scanned = std::atoll(from.c_str());
      if (scanned < compacted_rv) {
        Json status = Failure(410, "Expired", "too old resource version: " + from + " (" + std::to_string(compacted_rv) + ")").body;
        lock.unlock();
        if (chunk(Json({{"type", "ERROR"}, {"object", status}}).dump() + "\n")) write("0\r\n\r\n");
        return;
      }
    }
    auto next_bookmark = std::chrono::steady_clock::now() + options.bookmark_interval;
    while (true) {
      if (scanned < compacted_rv) {  // history this watcher still needed was compacted away
        Json status = Failure(410, "Expired", "too old resource version: " + std::to_string(scanned) + " (" +
                                                  std::to_string(compacted_rv) + ")").body;
        lock.unlock();
        if (chunk(Json({{"type", "ERROR"}, {"object", status}}).dump() + "\n")) write("0\r\n\r\n");
        return;
      }
      // Events after `scanned`, translated for this watcher's filter (an object leaving
      // the selection is DELETED for it, one entering it ADDED).
      for (const auto& e : history) {
        if (e.rv <= scanned || e.resource_id != info.Id()) continue;
        bool now_in = e.type != "DELETED" && matches(e.object);
        bool was_in = matches(e.previous);
        std::string type;
        if (e.type == "DELETED") type = was_in ? "DELETED" : "";
        else if (now_in && was_in) type = "MODIFIED";
        else if (now_in) type = "ADDED";
        else if (was_in) type = "DELETED";
        if (type.empty()) continue;
        lines.push_back(Json({{"type", type}, {"object", e.object}}).dump());
      }
      scanned = rv;
      if (!lines.empty()) {
        lock.unlock();
        for (const auto& line : lines)
          if (!chunk(line + "\n")) return;
        lines.clear();
        lock.lock();
        continue;  // re-scan: more may have happened while writing
      }
      if (stopping || drop_generation != my_drop) return;  // dropped: no terminating chunk
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      if (bookmarks && now >= next_bookmark) {
        Json bookmark = {{"apiVersion", info.ref.ApiVersion()}, {"kind", info.ref.kind},
                         {"metadata", {{"resourceVersion", std::to_string(rv)}}}};
        lines.push_back(Json({{"type", "BOOKMARK"}, {"object", bookmark}}).dump());
        next_bookmark = now + options.bookmark_interval;
        continue;
      }
      auto wake = bookmarks ? std::min(deadline, next_bookmark) : deadline;
      changed.wait_until(lock, wake);
    }
    lock.unlock();
    write("0\r\n\r\n");  // the server's timeout: a clean end of stream
  }

  // ---- dispatch ----

  struct Route {
    const ResourceInfo* info = nullptr;
    std::string ns, name, subresource;
    bool ok = false;
  };

  Route Parse(const std::string& path) {
    std::vector<std::string> segs;
    size_t start = 1;
    while (start <= path.size()) {
      size_t slash = path.find('/', start);
      std::string seg = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (!seg.empty()) segs.push_back(UrlDecode(seg));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    Route route;
    std::string group, version;
    size_t i;
    if (segs.size() >= 2 && segs[0] == "api") {
      version = segs[1];
      i = 2;
    } else if (segs.size() >= 3 && segs[0] == "apis") {
      group = segs[1];
      version = segs[2];
      i = 3;
    } else {
      return route;
    }
    std::vector<std::string> rest(segs.begin() + static_cast<long>(i), segs.end());
    if (rest.size() >= 3 && rest[0] == "namespaces") {
      route.ns = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    }
    if (rest.empty() || rest.size() > 3) return route;
    route.info = Find(group, version, rest[0]);
    if (!route.info) return route;
    if (route.info->ref.namespaced == false && !route.ns.empty()) return route;
    if (rest.size() >= 2) route.name = rest[1];
    if (rest.size() == 3) route.subresource = rest[2];
    if (!route.subresource.empty() && (route.subresource != "status" || !route.info->status_subresource)) return route;
    route.ok = true;
    return route;
  }

  static std::string VerbOf(const std::string& method, const Route& route, const std::map<std::string, std::string>& q) {
    if (method == "GET") {
      if (!route.name.empty()) return "get";
      return q.count("watch") && (q.at("watch") == "true" || q.at("watch") == "1") ? "watch" : "list";
    }
    if (method == "POST") return "create";
    if (method == "PUT") return "update";
    if (method == "PATCH") return "patch";
    if (method == "DELETE") return "delete";
    return "unknown";
  }

  // Handles one request; answers std::nullopt when the connection became a watch.
  template <class Stream>
  std::optional<Response> Handle(Stream& socket, int conn_id, const http::request<http::string_body>& req) {
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    std::string query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
    auto q = ParseQuery(query);
    std::string method(req.method_string());
    Route route = Parse(path);
    std::string verb = route.ok ? VerbOf(method, route, q) : (method == "GET" ? "get" : "unknown");
    std::string auth(req[http::field::authorization]);
    std::unique_lock lock(mu);
    verb_counts[verb]++;
    requests.push_back({method, verb, path, query, auth});
    for (auto it = rules.begin(); it != rules.end(); ++it) {
      if (path.rfind(it->prefix, 0) != 0 || (!it->method.empty() && it->method != method)) continue;
      Response r;
      r.status = it->status;
      if (!it->body.empty()) {
        r.body = it->body;
        r.headers.push_back({"Content-Type", "text/html"});
      } else if (it->status == 429) {
        r.body = Failure(429, "TooManyRequests", "too many requests, please try again later",
                         Json{{"retryAfterSeconds", it->retry_after}}).body.dump();
      } else if (it->status == 409) {
        r.body = Failure(409, "Conflict",
                         "Operation cannot be fulfilled: the object has been modified; please apply your changes to "
                         "the latest version and try again (injected)").body.dump();
      } else {
        r.body = Failure(it->status, it->status == 503 ? "ServiceUnavailable" : "InternalError",
                         "Internal error occurred: injected failure").body.dump();
      }
      if (it->retry_after > 0) r.headers.push_back({"Retry-After", std::to_string(it->retry_after)});
      if (--it->remaining <= 0) rules.erase(it);
      return r;
    }
    if (!options.required_token.empty() && auth != "Bearer " + options.required_token && path != "/version")
      return JsonResponse(401, Failure(401, "Unauthorized", "Unauthorized").body);
    if (path == "/version" && method == "GET")
      return JsonResponse(200, {{"major", "1"}, {"minor", "32"}, {"gitVersion", "v1.32.13"}, {"gitCommit", "$Format:%H$"},
                                {"gitTreeState", "clean"}, {"buildDate", "2026-08-20T00:00:00Z"}, {"goVersion", "go1.23.5"},
                                {"compiler", "gc"}, {"platform", "linux/amd64"}});
    if (!route.ok)
      return JsonResponse(404, Failure(404, "NotFound", "the server could not find the requested resource",
                                       Json{{"causes", {{{"reason", "UnexpectedServerResponse"}, {"message", "404 page not found"}}}}}).body);
    const ResourceInfo& info = *route.info;
    if (verb == "watch") {
      lock.unlock();
      {
        std::lock_guard cl(conn_mu);
        conns[conn_id].watching = true;
      }
      ++open_watches;
      ServeWatch(socket, info, route.ns, q);
      --open_watches;
      return std::nullopt;
    }
    if (verb == "list") return List(info, route.ns, q);
    if (verb == "get") {
      auto& objects = store[info.Id()];
      auto it = objects.find(Key(info.ref.namespaced ? route.ns : "", route.name));
      if (it == objects.end()) return FailureResponse(NotFound(info, route.name));
      return JsonResponse(200, it->second);
    }
    if (verb == "delete") return Delete(info, route.ns, route.name, req.body(), q);
    if (verb == "patch")
      return Patch(info, route.ns, route.name, std::string(req[http::field::content_type]), req.body(), route.subresource);
    if (verb == "create" || verb == "update") {
      Json body = Json::parse(req.body(), nullptr, false);
      if (body.is_discarded() || !body.is_object())
        return FailureResponse(Failure(400, "BadRequest", "the object provided is unrecognized (must be of type " + info.ref.kind +
                                                              "): couldn't get version/kind; json parse error"));
      if (body.contains("kind") && body["kind"] != info.ref.kind)
        return FailureResponse(Failure(400, "BadRequest", "the object provided is unrecognized (must be of type " +
                                                              info.ref.kind + "): kind " + body["kind"].dump()));
      if (verb == "create") {
        if (!route.name.empty() || !route.subresource.empty())
          return FailureResponse(Failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"));
        return Create(info, route.ns, std::move(body));
      }
      if (route.name.empty())
        return FailureResponse(Failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"));
      return Replace(info, route.ns, route.name, std::move(body), route.subresource);
    }
    return FailureResponse(Failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"));
  }

  template <class Stream>
  void ServeHttp(int conn_id, Stream& stream) {
    beast::flat_buffer buffer;
    while (true) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(8 << 20);
      boost::system::error_code ec;
      http::read(stream, buffer, parser, ec);
      if (ec) break;
      auto req = parser.release();
      auto response = Handle(stream, conn_id, req);
      if (!response) break;  // a watch ended: close
      http::response<http::string_body> res{static_cast<http::status>(response->status), 11};
      res.set(http::field::content_type, "application/json");
      res.set("Audit-Id", NewUid());
      res.set(http::field::cache_control, "no-cache, private");
      for (const auto& [k, v] : response->headers) res.set(k, v);
      res.body() = std::move(response->body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(stream, res, ec);
      if (ec || !req.keep_alive()) break;
    }
  }

  void ServeConnection(int conn_id, std::shared_ptr<tcp::socket> socket) {
    if (tls_ctx) {
      ssl::stream<tcp::socket&> stream(*socket, *tls_ctx);
      boost::system::error_code ec;
      stream.handshake(ssl::stream_base::server, ec);
      if (!ec) ServeHttp(conn_id, stream);
    } else {
      ServeHttp(conn_id, *socket);
    }
    boost::system::error_code ec;
    socket->shutdown(tcp::socket::shutdown_both, ec);
  }

  void Reap() {
    std::vector<std::thread> finished;
    {
      std::lock_guard lock(conn_mu);
      for (auto it = conns.begin(); it != conns.end();) {
        if (it->second.done->load()) {
          finished.push_back(std::move(it->second.thread));
          it = conns.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& t : finished) t.join();
  }

  void AcceptLoop() {
    while (true) {
      auto socket = std::make_shared<tcp::socket>(ioc);
      boost::system::error_code ec;
      acceptor->accept(*socket, ec);
      if (ec) {
        std::lock_guard lock(mu);
        if (stopping) return;
        continue;
      }
      Reap();
      std::lock_guard lock(conn_mu);
      int id = next_conn++;
      auto done = std::make_shared<std::atomic<bool>>(false);
      Conn& conn = conns[id];
      conn.socket = socket;
      conn.done = done;
      conn.thread = std::thread([this, id, socket, done] {
        ServeConnection(id, socket);
        done->store(true);
      });
    }
  }
};

FakeApiServer::FakeApiServer(FakeApiOptions options) : impl_(std::make_unique<Impl>()) { impl_->options = options; }

FakeApiServer::~FakeApiServer() { Stop(); }

Status FakeApiServer::Start() {
  boost::system::error_code ec;
  if (!impl_->options.tls_cert_pem.empty()) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    ctx->use_certificate_chain(net::buffer(impl_->options.tls_cert_pem), ec);
    if (!ec) ctx->use_private_key(net::buffer(impl_->options.tls_key_pem), ssl::context::pem, ec);
    if (ec) return Error(ErrorCode::kInvalidArgument, "fake API server: TLS certificate/key: " + ec.message());
    if (!impl_->options.client_ca_pem.empty()) {
      ctx->add_certificate_authority(net::buffer(impl_->options.client_ca_pem), ec);
      if (ec) return Error(ErrorCode::kInvalidArgument, "fake API server: client CA: " + ec.message());
      ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
    impl_->tls_ctx = std::move(ctx);
  }
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->ioc);
  tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Error(ErrorCode::kNetwork, "fake API server: cannot listen on 127.0.0.1: " + ec.message());
  impl_->port = acceptor->local_endpoint().port();
  impl_->acceptor = std::move(acceptor);
  impl_->accept_thread = std::thread([this] { impl_->AcceptLoop(); });
  return Status::Ok();
}

void FakeApiServer::Stop() {
  if (!impl_->accept_thread.joinable()) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->changed.notify_all();
  }
  // shutdown(2) wakes the blocked accept/read calls of the other threads.
  ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);
  impl_->accept_thread.join();
  std::map<int, Impl::Conn> conns;
  {
    std::lock_guard lock(impl_->conn_mu);
    for (auto& [id, conn] : impl_->conns) ::shutdown(conn.socket->native_handle(), SHUT_RDWR);
    conns = std::move(impl_->conns);
    impl_->conns.clear();
  }
  for (auto& [id, conn] : conns) conn.thread.join();
  boost::system::error_code ec;
  impl_->acceptor->close(ec);
}

std::string FakeApiServer::url() const {
  return (impl_->tls_ctx ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(impl_->port);
}
int FakeApiServer::port() const { return impl_->port; }

kube::ClusterConfig FakeApiServer::ClusterConfig() const {
  kube::ClusterConfig config;
  config.server = url();
  config.token = impl_->options.required_token;
  config.context = "fake";
  return config;
}

int64_t FakeApiServer::RequestCount(const std::string& verb) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->verb_counts.find(verb);
  return it == impl_->verb_counts.end() ? 0 : it->second;
}

int64_t FakeApiServer::WriteCount() const {
  return RequestCount("create") + RequestCount("update") + RequestCount("patch") + RequestCount("delete");
}

std::vector<RecordedRequest> FakeApiServer::Requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

void FakeApiServer::ResetCounts() {
  std::lock_guard lock(impl_->mu);
  impl_->verb_counts.clear();
  impl_->requests.clear();
}

void FakeApiServer::FailNext(const std::string& path_prefix, int count, int http_status, int retry_after_seconds,
                             const std::string& method) {
  std::lock_guard lock(impl_->mu);
  impl_->rules.push_back({path_prefix, method, count, http_status, retry_after_seconds, ""});
}

void FakeApiServer::FailNextWithBody(const std::string& path_prefix, int count, int http_status, const std::string& body) {
  std::lock_guard lock(impl_->mu);
  impl_->rules.push_back({path_prefix, "", count, http_status, 0, body.empty() ? std::string(" ") : body});
}

void FakeApiServer::ClearFaults() {
  std::lock_guard lock(impl_->mu);
  impl_->rules.clear();
}

void FakeApiServer::DropWatches() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->drop_generation++;
    impl_->changed.notify_all();
  }
  // Also cut the sockets, so a watcher blocked in a write (or the client) sees it at once.
  std::lock_guard lock(impl_->conn_mu);
  for (auto& [id, conn] : impl_->conns)
    if (conn.watching && !conn.done->load()) ::shutdown(conn.socket->native_handle(), SHUT_RDWR);
}

void FakeApiServer::Compact() {
  std::lock_guard lock(impl_->mu);
  impl_->compacted_rv = impl_->rv;
  impl_->history.erase(impl_->history.begin(), impl_->history.end());
  impl_->changed.notify_all();
}

int FakeApiServer::OpenWatches() const { return impl_->open_watches.load(); }

Json FakeApiServer::Put(const kube::ResourceRef& ref, Json object) {
  const ResourceInfo* info = Find(ref.group, ref.version, ref.resource);
  if (!info) return nullptr;
  std::lock_guard lock(impl_->mu);
  std::string ns = info->ref.namespaced ? MetaString(object, "namespace") : "";
  std::string key = Key(ns, MetaString(object, "name"));
  auto& objects = impl_->store[info->Id()];
  ++impl_->rv;
  auto it = objects.find(key);
  Json stored;
  if (it == objects.end()) {
    stored = impl_->PrepareCreate(*info, std::move(object), ns, /*keep_status=*/true);
    stored["metadata"]["resourceVersion"] = std::to_string(impl_->rv);
    objects[key] = stored;
    impl_->Record(*info, "ADDED", stored, nullptr);
  } else {
    stored = impl_->Stamp(*info, std::move(object));
    Json& m = stored["metadata"];
    const Json& cm = it->second["metadata"];
    for (const char* kept : {"uid", "creationTimestamp", "namespace", "generation"})
      if (cm.contains(kept) && !m.contains(kept)) m[kept] = cm[kept];
    m["resourceVersion"] = std::to_string(impl_->rv);
    Json previous = it->second;
    it->second = stored;
    impl_->Record(*info, "MODIFIED", stored, previous);
  }
  return stored;
}

bool FakeApiServer::Remove(const kube::ResourceRef& ref, const std::string& ns, const std::string& name) {
  const ResourceInfo* info = Find(ref.group, ref.version, ref.resource);
  if (!info) return false;
  std::lock_guard lock(impl_->mu);
  std::string key = Key(info->ref.namespaced ? ns : "", name);
  if (!impl_->store[info->Id()].count(key)) return false;
  impl_->DeleteLocked(*info, key, true);
  return true;
}

std::optional<Json> FakeApiServer::Peek(const kube::ResourceRef& ref, const std::string& ns, const std::string& name) const {
  const ResourceInfo* info = Find(ref.group, ref.version, ref.resource);
  if (!info) return std::nullopt;
  std::lock_guard lock(impl_->mu);
  auto& objects = impl_->store[info->Id()];
  auto it = objects.find(Key(info->ref.namespaced ? ns : "", name));
  if (it == objects.end()) return std::nullopt;
  return it->second;
}

std::vector<Json> FakeApiServer::Objects(const kube::ResourceRef& ref, const std::string& ns) const {
  std::vector<Json> out;
  const ResourceInfo* info = Find(ref.group, ref.version, ref.resource);
  if (!info) return out;
  std::lock_guard lock(impl_->mu);
  for (const auto& [key, obj] : impl_->store[info->Id()])
    if (ns.empty() || MetaString(obj, "namespace") == ns) out.push_back(obj);
  return out;
}

int64_t FakeApiServer::CurrentResourceVersion() const {
  std::lock_guard lock(impl_->mu);
  return impl_->rv;
}

}  // namespace archway::fakeapi

#include "tests/support/memory_kube_client.h"

#include <optional>
#include <sstream>

#include "kube/errors.h"
#include "kube/object.h"

namespace archway::testing {
namespace {

using kube::Json;

// The API's answer for a failure, as the HTTP client maps it (kube/errors.h).
Error ApiError(int code, const std::string& reason, const std::string& message) {
  return kube::ErrorFromStatus(Json{{"kind", "Status"}, {"code", code}, {"reason", reason}, {"message", message}}, "");
}

// One term of a label selector: "k=v", "k==v", "k!=v" or "k" (exists).
bool Matches(const std::map<std::string, std::string>& labels, const std::string& term) {
  auto not_equal = term.find("!=");
  if (not_equal != std::string::npos) {
    auto it = labels.find(term.substr(0, not_equal));
    return it == labels.end() || it->second != term.substr(not_equal + 2);
  }
  auto equal = term.find('=');
  if (equal == std::string::npos) return labels.count(term) > 0;
  std::string value = term.substr(term.compare(equal, 2, "==") == 0 ? equal + 2 : equal + 1);
  auto it = labels.find(term.substr(0, equal));
  return it != labels.end() && it->second == value;
}

bool MatchesSelector(const Json& object, const std::string& selector) {
  if (selector.empty()) return true;
  const auto labels = kube::LabelsOf(object);
  std::stringstream terms(selector);
  std::string term;
  while (std::getline(terms, term, ',')) {
    if (!term.empty() && !Matches(labels, term)) return false;
  }
  return true;
}

// What the HTTP client would put on the wire; false when nlohmann cannot serialise it.
bool Serialisable(const Json& object) {
  try {
    (void)object.dump();
    return true;
  } catch (const Json::exception&) {
    return false;
  }
}

}  // namespace

MemoryKubeClient::Key MemoryKubeClient::KeyOf(const kube::ResourceRef& ref, const std::string& ns,
                                              const std::string& name) const {
  return {ref.group + "/" + ref.resource, ref.namespaced ? ns : "", name};
}

void MemoryKubeClient::Put(const kube::ResourceRef& ref, const Json& object) {
  Json stored = object;
  if (!stored.is_object()) return;
  if (!stored["metadata"].is_object()) stored["metadata"] = Json::object();
  Json& md = stored["metadata"];
  if (!md.contains("uid")) md["uid"] = "uid-" + std::to_string(next_version_);
  md["resourceVersion"] = std::to_string(next_version_++);
  const Key key = KeyOf(ref, kube::NamespaceOf(stored), kube::NameOf(stored));  // before `stored` is moved
  objects_[key] = std::move(stored);
}

std::vector<Json> MemoryKubeClient::Objects(const kube::ResourceRef& ref) const {
  std::vector<Json> out;
  for (const auto& [key, object] : objects_) {
    if (std::get<0>(key) == ref.group + "/" + ref.resource) out.push_back(object);
  }
  return out;
}

Result<Json> MemoryKubeClient::Store(const std::string& verb, const kube::ResourceRef& ref, const Key& key,
                                     Json object) {
  if (!Serialisable(object)) {
    ++unserialisable_;
    return Error(ErrorCode::kInvalidArgument, ref.resource + " " + std::get<2>(key) +
                                                  ": the object cannot be serialised as JSON (a string is not UTF-8)");
  }
  object["metadata"]["resourceVersion"] = std::to_string(next_version_++);
  objects_[key] = object;
  writes_.push_back(Write{verb, ref.resource, std::get<1>(key), object});
  return object;
}

Result<Json> MemoryKubeClient::Get(const kube::ResourceRef& ref, const std::string& ns, const std::string& name) {
  auto it = objects_.find(KeyOf(ref, ns, name));
  if (it == objects_.end()) return ApiError(404, "NotFound", ref.resource + " \"" + name + "\" not found");
  return it->second;
}

Result<kube::ListResult> MemoryKubeClient::List(const kube::ResourceRef& ref, const std::string& ns,
                                                const kube::ListOptions& options) {
  if (!options.field_selector.empty())
    return Error(ErrorCode::kUnsupported, "the in-memory client does not serve field selectors");
  kube::ListResult result;
  result.resource_version = std::to_string(next_version_ - 1);
  for (const auto& [key, object] : objects_) {
    if (std::get<0>(key) != ref.group + "/" + ref.resource) continue;
    if (ref.namespaced && !ns.empty() && std::get<1>(key) != ns) continue;
    if (MatchesSelector(object, options.label_selector)) result.items.push_back(object);
  }
  return result;
}

Result<Json> MemoryKubeClient::Create(const kube::ResourceRef& ref, const std::string& ns, const Json& object) {
  if (!object.is_object()) return ApiError(400, "BadRequest", "the body is not a JSON object");
  Json stored = object;
  if (!stored["metadata"].is_object()) return ApiError(422, "Invalid", "metadata: Required value");
  Json& md = stored["metadata"];
  std::string name = kube::NameOf(stored);
  if (name.empty()) {
    auto generate = kube::StringAt(md, {"generateName"});
    if (!generate) return ApiError(422, "Invalid", "metadata.name: Required value: name or generateName is required");
    name = *generate + std::to_string(next_version_);
    md["name"] = name;
  }
  if (ref.namespaced) md["namespace"] = ns;
  const Key key = KeyOf(ref, ns, name);
  if (objects_.count(key))
    return ApiError(409, "AlreadyExists", ref.resource + " \"" + name + "\" already exists");
  md["uid"] = "uid-" + std::to_string(next_version_);
  if (!stored.contains("apiVersion")) stored["apiVersion"] = ref.ApiVersion();
  if (!stored.contains("kind") && !ref.kind.empty()) stored["kind"] = ref.kind;
  return Store("create", ref, key, std::move(stored));
}

namespace {
// The API's 409 for a write that names a resourceVersion other than the stored one.
std::optional<Error> Stale(const kube::ResourceRef& ref, const std::string& name, const Json& sent, const Json& stored) {
  auto version = kube::StringAt(sent, {"metadata", "resourceVersion"});
  if (!version || version == kube::StringAt(stored, {"metadata", "resourceVersion"})) return std::nullopt;
  return ApiError(409, "Conflict", "Operation cannot be fulfilled on " + ref.resource + " \"" + name +
                                       "\": the object has been modified; please apply your changes to the "
                                       "latest version and try again");
}
}  // namespace

Result<Json> MemoryKubeClient::Update(const kube::ResourceRef& ref, const std::string& ns, const Json& object) {
  if (kube::ObjectAt(object, {"metadata"}) == nullptr) return ApiError(422, "Invalid", "metadata: Required value");
  const std::string name = kube::NameOf(object);
  auto it = objects_.find(KeyOf(ref, ns, name));
  if (it == objects_.end()) return ApiError(404, "NotFound", ref.resource + " \"" + name + "\" not found");
  if (auto conflict = Stale(ref, name, object, it->second)) return std::move(*conflict);
  Json stored = object;
  stored["metadata"]["uid"] = kube::UidOf(it->second);
  if (it->second.contains("status")) stored["status"] = it->second["status"];
  else stored.erase("status");
  return Store("update", ref, it->first, std::move(stored));
}

Result<Json> MemoryKubeClient::UpdateStatus(const kube::ResourceRef& ref, const std::string& ns, const Json& object) {
  const std::string name = kube::NameOf(object);
  auto it = objects_.find(KeyOf(ref, ns, name));
  if (it == objects_.end()) return ApiError(404, "NotFound", ref.resource + " \"" + name + "\" not found");
  if (auto conflict = Stale(ref, name, object, it->second)) return std::move(*conflict);
  Json stored = it->second;
  if (object.is_object() && object.contains("status")) stored["status"] = object["status"];
  else stored.erase("status");
  return Store("updateStatus", ref, it->first, std::move(stored));
}

Result<Json> MemoryKubeClient::Patch(const kube::ResourceRef& ref, const std::string& ns, const std::string& name,
                                     kube::PatchType type, const Json& patch, const std::string& subresource) {
  auto it = objects_.find(KeyOf(ref, ns, name));
  if (it == objects_.end()) return ApiError(404, "NotFound", ref.resource + " \"" + name + "\" not found");
  Json patched = it->second;
  try {
    if (type == kube::PatchType::kMerge) patched.merge_patch(patch);
    else patched = patched.patch(patch);
  } catch (const Json::exception& e) {
    return ApiError(422, "Invalid", std::string("the patch does not apply: ") + e.what());
  }
  if (!patched.is_object() || !patched["metadata"].is_object())
    return ApiError(422, "Invalid", "the patch removes the object's metadata");
  patched["metadata"]["name"] = name;
  patched["metadata"]["uid"] = kube::UidOf(it->second);
  Json stored = it->second;
  if (subresource == "status") {
    if (patched.contains("status")) stored["status"] = patched["status"];
    else stored.erase("status");
  } else {
    stored = std::move(patched);
  }
  return Store("patch", ref, it->first, std::move(stored));
}

Result<Json> MemoryKubeClient::Delete(const kube::ResourceRef& ref, const std::string& ns, const std::string& name,
                                      const kube::DeleteOptions&) {
  auto it = objects_.find(KeyOf(ref, ns, name));
  if (it == objects_.end()) return ApiError(404, "NotFound", ref.resource + " \"" + name + "\" not found");
  Json deleted = std::move(it->second);
  objects_.erase(it);
  writes_.push_back(Write{"delete", ref.resource, ref.namespaced ? ns : "", deleted});
  return deleted;
}

Result<Json> MemoryKubeClient::GetPath(const std::string& path) {
  if (path == "/version") return Json{{"major", "1"}, {"minor", "31"}, {"gitVersion", "v1.31.0"}};
  return ApiError(404, "NotFound", "the server could not find the requested resource " + path);
}

Status MemoryKubeClient::Watch(const kube::ResourceRef& ref, const std::string&, const kube::WatchOptions&,
                               const kube::WatchHandler&, std::stop_token) {
  return Error(ErrorCode::kUnsupported, "the in-memory client does not stream watches of " + ref.resource);
}

}  // namespace archway::testing

#include "kube/object.h"

#include <limits>

namespace archway::kube {
namespace {

std::map<std::string, std::string> StringEntries(const Json* object) {
  std::map<std::string, std::string> out;
  if (object == nullptr) return out;
  for (const auto& [key, value] : object->items()) {
    if (value.is_string()) out.emplace(key, value.get<std::string>());
  }
  return out;
}

std::string StringOr(const Json& object, JsonPath path) { return StringAt(object, path).value_or(""); }

// The entries of the array at `path` that are objects, each read by `read`.
template <typename Read>
auto EachObjectAt(const Json& object, JsonPath path, Read read) {
  std::vector<decltype(read(object))> out;
  const Json* array = ArrayAt(object, path);
  if (array == nullptr) return out;
  for (const Json& entry : *array) {
    if (entry.is_object()) out.push_back(read(entry));
  }
  return out;
}

}  // namespace

const Json* At(const Json& object, JsonPath path) {
  const Json* at = &object;
  for (std::string_view key : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

const Json* ObjectAt(const Json& object, JsonPath path) {
  const Json* at = At(object, path);
  return at != nullptr && at->is_object() ? at : nullptr;
}

const Json* ArrayAt(const Json& object, JsonPath path) {
  const Json* at = At(object, path);
  return at != nullptr && at->is_array() ? at : nullptr;
}

std::optional<std::string> StringAt(const Json& object, JsonPath path) {
  const Json* at = At(object, path);
  if (at == nullptr || !at->is_string()) return std::nullopt;
  return at->get<std::string>();
}

std::optional<int64_t> IntAt(const Json& object, JsonPath path) {
  const Json* at = At(object, path);
  if (at == nullptr) return std::nullopt;
  if (at->is_number_unsigned()) {
    const uint64_t value = at->get<uint64_t>();
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(value);
  }
  if (at->is_number_integer()) return at->get<int64_t>();
  return std::nullopt;
}

std::optional<bool> BoolAt(const Json& object, JsonPath path) {
  const Json* at = At(object, path);
  if (at == nullptr || !at->is_boolean()) return std::nullopt;
  return at->get<bool>();
}

std::string NameOf(const Json& object) { return StringOr(object, {"metadata", "name"}); }
std::string NamespaceOf(const Json& object) { return StringOr(object, {"metadata", "namespace"}); }
std::string UidOf(const Json& object) { return StringOr(object, {"metadata", "uid"}); }
int64_t GenerationOf(const Json& object) { return IntAt(object, {"metadata", "generation"}).value_or(0); }

bool IsBeingDeleted(const Json& object) {
  const Json* at = At(object, {"metadata", "deletionTimestamp"});
  return at != nullptr && !at->is_null();
}

std::map<std::string, std::string> LabelsOf(const Json& object) {
  return StringEntries(ObjectAt(object, {"metadata", "labels"}));
}

std::string LabelOf(const Json& object, std::string_view key) {
  return StringOr(object, {"metadata", "labels", key});
}

std::map<std::string, std::string> AnnotationsOf(const Json& object) {
  return StringEntries(ObjectAt(object, {"metadata", "annotations"}));
}

std::string AnnotationOf(const Json& object, std::string_view key) {
  return StringOr(object, {"metadata", "annotations", key});
}

std::vector<OwnerReference> OwnerReferencesOf(const Json& object) {
  return EachObjectAt(object, {"metadata", "ownerReferences"}, [](const Json& owner) {
    return OwnerReference{StringOr(owner, {"apiVersion"}), StringOr(owner, {"kind"}), StringOr(owner, {"name"}),
                          StringOr(owner, {"uid"}), BoolAt(owner, {"controller"}).value_or(false)};
  });
}

std::string ControllerUidOf(const Json& object) {
  for (const auto& owner : OwnerReferencesOf(object)) {
    if (owner.controller) return owner.uid;
  }
  return "";
}

std::vector<Condition> ConditionsOf(const Json& object) {
  return EachObjectAt(object, {"status", "conditions"}, [](const Json& c) {
    return Condition{StringOr(c, {"type"}), StringOr(c, {"status"}), StringOr(c, {"reason"}), StringOr(c, {"message"}),
                     StringOr(c, {"lastTransitionTime"})};
  });
}

std::optional<Condition> ConditionOf(const Json& object, std::string_view type) {
  for (auto& condition : ConditionsOf(object)) {
    if (condition.type == type) return condition;
  }
  return std::nullopt;
}

}  // namespace archway::kube

// Reading fields of API objects without exceptions. nlohmann's own accessors throw on a
// type mismatch (`value("name", "")` on a list, `at()` on a string), so one object of an
// unexpected shape would end the thread that reads it; these answer "absent" instead. A
// missing field, a null and a field of another type all read as absent, so a caller has
// one case to handle. Paths are keys of nested objects: StringAt(pod, {"spec", "nodeName"}).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace archway::kube {

using Json = nlohmann::json;
using JsonPath = std::initializer_list<std::string_view>;

// The value at `path` ({} = `object` itself), or nullptr when a step is missing or not an object.
const Json* At(const Json& object, JsonPath path);
// nullptr unless the value at `path` is an object / an array.
const Json* ObjectAt(const Json& object, JsonPath path);
const Json* ArrayAt(const Json& object, JsonPath path);
std::optional<std::string> StringAt(const Json& object, JsonPath path);
// Integers only (a float or an integer beyond int64 is absent).
std::optional<int64_t> IntAt(const Json& object, JsonPath path);
std::optional<bool> BoolAt(const Json& object, JsonPath path);

// metadata; "" / 0 when absent.
std::string NameOf(const Json& object);
std::string NamespaceOf(const Json& object);
std::string UidOf(const Json& object);
int64_t GenerationOf(const Json& object);
bool IsBeingDeleted(const Json& object);  // metadata.deletionTimestamp is set

// metadata.labels / metadata.annotations; entries whose value is not a string are left out.
std::map<std::string, std::string> LabelsOf(const Json& object);
std::string LabelOf(const Json& object, std::string_view key);
std::map<std::string, std::string> AnnotationsOf(const Json& object);
std::string AnnotationOf(const Json& object, std::string_view key);

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;

  bool operator==(const OwnerReference&) const = default;
};
// metadata.ownerReferences; entries that are not objects are left out.
std::vector<OwnerReference> OwnerReferencesOf(const Json& object);
// The uid of the owner with controller: true, or "".
std::string ControllerUidOf(const Json& object);

// One entry of status.conditions (metav1.Condition and the built-in kinds' conditions).
struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;
  std::string message;
  std::string last_transition_time;
};
// status.conditions in order; entries that are not objects are left out.
std::vector<Condition> ConditionsOf(const Json& object);
// The first condition of `type`, if any.
std::optional<Condition> ConditionOf(const Json& object, std::string_view type);

}  // namespace archway::kube

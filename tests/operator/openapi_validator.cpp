#include "tests/operator/openapi_validator.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace archway::optest {
namespace {

using Json = nlohmann::json;

std::string Join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

bool HasType(const Json& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  return false;
}

std::string Quote(const Json& value) { return value.is_string() ? "\"" + value.get<std::string>() + "\"" : value.dump(); }

// The JSON type of a value as the apiserver names it in type errors.
std::string TypeName(const Json& value) {
  if (value.is_object()) return "object";
  if (value.is_array()) return "array";
  if (value.is_string()) return "string";
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  if (value.is_boolean()) return "boolean";
  return "null";
}

// The apiserver (v1.28) skips x-kubernetes-validations (CEL) when the schema found a
// "blocking" error (Required, TypeInvalid, TooLong, TooMany), and reports "some
// validation rules were not checked" instead; other errors (enum, pattern, duplicates)
// let the rules run.
enum class Pass { kSchema, kRules };

bool Blocking(const SchemaCause& cause) {
  return cause.message == "Required value" || cause.message.rfind("Too long", 0) == 0 ||
         cause.message.rfind("Too many", 0) == 0 || cause.message.find(" in body must be of type ") != std::string::npos;
}

void Validate(const Json& schema, const Json& value, const std::string& path, std::vector<SchemaCause>& out,
              Pass pass) {
  if (pass == Pass::kRules) {
    if (value.is_array() && schema.contains("items")) {
      for (size_t i = 0; i < value.size(); ++i)
        Validate(schema["items"], value[i], path + "[" + std::to_string(i) + "]", out, pass);
    }
    if (!value.is_object()) return;
    const Json properties = schema.value("properties", Json::object());
    for (const auto& [key, v] : value.items()) {
      if (properties.contains(key)) Validate(properties[key], v, Join(path, key), out, pass);
      else if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object())
        Validate(schema["additionalProperties"], v, Join(path, key), out, pass);
    }
    for (const auto& rule : schema.value("x-kubernetes-validations", Json::array())) {
      const std::string text = rule.value("rule", "");
      if (text == "has(self.sources) != has(self.build)") {
        if (value.contains("sources") == value.contains("build"))
          out.push_back({path, "Invalid value: \"object\": " + rule.value("message", text)});
      } else if (text ==
                 "!has(self.followBaseImages) || !self.followBaseImages || !has(self.baseImages) || "
                 "size(self.baseImages) == 0") {
        const bool follow = value.contains("followBaseImages") && value["followBaseImages"] == true;
        const bool listed = value.contains("baseImages") && value["baseImages"].is_array() && !value["baseImages"].empty();
        if (follow && listed) out.push_back({path, "Invalid value: \"object\": " + rule.value("message", text)});
      } else {
        out.push_back({path, "unsupported x-kubernetes-validations rule in the test validator: " + text});
      }
    }
    return;
  }
  if (schema.value("x-kubernetes-int-or-string", false)) {
    if (!value.is_string() && !value.is_number_integer())
      out.push_back({path, "Invalid value: " + Quote(value) + ": " + path + " in body must be of type int-or-string"});
    return;
  }
  if (schema.contains("type")) {
    std::string type = schema["type"].get<std::string>();
    if (!HasType(value, type)) {
      out.push_back({path, "Invalid value: \"" + TypeName(value) + "\": " + path + " in body must be of type " + type +
                               ": \"" + TypeName(value) + "\""});
      return;
    }
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& e : schema["enum"]) found = found || e == value;
    if (!found) {
      std::string supported;
      for (const auto& e : schema["enum"]) supported += (supported.empty() ? "" : ", ") + Quote(e);
      out.push_back({path, "Unsupported value: " + Quote(value) + ": supported values: " + supported});
    }
  }
  if (value.is_string()) {
    const std::string s = value.get<std::string>();
    if (schema.contains("minLength") && s.size() < schema["minLength"].get<size_t>())
      out.push_back({path, "Invalid value: " + Quote(value) + ": " + path + " in body should be at least " +
                               schema["minLength"].dump() + " chars long"});
    if (schema.contains("maxLength") && s.size() > schema["maxLength"].get<size_t>())
      // v1.28's wording (the envtest apiserver); v1.31+ says "may not be more than N bytes".
      out.push_back({path, "Too long: may not be longer than " + schema["maxLength"].dump()});
    if (schema.contains("pattern")) {
      const std::string pattern = schema["pattern"].get<std::string>();
      if (!std::regex_search(s, std::regex(pattern, std::regex::ECMAScript)))
        out.push_back({path, "Invalid value: " + Quote(value) + ": " + path + " in body should match '" + pattern + "'"});
    }
  }
  if (value.is_array()) {
    if (schema.contains("minItems") && value.size() < schema["minItems"].get<size_t>())
      out.push_back({path, "Invalid value: " + std::to_string(value.size()) + ": " + path + " in body should have at least " +
                               schema["minItems"].dump() + " items"});
    if (schema.contains("maxItems") && value.size() > schema["maxItems"].get<size_t>())
      out.push_back({path, "Too many: " + std::to_string(value.size()) + ": must have at most " +
                               schema["maxItems"].dump() + " items"});
    if (schema.value("x-kubernetes-list-type", "") == "set") {
      for (size_t i = 0; i < value.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
          if (value[j] == value[i]) {
            out.push_back({path + "[" + std::to_string(i) + "]", "Duplicate value: " + Quote(value[i])});
            break;
          }
        }
      }
    }
    if (schema.contains("items"))
      for (size_t i = 0; i < value.size(); ++i)
        Validate(schema["items"], value[i], path + "[" + std::to_string(i) + "]", out, pass);
  }
  if (value.is_object()) {
    const Json properties = schema.value("properties", Json::object());
    for (const auto& [key, v] : value.items()) {
      if (properties.contains(key)) {
        Validate(properties[key], v, Join(path, key), out, pass);
      } else if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object()) {
        Validate(schema["additionalProperties"], v, Join(path, key), out, pass);
      } else if (schema.contains("properties") || schema.contains("additionalProperties")) {
        out.push_back({Join(path, key), "unknown field \"" + Join(path, key) + "\""});
      }
      // A schema with neither (metadata: {type: object}) accepts any field.
    }
    for (const auto& required : schema.value("required", Json::array())) {
      if (!value.contains(required.get<std::string>()))
        out.push_back({Join(path, required.get<std::string>()), "Required value"});
    }
  }
}

Json ScalarToJson(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted
  if (s == "null" || s == "~" || s.empty()) return nullptr;
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  static const std::regex integer("^-?[0-9]+$"), number("^-?[0-9]+\\.[0-9]+$");
  if (std::regex_match(s, integer)) return std::stoll(s);
  if (std::regex_match(s, number)) return std::stod(s);
  return s;
}

Json NodeToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& entry : node) out[entry.first.Scalar()] = NodeToJson(entry.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(NodeToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar: return ScalarToJson(node);
    default: return nullptr;
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::vector<SchemaCause> ValidateSchema(const Json& schema, const Json& value, const std::string& path) {
  std::vector<SchemaCause> out;
  Validate(schema, value, path, out, Pass::kSchema);
  if (std::none_of(out.begin(), out.end(), Blocking)) Validate(schema, value, path, out, Pass::kRules);
  return out;
}

Json PruneUnknownFields(const Json& schema, Json value) {
  if (!schema.is_object() || schema.value("x-kubernetes-preserve-unknown-fields", false)) return value;
  if (value.is_array() && schema.contains("items")) {
    for (auto& item : value) item = PruneUnknownFields(schema["items"], std::move(item));
    return value;
  }
  if (!value.is_object()) return value;
  const bool declares = schema.contains("properties") || schema.contains("additionalProperties");
  if (!declares) return value;
  const Json properties = schema.value("properties", Json::object());
  const Json additional = schema.value("additionalProperties", Json(false));
  Json pruned = Json::object();
  for (auto& [key, v] : value.items()) {
    if (properties.contains(key)) pruned[key] = PruneUnknownFields(properties[key], std::move(v));
    else if (additional.is_object()) pruned[key] = PruneUnknownFields(additional, std::move(v));
    else if (additional == true) pruned[key] = std::move(v);
  }
  return pruned;
}

Json YamlToJson(const std::string& yaml_text) { return NodeToJson(YAML::Load(yaml_text)); }
Json YamlNodeToJson(const YAML::Node& node) { return NodeToJson(node); }
Json LoadYamlFile(const std::string& path) { return YamlToJson(ReadFile(path)); }
Json LoadJsonFile(const std::string& path) { return Json::parse(ReadFile(path)); }

}  // namespace archway::optest

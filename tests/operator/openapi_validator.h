// A validator for the subset of OpenAPI v3 that crds/archway.dev_multiarchimages.yaml
// uses, so the CRD's schema can be tested here without a kube-apiserver. Its causes
// (field and message) are compared with a real kube-apiserver v1.28's in
// tests/apiserver/operator_test.cpp, which is where its wording comes from.
//
// Covered: type (object, array, string, integer, number, boolean), required, enum,
// pattern (std::regex ECMAScript; the CRD's patterns use no syntax where ECMAScript and
// Go's RE2 differ), properties, items, additionalProperties (schema), minItems, minLength,
// maxLength, x-kubernetes-list-type: set (duplicates), x-kubernetes-int-or-string, and
// unknown fields as kubectl's fieldValidation=Strict reports them. x-kubernetes-validations:
// only the CRD's one rule, `has(self.sources) != has(self.build)`, is recognised and
// evaluated by a fixed check, and, as the apiserver does, only when the schema found no
// blocking error (a required field, a type, a length); any other CEL rule is reported as unsupported (so a changed rule fails the test
// rather than passing unchecked). Not covered: defaults, formats (date-time, int64),
// metadata validation, structural-schema rules themselves.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace archway::optest {

struct SchemaCause {
  std::string field;    // "spec.platforms[1]"
  std::string message;  // as the API words it ("Required value", "Unsupported value: ...")
};

// Validates `value` against `schema`; `path` is the field path of `value` ("" at the root).
std::vector<SchemaCause> ValidateSchema(const nlohmann::json& schema, const nlohmann::json& value,
                                        const std::string& path = "");

// What the apiserver stores of `value` under a structural `schema`: fields the schema does
// not declare are dropped (pruning), except under x-kubernetes-preserve-unknown-fields and
// in objects whose schema declares neither properties nor additionalProperties (metadata).
nlohmann::json PruneUnknownFields(const nlohmann::json& schema, nlohmann::json value);

// YAML text (one document) to JSON: quoted scalars stay strings; plain scalars become
// null, booleans, integers or floats when they read as such.
nlohmann::json YamlToJson(const std::string& yaml_text);
nlohmann::json YamlNodeToJson(const YAML::Node& node);
nlohmann::json LoadYamlFile(const std::string& path);
nlohmann::json LoadJsonFile(const std::string& path);

}  // namespace archway::optest

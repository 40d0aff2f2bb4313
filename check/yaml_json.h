// YAML as JSON, the way Kubernetes reads manifests: kubectl and the API machinery convert
// YAML to JSON (sigs.k8s.io/yaml over go-yaml v2, i.e. YAML 1.1 scalars) and decode that.
// So a plain (unquoted) scalar is resolved as go-yaml v2 resolves it:
//   null    ~, null, Null, NULL, and an empty value
//   bool    true/false, yes/no, on/off, y/n in their lower, Capitalised and UPPER forms
//   int     123, -7, +7, 0x1F, 0o17 and 017 (octal), 0b101
//   float   1.5, -2e3, .5  (.inf and .nan have no JSON form and stay strings)
// and quoted, literal and folded scalars, or ones tagged !!str, are strings. Anchors and
// aliases are expanded, and merge keys (`<<: *defaults`) merged (explicit keys win).
//
// Built from yaml-cpp's event parser, so hostile input is bounded: at most
// `max_values` JSON values per document (aliases of aliases expand exponentially, the
// "billion laughs"), at most `max_depth` levels of nesting, and an alias to the node that
// contains it is an error. Non-scalar mapping keys are errors (JSON has none).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace archway::check {

using Json = nlohmann::json;

struct YamlLimits {
  size_t max_values = 1'000'000;
  int max_depth = 128;  // a Kubernetes object nests about 12 levels deep
  // The caller splits files at "---" lines: a chunk holds one document, or a few more
  // separated by "..." or directives.
  size_t max_documents = 10'000;
};

struct YamlDocument {
  int line = 0;  // 1-based, in the numbering of `first_line`, where its content starts
  Json value;    // null for an empty document
};

// Every document of one YAML stream, in order. kInvalidArgument on the first error, its
// message starting "line L, column C: " (lines counted from `first_line`, 1-based);
// documents before it are then lost too: the caller splits a file at its "---" lines
// first, as Kubernetes does, so one bad document costs only itself.
Result<std::vector<YamlDocument>> ParseYamlStream(std::string_view text, int first_line = 1,
                                                  const YamlLimits& limits = {});

// The JSON value of a plain scalar (the table above).
Json ResolvePlainScalar(const std::string& text);

}  // namespace archway::check

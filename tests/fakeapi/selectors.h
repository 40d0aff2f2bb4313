// Label and field selectors as the API server parses them (tests only).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace archway::fakeapi {

struct Requirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  std::string key{};
  Op op = Op::kEquals;
  std::vector<std::string> values{};
};

// "a=b,c!=d,e in (x,y),f notin (z),g,!h". kInvalidArgument on bad syntax.
Result<std::vector<Requirement>> ParseLabelSelector(const std::string& text);
// "metadata.name=x,type!=y" (only =, ==, !=).
Result<std::vector<Requirement>> ParseFieldSelector(const std::string& text);

bool MatchesLabels(const std::vector<Requirement>& selector, const nlohmann::json& object);
// `field_value(key, &out)` answers a field's value; false = field not supported.
bool MatchesFields(const std::vector<Requirement>& selector, const nlohmann::json& object,
                   const std::string& resource);
// kInvalidArgument "field label not supported: X" when `resource` has no such field.
Status CheckFieldSelector(const std::vector<Requirement>& selector, const std::string& resource);

}  // namespace archway::fakeapi

// "a, b, c": the list joining every message and column of `archway check`.
#pragma once

#include <string>
#include <vector>

namespace archway::check {

inline std::string Join(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

}  // namespace archway::check

#include "webhook/json_depth.h"

#include <utility>
#include <vector>

namespace archway::webhook {

bool NestedDeeperThan(const nlohmann::json& value, int limit) {
  std::vector<std::pair<const nlohmann::json*, int>> pending{{&value, 1}};
  while (!pending.empty()) {
    auto [current, depth] = pending.back();
    pending.pop_back();
    if (depth > limit) return true;
    if (current->is_structured()) {
      for (const auto& child : *current) pending.emplace_back(&child, depth + 1);
    }
  }
  return false;
}

}  // namespace archway::webhook

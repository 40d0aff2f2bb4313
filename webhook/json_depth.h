// Whether a JSON value nests deeper than a limit, found without recursion: what is read
// from the network or from files is checked before code that recurses walks it
// (Json::dump, patch(), the decision's term copies), so hostile input cannot exhaust the stack.
#pragma once

#include <nlohmann/json.hpp>

namespace archway::webhook {

// The value itself is level 1; its members or elements level 2, and so on.
bool NestedDeeperThan(const nlohmann::json& value, int limit);

}  // namespace archway::webhook

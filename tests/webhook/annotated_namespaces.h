// A NamespacePreferences (webhook/namespace_preferences.h) answering for a few namespaces
// given as name -> annotation value, as the webhook's Namespace cache would.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "webhook/namespace_preferences.h"

namespace archway::testing {

class AnnotatedNamespaces : public webhook::NamespacePreferences {
  using Preferred = webhook::NamespacePreferredPlatforms;

 public:
  explicit AnnotatedNamespaces(const std::map<std::string, std::string>& values) {
    for (const auto& [ns, value] : values) {
      parsed_[ns] = std::make_shared<const Preferred>(webhook::ParseNamespacePreferredPlatforms(value));
    }
  }
  std::shared_ptr<const Preferred> PreferredPlatformsOf(const std::string& ns) const override {
    auto it = parsed_.find(ns);
    return it == parsed_.end() ? nullptr : it->second;
  }

 private:
  std::map<std::string, std::shared_ptr<const Preferred>> parsed_;
};

}  // namespace archway::testing

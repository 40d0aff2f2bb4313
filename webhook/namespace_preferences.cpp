#include "webhook/namespace_preferences.h"

namespace archway::webhook {
namespace {

// The API server may truncate a warning past 256 characters, and drops warnings past 4 KiB
// in all: the parser's message quotes the bad item, which can be long.
constexpr size_t kMaxErrorInWarning = 160;

std::string Shortened(const std::string& text) {
  if (text.size() <= kMaxErrorInWarning) return text;
  return text.substr(0, kMaxErrorInWarning) + "...";
}

}  // namespace

NamespacePreferredPlatforms ParseNamespacePreferredPlatforms(std::string value) {
  NamespacePreferredPlatforms parsed;
  auto platforms = ParsePreferredPlatformsText(value);
  parsed.value = std::move(value);
  if (platforms.ok()) {
    parsed.platforms = std::move(*platforms);
  } else {
    parsed.error = platforms.error().message;
  }
  return parsed;
}

NamespaceOptions OptionsForNamespace(const DecisionOptions& config, const std::string& ns,
                                     const std::shared_ptr<const NamespacePreferredPlatforms>& annotation) {
  NamespaceOptions options;
  options.config_ = &config;
  if (annotation == nullptr) return options;
  if (!annotation->valid()) {
    options.warning_ = "archway: namespace " + ns + ": " + kPreferredPlatformsAnnotation + " is not applied (" +
                       Shortened(annotation->error) + "); the configured preferredPlatforms apply";
    return options;
  }
  options.overridden_ = config;
  options.overridden_->preferred_platforms = annotation->platforms;
  return options;
}

NamespaceOptions OptionsForNamespace(const DecisionOptions& config, const std::string& ns,
                                     const NamespacePreferences* namespaces) {
  return OptionsForNamespace(config, ns, namespaces ? namespaces->PreferredPlatformsOf(ns) : nullptr);
}

}  // namespace archway::webhook

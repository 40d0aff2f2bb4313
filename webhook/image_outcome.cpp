#include "webhook/image_outcome.h"

#include <algorithm>
#include <string_view>

#include "registry/platform.h"
#include "webhook/gates.h"

namespace archway::webhook {

ImageOutcome FailedOutcome(const std::string& image, std::string error) {
  ImageOutcome outcome;
  outcome.image = image;
  outcome.state = ImageOutcome::State::kFailed;
  outcome.error = std::move(error);
  return outcome;
}

ImageOutcome FailedOutcome(const std::string& image, const registry::Reference& ref, const Error& error) {
  std::string_view message = error.message;
  for (const std::string& prefix : {ref.String() + ": ", image + ": "}) {
    if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
  }
  ImageOutcome outcome = FailedOutcome(image, std::string(message));
  outcome.transient = IsTransient(error.code);
  return outcome;
}

ImageOutcome ResolvedOutcome(const std::string& image, const registry::ImagePlatforms& platforms) {
  ImageOutcome outcome;
  outcome.image = image;
  outcome.platforms.reserve(platforms.platforms.size());
  bool entries_matter = false;  // decision.h ImageOutcome::entries
  for (const auto& platform : platforms.platforms) {
    if (!registry::IsRunnable(platform)) continue;
    entries_matter = entries_matter || platform.architecture == "arm" || !platform.os_version.empty();
    OsArch os_arch{platform.os, platform.architecture};
    if (std::find(outcome.platforms.begin(), outcome.platforms.end(), os_arch) == outcome.platforms.end()) {
      outcome.platforms.push_back(std::move(os_arch));
    }
  }
  if (entries_matter) {
    for (const auto& platform : platforms.platforms) {
      if (registry::IsRunnable(platform)) outcome.entries.push_back(platform);  // for platform_terms.h
    }
  }
  outcome.data_only = platforms.data_only && outcome.platforms.empty();
  if (!outcome.data_only && outcome.platforms.empty()) {
    return FailedOutcome(image, "the image declares no runnable platform");
  }
  outcome.state = ImageOutcome::State::kResolved;
  return outcome;
}

ImageOutcome OutcomeOf(const std::string& image, const registry::Reference& ref,
                       const Result<registry::ImagePlatforms>& platforms) {
  return platforms.ok() ? ResolvedOutcome(image, *platforms) : FailedOutcome(image, ref, platforms.error());
}

}  // namespace archway::webhook

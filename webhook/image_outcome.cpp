#include "webhook/image_outcome.h"

#include <algorithm>
#include <string_view>

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
  return FailedOutcome(image, std::string(message));
}

ImageOutcome ResolvedOutcome(const std::string& image, const registry::ImagePlatforms& platforms) {
  ImageOutcome outcome;
  outcome.image = image;
  for (const auto& platform : platforms.platforms) {
    if (!registry::IsRunnable(platform)) continue;
    OsArch os_arch{platform.os, platform.architecture};
    if (std::find(outcome.platforms.begin(), outcome.platforms.end(), os_arch) == outcome.platforms.end()) {
      outcome.platforms.push_back(std::move(os_arch));
    }
  }
  outcome.data_only = platforms.data_only && outcome.platforms.empty();
  if (!outcome.data_only && outcome.platforms.empty()) {
    return FailedOutcome(image, "the image declares no runnable platform");
  }
  outcome.state = ImageOutcome::State::kResolved;
  return outcome;
}

}  // namespace archway::webhook

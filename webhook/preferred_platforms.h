// Preferred platforms (issue 15, part 3): soft steering of pods that run on several
// platforms, e.g. to cheaper arm64 nodes, without forbidding the others.
//
// Written as "os/arch=weight" items, the same text in the config file's list
// (preferredPlatforms: ["linux/arm64=50", "linux/amd64=10"]) and in the flag
// (--preferred-platforms linux/arm64=50,linux/amd64=10). Weights are 1-100, as the API
// server requires of a preferredDuringSchedulingIgnoredDuringExecution term. A variant
// ("linux/arm/v7") is refused: nodes carry kubernetes.io/arch only, so a preference
// could not name it.
//
// Decide (decision.h) turns each preferred platform the pod's images support into one
// term {weight, preference: os In [os], arch In [arch]}, appended after the user's own
// preferred terms; a platform the images lack gets no term.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace archway::webhook {

struct PreferredPlatform {
  std::string os;
  std::string arch;
  int weight = 1;  // 1-100
  bool operator==(const PreferredPlatform&) const = default;
};

// Parses the items ("linux/arm64=50"). kInvalidArgument naming the bad item; a platform
// named twice is an error too (which weight was meant?).
Result<std::vector<PreferredPlatform>> ParsePreferredPlatforms(const std::vector<std::string>& items);

// The items of the flag's form, "linux/arm64=50,linux/amd64=10" (spaces around items
// ignored, empty items dropped).
Result<std::vector<PreferredPlatform>> ParsePreferredPlatformsText(const std::string& text);

}  // namespace archway::webhook

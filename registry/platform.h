// Platforms as containerd sees them: os/architecture[/variant], normalised the way
// containerd's platforms.Normalize does (aarch64 -> arm64, x86_64 -> amd64,
// armhf -> arm/v7, armel -> arm/v6, arm64 variant v8 implied and dropped, arm
// without a variant = v7, i386 -> 386, ...).
#pragma once

#include <compare>
#include <tuple>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace archway::registry {

struct Platform {
  std::string os;            // "linux", "windows"
  std::string architecture;  // "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64"
  std::string variant;       // "v7", "v6", "" (arm64's v8 is normalised away)
  std::string os_version;    // Windows build, e.g. "10.0.20348.2582"; not part of String()

  // "linux/arm/v7", "linux/amd64".
  std::string String() const;
  auto operator<=>(const Platform& other) const {
    return std::tie(os, architecture, variant) <=> std::tie(other.os, other.architecture, other.variant);
  }
  bool operator==(const Platform& other) const {
    return os == other.os && architecture == other.architecture && variant == other.variant;
  }
};

Platform Normalize(Platform platform);

// Parses "os/arch[/variant]" (and normalises). kInvalidArgument on anything else.
Result<Platform> ParsePlatform(std::string_view text);

// "unknown/unknown" and empty platforms (attestation manifests) are not runnable.
bool IsRunnable(const Platform& platform);

// The image platforms a pull for `wanted` accepts, best first, as containerd and
// containers/image choose an entry of a list: arm/vN takes vN, then each older variant
// down to v5 (arm/v7 runs arm/v6 code); every other platform takes only itself.
std::vector<Platform> CompatiblePlatforms(const Platform& wanted);

}  // namespace archway::registry

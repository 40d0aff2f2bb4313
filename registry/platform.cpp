#include "registry/platform.h"

#include <algorithm>
#include <cctype>

#include "base/utf8.h"

namespace archway::registry {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool IsPlatformToken(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

}  // namespace

std::string Platform::String() const {
  std::string out = os + "/" + architecture;
  if (!variant.empty()) out += "/" + variant;
  return out;
}

// Mirrors containerd's platforms.Normalize.
Platform Normalize(Platform p) {
  p.os = Lower(std::move(p.os));
  p.architecture = Lower(std::move(p.architecture));
  p.variant = Lower(std::move(p.variant));
  if (p.os == "macos") p.os = "darwin";
  const std::string& arch = p.architecture;
  if (arch == "i386") {
    p.architecture = "386";
    p.variant.clear();
  } else if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
    p.architecture = "amd64";
    if (p.variant == "v1") p.variant.clear();
  } else if (arch == "aarch64" || arch == "arm64") {
    p.architecture = "arm64";
    if (p.variant == "8" || p.variant == "v8" || p.variant == "v8.0") p.variant.clear();
  } else if (arch == "armhf") {
    p.architecture = "arm";
    p.variant = "v7";
  } else if (arch == "armel") {
    p.architecture = "arm";
    p.variant = "v6";
  } else if (arch == "arm") {
    if (p.variant.empty() || p.variant == "7") {
      p.variant = "v7";
    } else if (p.variant == "5" || p.variant == "6" || p.variant == "8") {
      p.variant = "v" + p.variant;
    }
  }
  return p;
}

Result<Platform> ParsePlatform(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (parts.size() <= 3) {
    size_t slash = text.find('/', start);
    parts.push_back(Lower(std::string(text.substr(start, slash == std::string_view::npos ? slash : slash - start))));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 ||
      !std::all_of(parts.begin(), parts.end(), [](const std::string& p) { return IsPlatformToken(p); })) {
    return Error(ErrorCode::kInvalidArgument,
                 "invalid platform \"" + TruncateUtf8(text, 200) + "\": expected os/arch[/variant], e.g. linux/arm/v7");
  }
  Platform p;
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return Normalize(std::move(p));
}

bool IsRunnable(const Platform& p) {
  return !p.os.empty() && !p.architecture.empty() && p.os != "unknown" && p.architecture != "unknown";
}

std::vector<Platform> CompatiblePlatforms(const Platform& wanted) {
  std::vector<Platform> out = {wanted};
  if (wanted.architecture != "arm" || wanted.variant.size() != 2 || wanted.variant[0] != 'v') return out;
  for (char v = static_cast<char>(wanted.variant[1] - 1); v >= '5'; --v) {
    Platform older = wanted;
    older.variant = std::string("v") + v;
    out.push_back(older);
  }
  return out;
}

}  // namespace archway::registry

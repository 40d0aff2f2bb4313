#include "webhook/preferred_platforms.h"

#include <charconv>

#include "registry/platform.h"

namespace archway::webhook {
namespace {

Error Invalid(const std::string& message) { return Error{ErrorCode::kInvalidArgument, message}; }

std::string Trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

Result<PreferredPlatform> ParseItem(const std::string& item) {
  const auto equals = item.rfind('=');
  if (equals == std::string::npos) {
    return Invalid("\"" + item + "\" is not PLATFORM=WEIGHT (e.g. linux/arm64=50)");
  }
  const std::string platform_text = Trimmed(item.substr(0, equals));
  const std::string weight_text = Trimmed(item.substr(equals + 1));
  int weight = 0;
  const char* end = weight_text.data() + weight_text.size();
  const auto [stop, error] = std::from_chars(weight_text.data(), end, weight);
  if (weight_text.empty() || error != std::errc() || stop != end) {
    return Invalid("\"" + item + "\": weight \"" + weight_text + "\" is not a whole number (1-100)");
  }
  if (weight < 1 || weight > 100) {
    return Invalid("\"" + item + "\": weight " + weight_text + " is outside 1-100");
  }
  auto platform = registry::ParsePlatform(platform_text);
  if (!platform.ok()) {
    return Invalid("\"" + item + "\": platform \"" + platform_text + "\" is not os/arch (e.g. linux/arm64)");
  }
  if (!platform->variant.empty()) {
    return Invalid("\"" + item + "\": platform \"" + platform_text +
                   "\" names a variant; nodes carry only kubernetes.io/arch, write " + platform->os + "/" +
                   platform->architecture);
  }
  return PreferredPlatform{platform->os, platform->architecture, weight};
}

}  // namespace

Result<std::vector<PreferredPlatform>> ParsePreferredPlatforms(const std::vector<std::string>& items) {
  std::vector<PreferredPlatform> preferred;
  for (const auto& raw : items) {
    const std::string item = Trimmed(raw);
    if (item.empty()) continue;
    auto parsed = ParseItem(item);
    if (!parsed.ok()) return parsed.error();
    for (const auto& earlier : preferred) {
      if (earlier.os == parsed->os && earlier.arch == parsed->arch) {
        return Invalid("\"" + item + "\": " + parsed->os + "/" + parsed->arch + " is named twice");
      }
    }
    preferred.push_back(std::move(*parsed));
  }
  return preferred;
}

Result<std::vector<PreferredPlatform>> ParsePreferredPlatformsText(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const auto stop = comma == std::string::npos ? text.size() : comma;
    items.push_back(text.substr(start, stop - start));
    start = stop + 1;
  }
  return ParsePreferredPlatforms(items);
}

}  // namespace archway::webhook

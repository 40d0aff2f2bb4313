#include "operator/base_images.h"

#include <nlohmann/json.hpp>

#include "base/utf8.h"
#include "registry/manifest.h"
#include "registry/reference.h"

namespace archway::op {
namespace {

Error BadReport(const std::string& why) {
  return Error(ErrorCode::kInvalidArgument, "the build's base-image report " + why);
}

}  // namespace

Result<BaseReport> ParseBaseReport(std::string_view message) {
  if (message.empty()) return BadReport("is missing (the Job's termination message is empty)");
  if (message.size() > kTerminationMessageLimit) return BadReport("is longer than the termination message limit");
  auto json = nlohmann::json::parse(message, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return BadReport("is not a JSON object");
  if (auto error = json.find("error"); error != json.end()) {
    if (!error->is_string()) return BadReport("has an error that is not a string");
    return Error(ErrorCode::kUnavailable, "the build could not report its base image: " + error->get<std::string>());
  }
  auto bases = json.find("baseImages");
  if (bases == json.end() || !bases->is_array()) return BadReport("has no baseImages list");
  BaseReport report;
  for (const auto& entry : *bases) {
    if (!entry.is_object()) return BadReport("has a baseImages entry that is not an object");
    auto name = entry.find("name");
    auto digest = entry.find("digest");
    if (name == entry.end() || !name->is_string() || digest == entry.end() || !digest->is_string())
      return BadReport("has a baseImages entry without a name and a digest");
    auto ref = registry::ParseReference(name->get<std::string>());
    if (!ref.ok()) return BadReport("names \"" + TruncateUtf8(name->get<std::string>(), 200) + "\": " + ref.error().message);
    if (!registry::IsValidDigest(digest->get<std::string>()))
      return BadReport("gives \"" + TruncateUtf8(digest->get<std::string>(), 80) + "\", not a sha256 digest");
    report.bases.push_back(ReportedBase{name->get<std::string>(), digest->get<std::string>()});
  }
  return report;
}

std::string ResolvedBase::DigestFor(const registry::Platform& platform) const {
  if (!list) return digest;
  for (const auto& candidate : registry::CompatiblePlatforms(platform)) {
    auto it = entries.find(candidate.String());
    if (it != entries.end()) return it->second;
  }
  return "";
}

}  // namespace archway::op

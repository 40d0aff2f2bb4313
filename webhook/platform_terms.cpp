#include "webhook/platform_terms.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <map>

namespace archway::webhook {
namespace {

constexpr int kNewestArmVariant = 8;
constexpr int kUnrunnableVariant = kNewestArmVariant + 1;
// v6, v7, v8: the variants of arm boards that run a kubelet (platform_terms.h).
constexpr int kOldestArmVariantToCover = 6;

// "v7" -> 7; "" -> 1 (unknown: runnable on every arm node, as before the arm rules); a
// variant containerd would not match against a node's v8..v5 list -> kUnrunnableVariant.
int VariantNumber(const std::string& variant) {
  if (variant.empty()) return 1;
  int number = 0;
  if (variant.size() < 2 || variant[0] != 'v') return kUnrunnableVariant;
  auto [end, ec] = std::from_chars(variant.data() + 1, variant.data() + variant.size(), number);
  if (ec != std::errc() || end != variant.data() + variant.size() || number < 1) return kUnrunnableVariant;
  return std::min(number, kUnrunnableVariant);
}

std::string VariantName(int number) { return "v" + std::to_string(number); }

// One image's entries for one (os, arch).
struct ArchEntries {
  int arm_floor = kUnrunnableVariant;  // the oldest arm variant among them
  bool any_build = false;              // a windows entry without a usable os.version
  std::set<std::string> builds;        // major.minor.build of the others
};

using ImageEntries = std::map<std::string, std::map<std::string, ArchEntries>>;  // os -> arch -> entries

ImageEntries EntriesOf(const ImageOutcome& outcome) {
  std::vector<registry::Platform> entries = outcome.entries;
  if (entries.empty()) {
    for (const auto& p : outcome.platforms) entries.push_back(registry::Platform{p.os, p.arch, "", ""});
  }
  ImageEntries by_os;
  for (const auto& entry : entries) {
    ArchEntries& at = by_os[entry.os][entry.architecture];
    if (entry.architecture == "arm") at.arm_floor = std::min(at.arm_floor, VariantNumber(entry.variant));
    const std::string build = WindowsBuild(entry.os_version);
    if (build.empty()) {
      at.any_build = true;
    } else {
      at.builds.insert(build);
    }
  }
  return by_os;
}

// decision.h's Join, over a set.
std::string Join(const std::set<std::string>& items, const std::string& separator) {
  return webhook::Join(std::vector<std::string>(items.begin(), items.end()), separator);
}

Requirement In(const char* key, std::vector<std::string> values) { return Requirement{key, "In", std::move(values)}; }

class Builder {
 public:
  Builder(const std::vector<ImageEntries>& images, const std::optional<std::set<std::string>>& arm_variant_labels)
      : images_(images),
        labels_known_(arm_variant_labels && !arm_variant_labels->empty()),
        labels_missing_(arm_variant_labels && arm_variant_labels->empty()) {
    oldest_to_cover_ = kOldestArmVariantToCover;
    if (labels_known_) {
      for (const auto& label : *arm_variant_labels) {
        const int number = VariantNumber(label);
        if (number > 1 && number < oldest_to_cover_) oldest_to_cover_ = number;
      }
    }
  }

  PlatformTerms Build() {
    for (const auto& os : CommonKeys(images_)) AddOs(os);
    if (labels_missing_ && !not_applied_.empty()) {
      terms_.arm_labels_missing = true;
      terms_.warnings.push_back(std::string("archway: no node carries the label ") + kArmVariantLabel +
                                " (is `archway node-labeler` installed?), so node affinity ignores arm variants: " +
                                Join(not_applied_, "; "));
    }
    std::sort(terms_.descriptions.begin(), terms_.descriptions.end());
    return std::move(terms_);
  }

 private:
  template <typename Map>
  static std::set<std::string> Keys(const Map& map) {
    std::set<std::string> keys;
    for (const auto& [key, value] : map) keys.insert(key);
    return keys;
  }

  static std::set<std::string> CommonKeys(const std::vector<ImageEntries>& images) {
    std::set<std::string> common = Keys(images.front());
    for (const auto& image : images) {
      std::set<std::string> both;
      std::set<std::string> mine = Keys(image);
      std::set_intersection(common.begin(), common.end(), mine.begin(), mine.end(), std::inserter(both, both.end()));
      common = std::move(both);
    }
    return common;
  }

  const ArchEntries* Find(const ImageEntries& image, const std::string& os, const std::string& arch) const {
    auto by_arch = image.find(os);
    if (by_arch == image.end()) return nullptr;
    auto entries = by_arch->second.find(arch);
    return entries == by_arch->second.end() ? nullptr : &entries->second;
  }

  bool EveryImageHas(const std::string& os, const std::string& arch) const {
    return std::all_of(images_.begin(), images_.end(), [&](const ImageEntries& i) { return Find(i, os, arch); });
  }

  void AddOs(const std::string& os) {
    std::set<std::string> archs = Keys(images_.front().at(os));
    std::set<std::string> plain;
    std::map<std::set<std::string>, std::set<std::string>> archs_by_builds;
    const size_t first = terms_.alternatives.size();  // the plain term goes first
    for (const auto& arch : archs) {
      if (!EveryImageHas(os, arch)) continue;
      if (os == "linux" && arch == "arm") {
        AddArm(plain);
      } else if (os == "windows") {
        std::optional<std::set<std::string>> builds = CommonBuilds(os, arch);
        if (!builds) {
          plain.insert(arch);
        } else if (!builds->empty()) {
          archs_by_builds[*builds].insert(arch);
        }
      } else {
        plain.insert(arch);
      }
    }
    if (!plain.empty()) {
      terms_.alternatives.push_back({In(kOsLabel, {os}), In(kArchLabel, {plain.begin(), plain.end()})});
      std::rotate(terms_.alternatives.begin() + first, terms_.alternatives.end() - 1, terms_.alternatives.end());
      for (const auto& arch : plain) Admit(os, arch, os + "/" + arch);
    }
    if (os == "linux") AddArm64Fallback();
    for (const auto& [builds, with_builds] : archs_by_builds) {
      terms_.alternatives.push_back({In(kOsLabel, {os}), In(kArchLabel, {with_builds.begin(), with_builds.end()}),
                                     In(kWindowsBuildLabel, {builds.begin(), builds.end()})});
      for (const auto& arch : with_builds) Admit(os, arch, os + "/" + arch + " (build " + Join(builds, " or ") + ")");
    }
  }

  // Every image has linux/arm: the newest of their oldest variants is the floor.
  void AddArm(std::set<std::string>& plain) {
    int floor = 1;
    for (const auto& image : images_) floor = std::max(floor, Find(image, "linux", "arm")->arm_floor);
    if (floor <= oldest_to_cover_) {
      plain.insert("arm");
      return;
    }
    if (!labels_known_) {
      plain.insert("arm");
      not_applied_.insert(floor > kNewestArmVariant
                              ? "32-bit arm nodes are admitted though no variant they run is in every image"
                              : "32-bit arm nodes of every variant are admitted though the images need " +
                                    VariantName(floor) + " or later");
      return;
    }
    if (floor > kNewestArmVariant) return;  // no 32-bit arm node runs every image
    std::vector<std::string> variants;
    for (int v = floor; v <= kNewestArmVariant; ++v) variants.push_back(VariantName(v));
    terms_.alternatives.push_back({In(kOsLabel, {"linux"}), In(kArchLabel, {"arm"}), In(kArmVariantLabel, variants)});
    Admit("linux", "arm", "linux/arm/" + VariantName(floor) + (floor < kNewestArmVariant ? "+" : ""));
  }

  // arm64 nodes that run 32-bit arm, for images some of which only have arm entries.
  void AddArm64Fallback() {
    if (EveryImageHas("linux", "arm64")) return;  // plain
    const bool each_runs = std::all_of(images_.begin(), images_.end(), [&](const ImageEntries& image) {
      if (Find(image, "linux", "arm64")) return true;
      const ArchEntries* arm = Find(image, "linux", "arm");
      return arm != nullptr && arm->arm_floor <= kNewestArmVariant;
    });
    if (!each_runs) return;
    if (!labels_known_) {
      not_applied_.insert("64-bit arm nodes are not admitted for the images' 32-bit arm entries");
      return;
    }
    terms_.alternatives.push_back({In(kOsLabel, {"linux"}), In(kArchLabel, {"arm64"}), In(kArm32Label, {"v8"})});
    Admit("linux", "arm64", "linux/arm64 (32-bit arm)");
  }

  // The builds every image's windows/<arch> entries run on; nullopt: any build.
  std::optional<std::set<std::string>> CommonBuilds(const std::string& os, const std::string& arch) const {
    std::optional<std::set<std::string>> common;
    for (const auto& image : images_) {
      const ArchEntries* entries = Find(image, os, arch);
      if (entries->any_build) continue;
      if (!common) {
        common = entries->builds;
        continue;
      }
      std::set<std::string> both;
      std::set_intersection(common->begin(), common->end(), entries->builds.begin(), entries->builds.end(),
                            std::inserter(both, both.end()));
      common = std::move(both);
    }
    return common;
  }

  void Admit(const std::string& os, const std::string& arch, std::string description) {
    terms_.node_platforms.insert(OsArch{os, arch});
    terms_.descriptions.push_back(std::move(description));
  }

  const std::vector<ImageEntries>& images_;
  const bool labels_known_;    // some node carries archway.dev/arm-variant
  const bool labels_missing_;  // the node cache is synced and none does
  int oldest_to_cover_ = kOldestArmVariantToCover;
  std::set<std::string> not_applied_;  // what the arm rules would have changed
  PlatformTerms terms_;
};

}  // namespace

std::string WindowsBuild(const std::string& os_version) {
  size_t dots = 0;
  size_t end = os_version.size();
  for (size_t i = 0; i < os_version.size(); ++i) {
    const char c = os_version[i];
    if (c == '.') {
      if (i == 0 || os_version[i - 1] == '.') return "";
      if (++dots == 3) end = i;
    } else if (c < '0' || c > '9') {
      return "";
    }
  }
  if (dots < 2 || os_version.back() == '.') return "";
  return os_version.substr(0, end);
}

namespace {

// Images with no 32-bit arm entry and no Windows build: one term per OS of os and arch,
// as PlatformRequirements writes it, from the pairs the images share. The common case
// (amd64 + arm64 lists), answered without the builder's maps: bench/webhook-instructions.sh
// counted them at 10,700 instructions of a cached admission's 208,000.
std::optional<PlatformTerms> PlainTerms(const std::vector<ImageOutcome>& outcomes, const std::set<OsArch>& common) {
  for (const auto& outcome : outcomes) {
    if (outcome.state != ImageOutcome::State::kResolved || outcome.data_only) continue;
    for (const auto& entry : outcome.entries) {
      if (!entry.os_version.empty()) return std::nullopt;
    }
    for (const auto& platform : outcome.platforms) {
      if (platform.os == "linux" && platform.arch == "arm") return std::nullopt;
    }
  }
  PlatformTerms terms;
  if (common.empty()) return terms;
  terms.alternatives = PlatformRequirements(common);
  terms.descriptions.reserve(common.size());
  for (const auto& platform : common) terms.descriptions.push_back(platform.os + "/" + platform.arch);
  std::sort(terms.descriptions.begin(), terms.descriptions.end());
  terms.node_platforms = common;
  return terms;
}

}  // namespace

PlatformTerms TermsForImages(const std::vector<ImageOutcome>& outcomes, const std::set<OsArch>& common,
                             const std::optional<std::set<std::string>>& arm_variant_labels) {
  if (auto plain = PlainTerms(outcomes, common)) return std::move(*plain);
  std::vector<ImageEntries> images;
  for (const auto& outcome : outcomes) {
    if (outcome.state == ImageOutcome::State::kResolved && !outcome.data_only) images.push_back(EntriesOf(outcome));
  }
  if (images.empty()) return {};
  return Builder(images, arm_variant_labels).Build();
}

}  // namespace archway::webhook

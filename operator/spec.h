// The MultiArchImage resource (archway.dev/v1alpha1) as a C++ value, parsed and checked
// beyond what the CRD schema can say: references parse, platforms parse and are unique,
// build mode builds Linux platforms only, overrides name listed platforms, followed base
// images are tags (a digest never changes) and come from one place (listed or reported).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "kube/resource.h"
#include "registry/platform.h"
#include "registry/reference.h"

namespace archway::op {

using Json = nlohmann::json;

inline constexpr const char* kGroup = "archway.dev";
inline constexpr const char* kApiVersion = "archway.dev/v1alpha1";
inline constexpr const char* kKind = "MultiArchImage";
// The resource, as the API serves it (crds/archway.dev_multiarchimages.yaml).
inline const kube::ResourceRef kMultiArchImageResource{kGroup, "v1alpha1", "multiarchimages", kKind, true};

struct PlatformOverride {
  std::string dockerfile;                         // "" = the build's dockerfile
  std::map<std::string, std::string> build_args;  // merged over the build's args
  std::string strategy;                           // "" = the build's strategy
  std::string builder_image;                      // "" = the build's (or the strategy's default)
};

struct SourceImage {
  std::string text;         // the reference as written
  registry::Reference ref;  // parsed
};

struct BuildSpec {
  std::string git_url;
  std::string git_revision;  // "" = the repository's default branch
  std::string context_dir = ".";
  std::string dockerfile = "Dockerfile";
  std::map<std::string, std::string> build_args;
  std::map<std::string, PlatformOverride> platform_overrides;  // key: normalised platform
  std::string strategy = "buildah";                             // buildah | buildkit
  std::string builder_image;                                    // "" = from the operator config
  std::map<std::string, std::string> node_selector;
  bool allow_emulation = false;                                 // emulation: Allow
  std::string service_account;
  Json resources = Json::object();                              // container resources, as given
  // Base images to follow (planner.h): listed here, or (follow_base_images) the ones the
  // builder Jobs report. A new digest rebuilds every platform unless rebuild_on_base_change
  // is false (rebuildPolicy: Never: the change is only recorded).
  std::vector<SourceImage> base_images;  // tags, in spec order, unique
  bool follow_base_images = false;
  bool rebuild_on_base_change = true;    // rebuildPolicy: OnBaseChange (default) | Never

  bool FollowsBaseImages() const { return !base_images.empty() || follow_base_images; }
  // The strategy that builds `platform`: its override's, else the build's.
  const std::string& StrategyFor(const registry::Platform& platform) const;
};

struct MultiArchImageSpec {
  registry::Reference image;  // has a tag (a list is published at a tag)
  std::string image_text;     // as written
  std::vector<registry::Platform> platforms;  // normalised, in spec order
  bool docker_format = false;                 // format: docker
  std::string push_secret;                    // pushSecretRef.name, "" = none
  std::vector<SourceImage> sources;           // sources mode (sources[].image)
  std::optional<BuildSpec> build;
};

struct MultiArchImage {
  std::string ns;
  std::string name;
  std::string uid;
  int64_t generation = 0;
  Json spec_json;   // the raw spec (hashed for Job names)
  MultiArchImageSpec spec;
};

// Parses a MultiArchImage object's metadata and spec (its status: status.h). Errors are
// kInvalidArgument naming the field ("spec.platforms[1]: ...") so they can go straight
// into a condition message.
Result<MultiArchImage> ParseMultiArchImage(const Json& object);

// Same checks on a bare spec (used by ParseMultiArchImage and tests).
Result<MultiArchImageSpec> ParseSpec(const Json& spec);

// "linux-arm-v7": a platform as a name/tag/label fragment.
std::string PlatformSlug(const registry::Platform& platform);

}  // namespace archway::op

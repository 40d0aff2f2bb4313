#include "registry/publisher.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "registry/manifest.h"

namespace archway::registry {
namespace {

// One child manifest of the index to publish, with the bytes to copy as they are.
struct Child {
  Platform platform;
  std::string digest;
  std::string media_type;
  std::string bytes;
  Reference source_repo;  // where its blobs live
  std::string source;     // the source reference as the user named it
};

bool IsIndexType(std::string_view media_type) {
  return media_type == media_type::kOciIndex || media_type == media_type::kDockerList;
}

// Layers the registry never holds (Windows base layers, OCI non-distributable layers):
// they are fetched from their URLs, so there is nothing to copy.
bool IsForeignLayer(std::string_view media_type) {
  return media_type.find("foreign") != std::string_view::npos ||
         media_type.find("nondistributable") != std::string_view::npos;
}

std::string PlatformKey(const Platform& p) {
  return p.os_version.empty() ? p.String() : p.String() + " (os.version " + p.os_version + ")";
}

bool Wanted(const Platform& platform, const std::vector<Platform>& filter) {
  return filter.empty() || std::find(filter.begin(), filter.end(), platform) != filter.end();
}

nlohmann::ordered_json PlatformJson(const Platform& p) {
  // Keys in the image-spec's field order, so the bytes match what other tools write.
  nlohmann::ordered_json out;
  out["architecture"] = p.architecture;
  out["os"] = p.os;
  if (!p.os_version.empty()) out["os.version"] = p.os_version;
  if (!p.variant.empty()) out["variant"] = p.variant;
  return out;
}

// Deterministic index bytes: fixed key order, entries in the given (sorted) order,
// annotations sorted by key (std::map), compact.
std::string SerializeIndex(ListFormat format, const std::vector<Child>& children,
                           const std::map<std::string, std::string>& annotations) {
  nlohmann::ordered_json index;
  index["schemaVersion"] = 2;
  index["mediaType"] = format == ListFormat::kOci ? media_type::kOciIndex : media_type::kDockerList;
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  for (const Child& child : children) {
    nlohmann::ordered_json entry;
    entry["mediaType"] = child.media_type;
    entry["digest"] = child.digest;
    entry["size"] = static_cast<int64_t>(child.bytes.size());
    entry["platform"] = PlatformJson(child.platform);
    entries.push_back(std::move(entry));
  }
  index["manifests"] = std::move(entries);
  if (!annotations.empty()) {
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    for (const auto& [key, value] : annotations) object[key] = value;
    index["annotations"] = std::move(object);
  }
  return index.dump();
}

class Run {
 public:
  Run(RegistryApi& client, const Reference& target, const PublishOptions& options)
      : client_(client), target_(target), options_(options), keychain_(options.keychain) {}

  Result<PublishResult> Publish(const std::vector<Reference>& sources) {
    if (target_.HasDigest() || target_.tag.empty()) {
      return Error(ErrorCode::kInvalidArgument, "target " + target_.String() +
                                                    " must name a tag (e.g. registry.lan/web:1.4), not a digest: "
                                                    "the digest is what publishing computes");
    }
    if (sources.empty()) return Error(ErrorCode::kInvalidArgument, "no sources given");
    if (options_.format == ListFormat::kDocker && !options_.annotations.empty()) {
      return Error(ErrorCode::kInvalidArgument,
                   "--annotation needs --format oci: a Docker manifest list carries no annotations");
    }

    std::vector<Child> children;
    for (const Reference& source : sources) {
      Status collected = Collect(source, children);
      if (!collected.ok()) return collected.error();
    }
    Status checked = Check(children);
    if (!checked.ok()) return checked.error();

    std::sort(children.begin(), children.end(), [](const Child& a, const Child& b) {
      return std::tie(a.platform, a.platform.os_version, a.digest) < std::tie(b.platform, b.platform.os_version, b.digest);
    });

    PublishResult result;
    result.media_type = options_.format == ListFormat::kOci ? media_type::kOciIndex : media_type::kDockerList;
    result.index_bytes = SerializeIndex(options_.format, children, options_.annotations);
    result.digest = ComputeDigest(result.index_bytes);
    for (const Child& child : children) {
      result.entries.push_back(PublishedEntry{child.platform, child.digest, child.media_type,
                                              static_cast<int64_t>(child.bytes.size()), child.source});
    }
    if (options_.dry_run) return result;

    for (const Child& child : children) {
      Status pushed = PushChild(child);
      if (!pushed.ok()) return pushed.error();
    }
    Status index = PushIndex(result);
    if (!index.ok()) return index.error();
    result.blobs_mounted = mounted_;
    result.blobs_copied = copied_;
    result.manifests_pushed = manifests_pushed_;
    result.writes = writes_;
    return result;
  }

 private:
  // Adds the children a source contributes.
  Status Collect(const Reference& source, std::vector<Child>& children) {
    const std::string name = source.String();
    auto fetched = client_.GetManifest(source, keychain_);
    if (!fetched.ok()) return fetched.error().Wrap("source " + name);
    auto manifest = ParseManifest(fetched->bytes, fetched->media_type);
    if (!manifest.ok()) return manifest.error().Wrap("source " + name);

    switch (manifest->kind) {
      case ManifestKind::kSchema1:
        return Error(ErrorCode::kUnsupported,
                     "source " + name + " is a schema1 manifest, which cannot be part of a list; "
                                        "convert it first (skopeo copy --format v2s2)");
      case ManifestKind::kImage: {
        auto platform = ImagePlatform(source, *manifest);
        if (!platform.ok()) return platform.error().Wrap("source " + name);
        if (Wanted(*platform, options_.platforms)) {
          children.push_back(Child{*platform, fetched->digest, fetched->media_type, std::move(fetched->bytes),
                                   source, name});
        }
        return Status::Ok();
      }
      case ManifestKind::kIndex:
        break;
    }

    // A list: its runnable entries. A buildx single-platform index (image + attestation)
    // ends up as its one image manifest: flattened.
    size_t taken = 0;
    for (const Descriptor& entry : manifest->manifests) {
      if (entry.IsAttestationOrUnknown()) continue;
      if (IsIndexType(entry.media_type)) {
        return Error(ErrorCode::kUnsupported,
                     "source " + name + ": entry " + entry.digest + " is itself an index; nested indexes are not supported");
      }
      auto child = client_.GetManifest(source.WithDigest(entry.digest), keychain_);
      if (!child.ok()) return child.error().Wrap("source " + name + ": entry " + entry.digest);
      if (static_cast<int64_t>(child->bytes.size()) != entry.size) {
        return Error(ErrorCode::kBadResponse, "source " + name + ": entry " + entry.digest + " declares size " +
                                                  std::to_string(entry.size) + " but the manifest has " +
                                                  std::to_string(child->bytes.size()) + " bytes");
      }
      Platform platform;
      if (entry.platform) {
        platform = *entry.platform;
      } else {
        // No platform on the entry: the child's config says.
        auto parsed = ParseManifest(child->bytes, child->media_type);
        if (!parsed.ok()) return parsed.error().Wrap("source " + name + ": entry " + entry.digest);
        if (parsed->kind != ManifestKind::kImage) {
          return Error(ErrorCode::kUnsupported, "source " + name + ": entry " + entry.digest + " is not an image manifest");
        }
        auto from_config = ImagePlatform(source, *parsed);
        if (!from_config.ok()) return from_config.error().Wrap("source " + name + ": entry " + entry.digest);
        platform = *from_config;
      }
      if (!IsRunnable(platform) || !Wanted(platform, options_.platforms)) continue;
      std::string media = child->media_type.empty() ? entry.media_type : child->media_type;
      children.push_back(Child{platform, entry.digest, media, std::move(child->bytes), source.WithDigest(""), name});
      ++taken;
    }
    if (taken == 0 && options_.platforms.empty()) {
      return Error(ErrorCode::kNotFound, "source " + name + " lists no runnable platform");
    }
    return Status::Ok();
  }

  // The platform an image manifest's config blob declares.
  Result<Platform> ImagePlatform(const Reference& repo, const Manifest& manifest) {
    auto config = client_.GetBlob(repo, manifest.config.digest, kMaxConfigBytes, keychain_);
    if (!config.ok()) return config.error().Wrap("config blob " + manifest.config.digest);
    auto platform = PlatformFromConfig(*config);
    if (!platform.ok()) return platform.error().Wrap("config blob " + manifest.config.digest);
    if (!platform->has_value() || !IsRunnable(**platform)) {
      return Error(ErrorCode::kInvalidArgument,
                   "its config declares no os/architecture (a data-only artifact), so it has no place in a platform list");
    }
    return **platform;
  }

  Status Check(const std::vector<Child>& children) {
    std::map<std::string, const Child*> by_platform;
    for (const Child& child : children) {
      auto [it, inserted] = by_platform.emplace(PlatformKey(child.platform), &child);
      if (!inserted) {
        return Error(ErrorCode::kInvalidArgument, "platform " + it->first + " is provided by both " + it->second->source +
                                                      " and " + child.source + "; pick one (--platform filters list sources)");
      }
    }
    for (const Platform& wanted : options_.platforms) {
      bool found = std::any_of(children.begin(), children.end(), [&](const Child& c) { return c.platform == wanted; });
      if (!found) return Error(ErrorCode::kNotFound, "no source provides platform " + wanted.String());
    }
    if (children.empty()) return Error(ErrorCode::kNotFound, "the sources provide no platform to publish");
    if (options_.format == ListFormat::kDocker) {
      for (const Child& child : children) {
        if (child.media_type != media_type::kDockerManifest) {
          return Error(ErrorCode::kInvalidArgument,
                       "--format docker: " + child.source + " (" + child.platform.String() + ") is " + child.media_type +
                           ", and a Docker manifest list can only reference Docker v2 manifests; use --format oci, "
                           "or convert the source (skopeo copy --format v2s2)");
        }
      }
    }
    return Status::Ok();
  }

  // The child manifest and its blobs into the target repository, each only if missing.
  Status PushChild(const Child& child) {
    Reference at = target_.WithDigest(child.digest);
    auto head = client_.HeadManifest(at, keychain_);
    if (head.ok()) return Status::Ok();  // a manifest is only ever stored with all its blobs
    if (head.error().code != ErrorCode::kNotFound) return head.error().Wrap("target " + target_.Name());

    auto manifest = ParseManifest(child.bytes, child.media_type);
    if (!manifest.ok()) return manifest.error().Wrap(child.source + " (" + child.platform.String() + ")");
    std::vector<const Descriptor*> blobs{&manifest->config};
    for (const Descriptor& layer : manifest->layers) {
      if (!IsForeignLayer(layer.media_type)) blobs.push_back(&layer);
    }
    std::set<std::string> seen;
    for (const Descriptor* blob : blobs) {
      if (!seen.insert(blob->digest).second) continue;
      Status ensured = EnsureBlob(child, *blob);
      if (!ensured.ok()) return ensured.error().Wrap("copying blob " + blob->digest + " of " + child.source);
    }
    auto put = client_.PutManifest(at, child.media_type, child.bytes, keychain_);
    ++writes_;
    if (!put.ok()) return PushError(put.error(), "manifest " + child.digest + " (" + child.platform.String() + ")", child.media_type);
    if (*put != child.digest) {
      return Error(ErrorCode::kBadResponse, "target " + target_.Name() + " stored manifest " + child.digest + " as " + *put +
                                                ": the registry rewrote it");
    }
    ++manifests_pushed_;
    log::Info("registry: pushed manifest", {{"target", at.String()}, {"platform", child.platform.String()}});
    return Status::Ok();
  }

  Status EnsureBlob(const Child& child, const Descriptor& blob) {
    auto exists = client_.BlobExists(target_, blob.digest, keychain_);
    if (!exists.ok()) return exists.error();
    if (*exists) return Status::Ok();

    if (child.source_repo.domain == target_.domain && child.source_repo.repository != target_.repository) {
      auto mounted = client_.MountBlob(target_, blob.digest, child.source_repo, keychain_);
      ++writes_;
      if (mounted.ok() && *mounted) {
        ++mounted_;
        return Status::Ok();
      }
      if (!mounted.ok()) {
        ErrorCode code = mounted.error().code;
        // A refused mount (no read access to `from` in the token, or the blob unknown
        // there) is not fatal: a plain copy with the source's own credentials may work.
        if (code != ErrorCode::kUnauthorized && code != ErrorCode::kForbidden && code != ErrorCode::kNotFound) {
          return mounted.error();
        }
        log::Info("registry: cross-repository mount refused, copying instead",
                  {{"blob", blob.digest}, {"from", child.source_repo.Name()}, {"reason", mounted.error().message}});
      }
    }
    Status copied = client_.CopyBlob(child.source_repo, target_, blob, keychain_);
    writes_ += 2;  // at least the upload POST and its closing PUT
    if (!copied.ok()) return copied;
    ++copied_;
    return Status::Ok();
  }

  Status PushIndex(const PublishResult& result) {
    auto head = client_.HeadManifest(target_, keychain_);
    if (head.ok() && head->digest == result.digest) return Status::Ok();  // already published
    if (!head.ok() && head.error().code != ErrorCode::kNotFound) return head.error().Wrap("target " + target_.String());

    auto put = client_.PutManifest(target_, result.media_type, result.index_bytes, keychain_);
    ++writes_;
    if (!put.ok()) return PushError(put.error(), "the index", result.media_type);
    ++manifests_pushed_;

    // Read back by tag: proves the tag now names exactly what was computed.
    auto back = client_.GetManifest(target_, keychain_);
    if (!back.ok()) return back.error().Wrap("reading back " + target_.String());
    if (back->digest != result.digest) {
      return Error(ErrorCode::kConflict, "digest mismatch on read-back: " + target_.String() + " is " + back->digest +
                                             ", expected " + result.digest +
                                             " (another push to the same tag raced this one, or the registry rewrote the index)");
    }
    return Status::Ok();
  }

  Error PushError(const Error& error, const std::string& what, const std::string& media_type) const {
    std::string context = "pushing " + what + " to " + target_.Name();
    if (error.code == ErrorCode::kUnauthorized || error.code == ErrorCode::kForbidden) {
      return Error(error.code, context + ": " + error.message + " (check the push credentials for " + target_.domain + ")");
    }
    if (error.code == ErrorCode::kBadResponse || error.code == ErrorCode::kUnsupported ||
        error.code == ErrorCode::kInvalidArgument) {
      return Error(error.code, context + ": the registry refused " + media_type + ": " + error.message);
    }
    return error.Wrap(context);
  }

  RegistryApi& client_;
  const Reference& target_;
  const PublishOptions& options_;
  const Keychain* keychain_;
  int writes_ = 0;
  int mounted_ = 0;
  int copied_ = 0;
  int manifests_pushed_ = 0;
};

}  // namespace

Publisher::Publisher(RegistryApi& client) : client_(client) {}

Result<PublishResult> Publisher::Publish(const Reference& target, const std::vector<Reference>& sources,
                                         const PublishOptions& options) {
  return Run(client_, target, options).Publish(sources);
}

}  // namespace archway::registry

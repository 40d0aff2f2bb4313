// Manifest media types and parsing. Parsing never trusts its input: every field is
// type-checked, sizes and counts are bounded, and failures are kBadResponse errors that
// say what was wrong ("manifest list entry 2: digest is not a sha256 digest").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "registry/platform.h"

namespace archway::registry {

namespace media_type {
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr const char* kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr const char* kDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
// The Accept header sent with every manifest request (see docs/design.md: without it Docker
// Distribution 404s OCI indexes and converts lists to schema1).
inline constexpr const char* kManifestAccept =
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5, "
    "application/vnd.docker.distribution.manifest.v1+json;q=0.5";
}  // namespace media_type

// Upper bounds for what is fetched into memory.
inline constexpr size_t kMaxManifestBytes = 4 * 1024 * 1024;
inline constexpr size_t kMaxConfigBytes = 8 * 1024 * 1024;

struct Descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<hex>"
  int64_t size = 0;
  std::optional<Platform> platform;
  std::string artifact_type;
  nlohmann::ordered_json annotations;  // object or null, key order preserved

  // Index entries that are attestations (annotation vnd.docker.reference.type) or
  // unknown/unknown platforms.
  bool IsAttestationOrUnknown() const;
};

enum class ManifestKind { kIndex, kImage, kSchema1 };

struct Manifest {
  ManifestKind kind = ManifestKind::kImage;
  std::string media_type;               // as declared by the body, or by the Content-Type
  std::vector<Descriptor> manifests;    // kIndex
  Descriptor config;                    // kImage
  std::vector<Descriptor> layers;       // kImage
  std::optional<Platform> schema1_platform;  // kSchema1: from its "architecture" field
  nlohmann::ordered_json annotations;
  std::string subject_digest;           // OCI "subject" (referrers), "" if none
};

// Parses manifest bytes. `content_type` is the response's Content-Type; when the body
// has a mediaType field it must agree with it.
Result<Manifest> ParseManifest(std::string_view bytes, std::string_view content_type);

// The platform an image config blob declares (os, architecture, variant, os.version),
// normalised. A config with no os/architecture (data-only artifact) gives nullopt.
Result<std::optional<Platform>> PlatformFromConfig(std::string_view config_bytes);

// "sha256:" + 64 lower-case hex. Other algorithms are rejected: nothing archway talks to
// produces them, and an unverifiable digest must not be trusted.
bool IsValidDigest(std::string_view digest);
// "sha256:" + Sha256Hex(bytes)
std::string ComputeDigest(std::string_view bytes);

}  // namespace archway::registry

#include "registry/manifest.h"

#include <algorithm>
#include <cctype>

#include "base/encoding.h"
#include "base/utf8.h"

namespace archway::registry {
namespace {

using Json = nlohmann::ordered_json;

// Far above anything a registry serves, far below what could hurt.
constexpr size_t kMaxEntries = 10000;
constexpr int kMaxJsonDepth = 64;

Error Bad(std::string message) { return Error(ErrorCode::kBadResponse, std::move(message)); }

// Rejects absurd nesting before the parser sees it (cheap linear scan, strings skipped).
bool DepthWithin(std::string_view bytes, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

Result<Json> ParseJsonObject(std::string_view bytes, const char* what) {
  if (!DepthWithin(bytes, kMaxJsonDepth)) return Bad(std::string(what) + " is nested too deeply");
  Json json = Json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Bad(std::string(what) + " is not valid JSON");
  if (!json.is_object()) return Bad(std::string(what) + " is not a JSON object");
  return json;
}

std::string NormalizeContentType(std::string_view content_type) {
  std::string_view base = content_type.substr(0, content_type.find(';'));
  while (!base.empty() && std::isspace(static_cast<unsigned char>(base.front()))) base.remove_prefix(1);
  while (!base.empty() && std::isspace(static_cast<unsigned char>(base.back()))) base.remove_suffix(1);
  std::string out(base);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsIndexType(std::string_view t) { return t == media_type::kOciIndex || t == media_type::kDockerList; }
bool IsImageType(std::string_view t) { return t == media_type::kOciManifest || t == media_type::kDockerManifest; }
bool IsSchema1Type(std::string_view t) {
  return t == media_type::kDockerSchema1 || t == media_type::kDockerSchema1Signed;
}
bool IsManifestType(std::string_view t) { return IsIndexType(t) || IsImageType(t) || IsSchema1Type(t); }

// Optional string field: absent/null -> "", wrong type -> error.
Result<std::string> OptionalString(const Json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Bad(where + ": " + key + " is not a string");
  return it->get<std::string>();
}

Result<Json> OptionalStringMap(const Json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return Json();
  if (!it->is_object()) return Bad(where + ": " + key + " is not an object");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return Bad(where + ": " + key + "[\"" + TruncateUtf8(k, 100) + "\"] is not a string");
  }
  return *it;
}

Result<Platform> ParseDescriptorPlatform(const Json& json, const std::string& where) {
  if (!json.is_object()) return Bad(where + ": platform is not an object");
  Platform p;
  auto os = OptionalString(json, "os", where + ": platform");
  if (!os.ok()) return os.error();
  auto arch = OptionalString(json, "architecture", where + ": platform");
  if (!arch.ok()) return arch.error();
  auto variant = OptionalString(json, "variant", where + ": platform");
  if (!variant.ok()) return variant.error();
  auto os_version = OptionalString(json, "os.version", where + ": platform");
  if (!os_version.ok()) return os_version.error();
  p.os = *os;
  p.architecture = *arch;
  p.variant = *variant;
  p.os_version = *os_version;
  return Normalize(std::move(p));
}

Result<Descriptor> ParseDescriptor(const Json& json, const std::string& where) {
  if (!json.is_object()) return Bad(where + " is not an object");
  Descriptor d;
  auto media = OptionalString(json, "mediaType", where);
  if (!media.ok()) return media.error();
  d.media_type = *media;
  auto digest = json.find("digest");
  if (digest == json.end() || !digest->is_string()) return Bad(where + ": digest is missing or not a string");
  d.digest = digest->get<std::string>();
  if (!IsValidDigest(d.digest)) return Bad(where + ": digest is not a sha256 digest");
  auto size = json.find("size");
  if (size == json.end() || !size->is_number_integer()) return Bad(where + ": size is missing or not an integer");
  if (size->is_number_unsigned()) {
    uint64_t value = size->get<uint64_t>();
    if (value > static_cast<uint64_t>(INT64_MAX)) return Bad(where + ": size is out of range");
    d.size = static_cast<int64_t>(value);
  } else {
    d.size = size->get<int64_t>();
  }
  if (d.size < 0) return Bad(where + ": size is negative");
  if (auto platform = json.find("platform"); platform != json.end() && !platform->is_null()) {
    auto p = ParseDescriptorPlatform(*platform, where);
    if (!p.ok()) return p.error();
    d.platform = std::move(*p);
  }
  auto artifact = OptionalString(json, "artifactType", where);
  if (!artifact.ok()) return artifact.error();
  d.artifact_type = *artifact;
  auto annotations = OptionalStringMap(json, "annotations", where);
  if (!annotations.ok()) return annotations.error();
  d.annotations = std::move(*annotations);
  return d;
}

Result<std::vector<Descriptor>> ParseDescriptorArray(const Json& body, const char* key, const char* entry_name,
                                                     bool required) {
  std::vector<Descriptor> out;
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    if (required) return Bad(std::string("manifest has no \"") + key + "\" array");
    return out;
  }
  if (!it->is_array()) return Bad(std::string("manifest field \"") + key + "\" is not an array");
  if (it->size() > kMaxEntries) return Bad(std::string("manifest has too many ") + key + " (" + std::to_string(it->size()) + ")");
  out.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    auto d = ParseDescriptor((*it)[i], std::string(entry_name) + " " + std::to_string(i));
    if (!d.ok()) return d.error();
    out.push_back(std::move(*d));
  }
  return out;
}

Result<Manifest> ParseSchema1(const Json& body, std::string media) {
  Manifest m;
  m.kind = ManifestKind::kSchema1;
  m.media_type = media.empty() ? (body.contains("signatures") ? media_type::kDockerSchema1Signed
                                                               : media_type::kDockerSchema1)
                               : std::move(media);
  auto arch = OptionalString(body, "architecture", "schema1 manifest");
  if (!arch.ok()) return arch.error();
  auto layers = body.find("fsLayers");
  if (layers == body.end() || !layers->is_array()) return Bad("schema1 manifest has no \"fsLayers\" array");
  if (layers->size() > kMaxEntries) return Bad("schema1 manifest has too many fsLayers");
  // The OS is only recorded in the newest history entry's v1Compatibility JSON.
  std::string os = "linux";
  if (auto history = body.find("history"); history != body.end()) {
    if (!history->is_array()) return Bad("schema1 manifest: history is not an array");
    if (!history->empty()) {
      const Json& first = (*history)[0];
      if (!first.is_object()) return Bad("schema1 manifest: history entry 0 is not an object");
      auto compat = OptionalString(first, "v1Compatibility", "schema1 manifest: history entry 0");
      if (!compat.ok()) return compat.error();
      if (!compat->empty()) {
        auto compat_json = ParseJsonObject(*compat, "schema1 v1Compatibility");
        if (!compat_json.ok()) return compat_json.error();
        auto compat_os = OptionalString(*compat_json, "os", "schema1 v1Compatibility");
        if (!compat_os.ok()) return compat_os.error();
        if (!compat_os->empty()) os = *compat_os;
      }
    }
  }
  if (!arch->empty()) {
    Platform p;
    p.os = os;
    p.architecture = *arch;
    m.schema1_platform = Normalize(std::move(p));
  }
  return m;
}

}  // namespace

bool Descriptor::IsAttestationOrUnknown() const {
  if (annotations.is_object() && annotations.contains("vnd.docker.reference.type")) return true;
  return platform.has_value() && !IsRunnable(*platform);
}

Result<Manifest> ParseManifest(std::string_view bytes, std::string_view content_type) {
  if (bytes.size() > kMaxManifestBytes) return Bad("manifest is larger than " + std::to_string(kMaxManifestBytes) + " bytes");
  auto parsed = ParseJsonObject(bytes, "manifest");
  if (!parsed.ok()) return parsed.error();
  const Json& body = *parsed;

  auto schema_version = body.find("schemaVersion");
  if (schema_version == body.end() || !schema_version->is_number_integer())
    return Bad("manifest has no integer schemaVersion");
  int64_t version = schema_version->get<int64_t>();
  if (version != 1 && version != 2) return Bad("unsupported manifest schemaVersion " + std::to_string(version));

  auto declared = OptionalString(body, "mediaType", "manifest");
  if (!declared.ok()) return declared.error();
  std::string header_type = NormalizeContentType(content_type);
  if (!declared->empty() && IsManifestType(header_type) && header_type != *declared) {
    return Bad("Content-Type " + header_type + " does not match the manifest's mediaType " + TruncateUtf8(*declared, 200));
  }
  std::string media = !declared->empty() ? *declared : (IsManifestType(header_type) ? header_type : "");

  if (version == 1) {
    if (!media.empty() && !IsSchema1Type(media))
      return Bad("manifest with schemaVersion 1 declares media type " + TruncateUtf8(media, 200));
    return ParseSchema1(body, media);
  }
  if (IsSchema1Type(media)) return Bad("schema1 media type on a schemaVersion 2 manifest");
  if (media.empty()) {
    // OCI allows an absent mediaType; the structure tells which kind it is.
    if (body.contains("manifests")) {
      media = media_type::kOciIndex;
    } else if (body.contains("config")) {
      media = media_type::kOciManifest;
    } else {
      return Bad("manifest has neither a mediaType nor manifests/config");
    }
  }

  Manifest m;
  m.media_type = media;
  auto annotations = OptionalStringMap(body, "annotations", "manifest");
  if (!annotations.ok()) return annotations.error();
  m.annotations = std::move(*annotations);
  if (auto subject = body.find("subject"); subject != body.end() && !subject->is_null()) {
    auto d = ParseDescriptor(*subject, "manifest subject");
    if (!d.ok()) return d.error();
    m.subject_digest = d->digest;
  }

  if (IsIndexType(media)) {
    m.kind = ManifestKind::kIndex;
    if (body.contains("config") || body.contains("layers")) return Bad("index " + media + " has config/layers fields");
    auto entries = ParseDescriptorArray(body, "manifests", "manifest list entry", /*required=*/true);
    if (!entries.ok()) return entries.error();
    m.manifests = std::move(*entries);
    return m;
  }
  if (IsImageType(media)) {
    m.kind = ManifestKind::kImage;
    if (body.contains("manifests")) return Bad("image manifest " + media + " has a manifests field");
    auto config = body.find("config");
    if (config == body.end()) return Bad("image manifest has no config");
    auto c = ParseDescriptor(*config, "manifest config");
    if (!c.ok()) return c.error();
    m.config = std::move(*c);
    auto layers = ParseDescriptorArray(body, "layers", "layer", /*required=*/false);
    if (!layers.ok()) return layers.error();
    m.layers = std::move(*layers);
    return m;
  }
  return Bad("unsupported manifest media type " + TruncateUtf8(media, 200));
}

Result<std::optional<Platform>> PlatformFromConfig(std::string_view config_bytes) {
  if (config_bytes.size() > kMaxConfigBytes) return Bad("image config is larger than " + std::to_string(kMaxConfigBytes) + " bytes");
  auto parsed = ParseJsonObject(config_bytes, "image config");
  if (!parsed.ok()) return parsed.error();
  const Json& body = *parsed;
  auto os = OptionalString(body, "os", "image config");
  if (!os.ok()) return os.error();
  auto arch = OptionalString(body, "architecture", "image config");
  if (!arch.ok()) return arch.error();
  auto variant = OptionalString(body, "variant", "image config");
  if (!variant.ok()) return variant.error();
  auto os_version = OptionalString(body, "os.version", "image config");
  if (!os_version.ok()) return os_version.error();
  if (os->empty() && arch->empty()) return std::optional<Platform>();
  if (os->empty() || arch->empty()) return Bad("image config declares only one of os and architecture");
  Platform p;
  p.os = *os;
  p.architecture = *arch;
  p.variant = *variant;
  p.os_version = *os_version;
  return std::optional<Platform>(Normalize(std::move(p)));
}

bool IsValidDigest(std::string_view digest) {
  if (digest.size() != 71 || digest.substr(0, 7) != "sha256:") return false;
  return std::all_of(digest.begin() + 7, digest.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string ComputeDigest(std::string_view bytes) { return "sha256:" + Sha256Hex(bytes); }

}  // namespace archway::registry

#include "tests/support/fixtures.h"

#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "tests/support/http_server.h"

namespace archway::testing {
namespace {

std::string Digest(const std::string& bytes) { return "sha256:" + Sha256Hex(bytes); }

std::vector<std::pair<std::string, std::string>> AuthHeaders(RegistryServer* registry, const std::string& repository) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (registry == nullptr) return headers;
  std::string authorization = registry->FixtureAuthorization("repository:" + repository + ":pull,push");
  if (!authorization.empty()) headers.emplace_back("Authorization", authorization);
  return headers;
}

// "http://127.0.0.1:5000/v2/x/uploads/id?_state=..." -> "/v2/x/uploads/id?_state=..."
std::string PathOf(const std::string& location) {
  size_t scheme = location.find("://");
  if (scheme == std::string::npos) return location;
  size_t slash = location.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : location.substr(slash);
}

std::string PushBlobTo(const std::string& host, RegistryServer* registry, const std::string& repository,
                       const std::string& bytes) {
  auto headers = AuthHeaders(registry, repository);
  HttpReply start = HttpCall(host, "POST", "/v2/" + repository + "/blobs/uploads/", headers);
  if (start.status != 202) {
    throw std::runtime_error("blob upload start to " + repository + ": HTTP " + std::to_string(start.status) + " " + start.body);
  }
  std::string target = PathOf(ReplyHeader(start, "Location"));
  std::string digest = Digest(bytes);
  target += (target.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
  auto put_headers = headers;
  put_headers.emplace_back("Content-Type", "application/octet-stream");
  HttpReply put = HttpCall(host, "PUT", target, put_headers, bytes);
  if (put.status != 201) {
    throw std::runtime_error("blob upload to " + repository + ": HTTP " + std::to_string(put.status) + " " + put.body);
  }
  return digest;
}

std::string PushRawTo(const std::string& host, RegistryServer* registry, const std::string& repository,
                      const std::string& reference, const std::string& media_type, const std::string& bytes) {
  auto headers = AuthHeaders(registry, repository);
  headers.emplace_back("Content-Type", media_type);
  HttpReply put = HttpCall(host, "PUT", "/v2/" + repository + "/manifests/" + reference, headers, bytes);
  if (put.status != 201) {
    throw std::runtime_error("manifest PUT " + repository + ":" + reference + ": HTTP " + std::to_string(put.status) +
                             " " + put.body);
  }
  return Digest(bytes);
}

struct PushedManifest {
  std::string digest;
  size_t size = 0;
};

// "os/arch[/variant]" -> the three parts ("" when absent).
std::vector<std::string> PlatformParts(const std::string& platform) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (parts.size() < 3) {
    size_t slash = platform.find('/', start);
    parts.push_back(platform.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  while (parts.size() < 3) parts.push_back("");
  return parts;
}

PushedManifest PushTinyImage(RegistryServer& registry, const std::string& repository, const std::string& reference,
                             const std::string& platform, const std::string& salt) {
  using Json = nlohmann::json;
  const auto parts = PlatformParts(platform);
  Json config_json = {{"architecture", parts[1]},
                      {"os", parts[0]},
                      {"rootfs", {{"type", "layers"}, {"diff_ids", Json::array()}}},
                      {"config", {{"Labels", {{"salt", salt}}}}}};
  if (!parts[2].empty()) config_json["variant"] = parts[2];
  const std::string config = config_json.dump();
  const std::string layer = "layer of " + repository + " " + parts[0] + "/" + parts[1] + " " + salt;
  const std::string config_digest = PushBlob(registry, repository, config);
  const std::string layer_digest = PushBlob(registry, repository, layer);
  Json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                     {"digest", config_digest},
                     {"size", config.size()}}},
                   {"layers", Json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                                            {"digest", layer_digest},
                                            {"size", layer.size()}}})}};
  const std::string bytes = manifest.dump();
  // An empty reference pushes the manifest by its own digest (an index child).
  const std::string at = reference.empty() ? Digest(bytes) : reference;
  return {PushRaw(registry, repository, at, "application/vnd.oci.image.manifest.v1+json", bytes), bytes.size()};
}

std::vector<std::string> CredsFlag(RegistryServer& registry) {
  auto [user, password] = registry.FixtureUser();
  if (user.empty()) return {};
  return {"--creds", user + ":" + password};
}

}  // namespace

std::string PushBlob(RegistryServer& registry, const std::string& repository, const std::string& bytes) {
  return PushBlobTo(registry.host(), &registry, repository, bytes);
}

std::string PushRaw(RegistryServer& registry, const std::string& repository, const std::string& reference,
                    const std::string& media_type, const std::string& bytes) {
  return PushRawTo(registry.host(), &registry, repository, reference, media_type, bytes);
}

std::string PushPlatformImage(RegistryServer& registry, const std::string& repository, const std::string& tag,
                              const std::string& platform, const std::string& salt) {
  return PushTinyImage(registry, repository, tag, platform, salt).digest;
}

std::string PushPlatformIndex(RegistryServer& registry, const std::string& repository, const std::string& tag,
                              const std::vector<std::string>& platforms, const std::string& salt) {
  using Json = nlohmann::json;
  Json manifests = Json::array();
  for (const auto& platform : platforms) {
    // Pushed by digest: the children need no tag of their own.
    const auto parts = PlatformParts(platform);
    PushedManifest child = PushTinyImage(registry, repository, "", platform, salt + " in " + tag);
    Json entry_platform = {{"os", parts[0]}, {"architecture", parts[1]}};
    if (!parts[2].empty()) entry_platform["variant"] = parts[2];
    manifests.push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                         {"digest", child.digest},
                         {"size", child.size},
                         {"platform", entry_platform}});
  }
  Json index = {{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}, {"manifests", manifests}};
  return PushRaw(registry, repository, tag, "application/vnd.oci.image.index.v1+json", index.dump());
}

std::string PushRaw(const std::string& host, const std::string& repository, const std::string& reference,
                    const std::string& media_type, const std::string& bytes) {
  return PushRawTo(host, nullptr, repository, reference, media_type, bytes);
}

Buildah::Buildah() : dir_("archway-buildah") {}

std::string Buildah::Run(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {"buildah", "--root", dir_.File("root"), "--runroot", dir_.File("runroot"),
                                   "--storage-driver", "vfs"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, timeout);
  if (r.exit_code != 0) {
    std::string command;
    for (const auto& a : args) command += " " + (a.rfind("archway-fixtures:", 0) == 0 ? "<creds>" : a);
    throw std::runtime_error("buildah" + command + " failed" + (r.timed_out ? " (timed out)" : "") + ": " + r.output);
  }
  return r.output;
}

std::string Buildah::Build(const std::string& platform, ImageFormat format) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = platform.find('/', start);
    parts.push_back(platform.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) throw std::runtime_error("platform must be os/arch[/variant]: " + platform);
  std::string name = "localhost/archway-fixture-" + std::to_string(++serial_);
  std::string content_file = dir_.File("content-" + std::to_string(serial_));
  // Unique content, so every image has its own layer digest.
  WriteFile(content_file, platform + " " + name + " " + std::to_string(std::random_device{}()) + "\n");
  std::string container = Run({"from", "scratch"});
  container = container.substr(0, container.find_first_of("\r\n"));
  Run({"copy", container, content_file, "/fixture.txt"});
  std::vector<std::string> config = {"config", "--os", parts[0], "--arch", parts[1]};
  if (parts.size() == 3) {
    config.push_back("--variant");
    config.push_back(parts[2]);
  }
  config.push_back(container);
  Run(config);
  Run({"commit", "-q", "--format", format == ImageFormat::kOci ? "oci" : "docker", container, name});
  Run({"rm", container});
  return name;
}

std::string Buildah::Push(const std::string& local_image, RegistryServer& registry, const std::string& repo_tag,
                          ImageFormat format) {
  std::string digest_file = dir_.File("digest-" + std::to_string(++serial_));
  std::vector<std::string> args = {"push", "--tls-verify=false", "--format", format == ImageFormat::kOci ? "oci" : "v2s2",
                                   "--digestfile", digest_file};
  for (const auto& flag : CredsFlag(registry)) args.push_back(flag);
  args.push_back(local_image);
  args.push_back("docker://" + registry.host() + "/" + repo_tag);
  Run(args);
  return ReadFile(digest_file);
}

std::string Buildah::PushList(RegistryServer& registry, const std::string& repo_tag,
                              const std::vector<std::string>& platforms, ImageFormat format) {
  std::string list = "localhost/archway-fixture-list-" + std::to_string(++serial_);
  Run({"manifest", "create", list});
  for (const auto& platform : platforms) Run({"manifest", "add", list, Build(platform, format)});
  std::string digest_file = dir_.File("digest-" + std::to_string(++serial_));
  std::vector<std::string> args = {"manifest", "push", "--all", "--tls-verify=false", "--format",
                                   format == ImageFormat::kOci ? "oci" : "v2s2", "--digestfile", digest_file};
  for (const auto& flag : CredsFlag(registry)) args.push_back(flag);
  args.push_back(list);
  args.push_back("docker://" + registry.host() + "/" + repo_tag);
  Run(args);
  return ReadFile(digest_file);
}

std::string BuildahImage(RegistryServer& registry, const std::string& repo_tag, const std::string& platform,
                         ImageFormat format) {
  Buildah buildah;
  return buildah.Push(buildah.Build(platform, format), registry, repo_tag, format);
}

std::string BuildahManifestList(RegistryServer& registry, const std::string& repo_tag,
                                const std::vector<std::string>& platforms, ImageFormat format) {
  Buildah buildah;
  return buildah.PushList(registry, repo_tag, platforms, format);
}

}  // namespace archway::testing

#include "tests/support/memory_registry.h"

#include "registry/manifest.h"

namespace archway::testing {
namespace {

Error ManifestUnknown(const registry::Reference& ref) {
  return Error(ErrorCode::kNotFound, ref.String() + ": manifest unknown");
}

Error BlobUnknown(const registry::Reference& repo, std::string_view digest) {
  return Error(ErrorCode::kNotFound, repo.Name() + "@" + std::string(digest) + ": blob unknown");
}

}  // namespace

std::string MemoryRegistry::PutManifestBytes(const registry::Reference& ref, std::string media_type,
                                             std::string bytes) {
  const std::string digest = registry::ComputeDigest(bytes);
  auto& repo = manifests_[ref.Name()];
  if (!ref.tag.empty()) repo[ref.tag] = StoredManifest{media_type, bytes};
  repo[digest] = StoredManifest{std::move(media_type), std::move(bytes)};
  return digest;
}

std::string MemoryRegistry::PutBlobBytes(const registry::Reference& repo, std::string bytes) {
  std::string digest = registry::ComputeDigest(bytes);
  blobs_[repo.Name()][digest] = std::move(bytes);
  return digest;
}

const MemoryRegistry::StoredManifest* MemoryRegistry::FindManifest(const registry::Reference& ref) const {
  auto repo = manifests_.find(ref.Name());
  if (repo == manifests_.end()) return nullptr;
  auto it = repo->second.find(ref.Identifier());
  return it == repo->second.end() ? nullptr : &it->second;
}

Result<registry::FetchedManifest> MemoryRegistry::GetManifest(const registry::Reference& ref,
                                                              const registry::Keychain*) {
  const StoredManifest* stored = FindManifest(ref);
  if (stored == nullptr) return ManifestUnknown(ref);
  return registry::FetchedManifest{stored->media_type, registry::ComputeDigest(stored->bytes), stored->bytes};
}

Result<registry::Descriptor> MemoryRegistry::HeadManifest(const registry::Reference& ref, const registry::Keychain*) {
  const StoredManifest* stored = FindManifest(ref);
  if (stored == nullptr) return ManifestUnknown(ref);
  registry::Descriptor descriptor;
  descriptor.media_type = stored->media_type;
  descriptor.digest = registry::ComputeDigest(stored->bytes);
  descriptor.size = static_cast<int64_t>(stored->bytes.size());
  return descriptor;
}

Result<std::string> MemoryRegistry::GetBlob(const registry::Reference& repo, std::string_view digest,
                                            size_t max_bytes, const registry::Keychain*) {
  auto r = blobs_.find(repo.Name());
  if (r == blobs_.end()) return BlobUnknown(repo, digest);
  auto it = r->second.find(std::string(digest));
  if (it == r->second.end()) return BlobUnknown(repo, digest);
  if (it->second.size() > max_bytes)
    return Error(ErrorCode::kBadResponse, repo.Name() + "@" + std::string(digest) + ": blob larger than " +
                                              std::to_string(max_bytes) + " bytes");
  return it->second;
}

Result<bool> MemoryRegistry::BlobExists(const registry::Reference& repo, std::string_view digest,
                                        const registry::Keychain*) {
  auto r = blobs_.find(repo.Name());
  return r != blobs_.end() && r->second.count(std::string(digest)) > 0;
}

Result<std::string> MemoryRegistry::PutManifest(const registry::Reference& ref, std::string_view media_type,
                                                 std::string_view bytes, const registry::Keychain*) {
  if (ref.HasDigest() && registry::ComputeDigest(bytes) != ref.digest)
    return Error(ErrorCode::kInvalidArgument, ref.String() + ": digest invalid: the bytes do not match");
  ++writes_;
  return PutManifestBytes(ref, std::string(media_type), std::string(bytes));
}

Result<bool> MemoryRegistry::MountBlob(const registry::Reference& to_repo, std::string_view digest,
                                       const registry::Reference& from_repo, const registry::Keychain*) {
  if (to_repo.domain != from_repo.domain) return false;
  auto from = blobs_.find(from_repo.Name());
  if (from == blobs_.end()) return false;
  auto it = from->second.find(std::string(digest));
  if (it == from->second.end()) return false;
  ++writes_;
  blobs_[to_repo.Name()][it->first] = it->second;
  return true;
}

Status MemoryRegistry::CopyBlob(const registry::Reference& from_repo, const registry::Reference& to_repo,
                                const registry::Descriptor& blob, const registry::Keychain*) {
  auto bytes = GetBlob(from_repo, blob.digest, static_cast<size_t>(-1));
  if (!bytes.ok()) return bytes.error();
  ++writes_;
  blobs_[to_repo.Name()][blob.digest] = std::move(bytes).value();
  return Status::Ok();
}

std::string MemoryRegistry::CredentialFingerprint(const registry::Reference&, const registry::Keychain* extra) const {
  return extra == nullptr ? "anonymous" : "extra";
}

}  // namespace archway::testing

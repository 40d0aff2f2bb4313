#include "registry/resolver.h"

#include <algorithm>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "base/log.h"
#include "registry/manifest.h"

namespace archway::registry {
namespace {

using Clock = std::chrono::steady_clock;

// Nested indexes (an index entry that is itself an index, or an entry with no platform
// field) are resolved by fetching the child; bounded so a hostile index cannot fan out.
constexpr int kMaxNestingDepth = 2;
constexpr size_t kMaxUndeclaredChildren = 16;

// A bounded least-recently-used map.
template <typename V>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

  V* Find(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  void Put(const std::string& key, V value) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->second = std::move(value);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    if (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

  void Erase(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    order_.erase(it->second);
    index_.erase(it);
  }

 private:
  using Entry = std::pair<std::string, V>;
  size_t capacity_;
  std::list<Entry> order_;
  std::unordered_map<std::string, typename std::list<Entry>::iterator> index_;
};

struct TagEntry {
  std::string digest;
  Clock::time_point fresh_until;  // after this the digest is re-validated with a HEAD
  uint64_t validated = 0;         // the resolver's epoch when the registry last confirmed it
};

// Platforms a node contradicted, and the epoch they were marked at: tags validated before
// it are revalidated.
struct SuspectEntry {
  std::vector<Platform> platforms;
  uint64_t marked = 0;
};

struct FailureEntry {
  Error error;
  Clock::time_point until;
};

// One in-flight resolution that concurrent callers of the same key wait on.
struct Flight {
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  std::optional<Result<ImagePlatforms>> result;
};

// Entries that differ only in os.version (Windows builds) are kept apart: the webhook
// requires the node's build from them.
void SortUnique(std::vector<Platform>& platforms) {
  auto key = [](const Platform& p) { return std::tie(p.os, p.architecture, p.variant, p.os_version); };
  std::sort(platforms.begin(), platforms.end(), [&](const Platform& a, const Platform& b) { return key(a) < key(b); });
  platforms.erase(std::unique(platforms.begin(), platforms.end(),
                              [&](const Platform& a, const Platform& b) { return key(a) == key(b); }),
                  platforms.end());
}

bool IsImageConfigType(std::string_view media_type) {
  return media_type == media_type::kOciConfig || media_type == media_type::kDockerConfig;
}

}  // namespace

struct Resolver::Impl {
  RegistryApi& client;
  ResolverOptions options;

  std::mutex mu;  // guards the caches and the flight table, never held across a request
  LruCache<TagEntry> tags;
  LruCache<std::shared_ptr<const ImagePlatforms>> digests;  // shared: Cached() hands them out
  LruCache<FailureEntry> failures;
  LruCache<SuspectEntry> suspects;  // by digest alone: suspicion is about content, not credentials
  uint64_t epoch = 0;               // ticks at every tag validation and suspect mark
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights;
  // Registry domain -> the fingerprint without extra credentials, which depends on nothing
  // else (registry_api.h: the credentials used for ref's registry). It is a SHA-256 per
  // look-up otherwise, two thirds of the cost of a look-up answered from memory.
  std::unordered_map<std::string, std::string> default_fingerprints;

  Impl(RegistryApi& c, ResolverOptions o)
      : client(c),
        options(std::move(o)),
        tags(options.digest_cache_entries),
        digests(options.digest_cache_entries),
        failures(std::max<size_t>(options.digest_cache_entries / 4, 64)),
        suspects(options.digest_cache_entries) {
    if (!options.clock) options.clock = [] { return Clock::now(); };
  }

  // The credential fingerprint of `ref`'s cache keys (takes mu to read the memo).
  std::string Fingerprint(const Reference& ref, const Keychain* extra) {
    if (extra != nullptr) return client.CredentialFingerprint(ref, extra);
    std::lock_guard<std::mutex> lock(mu);
    auto known = default_fingerprints.find(ref.domain);
    if (known != default_fingerprints.end()) return known->second;
    if (default_fingerprints.size() >= 1024) default_fingerprints.clear();  // bounded; cheap to refill
    return default_fingerprints.emplace(ref.domain, client.CredentialFingerprint(ref, nullptr)).first->second;
  }

  void Observe(bool hit) {
    if (options.cache_observer) options.cache_observer(hit);
  }

  // Keys: credential fingerprint, then the repository, then the tag or digest. The
  // fingerprint comes first so one tenant's entries can never answer another's.
  static std::string TagKey(const std::string& fp, const Reference& ref) { return fp + "|" + ref.Name() + ":" + ref.tag; }
  static std::string DigestKey(const std::string& fp, const Reference& ref, const std::string& digest) {
    return fp + "|" + ref.Name() + "@" + digest;
  }

  std::optional<ImagePlatforms> CachedDigest(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu);
    if (const auto* found = digests.Find(key)) return **found;
    return std::nullopt;
  }

  // The platforms a fetched manifest declares; fetches the config blob for an image and
  // children for nested or platform-less index entries.
  Result<ImagePlatforms> PlatformsOf(const Reference& repo, const FetchedManifest& fetched, const Keychain* extra,
                                     const std::string& fp, int depth) {
    auto parsed = ParseManifest(fetched.bytes, fetched.media_type);
    if (!parsed.ok()) return parsed.error();
    const Manifest& manifest = *parsed;
    ImagePlatforms out;
    out.digest = fetched.digest;
    out.media_type = manifest.media_type.empty() ? fetched.media_type : manifest.media_type;

    switch (manifest.kind) {
      case ManifestKind::kSchema1: {
        if (!manifest.schema1_platform || !IsRunnable(*manifest.schema1_platform)) {
          return Error(ErrorCode::kBadResponse, "schema1 manifest declares no architecture");
        }
        out.platforms.push_back(Normalize(*manifest.schema1_platform));
        return out;
      }
      case ManifestKind::kImage: {
        if (!IsImageConfigType(manifest.config.media_type)) {
          // An artifact (Helm chart, SBOM, the OCI empty config): nothing a runtime runs
          // on one platform only.
          out.data_only = true;
          return out;
        }
        auto config = client.GetBlob(repo, manifest.config.digest, kMaxConfigBytes, extra);
        if (!config.ok()) return config.error().Wrap("config blob " + manifest.config.digest);
        auto platform = PlatformFromConfig(*config);
        if (!platform.ok()) return platform.error().Wrap("config blob " + manifest.config.digest);
        if (!platform->has_value() || !IsRunnable(**platform)) {
          out.data_only = true;
        } else {
          out.platforms.push_back(Normalize(**platform));
        }
        return out;
      }
      case ManifestKind::kIndex: {
        size_t undeclared = 0;
        for (const Descriptor& entry : manifest.manifests) {
          if (entry.IsAttestationOrUnknown()) continue;
          bool nested_index = entry.media_type == media_type::kOciIndex || entry.media_type == media_type::kDockerList;
          if (entry.platform && !nested_index) {
            if (IsRunnable(*entry.platform)) out.platforms.push_back(Normalize(*entry.platform));
            continue;
          }
          // No platform on the entry (allowed by the OCI spec) or an index of indexes:
          // the child itself says.
          if (depth >= kMaxNestingDepth || ++undeclared > kMaxUndeclaredChildren) {
            return Error(ErrorCode::kBadResponse, "image index nests too deeply or has too many entries without a platform");
          }
          auto child = ResolveDigest(repo.WithDigest(entry.digest), extra, fp, depth + 1);
          if (!child.ok()) return child.error().Wrap("index entry " + entry.digest);
          for (const Platform& p : child->platforms) out.platforms.push_back(p);
        }
        SortUnique(out.platforms);
        if (out.platforms.empty()) {
          return Error(ErrorCode::kBadResponse,
                       "image index lists no runnable platform (only attestations or unknown/unknown entries)");
        }
        return out;
      }
    }
    return Error(ErrorCode::kInternal, "unhandled manifest kind");
  }

  // digest -> platforms through the long-lived cache.
  Result<ImagePlatforms> ResolveDigest(const Reference& ref, const Keychain* extra, const std::string& fp, int depth) {
    std::string key = DigestKey(fp, ref, ref.digest);
    if (auto cached = CachedDigest(key)) return *cached;
    auto fetched = client.GetManifest(ref, extra);
    if (!fetched.ok()) return fetched.error();
    return Store(ref, *fetched, extra, fp, depth);
  }

  Result<ImagePlatforms> Store(const Reference& ref, const FetchedManifest& fetched, const Keychain* extra,
                               const std::string& fp, int depth) {
    auto platforms = PlatformsOf(ref, fetched, extra, fp, depth);
    if (!platforms.ok()) return platforms;
    std::lock_guard<std::mutex> lock(mu);
    digests.Put(DigestKey(fp, ref, fetched.digest), std::make_shared<const ImagePlatforms>(*platforms));
    return platforms;
  }

  void RememberTag(const std::string& key, const std::string& digest) {
    std::lock_guard<std::mutex> lock(mu);
    tags.Put(key, TagEntry{digest, options.clock() + options.tag_ttl, ++epoch});
  }

  // A tag entry answers without the registry while its TTL runs and its digest was not
  // marked suspect after the registry last confirmed it (requires mu).
  bool Fresh(const TagEntry& tag, Clock::time_point now) {
    if (tag.fresh_until <= now) return false;
    const SuspectEntry* suspect = suspects.Find(tag.digest);
    return suspect == nullptr || suspect->marked < tag.validated;
  }

  bool MarkSuspect(const std::string& digest, const Platform& platform) {
    std::lock_guard<std::mutex> lock(mu);
    SuspectEntry entry;
    if (const SuspectEntry* known = suspects.Find(digest)) {
      if (std::find(known->platforms.begin(), known->platforms.end(), platform) != known->platforms.end()) return false;
      entry = *known;
    }
    entry.platforms.push_back(platform);
    SortUnique(entry.platforms);
    entry.marked = ++epoch;
    suspects.Put(digest, std::move(entry));
    return true;
  }

  std::vector<Platform> Suspect(const std::string& digest) {
    std::lock_guard<std::mutex> lock(mu);
    const SuspectEntry* known = suspects.Find(digest);
    return known == nullptr ? std::vector<Platform>() : known->platforms;
  }

  // The work behind one flight: the request economics of the header.
  Result<ImagePlatforms> Fetch(const Reference& ref, const Keychain* extra, const std::string& fp) {
    if (ref.HasDigest()) return ResolveDigest(ref, extra, fp, 0);

    std::string tag_key = TagKey(fp, ref);
    std::optional<TagEntry> tag;
    bool fresh = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (const TagEntry* found = tags.Find(tag_key)) {
        tag = *found;
        fresh = Fresh(*found, options.clock());
      }
    }
    if (tag) {
      std::string key = DigestKey(fp, ref, tag->digest);
      if (fresh) {
        if (auto cached = CachedDigest(key)) return *cached;
        return ResolveDigest(ref.WithDigest(tag->digest), extra, fp, 0);  // platforms evicted
      }
      // Warm: one HEAD re-validates the tag; only a moved tag costs a GET.
      auto head = client.HeadManifest(ref, extra);
      if (!head.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        tags.Erase(tag_key);
        return head.error();
      }
      if (!head->digest.empty()) {
        RememberTag(tag_key, head->digest);
        return ResolveDigest(ref.WithDigest(head->digest), extra, fp, 0);
      }
      // A registry that sends no Docker-Content-Digest on HEAD: fall through to a GET.
    }

    auto fetched = client.GetManifest(ref, extra);
    if (!fetched.ok()) return fetched.error();
    auto platforms = Store(ref, *fetched, extra, fp, 0);
    if (platforms.ok()) RememberTag(tag_key, fetched->digest);
    return platforms;
  }

  // The key of a look-up: its tag entry's, or its digest entry's for a reference by digest.
  static std::string LookupKey(const std::string& fp, const Reference& ref) {
    return ref.HasDigest() ? DigestKey(fp, ref, ref.digest) : TagKey(fp, ref);
  }

  // What memory says about `key` (requires mu): platforms, a remembered failure, or nullptr.
  Result<std::shared_ptr<const ImagePlatforms>> FromMemory(const std::string& fp, const Reference& ref,
                                                           const std::string& key) {
    Clock::time_point now = options.clock();
    if (FailureEntry* failed = failures.Find(key)) {
      if (failed->until > now) return failed->error;
      failures.Erase(key);
    }
    // A digest, or a fresh tag, whose platforms are cached.
    const std::shared_ptr<const ImagePlatforms>* cached = nullptr;
    if (ref.HasDigest()) {
      cached = digests.Find(key);
    } else if (const TagEntry* tag = tags.Find(key); tag && Fresh(*tag, now)) {
      cached = digests.Find(DigestKey(fp, ref, tag->digest));
    }
    if (cached == nullptr) return std::shared_ptr<const ImagePlatforms>();
    return *cached;
  }

  Result<std::shared_ptr<const ImagePlatforms>> Cached(const Reference& ref, const Keychain* extra) {
    std::string fp = Fingerprint(ref, extra);
    std::lock_guard<std::mutex> lock(mu);
    auto known = FromMemory(fp, ref, LookupKey(fp, ref));
    if (!known.ok() || *known) Observe(true);
    return known;
  }

  Result<ImagePlatforms> Resolve(const Reference& ref, const Keychain* extra) {
    std::string fp = Fingerprint(ref, extra);
    std::string flight_key = LookupKey(fp, ref);

    std::shared_ptr<Flight> flight;
    bool leader = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto known = FromMemory(fp, ref, flight_key);
      if (!known.ok() || *known) {
        Observe(true);
        if (!known.ok()) return known.error();
        return **known;
      }
      auto it = flights.find(flight_key);
      if (it != flights.end()) {
        flight = it->second;
      } else {
        flight = std::make_shared<Flight>();
        flights.emplace(flight_key, flight);
        leader = true;
      }
    }
    Observe(false);

    if (!leader) {
      std::unique_lock<std::mutex> lock(flight->mu);
      flight->done_cv.wait(lock, [&] { return flight->done; });
      return *flight->result;
    }

    Result<ImagePlatforms> result = Fetch(ref, extra, fp);
    if (!result.ok()) {
      log::Debug("registry: resolution failed",
                 {{"reference", ref.String()}, {"error", result.error().message}});
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!result.ok()) failures.Put(flight_key, FailureEntry{result.error(), options.clock() + options.failure_ttl});
      flights.erase(flight_key);
    }
    {
      std::lock_guard<std::mutex> lock(flight->mu);
      flight->result = result;
      flight->done = true;
    }
    flight->done_cv.notify_all();
    return result;
  }
};

Resolver::Resolver(RegistryApi& client, ResolverOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(options))) {}

Resolver::~Resolver() = default;

Result<ImagePlatforms> Resolver::Resolve(const Reference& ref, const Keychain* extra) {
  return impl_->Resolve(ref, extra);
}

Result<std::shared_ptr<const ImagePlatforms>> Resolver::Cached(const Reference& ref, const Keychain* extra) {
  return impl_->Cached(ref, extra);
}

bool Resolver::MarkSuspect(const std::string& digest, const Platform& platform) {
  return impl_->MarkSuspect(digest, platform);
}

std::vector<Platform> Resolver::Suspect(const std::string& digest) { return impl_->Suspect(digest); }

}  // namespace archway::registry

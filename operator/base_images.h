// Base images a build follows (spec.build.baseImages, or followBaseImages: what each
// builder Job reports), as facts the planner compares: what a builder Job said it was
// built FROM, and what a base's tag holds now, per platform.
//
// The report. After `buildah push`, the buildah Job writes to its termination message
// (/dev/termination-log, at most 4096 bytes) the base of the image's final stage, which
// buildah records as the OCI annotations org.opencontainers.image.base.name/.digest:
//   {"baseImages":[{"name":"docker.io/library/debian:12-slim","digest":"sha256:..."}]}
//   {"baseImages":[]}                 FROM scratch
//   {"error":"why no report"}         e.g. format: docker (buildah records no annotations there)
// The digest is the platform's manifest, not the list. BuildKit has no notion of a base
// image (moby/buildkit#6202) and reports nothing.
//
// What the registry says. A base is looked at with one HEAD of its tag; when that digest
// is one the status already holds, nothing else is read (a HEAD does not count as a
// Docker Hub pull); otherwise the manifest is fetched once by digest.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "registry/platform.h"

namespace archway::op {

inline constexpr size_t kTerminationMessageLimit = 4096;  // what the kubelet keeps

struct ReportedBase {
  std::string image;   // the reference buildah pulled, as it recorded it
  std::string digest;  // the platform's manifest it was built on
};

struct BaseReport {
  std::vector<ReportedBase> bases;  // empty: FROM scratch
};

// A builder's termination message. An `error` report and anything malformed are errors
// whose message says why (they go into the BaseImageUnavailable condition).
Result<BaseReport> ParseBaseReport(std::string_view message);

// What a followed base's tag holds now.
struct ResolvedBase {
  std::string digest;  // the tag's manifest (a list, or a single image)
  bool list = false;
  // Runnable entries of the list ("linux/arm/v7" -> digest); a single image: none (it is
  // its own digest for every platform). When `digest` was already known, the entries
  // recorded with it (keyed by spec platform), nothing fetched.
  std::map<std::string, std::string> entries;
  // Digests a build reported that are not what the tag holds now, and whether the
  // repository has them (a past manifest of the tag) or not (buildah's digest of an
  // image that never was in the registry, e.g. FROM an earlier stage).
  std::map<std::string, bool> reported_exists;

  // The manifest a build for `platform` pulls: the list entry of the platform (or of an
  // older arm variant, registry::CompatiblePlatforms); "" when the list has none.
  std::string DigestFor(const registry::Platform& platform) const;
};

struct BaseFact {
  std::string image;  // as followed
  Result<ResolvedBase> resolved;
};

// What the reader is asked to look at for one base image.
struct BaseQuery {
  std::string image;
  // Tag digests the status holds, with their per-platform digests: a HEAD answering one
  // of these needs no GET.
  std::map<std::string, std::map<std::string, std::string>> known;
  std::vector<std::string> reported;  // digests builds reported (checked when they differ)

  bool operator==(const BaseQuery&) const = default;
};

// The base facts a plan was given, in query order; nullopt = not read.
using BaseFacts = std::optional<std::vector<BaseFact>>;

}  // namespace archway::op

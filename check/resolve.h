// Resolving the images of many workloads: each distinct reference once, `concurrency`
// look-ups at a time, through one registry::Resolver. Its cache and its sharing of
// concurrent look-ups of one key make that one registry request per image (two for a
// single-platform image: its manifest and config), however many workloads name it and
// however it is spelt ("nginx" and "docker.io/library/nginx:latest" are one key).
// Credentials are the resolver's client's (`archway inspect` finds them the same way).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "check/evaluate.h"
#include "registry/resolver.h"

namespace archway::check {

struct ResolveOptions {
  size_t concurrency = 8;
  // Called after each image with (done, total), never concurrently, done increasing;
  // once with (0, total) before the first look-up.
  std::function<void(size_t done, size_t total)> progress;
};

// Every image of `images` (duplicates allowed) in the table, resolved or with why not.
ImageTable ResolveImages(registry::Resolver& resolver, const std::vector<std::string>& images,
                         const ResolveOptions& options = {});

}  // namespace archway::check

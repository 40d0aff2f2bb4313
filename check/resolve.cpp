#include "check/resolve.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "registry/reference.h"
#include "webhook/image_outcome.h"

namespace archway::check {
namespace {

ImageInfo Look(registry::Resolver& resolver, const std::string& image) {
  ImageInfo info;
  info.image = image;
  auto ref = registry::ParseReference(image);
  if (!ref.ok()) {
    info.outcome = webhook::FailedOutcome(image, ref.error().message);
    return info;
  }
  auto platforms = resolver.Resolve(*ref);
  if (!platforms.ok()) {
    info.outcome = webhook::FailedOutcome(image, *ref, platforms.error());
    return info;
  }
  info.outcome = webhook::ResolvedOutcome(image, *platforms);
  if (info.outcome.state == webhook::ImageOutcome::State::kResolved) info.platforms = std::move(*platforms);
  return info;
}

}  // namespace

ImageTable ResolveImages(registry::Resolver& resolver, const std::vector<std::string>& images,
                         const ResolveOptions& options) {
  const std::set<std::string> unique_set(images.begin(), images.end());
  const std::vector<std::string> unique(unique_set.begin(), unique_set.end());
  std::vector<ImageInfo> found(unique.size());
  std::mutex mu;  // the progress callback
  size_t done = 0;
  if (options.progress) options.progress(0, unique.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < unique.size(); i = next++) {
      found[i] = Look(resolver, unique[i]);
      std::lock_guard lock(mu);
      ++done;
      if (options.progress) options.progress(done, unique.size());
    }
  };
  const size_t threads = std::min(std::max<size_t>(1, options.concurrency), unique.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& thread : pool) thread.join();
  ImageTable table;
  for (auto& info : found) table.emplace(info.image, std::move(info));
  return table;
}

}  // namespace archway::check

// The admission pipeline for one request body: parse the AdmissionReview, plan the pod,
// resolve every image concurrently on a look-up pool (the pod waits for its slowest
// image, not the sum), and answer within the time budget whatever the registries do:
// look-ups still running at the deadline are reported as unfinished and keep going in the
// background, so their results warm the resolver's cache for the next pod.
//
// Answers:
//  - not JSON / not an AdmissionReview / no uid: HTTP 400 (no valid review can be built);
//  - not a Pod CREATE (a misconfigured webhook rule): allowed, unchanged, no warning;
//  - a Pod whose fields archway reads are malformed: allowed, unchanged, with a warning
//    (never block pod creation on archway's own limits: the chart uses failurePolicy Ignore);
//  - otherwise Decide()'s decision (decision.h).
// dryRun requests have no side effects (no Event).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <string_view>

#include "registry/credentials.h"
#include "registry/resolver.h"
#include "webhook/cluster.h"
#include "webhook/decision.h"
#include "webhook/metrics.h"

namespace archway::webhook {

struct AdmissionRequest;  // review.h

// Resolves one image (as written in the pod) with optional per-pod credentials. Blocking;
// called on the look-up pool. Returns kResolved or kFailed.
using ImageLookup = std::function<ImageOutcome(const std::string& image, const registry::Keychain* keychain)>;

// ImageLookup over the registry engine's resolver (which must outlive the lookup).
ImageLookup ResolverLookup(registry::Resolver& resolver);

struct HttpAnswer {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
};

struct AdmitterOptions {
  DecisionOptions decision;
  std::chrono::milliseconds budget{2000};
  size_t lookup_threads = 8;
  // Platforms answered in the last `hot_ttl` are reused on the IO thread, so a pod whose
  // images are all known is answered without a hop through the look-up pool (the hop's
  // context switches cost more than the rest of the request). Kept short next to the
  // resolver's tag TTL: the resolver stays the source of truth for tag -> digest.
  std::chrono::milliseconds hot_ttl{10000};
  size_t hot_entries = 4096;
};

// Optional collaborators: null = that feature is off.
struct AdmitterDeps {
  const PullSecretSource* secrets = nullptr;
  const NodeInventory* nodes = nullptr;
  PodEventSink* events = nullptr;
  Metrics* metrics = nullptr;
};

class Admitter {
 public:
  Admitter(ImageLookup lookup, AdmitterOptions options, AdmitterDeps deps);
  ~Admitter();  // stops the pool; look-ups in flight are abandoned
  Admitter(const Admitter&) = delete;
  Admitter& operator=(const Admitter&) = delete;

  // Calls `done` exactly once, on some thread, within min(budget, deadline_cap) plus the
  // time to build the answer. `timer_executor` runs the budget timer (the caller's strand).
  void Admit(std::string_view body, std::chrono::milliseconds deadline_cap,
             const boost::asio::any_io_executor& timer_executor, std::function<void(HttpAnswer)> done);

  const AdmitterOptions& options() const { return options_; }

 private:
  struct Pending;
  void Finish(const std::shared_ptr<Pending>& pending);
  void RecordEvents(const AdmissionRequest& request, const Decision& decision);

  // Keyed by image + credential fingerprint, so a tenant's answer never serves another.
  std::string HotKey(const std::string& image, const registry::Keychain* keychain) const;
  std::optional<ImageOutcome> HotGet(const std::string& key);
  void HotPut(const std::string& key, const ImageOutcome& outcome);

  ImageLookup lookup_;
  AdmitterOptions options_;
  AdmitterDeps deps_;
  boost::asio::thread_pool pool_;

  struct HotEntry {
    ImageOutcome outcome;
    std::chrono::steady_clock::time_point expires;
  };
  std::shared_mutex hot_mu_;
  std::unordered_map<std::string, HotEntry> hot_;  // guarded by hot_mu_
};

}  // namespace archway::webhook

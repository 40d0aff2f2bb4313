#include "webhook/admitter.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <mutex>

#include "base/log.h"
#include "registry/reference.h"
#include "webhook/patch.h"
#include "webhook/review.h"

namespace archway::webhook {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

ImageLookup ResolverLookup(registry::Resolver& resolver) {
  return [&resolver](const std::string& image, const registry::Keychain* keychain) {
    ImageOutcome outcome;
    outcome.image = image;
    outcome.state = ImageOutcome::State::kFailed;
    auto ref = registry::ParseReference(image);
    if (!ref.ok()) {
      outcome.error = ref.error().message;
      return outcome;
    }
    auto platforms = resolver.Resolve(*ref, keychain);
    if (!platforms.ok()) {
      // Decide() names the image; drop the resolver's own "<reference>: " prefix.
      std::string_view message = platforms.error().message;
      for (const std::string& prefix : {ref->String() + ": ", image + ": "}) {
        if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
      }
      outcome.error = std::string(message);
      return outcome;
    }
    for (const auto& platform : platforms->platforms) {
      if (!registry::IsRunnable(platform)) continue;
      OsArch os_arch{platform.os, platform.architecture};
      if (std::find(outcome.platforms.begin(), outcome.platforms.end(), os_arch) == outcome.platforms.end()) {
        outcome.platforms.push_back(std::move(os_arch));
      }
    }
    outcome.data_only = platforms->data_only && outcome.platforms.empty();
    if (!outcome.data_only && outcome.platforms.empty()) {
      outcome.error = "the image declares no runnable platform";
      return outcome;
    }
    outcome.state = ImageOutcome::State::kResolved;
    return outcome;
  };
}

struct Admitter::Pending {
  explicit Pending(const boost::asio::any_io_executor& executor) : timer(executor) {}
  Clock::time_point start;
  AdmissionRequest request;
  PodPlan plan;
  std::shared_ptr<const registry::Keychain> keychain;
  std::function<void(HttpAnswer)> done;
  boost::asio::steady_timer timer;

  std::mutex mu;
  std::vector<ImageOutcome> outcomes;  // guarded by mu
  size_t remaining = 0;                // guarded by mu
  bool answered = false;               // guarded by mu
};

Admitter::Admitter(ImageLookup lookup, AdmitterOptions options, AdmitterDeps deps)
    : lookup_(std::move(lookup)),
      options_(std::move(options)),
      deps_(deps),
      pool_(std::max<size_t>(1, options_.lookup_threads)) {}

Admitter::~Admitter() {
  pool_.stop();
  pool_.join();
}

void Admitter::Admit(std::string_view body, std::chrono::milliseconds deadline_cap,
                     const boost::asio::any_io_executor& timer_executor, std::function<void(HttpAnswer)> done) {
  const auto start = Clock::now();
  auto parsed = ParseAdmissionReview(body);
  if (!parsed.ok()) {
    if (deps_.metrics) deps_.metrics->Admission(AdmissionResult::kBadRequest, SecondsSince(start));
    done(HttpAnswer{400, parsed.error().message + "\n", "text/plain"});
    return;
  }
  auto answer_now = [&](const AdmissionRequest& request, const Decision& decision, const std::string& patch) {
    if (deps_.metrics) deps_.metrics->Admission(decision.result, SecondsSince(start));
    done(HttpAnswer{200, EncodeAdmissionResponse(request, decision, patch)});
  };
  AdmissionRequest& request = *parsed;
  if (!request.IsPodCreate()) {
    answer_now(request, Decision{AdmissionResult::kIgnored}, "");
    return;
  }
  auto plan = PlanPod(request.object, request.ns, options_.decision);
  if (!plan.ok()) {
    Decision decision{AdmissionResult::kError};
    decision.warnings.push_back("archway: node affinity not set: " + plan.error().message);
    log::Warn("pod not inspected", {{"namespace", request.ns}, {"pod", request.name}, {"error", plan.error().message}});
    answer_now(request, decision, "");
    return;
  }
  const bool node_check = deps_.nodes != nullptr && deps_.nodes->HasSynced();
  const bool needs_lookups =
      plan->skip_reason.empty() && !plan->images.empty() && (plan->node_name.empty() || node_check);
  if (!needs_lookups) {
    const Decision decision = Decide(*plan, {}, ClusterFacts{}, options_.decision);
    answer_now(request, decision, WritePatch(decision.mutation, plan->layout));
    return;
  }

  std::shared_ptr<const registry::Keychain> keychain;
  if (deps_.secrets) keychain = deps_.secrets->KeychainFor(request.ns, plan->pull_secrets);
  std::vector<ImageOutcome> outcomes;
  std::vector<std::string> keys;
  std::vector<size_t> missing;
  for (const auto& image : plan->images) {
    keys.push_back(HotKey(image, keychain.get()));
    if (auto hot = HotGet(keys.back())) {
      if (deps_.metrics) deps_.metrics->CacheLookup(true);
      outcomes.push_back(std::move(*hot));
    } else {
      ImageOutcome outcome;
      outcome.image = image;
      outcomes.push_back(std::move(outcome));
      missing.push_back(outcomes.size() - 1);
    }
  }
  if (missing.empty()) {  // every image known: answer on this thread
    ClusterFacts facts;
    if (node_check) {
      facts.ready_node_platforms = deps_.nodes->ReadyPlatforms();
      if (!plan->node_name.empty()) facts.pinned_node_platform = deps_.nodes->PlatformOf(plan->node_name);
    }
    Decision decision = Decide(*plan, outcomes, facts, options_.decision);
    RecordEvents(request, decision);
    answer_now(request, decision, WritePatch(decision.mutation, plan->layout));
    return;
  }

  auto pending = std::make_shared<Pending>(timer_executor);
  pending->start = start;
  pending->request = std::move(request);
  pending->plan = std::move(*plan);
  pending->done = std::move(done);
  pending->keychain = std::move(keychain);
  pending->outcomes = std::move(outcomes);
  pending->remaining = missing.size();
  const auto deadline = std::max(std::chrono::milliseconds(1), std::min(options_.budget, deadline_cap));
  pending->timer.expires_after(deadline);
  pending->timer.async_wait([this, pending](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: every look-up finished first
    Finish(pending);
  });
  for (size_t i : missing) {
    boost::asio::post(pool_, [this, pending, i, key = keys[i]] {
      ImageOutcome outcome = lookup_(pending->plan.images[i], pending->keychain.get());
      if (outcome.state == ImageOutcome::State::kResolved) HotPut(key, outcome);
      bool last = false;
      {
        std::lock_guard lock(pending->mu);
        pending->outcomes[i] = std::move(outcome);
        last = --pending->remaining == 0 && !pending->answered;
      }
      if (last) {
        boost::asio::post(pending->timer.get_executor(), [pending] { pending->timer.cancel(); });
        Finish(pending);
      }
    });
  }
}

void Admitter::RecordEvents(const AdmissionRequest& request, const Decision& decision) {
  if (deps_.events == nullptr || request.dry_run) return;
  for (const PodEvent& event : decision.events) {
    boost::asio::post(pool_, [events = deps_.events, ns = request.ns, name = request.name, event] {
      events->Warn(ns, name, event.reason, event.note);
    });
  }
}

std::string Admitter::HotKey(const std::string& image, const registry::Keychain* keychain) const {
  if (keychain == nullptr) return image;
  auto ref = registry::ParseReference(image);
  return image + '\n' + (ref.ok() ? keychain->Fingerprint(ref->domain) : std::string());
}

std::optional<ImageOutcome> Admitter::HotGet(const std::string& key) {
  if (options_.hot_ttl.count() <= 0) return std::nullopt;
  std::shared_lock lock(hot_mu_);
  auto it = hot_.find(key);
  if (it == hot_.end() || it->second.expires < Clock::now()) return std::nullopt;
  return it->second.outcome;
}

void Admitter::HotPut(const std::string& key, const ImageOutcome& outcome) {
  if (options_.hot_ttl.count() <= 0) return;
  const auto now = Clock::now();
  std::unique_lock lock(hot_mu_);
  if (hot_.size() >= options_.hot_entries) {
    std::erase_if(hot_, [&](const auto& entry) { return entry.second.expires < now; });
    if (hot_.size() >= options_.hot_entries) hot_.clear();  // bounded; the resolver still has everything
  }
  hot_[key] = HotEntry{outcome, now + options_.hot_ttl};
}

void Admitter::Finish(const std::shared_ptr<Pending>& pending) {
  std::vector<ImageOutcome> outcomes;
  {
    std::lock_guard lock(pending->mu);
    if (pending->answered) return;
    pending->answered = true;
    outcomes = pending->outcomes;
  }
  ClusterFacts facts;
  if (deps_.nodes != nullptr && deps_.nodes->HasSynced()) {
    facts.ready_node_platforms = deps_.nodes->ReadyPlatforms();
    if (!pending->plan.node_name.empty()) facts.pinned_node_platform = deps_.nodes->PlatformOf(pending->plan.node_name);
  }
  const AdmissionRequest& request = pending->request;
  Decision decision = Decide(pending->plan, outcomes, facts, options_.decision);
  RecordEvents(request, decision);
  if (decision.result == AdmissionResult::kError || decision.result == AdmissionResult::kNoCommonPlatform ||
      decision.result == AdmissionResult::kDenied) {
    log::Info("pod admitted without platform affinity",
              {{"namespace", request.ns}, {"pod", request.name}, {"result", ResultName(decision.result)},
               {"warnings", decision.warnings.empty() ? std::string() : decision.warnings.front()}});
  }
  HttpAnswer answer{200, EncodeAdmissionResponse(request, decision, WritePatch(decision.mutation, pending->plan.layout))};
  if (deps_.metrics) deps_.metrics->Admission(decision.result, SecondsSince(pending->start));
  auto done = std::move(pending->done);
  pending->request.object = nullptr;  // look-ups may outlive the answer; the pod is no longer needed
  done(std::move(answer));
}

}  // namespace archway::webhook

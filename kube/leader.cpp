#include "kube/leader.h"

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "kube/object.h"
#include "kube/time.h"

namespace archway::kube {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

}  // namespace

struct LeaderElector::Impl {
  Client& client;
  LeaderElectionConfig config;
  mutable std::mutex mu;
  bool leader = false;
  std::string current_leader;
  // What we last saw in the Lease, and when (our clock): expiry is judged by how long
  // the record has stayed unchanged, so clock skew between candidates does not matter.
  std::string observed_rv;
  SteadyClock::time_point observed_at;
  std::mutex sleep_mu;
  std::condition_variable_any sleep_cv;
  std::jthread thread;

  Impl(Client& c, LeaderElectionConfig cfg) : client(c), config(std::move(cfg)) {}

  int64_t DurationSeconds() const {
    return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(config.lease_duration.count() / 1000.0)));
  }

  bool Sleep(std::stop_token stop, std::chrono::milliseconds d) {
    std::unique_lock lock(sleep_mu);
    return !sleep_cv.wait_for(lock, stop, d, [] { return false; }) && !stop.stop_requested();
  }

  void Observe(const Json& lease) {
    std::string rv = StringAt(lease, {"metadata", "resourceVersion"}).value_or("");
    std::string holder = StringAt(lease, {"spec", "holderIdentity"}).value_or("");
    std::string previous;
    {
      std::lock_guard lock(mu);
      if (rv != observed_rv) {
        observed_rv = rv;
        observed_at = SteadyClock::now();
      }
      previous = current_leader;
      current_leader = holder;
    }
    if (holder != previous && !holder.empty() && config.on_new_leader) config.on_new_leader(holder);
  }

  // One round of client-go's tryAcquireOrRenew. True when we hold the lease afterwards.
  bool TryAcquireOrRenew() {
    const std::string now = FormatMicroTime(SystemClock::now());
    auto got = client.Get(resources::kLeases, config.lease_namespace, config.lease_name);
    if (!got.ok()) {
      if (!IsNotFound(got.error())) {
        log::Warn("leader election: cannot read lease", {{"lease", config.lease_name}, {"error", got.error().message}});
        return false;
      }
      Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                    {"kind", "Lease"},
                    {"metadata", {{"name", config.lease_name}, {"namespace", config.lease_namespace}}},
                    {"spec",
                     {{"holderIdentity", config.identity},
                      {"leaseDurationSeconds", DurationSeconds()},
                      {"acquireTime", now},
                      {"renewTime", now},
                      {"leaseTransitions", 0}}}};
      auto created = client.Create(resources::kLeases, config.lease_namespace, lease);
      if (!created.ok()) return false;
      Observe(*created);
      return true;
    }
    Json lease = std::move(got.value());
    if (!lease.is_object()) {
      log::Warn("leader election: the lease is not an object", {{"lease", config.lease_name}});
      return false;
    }
    Observe(lease);
    const Json* stored_spec = ObjectAt(lease, {"spec"});
    Json spec = stored_spec != nullptr ? *stored_spec : Json::object();
    const std::string holder = StringAt(spec, {"holderIdentity"}).value_or("");
    bool expired;
    {
      std::lock_guard lock(mu);
      int64_t held_seconds = IntAt(spec, {"leaseDurationSeconds"}).value_or(DurationSeconds());
      expired = SteadyClock::now() > observed_at + std::chrono::seconds(held_seconds);
    }
    if (!holder.empty() && holder != config.identity && !expired) return false;
    if (holder != config.identity) {
      spec["acquireTime"] = now;
      spec["leaseTransitions"] = IntAt(spec, {"leaseTransitions"}).value_or(0) + 1;
    }
    spec["holderIdentity"] = config.identity;
    spec["leaseDurationSeconds"] = DurationSeconds();
    spec["renewTime"] = now;
    lease["spec"] = spec;
    auto updated = client.Update(resources::kLeases, config.lease_namespace, lease);
    if (!updated.ok()) {
      if (!IsConflict(updated.error()))
        log::Warn("leader election: cannot update lease", {{"lease", config.lease_name}, {"error", updated.error().message}});
      return false;
    }
    Observe(*updated);
    return true;
  }

  void Release() {
    auto got = client.Get(resources::kLeases, config.lease_namespace, config.lease_name);
    if (!got.ok()) return;
    Json lease = std::move(got.value());
    if (!lease.is_object() || ObjectAt(lease, {"spec"}) == nullptr ||
        StringAt(lease, {"spec", "holderIdentity"}).value_or("") != config.identity)
      return;
    const std::string now = FormatMicroTime(SystemClock::now());
    lease["spec"]["holderIdentity"] = "";
    lease["spec"]["leaseDurationSeconds"] = 1;
    lease["spec"]["renewTime"] = now;
    lease["spec"]["acquireTime"] = now;
    auto updated = client.Update(resources::kLeases, config.lease_namespace, lease);
    if (!updated.ok())
      log::Warn("leader election: release failed", {{"lease", config.lease_name}, {"error", updated.error().message}});
  }

  void SetLeader(bool value) {
    {
      std::lock_guard lock(mu);
      if (leader == value) return;
      leader = value;
    }
    log::Info(value ? "leader election: became leader" : "leader election: stopped leading",
              {{"lease", config.lease_namespace + "/" + config.lease_name}, {"identity", config.identity}});
    if (value && config.on_started_leading) config.on_started_leading();
    if (!value && config.on_stopped_leading) config.on_stopped_leading();
  }

  void Run(std::stop_token stop) {
    while (!stop.stop_requested()) {
      // Campaign.
      while (!TryAcquireOrRenew()) {
        if (!Sleep(stop, config.retry_period)) return;
      }
      SetLeader(true);
      // Renew until a renewal has failed for longer than renew_deadline.
      auto last_renew = SteadyClock::now();
      while (Sleep(stop, config.retry_period)) {
        if (TryAcquireOrRenew()) {
          last_renew = SteadyClock::now();
        } else if (SteadyClock::now() - last_renew > config.renew_deadline) {
          break;
        }
      }
      if (stop.stop_requested()) {
        Release();
        SetLeader(false);
        return;
      }
      SetLeader(false);
    }
  }
};

LeaderElector::LeaderElector(Client& client, LeaderElectionConfig config)
    : impl_(std::make_unique<Impl>(client, std::move(config))) {}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() {
  if (impl_->thread.joinable()) return;
  impl_->thread = std::jthread([this](std::stop_token stop) { impl_->Run(stop); });
}

void LeaderElector::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->thread.request_stop();
  impl_->thread.join();
}

bool LeaderElector::IsLeader() const {
  std::lock_guard lock(impl_->mu);
  return impl_->leader;
}

std::string LeaderElector::CurrentLeader() const {
  std::lock_guard lock(impl_->mu);
  return impl_->current_leader;
}

}  // namespace archway::kube

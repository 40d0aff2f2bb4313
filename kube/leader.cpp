#include "kube/leader.h"

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

#include "base/log.h"

namespace archway::kube {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

}  // namespace

std::string FormatMicroTime(SystemClock::time_point t) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  long fraction = static_cast<long>(micros % 1000000);
  if (fraction < 0) {
    fraction += 1000000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fraction);
  return buf;
}

std::string FormatTime(SystemClock::time_point t) {
  std::time_t seconds = SystemClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<SystemClock::time_point> ParseTime(const std::string& text) {
  auto bad = [&] { return Error(ErrorCode::kInvalidArgument, "not an RFC 3339 time: \"" + text.substr(0, 64) + "\""); };
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6 || consumed != 19)
    return bad();
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return bad();
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  size_t i = 19;
  int64_t micros = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    int digits = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (digits < 6) micros = micros * 10 + (text[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return bad();
    for (int d = digits; d < 6; ++d) micros *= 10;
  }
  int64_t offset_seconds = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i + 6 == text.size() && (text[i] == '+' || text[i] == '-') && text[i + 3] == ':') {
    int hh = 0, mm = 0;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &hh, &mm) != 2) return bad();
    offset_seconds = (hh * 3600 + mm * 60) * (text[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return bad();
  }
  if (i != text.size()) return bad();
  std::time_t seconds = timegm(&tm) - offset_seconds;
  return SystemClock::time_point(std::chrono::seconds(seconds)) + std::chrono::microseconds(micros);
}

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
    std::string rv = lease["metadata"].value("resourceVersion", "");
    std::string holder = lease.contains("spec") ? lease["spec"].value("holderIdentity", "") : "";
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
    Observe(lease);
    Json spec = lease.contains("spec") && lease["spec"].is_object() ? lease["spec"] : Json::object();
    const std::string holder = spec.value("holderIdentity", "");
    bool expired;
    {
      std::lock_guard lock(mu);
      int64_t held_seconds = spec.contains("leaseDurationSeconds") && spec["leaseDurationSeconds"].is_number_integer()
                                 ? spec["leaseDurationSeconds"].get<int64_t>() : DurationSeconds();
      expired = SteadyClock::now() > observed_at + std::chrono::seconds(held_seconds);
    }
    if (!holder.empty() && holder != config.identity && !expired) return false;
    if (holder != config.identity) {
      spec["acquireTime"] = now;
      int64_t transitions = spec.contains("leaseTransitions") && spec["leaseTransitions"].is_number_integer()
                                ? spec["leaseTransitions"].get<int64_t>() : 0;
      spec["leaseTransitions"] = transitions + 1;
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
    if (!lease.contains("spec") || lease["spec"].value("holderIdentity", "") != config.identity) return;
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

#include "webhook/lookup_slots.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <utility>

namespace archway::webhook {

LookupSlots::LookupSlots(boost::asio::any_io_executor executor, LookupSlotsOptions options)
    : executor_(std::move(executor)), options_(options) {
  options_.per_host = std::max<size_t>(1, options_.per_host);
}

bool LookupSlots::Run(const std::string& host, std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    Host& slots = hosts_[host];
    if (slots.in_flight >= options_.per_host) {
      if (slots.queue.size() >= options_.max_queued_per_host || queued_ >= options_.max_queued) return false;
      slots.queue.push_back(std::move(job));
      ++queued_;
      return true;
    }
    ++slots.in_flight;
  }
  Post(host, std::move(job));
  return true;
}

void LookupSlots::Post(const std::string& host, std::function<void()> job) {
  boost::asio::post(executor_, [this, host, job = std::move(job)] {
    // The slot is freed however the job ends.
    struct Releaser {
      LookupSlots* slots;
      const std::string& host;
      ~Releaser() { slots->Release(host); }
    } releaser{this, host};
    job();
  });
}

void LookupSlots::Release(const std::string& host) {
  std::function<void()> next;
  {
    std::lock_guard lock(mu_);
    auto it = hosts_.find(host);
    if (it == hosts_.end()) return;
    Host& slots = it->second;
    if (slots.queue.empty()) {
      if (--slots.in_flight == 0) hosts_.erase(it);
      return;
    }
    next = std::move(slots.queue.front());  // its slot is the one just freed
    slots.queue.pop_front();
    --queued_;
  }
  Post(host, std::move(next));
}

size_t LookupSlots::InFlight(const std::string& host) const {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.in_flight;
}

size_t LookupSlots::Queued(const std::string& host) const {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.queue.size();
}

}  // namespace archway::webhook

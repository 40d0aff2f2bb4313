#include "kube/workqueue.h"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace archway::kube {

using Clock = std::chrono::steady_clock;

struct WorkQueue::Impl {
  WorkQueueOptions options;
  mutable std::mutex mu;
  std::condition_variable ready_cv;     // a key became ready, or shutdown
  std::condition_variable delayed_cv;   // the earliest delayed key changed, or shutdown
  std::deque<std::string> queue;        // ready keys, in order
  std::unordered_set<std::string> dirty;       // queued (or to be re-queued after Done)
  std::unordered_set<std::string> processing;  // handed out, not Done yet
  std::multimap<Clock::time_point, std::string> delayed;
  std::unordered_map<std::string, Clock::time_point> delayed_at;  // earliest time per key
  std::unordered_map<std::string, int> failures;
  bool shutting_down = false;
  std::thread timer;

  // Requires mu.
  void AddLocked(const std::string& key) {
    if (shutting_down || dirty.count(key)) return;
    dirty.insert(key);
    if (processing.count(key)) return;  // re-queued by Done()
    queue.push_back(key);
    ready_cv.notify_one();
  }

  // Requires mu. Hands out the next ready key (none when shutting down with nothing queued).
  std::optional<std::string> PopLocked() {
    if (queue.empty()) return std::nullopt;
    std::string key = std::move(queue.front());
    queue.pop_front();
    dirty.erase(key);
    processing.insert(key);
    return key;
  }

  void TimerLoop() {
    std::unique_lock lock(mu);
    while (!shutting_down) {
      if (delayed.empty()) {
        delayed_cv.wait(lock);
        continue;
      }
      auto first = delayed.begin();
      if (first->first > Clock::now()) {
        // A copy: wait_until reads the deadline again after waking, and AddAfter may have
        // erased this entry while the lock was released (ASan: heap-use-after-free).
        const Clock::time_point due = first->first;
        delayed_cv.wait_until(lock, due);
        continue;
      }
      std::string key = first->second;
      delayed.erase(first);
      auto at = delayed_at.find(key);
      if (at != delayed_at.end()) delayed_at.erase(at);
      AddLocked(key);
    }
  }
};

WorkQueue::WorkQueue(WorkQueueOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->timer = std::thread([this] { impl_->TimerLoop(); });
}

WorkQueue::~WorkQueue() {
  ShutDown();
  if (impl_->timer.joinable()) impl_->timer.join();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard lock(impl_->mu);
  impl_->AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::milliseconds delay) {
  if (delay <= std::chrono::milliseconds::zero()) return Add(key);
  std::lock_guard lock(impl_->mu);
  if (impl_->shutting_down) return;
  auto when = Clock::now() + delay;
  auto existing = impl_->delayed_at.find(key);
  if (existing != impl_->delayed_at.end()) {
    if (existing->second <= when) return;  // already due earlier
    for (auto it = impl_->delayed.lower_bound(existing->second); it != impl_->delayed.end(); ++it) {
      if (it->second == key) {
        impl_->delayed.erase(it);
        break;
      }
    }
  }
  impl_->delayed.emplace(when, key);
  impl_->delayed_at[key] = when;
  impl_->delayed_cv.notify_one();
}

void WorkQueue::AddRateLimited(const std::string& key) {
  std::chrono::milliseconds delay;
  {
    std::lock_guard lock(impl_->mu);
    int failures = impl_->failures[key]++;
    double factor = failures >= 40 ? 1e12 : static_cast<double>(1LL << failures);
    double ms = static_cast<double>(impl_->options.base_delay.count()) * factor;
    delay = ms >= static_cast<double>(impl_->options.max_delay.count())
                ? impl_->options.max_delay
                : std::chrono::milliseconds(static_cast<int64_t>(ms));
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(impl_->mu);
  impl_->failures.erase(key);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->failures.find(key);
  return it == impl_->failures.end() ? 0 : it->second;
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock lock(impl_->mu);
  impl_->ready_cv.wait(lock, [&] { return impl_->shutting_down || !impl_->queue.empty(); });
  return impl_->PopLocked();
}

std::optional<std::string> WorkQueue::GetFor(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  if (!impl_->ready_cv.wait_for(lock, timeout, [&] { return impl_->shutting_down || !impl_->queue.empty(); }))
    return std::nullopt;
  return impl_->PopLocked();
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard lock(impl_->mu);
  impl_->processing.erase(key);
  if (impl_->dirty.count(key)) {
    impl_->queue.push_back(key);
    impl_->ready_cv.notify_one();
  }
}

void WorkQueue::ShutDown() {
  std::lock_guard lock(impl_->mu);
  impl_->shutting_down = true;
  impl_->ready_cv.notify_all();
  impl_->delayed_cv.notify_all();
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard lock(impl_->mu);
  return impl_->shutting_down;
}

size_t WorkQueue::Len() const {
  std::lock_guard lock(impl_->mu);
  return impl_->queue.size();
}

}  // namespace archway::kube

// A rate-limited work queue of string keys, as client-go's workqueue:
//  - a key added while queued is queued once;
//  - a key added while being processed is queued again only after Done(key), so one key
//    is never processed by two workers at once;
//  - AddRateLimited delays a key by a per-key exponential backoff (base * 2^failures,
//    capped) until Forget(key) resets it;
//  - AddAfter adds a key after a delay;
//  - ShutDown wakes every Get(), which then answers nullopt.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace archway::kube {

struct WorkQueueOptions {
  std::chrono::milliseconds base_delay{5};
  std::chrono::milliseconds max_delay{1000 * 1000};
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  void AddAfter(const std::string& key, std::chrono::milliseconds delay);
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;

  // Blocks until a key is available (then it is "processing") or the queue shuts down.
  std::optional<std::string> Get();
  // Like Get, but gives up after `timeout`.
  std::optional<std::string> GetFor(std::chrono::milliseconds timeout);
  // Marks the key processed; re-queues it if it was added meanwhile.
  void Done(const std::string& key);

  void ShutDown();
  bool ShuttingDown() const;
  // Keys ready to be handed out (not counting delayed ones).
  size_t Len() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::kube

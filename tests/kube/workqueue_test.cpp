#include "kube/workqueue.h"

#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>

namespace archway::kube {
namespace {

using namespace std::chrono_literals;

TEST(WorkQueueTest, DeduplicatesQueuedKeys) {
  WorkQueue q;
  q.Add("a");
  q.Add("b");
  q.Add("a");
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(q.Get(), "a");
  EXPECT_EQ(q.Get(), "b");
  EXPECT_FALSE(q.GetFor(20ms).has_value());
}

TEST(WorkQueueTest, KeyAddedWhileProcessingIsProcessedAgainAfterDone) {
  WorkQueue q;
  q.Add("a");
  auto key = q.Get();
  ASSERT_EQ(key, "a");
  q.Add("a");  // while processing: not handed out to a second worker
  q.Add("a");
  EXPECT_FALSE(q.GetFor(20ms).has_value());
  q.Done("a");
  EXPECT_EQ(q.GetFor(100ms), "a");
  q.Done("a");
  EXPECT_FALSE(q.GetFor(20ms).has_value());
}

TEST(WorkQueueTest, NoKeyIsProcessedConcurrently) {
  WorkQueue q;
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::mutex mu;
  std::set<std::string> active;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) {
        {
          std::lock_guard lock(mu);
          if (!active.insert(*key).second) overlap = true;
        }
        std::this_thread::sleep_for(1ms);
        {
          std::lock_guard lock(mu);
          active.erase(*key);
        }
        ++processed;
        q.Done(*key);
      }
    });
  }
  for (int i = 0; i < 300; ++i) q.Add("k" + std::to_string(i % 3));
  std::this_thread::sleep_for(100ms);
  q.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap);
  EXPECT_GE(processed, 3);
  EXPECT_LT(processed, 300);  // deduplicated
}

TEST(WorkQueueTest, RateLimitedBackoffGrowsAndForgetResets) {
  WorkQueue q({.base_delay = 20ms, .max_delay = 1000ms});
  auto timed = [&](const std::string& key) {
    auto t0 = std::chrono::steady_clock::now();
    q.AddRateLimited(key);
    auto got = q.GetFor(2000ms);
    EXPECT_EQ(got, key);
    q.Done(key);
    return std::chrono::steady_clock::now() - t0;
  };
  auto first = timed("x");   // 20 ms
  auto second = timed("x");  // 40 ms
  auto third = timed("x");   // 80 ms
  EXPECT_GE(first, 18ms);
  EXPECT_GE(second, 38ms);
  EXPECT_GE(third, 78ms);
  EXPECT_EQ(q.NumRequeues("x"), 3);
  q.Forget("x");
  EXPECT_EQ(q.NumRequeues("x"), 0);
  EXPECT_LT(timed("x"), 70ms);
}

TEST(WorkQueueTest, AddAfterKeepsTheEarliestAndDedupes) {
  WorkQueue q;
  q.AddAfter("a", 300ms);
  q.AddAfter("a", 30ms);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q.GetFor(1000ms), "a");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 250ms);
  q.Done("a");
  EXPECT_FALSE(q.GetFor(400ms).has_value());  // the later one was merged, not kept
}

TEST(WorkQueueTest, ShutDownWakesWaiters) {
  WorkQueue q;
  std::thread waiter([&] { EXPECT_FALSE(q.Get().has_value()); });
  std::this_thread::sleep_for(20ms);
  q.ShutDown();
  waiter.join();
  EXPECT_TRUE(q.ShuttingDown());
  q.Add("late");
  EXPECT_FALSE(q.Get().has_value());
}

}  // namespace
}  // namespace archway::kube

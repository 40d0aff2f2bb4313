// LookupSlots on a real thread pool: FIFO per host, the cap per host, other hosts never
// waiting behind a full one, slots freed as jobs finish, no job lost, the queue's bound.
#include "webhook/lookup_slots.h"

#include <gtest/gtest.h>

#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace archway::webhook {
namespace {

using std::chrono::seconds;

// Jobs that block until opened, recording the order they started in.
class Blocker {
 public:
  std::function<void()> Job(int id) {
    return [this, id] {
      std::unique_lock lock(mu_);
      started_.push_back(id);
      ++running_;
      max_running_ = std::max(max_running_, running_);
      cv_.notify_all();
      cv_.wait(lock, [&] { return opened_ > 0 || open_all_; });
      if (!open_all_) --opened_;
      --running_;
      ++finished_;
      cv_.notify_all();
    };
  }
  void OpenOne() {
    std::lock_guard lock(mu_);
    ++opened_;
    cv_.notify_all();
  }
  void OpenAll() {
    std::lock_guard lock(mu_);
    open_all_ = true;
    cv_.notify_all();
  }
  // Waits (up to 10 s) until `n` jobs have started / finished.
  bool Started(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, seconds(10), [&] { return started_.size() >= n; });
  }
  bool Finished(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, seconds(10), [&] { return finished_ >= n; });
  }
  std::vector<int> StartOrder() {
    std::lock_guard lock(mu_);
    return started_;
  }
  int MaxRunning() {
    std::lock_guard lock(mu_);
    return max_running_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> started_;
  int running_ = 0, max_running_ = 0, finished_ = 0, opened_ = 0;
  bool open_all_ = false;
};

TEST(LookupSlotsTest, RunsOneHostsJobsInOrderWithinItsCap) {
  boost::asio::thread_pool pool(8);
  LookupSlots slots(pool.get_executor(), {.per_host = 2, .max_queued_per_host = 100, .max_queued = 100});
  Blocker blocker;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(slots.Run("hung.example", blocker.Job(i)));
  ASSERT_TRUE(blocker.Started(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a third would start here
  EXPECT_EQ(blocker.StartOrder().size(), 2u);
  EXPECT_EQ(slots.InFlight("hung.example"), 2u);
  EXPECT_EQ(slots.Queued("hung.example"), 4u);
  // Each job finishing starts the next queued one, in the order they were handed over.
  for (size_t finished = 1; finished <= 4; ++finished) {
    blocker.OpenOne();
    ASSERT_TRUE(blocker.Started(2 + finished));
  }
  const std::vector<int> order = blocker.StartOrder();
  EXPECT_EQ(std::vector<int>(order.begin() + 2, order.end()), (std::vector<int>{2, 3, 4, 5}));
  blocker.OpenAll();
  ASSERT_TRUE(blocker.Finished(6));
  pool.join();
  EXPECT_EQ(blocker.MaxRunning(), 2);
  EXPECT_EQ(slots.InFlight("hung.example"), 0u);
  EXPECT_EQ(slots.Queued("hung.example"), 0u);
}

TEST(LookupSlotsTest, AFullHostDoesNotDelayAnother) {
  boost::asio::thread_pool pool(4);
  LookupSlots slots(pool.get_executor(), {.per_host = 2, .max_queued_per_host = 100, .max_queued = 100});
  Blocker hung;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(slots.Run("hung.example", hung.Job(i)));
  ASSERT_TRUE(hung.Started(2));
  std::mutex mu;
  std::condition_variable cv;
  int sound_done = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(slots.Run("sound.example", [&] {
      std::lock_guard lock(mu);
      ++sound_done;
      cv.notify_all();
    }));
  }
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, seconds(10), [&] { return sound_done == 10; }));
  }
  EXPECT_EQ(hung.StartOrder().size(), 2u);  // the hung host's jobs still wait
  EXPECT_EQ(slots.Queued("hung.example"), 18u);
  hung.OpenAll();
  ASSERT_TRUE(hung.Finished(20));
  pool.join();
}

TEST(LookupSlotsTest, LosesNoJobAcrossHostsAndFreesEverySlot) {
  boost::asio::thread_pool pool(3);
  LookupSlots slots(pool.get_executor(), {.per_host = 2, .max_queued_per_host = 1000, .max_queued = 3000});
  const std::vector<std::string> hosts = {"a.example", "b.example:5000", "127.0.0.1:1"};
  std::atomic<int> done{0};
  std::vector<std::atomic<int>> running(hosts.size());
  std::atomic<bool> over_cap{false};
  std::vector<std::thread> submitters;
  for (size_t h = 0; h < hosts.size(); ++h) {
    submitters.emplace_back([&, h] {
      for (int i = 0; i < 300; ++i) {
        EXPECT_TRUE(slots.Run(hosts[h], [&, h] {
          if (++running[h] > 2) over_cap = true;
          std::this_thread::yield();
          --running[h];
          ++done;
        }));
      }
    });
  }
  for (auto& submitter : submitters) submitter.join();
  pool.join();  // returns once no job is left, queued or posted
  EXPECT_EQ(done.load(), 900);
  EXPECT_FALSE(over_cap.load());
  for (const auto& host : hosts) {
    EXPECT_EQ(slots.InFlight(host), 0u) << host;
    EXPECT_EQ(slots.Queued(host), 0u) << host;
  }
}

TEST(LookupSlotsTest, RefusesJobsBeyondTheQueuesBound) {
  boost::asio::thread_pool pool(4);
  LookupSlots slots(pool.get_executor(), {.per_host = 1, .max_queued_per_host = 2, .max_queued = 3});
  Blocker blocker;
  std::atomic<int> refused_ran{0};
  ASSERT_TRUE(slots.Run("a.example", blocker.Job(0)));
  ASSERT_TRUE(blocker.Started(1));
  EXPECT_TRUE(slots.Run("a.example", blocker.Job(1)));
  EXPECT_TRUE(slots.Run("a.example", blocker.Job(2)));
  EXPECT_FALSE(slots.Run("a.example", [&] { ++refused_ran; }));  // a.example's queue is full
  ASSERT_TRUE(slots.Run("b.example", blocker.Job(3)));            // b.example still has its slot
  ASSERT_TRUE(blocker.Started(2));
  EXPECT_TRUE(slots.Run("b.example", blocker.Job(4)));             // the third queued in all
  EXPECT_FALSE(slots.Run("b.example", [&] { ++refused_ran; }));  // all queues together are full
  EXPECT_EQ(slots.Queued("a.example") + slots.Queued("b.example"), 3u);
  blocker.OpenAll();
  ASSERT_TRUE(blocker.Finished(5));
  // The slots are freed once the jobs have returned: the host takes jobs again.
  for (int i = 0; i < 1000 && slots.InFlight("a.example") + slots.InFlight("b.example") > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(slots.InFlight("a.example") + slots.InFlight("b.example"), 0u);
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(slots.Run("a.example", [&] { ++ran; }));
  pool.join();
  EXPECT_EQ(refused_ran.load(), 0);
  EXPECT_EQ(ran.load(), 3);
}

}  // namespace
}  // namespace archway::webhook

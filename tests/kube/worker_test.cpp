// The controller worker loop: failures and exceptions are retried with backoff, and one
// bad key never stops the loop.
#include "kube/worker.h"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

using namespace std::chrono_literals;

struct Outcomes {
  std::mutex mu;
  std::map<std::string, int> ok, failed;
  int Ok(const std::string& key) {
    std::lock_guard lock(mu);
    return ok[key];
  }
  int Failed(const std::string& key) {
    std::lock_guard lock(mu);
    return failed[key];
  }
};

TEST(WorkerTest, AThrowingReconcileIsRetriedWithBackoffAndTheLoopCarriesOn) {
  WorkQueue queue({.base_delay = 5ms, .max_delay = 40ms});
  Outcomes outcomes;
  std::atomic<int> bad_calls{0};
  std::thread worker([&] {
    RunWorker(
        queue, "test",
        [&](const std::string& key) -> Result<Requeue> {
          if (key == "ns/bad") {
            ++bad_calls;
            const nlohmann::json odd = {{"metadata", "not an object"}};
            return Requeue(odd["metadata"].value("name", 0));  // nlohmann throws type_error
          }
          if (key == "ns/flaky") return Error(ErrorCode::kUnavailable, "registry down");
          return Requeue(0);
        },
        [&](const std::string& key, const Status& outcome) {
          std::lock_guard lock(outcomes.mu);
          ++(outcome.ok() ? outcomes.ok : outcomes.failed)[key];
          if (!outcome.ok() && key == "ns/bad") {
            EXPECT_EQ(outcome.error().code, ErrorCode::kInternal);
            EXPECT_NE(outcome.error().message.find("reconcile threw"), std::string::npos);
          }
        });
  });
  queue.Add("ns/bad");
  queue.Add("ns/flaky");
  queue.Add("ns/good");
  ASSERT_TRUE(testing::WaitFor([&] { return outcomes.Failed("ns/bad") >= 3 && outcomes.Failed("ns/flaky") >= 3; }));
  EXPECT_EQ(outcomes.Ok("ns/good"), 1);
  EXPECT_GE(queue.NumRequeues("ns/bad"), 3);  // the backoff grows with each failure
  queue.Add("ns/later");                       // the same thread still serves new keys
  ASSERT_TRUE(testing::WaitFor([&] { return outcomes.Ok("ns/later") == 1; }));
  queue.ShutDown();
  worker.join();
  EXPECT_EQ(outcomes.Ok("ns/bad"), 0);
  EXPECT_EQ(bad_calls.load(), outcomes.Failed("ns/bad"));
}

TEST(WorkerTest, AFailingKeyWaitsLongerEachRetryWhileAnotherKeepsReconciling) {
  WorkQueue queue({.base_delay = 10ms, .max_delay = 1000ms});
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> bad_attempts;
  std::vector<int> good_calls_at_bad_attempt;  // how often "ns/good" had run by each failure
  int good_calls = 0;
  std::thread worker([&] {
    RunWorker(queue, "test", [&](const std::string& key) -> Result<Requeue> {
      std::lock_guard lock(mu);
      if (key == "ns/good") {
        ++good_calls;
        return Requeue(2ms);  // keeps coming back by itself
      }
      bad_attempts.push_back(std::chrono::steady_clock::now());
      good_calls_at_bad_attempt.push_back(good_calls);
      return Error(ErrorCode::kUnavailable, "registry down");
    });
  });
  queue.Add("ns/bad");
  queue.Add("ns/good");
  ASSERT_TRUE(testing::WaitFor([&] {
    std::lock_guard lock(mu);
    return bad_attempts.size() >= 5;
  }));
  queue.ShutDown();
  worker.join();
  // The n-th retry waits at least base * 2^n: the delays grow however loaded the machine.
  for (size_t n = 0; n + 1 < 5; ++n) {
    auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(bad_attempts[n + 1] - bad_attempts[n]);
    EXPECT_GE(gap, 10ms * (1 << n)) << "retry " << n + 1;
  }
  // Meanwhile the other key was reconciled between every two failures (its 2 ms requeue
  // falls due before each of the failing key's backoffs, the shortest being 10 ms).
  for (size_t n = 0; n + 1 < 5; ++n)
    EXPECT_GT(good_calls_at_bad_attempt[n + 1], good_calls_at_bad_attempt[n]) << "between failures " << n + 1 << " and " << n + 2;
}

TEST(WorkerTest, SuccessForgetsTheBackoffAndHonoursRequeueAfter) {
  WorkQueue queue({.base_delay = 5ms, .max_delay = 40ms});
  std::atomic<int> calls{0};
  std::thread worker([&] {
    RunWorker(queue, "test", [&](const std::string&) -> Result<Requeue> {
      int n = ++calls;
      if (n <= 2) return Error(ErrorCode::kUnavailable, "not yet");
      if (n == 3) return Requeue(10ms);  // comes back by itself
      return Requeue(0);
    });
  });
  queue.Add("ns/a");
  ASSERT_TRUE(testing::WaitFor([&] { return calls.load() == 4; }));
  EXPECT_EQ(queue.NumRequeues("ns/a"), 0);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.load(), 4);  // nothing more was asked for
  queue.ShutDown();
  worker.join();
}

}  // namespace
}  // namespace archway::kube

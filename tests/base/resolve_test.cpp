// base/resolve and the connect timeout: a DNS look-up that hangs (an injected look-up
// that blocks until the test releases it, so the test needs no DNS server and no
// network) costs the caller no more than its connect timeout, one hung name holds one
// thread however many callers wait for it, the number of threads is bounded, and neither
// a destructor nor process exit waits for a hung look-up.
#include "base/resolve.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "base/http.h"
#include "tests/support/http_server.h"

namespace archway::http {
namespace {

using archway::testing::HttpRecord;
using archway::testing::HttpReply;
using archway::testing::LoopbackHttpServer;
using std::chrono::milliseconds;

// Names ending in ".hung.test" block until Release(), ".missing.test" ones do not exist,
// others resolve to `address`.
class FakeDns {
 public:
  explicit FakeDns(std::string address = "127.0.0.1") : address_(std::move(address)) {
    SetLookupForTesting([this](const std::string& host, const std::string& port) -> Result<Endpoints> {
      lookups_++;
      if (host.size() > 10 && host.compare(host.size() - 10, 10, ".hung.test") == 0) {
        std::unique_lock<std::mutex> lock(mu_);
        released_cv_.wait(lock, [this] { return released_; });
        return Error(ErrorCode::kNetwork, "resolve " + host + ": released");
      }
      if (host.size() > 13 && host.compare(host.size() - 13, 13, ".missing.test") == 0) {
        return Error(ErrorCode::kNetwork, "resolve " + host + ": Host not found (authoritative)");
      }
      return Endpoints{boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(address_),
                                                      static_cast<unsigned short>(std::stoi(port)))};
    });
  }
  ~FakeDns() {
    Release();
    // The threads finish on their own; wait for them before the lambda's `this` goes away.
    for (int i = 0; i < 500 && LookupThreadsRunning() > 0; ++i) std::this_thread::sleep_for(milliseconds(10));
    SetLookupForTesting(nullptr);
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    released_cv_.notify_all();
  }
  int lookups() const { return lookups_; }

 private:
  std::string address_;
  std::mutex mu_;
  std::condition_variable released_cv_;
  bool released_ = false;
  std::atomic<int> lookups_{0};
};

Origin At(const std::string& authority) {
  auto origin = ParseOrigin(authority, false);
  EXPECT_TRUE(origin.ok()) << authority;
  return *origin;
}

TEST(HttpResolve, AHungLookUpCostsNoMoreThanTheConnectTimeout) {
  FakeDns dns;
  auto start = Clock::now();
  auto opened = Connection::Open(At("registry.hung.test:5000"), nullptr, milliseconds(300));
  auto elapsed = Clock::now() - start;
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, ErrorCode::kTimeout);
  EXPECT_EQ(opened.error().message,
            "connect to registry.hung.test:5000 timed out after 300 ms: the DNS look-up of registry.hung.test did not finish");
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, milliseconds(1500));  // returned (and destroyed what it made) without the look-up
  EXPECT_EQ(LookupThreadsRunning(), 1u);

  // Through Exchange, and for a proxy's name, the same bound holds.
  ConnectionPool pool;
  ExchangeOptions options;
  options.connect_timeout = milliseconds(200);
  options.proxy = Proxy{At("proxy.hung.test:3128"), ""};
  start = Clock::now();
  Request request;
  request.method = "GET";
  request.target = "/v2/";
  auto response = Exchange(pool, At("registry.lan:5000"), nullptr, request, options);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kTimeout);
  EXPECT_NE(response.error().message.find("connect to proxy proxy.hung.test:3128 timed out after 200 ms"), std::string::npos)
      << response.error().message;
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
}

TEST(HttpResolve, ANameThatDoesNotResolveIsAnErrorNotACrash) {
  FakeDns dns;
  for (bool tls : {false, true}) {
    auto origin = ParseOrigin("registry.missing.test", tls);
    ASSERT_TRUE(origin.ok());
    auto context = TlsContext::New(TlsOptions{});
    ASSERT_TRUE(context.ok());
    auto opened = Connection::Open(*origin, *context, milliseconds(2000));
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code, ErrorCode::kNetwork);
    EXPECT_EQ(opened.error().message, "resolve registry.missing.test: Host not found (authoritative)");
  }
}

TEST(HttpResolve, CallersOfOneHungNameShareOneThread) {
  FakeDns dns;
  std::vector<std::thread> callers;
  std::atomic<int> timed_out{0};
  for (int i = 0; i < 6; ++i) {
    callers.emplace_back([&] {
      auto got = Resolve("shared.hung.test", "443", Clock::now() + milliseconds(300));
      if (!got.ok() && got.error().code == ErrorCode::kTimeout) ++timed_out;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(timed_out, 6);
  EXPECT_EQ(dns.lookups(), 1);
  EXPECT_EQ(LookupThreadsRunning(), 1u);
  auto other = Resolve("other.hung.test", "443", Clock::now() + milliseconds(50));
  EXPECT_FALSE(other.ok());
  EXPECT_EQ(LookupThreadsRunning(), 2u);
}

TEST(HttpResolve, OutstandingLookUpsAreBoundedAndFreedOnceTheyFinish) {
  FakeDns dns;
  std::vector<std::thread> callers;
  for (size_t i = 0; i < kMaxLookupThreads; ++i) {
    callers.emplace_back([i] { (void)Resolve("n" + std::to_string(i) + ".hung.test", "443", Clock::now() + milliseconds(100)); });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(LookupThreadsRunning(), kMaxLookupThreads);
  auto start = Clock::now();
  auto refused = Resolve("one-more.hung.test", "443", Clock::now() + milliseconds(2000));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kNetwork);
  EXPECT_NE(refused.error().message.find(std::to_string(kMaxLookupThreads) + " DNS look-ups are still outstanding"),
            std::string::npos)
      << refused.error().message;
  EXPECT_LT(Clock::now() - start, milliseconds(100));  // at once, not at the deadline

  dns.Release();
  for (int i = 0; i < 500 && LookupThreadsRunning() > 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(LookupThreadsRunning(), 0u);
  auto answered = Resolve("registry.lan", "5000", Clock::now() + milliseconds(2000));
  ASSERT_TRUE(answered.ok()) << answered.error().message;
  EXPECT_EQ(answered->at(0).port(), 5000);
}

TEST(HttpResolve, ANameThatResolvesConnectsAndKeepsItsHostHeader) {
  LoopbackHttpServer server([](const HttpRecord&) { return HttpReply{}; });
  FakeDns dns("127.0.0.1");
  ConnectionPool pool;
  Request request;
  request.method = "GET";
  request.target = "/";
  const std::string authority = "named.archway.test:" + std::to_string(server.port());
  auto response = Exchange(pool, At(authority), nullptr, request, ExchangeOptions{});
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(server.Requests().at(0).Header("host"), authority);
  // IP literals never reach the look-up.
  auto literal = Resolve("::1", "80", Clock::now());
  ASSERT_TRUE(literal.ok());
  EXPECT_TRUE(literal->at(0).address().is_v6());
  EXPECT_EQ(dns.lookups(), 1);
}

TEST(HttpResolveDeathTest, ProcessExitDoesNotWaitForAHungLookUp) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto start = Clock::now();
  EXPECT_EXIT(
      {
        // Never released: the look-up thread is still blocked when the process exits.
        SetLookupForTesting([](const std::string&, const std::string&) -> Result<Endpoints> {
          std::this_thread::sleep_for(std::chrono::hours(1));
          return Error(ErrorCode::kNetwork, "unreachable");
        });
        (void)Resolve("exit.hung.test", "443", Clock::now() + milliseconds(50));
        std::exit(LookupThreadsRunning() == 1 ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(20));
}

}  // namespace
}  // namespace archway::http

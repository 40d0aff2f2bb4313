// Leader election between real candidates over the fake API server.
#include <atomic>
#include <regex>

#include <gtest/gtest.h>

#include "kube/leader.h"
#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

using testing::FakeApiTest;
using testing::WaitFor;

TEST(MicroTimeTest, TheFakeRejectsWhatTheRealApiRejects) {
  fakeapi::FakeApiServer server;
  ASSERT_TRUE(server.Start().ok());
  auto client = NewHttpClient(server.ClusterConfig(), testing::FastOptions());
  ASSERT_TRUE(client.ok());
  Json lease = testing::TestJson("requests/lease.json");
  lease["spec"]["renewTime"] = "2026-11-23T15:11:45.5Z";
  auto refused = (*client)->Create(resources::kLeases, "archway-system", lease);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message.substr(0, refused.error().message.find(" (HTTP")),
            "create leases archway-system/archway-operator: " +
                testing::TestJson("status-400-lease-microtime-format.json")["message"].get<std::string>());
}

struct Candidate {
  std::unique_ptr<Client> client;
  std::unique_ptr<LeaderElector> elector;
  std::atomic<int> started{0}, stopped{0};
};

using LeaderTest = FakeApiTest;

TEST_F(LeaderTest, ExactlyOneLeadsAndTheOtherTakesOverAfterRelease) {
  auto make = [&](const std::string& id, Candidate& c) {
    c.client = std::move(NewHttpClient(server().ClusterConfig(), testing::FastOptions()).value());
    LeaderElectionConfig config;
    config.lease_namespace = "archway-system";
    config.lease_name = "archway-operator";
    config.identity = id;
    config.lease_duration = std::chrono::seconds(2);
    config.renew_deadline = std::chrono::milliseconds(1500);
    config.retry_period = std::chrono::milliseconds(200);
    config.on_started_leading = [&c] { ++c.started; };
    config.on_stopped_leading = [&c] { ++c.stopped; };
    c.elector = std::make_unique<LeaderElector>(*c.client, config);
  };
  Candidate a, b;
  make("a", a);
  make("b", b);
  a.elector->Start();
  b.elector->Start();
  ASSERT_TRUE(WaitFor([&] { return a.elector->IsLeader() || b.elector->IsLeader(); }, std::chrono::seconds(5)));
  // Over several renew periods, never two leaders.
  for (int i = 0; i < 50; ++i) {
    EXPECT_FALSE(a.elector->IsLeader() && b.elector->IsLeader());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Candidate& leader = a.elector->IsLeader() ? a : b;
  Candidate& follower = &leader == &a ? b : a;
  auto lease = server().Peek(resources::kLeases, "archway-system", "archway-operator");
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 2);
  EXPECT_TRUE(std::regex_match((*lease)["spec"]["renewTime"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")));
  EXPECT_EQ(follower.elector->CurrentLeader(), (*lease)["spec"]["holderIdentity"]);

  auto t0 = std::chrono::steady_clock::now();
  leader.elector->Stop();  // releases: holderIdentity cleared
  EXPECT_EQ(leader.started, 1);
  EXPECT_EQ(leader.stopped, 1);
  ASSERT_TRUE(WaitFor([&] { return follower.elector->IsLeader(); }, std::chrono::seconds(3)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));  // within the lease duration
  lease = server().Peek(resources::kLeases, "archway-system", "archway-operator");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  follower.elector->Stop();
}

TEST_F(LeaderTest, TakesOverAnExpiredLeaseFromACrashedHolder) {
  // A lease held by someone who stopped renewing (crashed without releasing).
  Json lease = testing::TestJson("requests/lease.json");
  lease["spec"]["leaseDurationSeconds"] = 1;
  server().Put(resources::kLeases, lease);
  LeaderElectionConfig config;
  config.lease_namespace = "archway-system";
  config.lease_name = "archway-operator";
  config.identity = "newcomer";
  config.lease_duration = std::chrono::seconds(1);
  config.renew_deadline = std::chrono::milliseconds(800);
  config.retry_period = std::chrono::milliseconds(100);
  LeaderElector elector(client(), config);
  auto t0 = std::chrono::steady_clock::now();
  elector.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(elector.IsLeader());  // not before the holder's lease has run out
  ASSERT_TRUE(WaitFor([&] { return elector.IsLeader(); }, std::chrono::seconds(3)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ((*server().Peek(resources::kLeases, "archway-system", "archway-operator"))["spec"]["holderIdentity"], "newcomer");
  elector.Stop();
  EXPECT_EQ((*server().Peek(resources::kLeases, "archway-system", "archway-operator"))["spec"]["holderIdentity"], "");
}

TEST_F(LeaderTest, StepsDownWhenItCannotRenew) {
  std::atomic<int> stopped{0};
  LeaderElectionConfig config;
  config.lease_namespace = "ns";
  config.lease_name = "l";
  config.identity = "me";
  config.lease_duration = std::chrono::seconds(1);
  config.renew_deadline = std::chrono::milliseconds(500);
  config.retry_period = std::chrono::milliseconds(100);
  config.on_stopped_leading = [&] { ++stopped; };
  LeaderElector elector(client(), config);
  elector.Start();
  ASSERT_TRUE(WaitFor([&] { return elector.IsLeader(); }));
  server().FailNext("/apis/coordination.k8s.io", 1000000, 500);
  ASSERT_TRUE(WaitFor([&] { return !elector.IsLeader(); }, std::chrono::seconds(5)));
  EXPECT_EQ(stopped, 1);
  server().ClearFaults();
  ASSERT_TRUE(WaitFor([&] { return elector.IsLeader(); }, std::chrono::seconds(5)));  // campaigns again
  elector.Stop();
}

}  // namespace
}  // namespace archway::kube

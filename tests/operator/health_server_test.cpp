// The operator's probe server, called by an independent HTTP client (tests/support).
#include "operator/health_server.h"

#include <gtest/gtest.h>

#include <atomic>

#include "operator/metrics.h"
#include "tests/support/http_server.h"

namespace archway::op {
namespace {

using archway::testing::HttpCall;

TEST(HealthServer, HealthzAlwaysReadyzFollowsTheCallbackOthersAreNotFound) {
  std::atomic<bool> ready{false};
  HealthServer server("127.0.0.1:0", [&] { return ready.load(); });
  ASSERT_TRUE(server.Start().ok());
  ASSERT_NE(server.port(), 0);
  const std::string host = "127.0.0.1:" + std::to_string(server.port());

  auto healthz = HttpCall(host, "GET", "/healthz");
  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.body, "ok");
  auto not_ready = HttpCall(host, "GET", "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(not_ready.body, "not ready");
  ready = true;
  EXPECT_EQ(HttpCall(host, "GET", "/readyz?verbose").status, 200);
  EXPECT_EQ(HttpCall(host, "GET", "/metrics").status, 404);
  EXPECT_EQ(HttpCall(host, "POST", "/healthz", {}, "x").status, 405);

  server.Stop();
  EXPECT_ANY_THROW(HttpCall(host, "GET", "/healthz"));
}

TEST(HealthServer, ServesTheOperatorMetricsInPrometheusTextFormat) {
  Metrics metrics;
  for (int i = 0; i < 3; ++i) metrics.Reconciled(true);
  metrics.SetJobsByPhase({{kube::JobPhase::kRunning, 2}});
  HealthServer server("127.0.0.1:0", nullptr, [&] { return metrics.Exposition(); });
  ASSERT_TRUE(server.Start().ok());
  const std::string host = "127.0.0.1:" + std::to_string(server.port());
  auto scrape = HttpCall(host, "GET", "/metrics");
  EXPECT_EQ(scrape.status, 200);
  EXPECT_EQ(archway::testing::ReplyHeader(scrape, "content-type"), "text/plain; version=0.0.4");
  EXPECT_NE(scrape.body.find("# TYPE archway_reconciles_total counter"), std::string::npos) << scrape.body;
  EXPECT_NE(scrape.body.find("archway_reconciles_total{result=\"success\"} 3"), std::string::npos) << scrape.body;
  EXPECT_NE(scrape.body.find("archway_reconciles_total{result=\"error\"} 0"), std::string::npos) << scrape.body;
  EXPECT_NE(scrape.body.find("archway_builder_jobs{state=\"running\"} 2"), std::string::npos) << scrape.body;
  EXPECT_NE(scrape.body.find("archway_builder_jobs{state=\"failed\"} 0"), std::string::npos) << scrape.body;
  EXPECT_EQ(HttpCall(host, "GET", "/healthz").status, 200);
  EXPECT_EQ(HttpCall(host, "GET", "/readyz").status, 404);  // no readiness callback on this port
}

TEST(HealthServer, ABusyAddressIsAnErrorNamingIt) {
  HealthServer first("127.0.0.1:0", [] { return true; });
  ASSERT_TRUE(first.Start().ok());
  const std::string taken = "127.0.0.1:" + std::to_string(first.port());
  HealthServer second(taken, [] { return true; });
  Status started = second.Start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find(taken), std::string::npos) << started.error().message;
  HealthServer no_port("localhost", [] { return true; });
  EXPECT_FALSE(no_port.Start().ok());
}

}  // namespace
}  // namespace archway::op

// The chart's PrometheusRule and Grafana dashboard: every archway metric they query is one
// the binaries export (the expositions `archway webhook` and `archway operator` serve on
// /metrics), and every alert has a runbook line in the README.
#include <regex>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "operator/metrics.h"
#include "tests/chart/chart_support.h"
#include "webhook/metrics.h"

namespace archway::charttest {
namespace {

// The metric names an expression reads (a histogram's _bucket/_sum/_count series are its family's).
std::set<std::string> MetricsIn(const std::string& expr) {
  std::set<std::string> out;
  static const std::regex name(R"(\b(archway_[a-z0-9_]+|up)\b\s*[{\[(]?)");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), name); it != std::sregex_iterator(); ++it) {
    std::string metric = (*it)[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (metric.size() > s.size() && metric.compare(metric.size() - s.size(), s.size(), s) == 0)
        metric.resize(metric.size() - s.size());
    }
    out.insert(metric);
  }
  return out;
}

std::set<std::string> Exported() {
  std::set<std::string> out = {"up"};  // Prometheus's own, per scraped target
  // A family labelled by what it counts (a pod's namespace, a registry) has no series
  // until the first one: count one of each, as a running binary would.
  webhook::Metrics webhook_metrics;
  op::Metrics operator_metrics;
  operator_metrics.ExecFormatError("shop", "stated");
  webhook_metrics.RegistryRequest({"registry.lan", "GET", "/v2/app/manifests/1", 200, std::chrono::milliseconds(3)});
  const std::string exposition = webhook_metrics.Serialize() + operator_metrics.Exposition();
  static const std::regex type(R"(# TYPE ([a-zA-Z0-9_:]+) )");
  for (auto it = std::sregex_iterator(exposition.begin(), exposition.end(), type); it != std::sregex_iterator(); ++it)
    out.insert((*it)[1]);
  return out;
}

TEST(Monitoring, RulesAndDashboardUseOnlyExportedMetricsAndEachAlertHasARunbook) {
  SKIP_WITHOUT_CHART_RENDERER();
  const Rendered r = RenderChart({"--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true",
                                  "--api-versions", "monitoring.coreos.com/v1"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  const std::set<std::string> exported = Exported();
  ASSERT_TRUE(exported.count("archway_admission_requests_total")) << "the webhook's exposition";
  const std::string readme = ReadFile(SourceDir() / "README.md");

  const YAML::Node rule = r.Find("PrometheusRule", "archway");
  ASSERT_TRUE(rule);
  std::set<std::string> alerts, used;
  for (const auto& group : rule["spec"]["groups"]) {
    for (const auto& entry : group["rules"]) {
      const std::string alert = entry["alert"].as<std::string>();
      alerts.insert(alert);
      const std::set<std::string> metrics = MetricsIn(entry["expr"].as<std::string>());
      EXPECT_FALSE(metrics.empty()) << alert;
      used.insert(metrics.begin(), metrics.end());
      EXPECT_TRUE(entry["labels"]["severity"]) << alert;
      EXPECT_NE(readme.find("| `" + alert + "` |"), std::string::npos) << alert << ": no runbook line in the README";
    }
  }
  EXPECT_EQ(alerts, (std::set<std::string>{"ArchwayWebhookUnavailable", "ArchwayAdmissionsWithoutAffinity",
                                           "ArchwayPodsGatedTooLong", "ArchwayExecFormatErrors", "ArchwayReconcileErrors",
                                           "ArchwayBuilderJobsFailing"}));

  const YAML::Node dashboard = r.Find("ConfigMap", "archway-dashboard");
  ASSERT_TRUE(dashboard);
  EXPECT_EQ(dashboard["metadata"]["labels"]["grafana_dashboard"].as<std::string>(""), "1");
  const auto json = nlohmann::json::parse(dashboard["data"]["archway.json"].as<std::string>());
  int targets = 0;
  for (const auto& panel : json.at("panels")) {
    for (const auto& target : panel.at("targets")) {
      const std::set<std::string> metrics = MetricsIn(target.at("expr").get<std::string>());
      EXPECT_FALSE(metrics.empty()) << panel.at("title");
      used.insert(metrics.begin(), metrics.end());
      ++targets;
    }
  }
  EXPECT_GT(targets, 0);
  for (const std::string& metric : used) EXPECT_TRUE(exported.count(metric)) << metric << " is not exported";

  // Off by default; on without the Prometheus Operator's API it fails with the reason.
  const Rendered defaults = RenderChart({});
  ASSERT_TRUE(defaults.ok()) << defaults.Describe();
  EXPECT_TRUE(defaults.All("PrometheusRule").empty());
  EXPECT_FALSE(defaults.Find("ConfigMap", "archway-dashboard"));
  const Rendered no_crd = RenderChart({"--set", "prometheusRule.enabled=true"});
  EXPECT_NE(no_crd.command.exit_code, 0);
  EXPECT_NE(no_crd.command.err.find("monitoring.coreos.com/v1"), std::string::npos) << no_crd.command.err;
}

}  // namespace
}  // namespace archway::charttest

// What every real-apiserver test needs: one control plane per test binary (a gtest
// Environment, so etcd and kube-apiserver start once and tests share them in namespaces of
// their own), the chart rendered and its RBAC applied as a user's `helm install` would,
// ServiceAccount tokens, and `archway webhook` / `archway operator` run as processes with
// those tokens (never as admin).
//
//   ARCHWAY_APISERVER_SUITE(SuiteOptions{...});        // once, in one file of the binary
//   class MyTest : public ::testing::Test {
//     void SetUp() override { ARCHWAY_REQUIRE_CLUSTER(); }
//   };
//   Cluster().CreateNamespace("team-a");
//   ArchwayWebhook webhook(Cluster(), RenderedConfig(render, "archway-webhook"), {...});
//
// When the binaries or a chart renderer are missing, the environment prints
// "archway-suite-skipped: <reason>" (ctest shows the binary as skipped) and every test
// skips with that reason.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/chart/chart_support.h"
#include "tests/support/child_process.h"
#include "tests/support/envtest.h"

namespace archway::apitest {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kReleaseNamespace = "archway-system";
constexpr const char* kWebhookServiceAccount = "archway-webhook";
constexpr const char* kOperatorServiceAccount = "archway-operator";

struct SuiteOptions {
  testing::EnvtestOptions envtest;
};

class ClusterEnvironment : public ::testing::Environment {
 public:
  explicit ClusterEnvironment(SuiteOptions options) : options_(std::move(options)) {}
  // Starts the cluster, applies the CRD from crds/ (and waits until it is established)
  // and the chart's Namespace-scoped identities: ServiceAccounts, ClusterRoles, Roles and
  // their bindings from the default render. Or records why the suite cannot run.
  void SetUp() override;
  // Stops the cluster; fails when a process of it is left.
  void TearDown() override;

 private:
  void Start();
  SuiteOptions options_;
};

#define ARCHWAY_APISERVER_SUITE(options)                                 \
  static ::testing::Environment* const archway_apiserver_environment_ = \
      ::testing::AddGlobalTestEnvironment(new ::archway::apitest::ClusterEnvironment(options))

// The shared cluster; only valid when ClusterAvailable().
testing::Envtest& Cluster();
bool ClusterAvailable();
// Why the suite cannot run here (binaries or a chart renderer missing): tests skip.
const std::string& SkipReason();
// Why the cluster failed to start although everything was there: tests fail.
const std::string& StartFailure();

#define ARCHWAY_REQUIRE_CLUSTER()                                              \
  do {                                                                         \
    if (!::archway::apitest::ClusterAvailable()) {                             \
      if (!::archway::apitest::StartFailure().empty()) {                       \
        FAIL() << "the cluster did not start: " << ::archway::apitest::StartFailure(); \
      }                                                                        \
      GTEST_SKIP() << ::archway::apitest::SkipReason();                        \
    }                                                                          \
  } while (0)

// Polls `done` every 50 ms until it holds or `timeout` passes; answers the last result.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout);

// --- the chart ------------------------------------------------------------------------

// Renders charts/archway (release "archway" in archway-system) with extra arguments;
// fails the calling test (ADD_FAILURE) when the render fails.
charttest::Rendered RenderChart(const std::vector<std::string>& args = {});
// A rendered document as JSON (quoted scalars stay strings, as Helm's YAML does).
Json ToJson(const YAML::Node& node);
// The config.yaml of a rendered ConfigMap.
std::string RenderedConfig(const charttest::Rendered& rendered, const std::string& configmap);
// The rendered MutatingWebhookConfiguration `name`, pointed at `url` (instead of the
// Service) with `ca_pem` as its caBundle, as JSON ready to apply.
Json WebhookConfigurationFor(const charttest::Rendered& rendered, const std::string& name, const std::string& url,
                             const std::string& ca_pem);

// --- API helpers ----------------------------------------------------------------------

// The JSON body of an API answer (null when it is not JSON).
Json Body(const http::Response& response);
// All values of the `Warning` headers of an answer (the admission warnings kubectl prints).
std::vector<std::string> Warnings(const http::Response& response);
// Audit events of `username` (e.g. "system:serviceaccount:archway-system:archway-webhook").
std::vector<Json> AuditEventsOf(const std::string& username);
std::string ServiceAccountUser(const std::string& name);  // in kReleaseNamespace
// "verb resource/name -> code" lines for failure messages.
std::string DescribeAudit(const std::vector<Json>& events);
// A kubeconfig (in the cluster's directory) with a fresh token of ServiceAccount
// kReleaseNamespace/`service_account`.
std::string ServiceAccountKubeconfig(const std::string& service_account);

// --- archway processes ----------------------------------------------------------------

// `archway <command> --config F` as a process: the config text given (e.g. the chart's
// ConfigMap) written to a file, its ports on free loopback addresses, authenticating with
// `kubeconfig`, with no registries.yaml or Docker config (credentials come from the API
// only). Extra flags override the config. Stopped (and checked gone) on destruction.
class ArchwayServer {
 public:
  virtual ~ArchwayServer();
  testing::ChildProcess& process() { return *process_; }
  std::string Log() const { return process_->LogTail(6000); }
  // GET /metrics (plain HTTP); "" when it does not answer.
  std::string Metrics() const;
  // The sum of the samples whose line starts with `prefix` ("name" or "name{labels}").
  double MetricSum(const std::string& prefix) const;

 protected:
  // `command_flags(port)` gives the command's own flags, serving on `port` (free).
  ArchwayServer(const std::string& command, const std::string& name, const std::string& config_yaml,
                const std::string& kubeconfig, const std::vector<std::string>& flags,
                const std::function<std::vector<std::string>(int port)>& command_flags);
  int port_ = 0;  // the HTTPS port of the webhook, the health port of the operator
  int metrics_port_ = 0;

 private:
  std::unique_ptr<testing::ChildProcess> process_;
};

// `archway webhook`, HTTPS with a serving certificate signed by the cluster CA.
class ArchwayWebhook : public ArchwayServer {
 public:
  ArchwayWebhook(const std::string& name, const std::string& config_yaml, const std::string& kubeconfig,
                 const std::vector<std::string>& flags = {});
  // Waits until /readyz answers 200 (its caches synced); false after `timeout`.
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
};

// `archway operator`, with its plain-HTTP health port.
class ArchwayOperator : public ArchwayServer {
 public:
  ArchwayOperator(const std::string& name, const std::string& config_yaml, const std::string& kubeconfig,
                  const std::vector<std::string>& flags = {});
  // GET /readyz on the health port answers 200.
  bool Ready() const;
};

}  // namespace archway::apitest

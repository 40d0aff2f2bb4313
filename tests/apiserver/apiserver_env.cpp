#include "tests/apiserver/apiserver_env.h"

#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "base/encoding.h"
#include "tests/operator/openapi_validator.h"
#include "tests/support/http_server.h"
#include "tests/support/process.h"

namespace archway::apitest {
namespace {

std::unique_ptr<testing::Envtest> g_cluster;
std::string g_skip_reason;
std::string g_start_failure;

const std::string kSourceDir = ARCHWAY_SOURCE_DIR;

void MustApply(const Json& object) {
  auto applied = Cluster().Apply(object, /*dry_run=*/false);
  if (!applied.ok()) throw std::runtime_error("apply " + object.value("kind", "") + ": " + applied.error().message);
}

}  // namespace

testing::Envtest& Cluster() { return *g_cluster; }
bool ClusterAvailable() { return g_cluster != nullptr; }
const std::string& SkipReason() { return g_skip_reason; }
const std::string& StartFailure() { return g_start_failure; }

void ClusterEnvironment::SetUp() {
  try {
    Start();
  } catch (const std::exception& e) {
    g_start_failure = e.what();
    if (g_cluster) g_cluster->Stop();
    g_cluster.reset();
  }
}

void ClusterEnvironment::Start() {
  testing::EnvtestBinaries binaries = testing::FindEnvtestBinaries();
  if (!binaries.missing.empty()) {
    g_skip_reason = binaries.missing;
  } else if (std::string why = charttest::ChartRendererMissing(); !why.empty()) {
    g_skip_reason = why;
  }
  if (!g_skip_reason.empty()) {
    std::printf("archway-suite-skipped: %s\n", g_skip_reason.c_str());
    std::fflush(stdout);
    return;
  }
  const auto start = Clock::now();
  // What `helm install` creates first: the CRD (from crds/), then the release namespace
  // and the identities the two binaries run as.
  testing::EnvtestOptions envtest = options_.envtest;
  envtest.crds.push_back(optest::LoadYamlFile(kSourceDir + "/crds/archway.dev_multiarchimages.yaml"));
  g_cluster = std::make_unique<testing::Envtest>(binaries, envtest);
  std::printf("envtest: %s (binaries from %s) ready in %lld ms%s%s\n", g_cluster->url().c_str(), binaries.source.c_str(),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()),
              g_cluster->has_controller_manager() ? ", with kube-controller-manager" : "",
              binaries.kubectl.empty() ? "" : (", kubectl " + binaries.kubectl).c_str());
  Cluster().CreateNamespace(kReleaseNamespace);
  charttest::Rendered chart = RenderChart();
  for (const char* kind : {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}) {
    for (const auto& doc : chart.All(kind)) MustApply(ToJson(doc));
  }
}

void ClusterEnvironment::TearDown() {
  if (!g_cluster) return;
  const std::string left = g_cluster->Stop();
  EXPECT_EQ(left, "") << "processes of the cluster were left running";
  g_cluster.reset();
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

charttest::Rendered RenderChart(const std::vector<std::string>& args) {
  charttest::Rendered rendered = charttest::RenderChart(args, kReleaseNamespace);
  if (!rendered.ok()) ADD_FAILURE() << "rendering the chart failed: " << rendered.Describe();
  return rendered;
}

Json ToJson(const YAML::Node& node) { return optest::YamlNodeToJson(node); }

std::string RenderedConfig(const charttest::Rendered& rendered, const std::string& configmap) {
  const YAML::Node cm = rendered.Find("ConfigMap", configmap);
  if (!cm) throw std::runtime_error("the chart rendered no ConfigMap " + configmap);
  return cm["data"]["config.yaml"].as<std::string>();
}

Json WebhookConfigurationFor(const charttest::Rendered& rendered, const std::string& name, const std::string& url,
                             const std::string& ca_pem) {
  const YAML::Node doc = rendered.Find("MutatingWebhookConfiguration", name);
  if (!doc) throw std::runtime_error("the chart rendered no MutatingWebhookConfiguration " + name);
  Json config = ToJson(doc);
  for (auto& webhook : config["webhooks"]) {
    webhook["clientConfig"] = {{"url", url}, {"caBundle", Base64Encode(ca_pem)}};
  }
  return config;
}

Json Body(const http::Response& response) {
  Json body = Json::parse(response.body, nullptr, false);
  return body.is_discarded() ? Json() : body;
}

std::vector<std::string> Warnings(const http::Response& response) {
  std::vector<std::string> out;
  for (const auto& [name, value] : response.headers) {
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "warning") out.push_back(value);
  }
  return out;
}

std::string ServiceAccountUser(const std::string& name) {
  return "system:serviceaccount:" + std::string(kReleaseNamespace) + ":" + name;
}

std::vector<Json> AuditEventsOf(const std::string& username) {
  std::vector<Json> out;
  for (auto& event : Cluster().AuditEvents()) {
    if (event["user"].value("username", "") == username) out.push_back(std::move(event));
  }
  return out;
}

std::string DescribeAudit(const std::vector<Json>& events) {
  std::ostringstream out;
  for (const auto& e : events) {
    out << e.value("verb", "") << " " << e.value("requestURI", "") << " -> "
        << e["responseStatus"].value("code", 0) << "\n";
  }
  return out.str();
}

std::string ServiceAccountKubeconfig(const std::string& service_account) {
  static int serial = 0;
  const std::string token = Cluster().ServiceAccountToken(kReleaseNamespace, service_account);
  return Cluster().WriteTokenKubeconfig(
      Cluster().dir().File(service_account + "-" + std::to_string(++serial) + ".kubeconfig"), token, service_account);
}

// --- processes ------------------------------------------------------------------------

ArchwayServer::ArchwayServer(const std::string& command, const std::string& name, const std::string& config_yaml,
                             const std::string& kubeconfig, const std::vector<std::string>& flags,
                             const std::function<std::vector<std::string>(int port)>& command_flags) {
  const testing::TempDir& dir = Cluster().dir();
  const std::string config = dir.File(name + ".yaml");
  testing::WriteFile(config, config_yaml);
  port_ = testing::FreePort();
  metrics_port_ = testing::FreePort();
  std::vector<std::string> argv = {ARCHWAY_BINARY, command, "--config", config,
                                   "--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port_),
                                   "--kubeconfig", kubeconfig};
  const std::vector<std::string> own = command_flags(port_);
  argv.insert(argv.end(), own.begin(), own.end());
  argv.insert(argv.end(), flags.begin(), flags.end());
  process_ = std::make_unique<testing::ChildProcess>(argv, dir.File(name + ".log"));
}

ArchwayServer::~ArchwayServer() { process_->Stop(); }

std::string ArchwayServer::Metrics() const {
  try {
    return testing::HttpCall("127.0.0.1:" + std::to_string(metrics_port_), "GET", "/metrics").body;
  } catch (const std::exception&) {
    return "";
  }
}

double ArchwayServer::MetricSum(const std::string& prefix) const {
  std::istringstream lines(Metrics());
  std::string line;
  double sum = 0;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) != 0 || line.size() <= prefix.size()) continue;
    if (line[prefix.size()] != ' ' && line[prefix.size()] != '{') continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

ArchwayWebhook::ArchwayWebhook(const std::string& name, const std::string& config_yaml, const std::string& kubeconfig,
                               const std::vector<std::string>& flags)
    : ArchwayServer("webhook", name, config_yaml, kubeconfig, flags, [&](int port) {
        const testing::TempDir& dir = Cluster().dir();
        Cluster().IssueServingCertificate(dir.File(name + ".crt"), dir.File(name + ".key"));
        return std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port),
                                        "--tls-cert-file", dir.File(name + ".crt"),
                                        "--tls-key-file", dir.File(name + ".key"),
                                        "--registries-config-file", dir.File(name + ".no-registries.yaml"),
                                        "--docker-config", dir.File(name + ".no-docker-config.json")};
      }) {}

bool ArchwayWebhook::WaitReady(std::chrono::milliseconds timeout) {
  http::TlsOptions options;
  options.ca_file = Cluster().ca_file();
  auto tls = http::TlsContext::New(options);
  if (!tls.ok()) return false;
  http::ConnectionPool pool;
  http::Origin origin{true, "127.0.0.1", std::to_string(port_)};
  http::Request request;
  request.method = "GET";
  request.target = "/readyz";
  bool ready = false;
  WaitFor(
      [&] {
        if (!process().Running()) return true;  // exited: not ready, no point waiting
        auto r = http::Exchange(pool, origin, *tls, request, {});
        ready = r.ok() && r->status == 200;
        return ready;
      },
      timeout);
  return ready;
}

ArchwayOperator::ArchwayOperator(const std::string& name, const std::string& config_yaml, const std::string& kubeconfig,
                                 const std::vector<std::string>& flags)
    : ArchwayServer("operator", name, config_yaml, kubeconfig, flags, [&](int port) {
        const testing::TempDir& dir = Cluster().dir();
        return std::vector<std::string>{"--health-listen", "127.0.0.1:" + std::to_string(port),
                                        "--registries.configFile", dir.File(name + ".no-registries.yaml"),
                                        "--registries.dockerConfig", dir.File(name + ".no-docker-config.json")};
      }) {}

bool ArchwayOperator::Ready() const {
  try {
    return testing::HttpCall("127.0.0.1:" + std::to_string(port_), "GET", "/readyz").status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace archway::apitest

#include "tests/operator/operator_env.h"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "base/encoding.h"
#include "registry/platform.h"
#include "tests/operator/openapi_validator.h"
#include "tests/support/fixtures.h"

namespace archway::optest {

OperatorInstance::OperatorInstance(const kube::ClusterConfig& cluster, op::OperatorConfig config) {
  kube::ClientOptions kube_options;
  kube_options.qps = 2000;  // 200 resources converge quickly; the fake is local
  kube_options.burst = 2000;
  auto kube = kube::NewHttpClient(cluster, kube_options);
  if (!kube.ok()) throw std::runtime_error(kube.error().message);
  kube_ = std::move(*kube);
  registry_ = std::make_unique<registry::Client>(registry::ClientOptions{});
  resolver_ = std::make_unique<registry::Resolver>(*registry_, registry::ResolverOptions{});
  events_ = std::make_unique<kube::EventRecorder>(*kube_, kube::EventSource{"archway.dev/operator", "test"});
  metrics_ = std::make_unique<op::Metrics>();
  op::ControllerOptions options;
  options.workers = 4;
  options.min_backoff = std::chrono::milliseconds(50);
  options.max_backoff = std::chrono::seconds(2);
  controller_ = std::make_unique<op::Controller>(*kube_, *registry_, *resolver_, events_.get(), metrics_.get(),
                                                 std::move(config), options);
}

OperatorInstance::~OperatorInstance() { Stop(); }
void OperatorInstance::Start() { controller_->Start(); }
void OperatorInstance::Stop() { controller_->Stop(); }

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

std::string PushTinyImage(testing::RegistryServer& registry, const std::string& repository, const std::string& tag,
                          const std::string& os, const std::string& arch, const std::string& salt) {
  return testing::PushPlatformImage(registry, repository, tag, os + "/" + arch, salt);
}

op::OperatorConfig LocalBuilderImages(testing::RegistryServer& registry, op::OperatorConfig config) {
  testing::PushPlatformIndex(registry, "builders/buildah", "v1", {"linux/amd64", "linux/arm64"});
  testing::PushPlatformIndex(registry, "builders/buildkit", "v1", {"linux/amd64", "linux/arm64"});
  testing::PushPlatformIndex(registry, "builders/git", "v1", {"linux/amd64", "linux/arm64"});
  config.buildah_image = registry.host() + "/builders/buildah:v1";
  config.buildkit_image = registry.host() + "/builders/buildkit:v1";
  config.git_image = registry.host() + "/builders/git:v1";
  return config;
}

Json LoadTestdata(const std::string& name) {
  return LoadJsonFile(std::string(ARCHWAY_SOURCE_DIR) + "/tests/operator/testdata/" + name);
}

Json SampleNode(const std::string& name) {
  const Json list = LoadTestdata("nodes-list.json");
  for (const auto& node : list["items"]) {
    if (node["metadata"]["name"] == name) {
      Json clean = node;
      for (const char* field : {"uid", "resourceVersion", "creationTimestamp", "managedFields"})
        clean["metadata"].erase(field);
      return clean;
    }
  }
  throw std::runtime_error("no node " + name + " in nodes-list.json");
}

Json MultiArchImageObject(const std::string& ns, const std::string& name, const Json& spec) {
  return Json{{"apiVersion", "archway.dev/v1alpha1"},
              {"kind", "MultiArchImage"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", spec}};
}

std::vector<std::string> EventLines(fakeapi::FakeApiServer& api, const std::string& ns) {
  std::vector<std::pair<int64_t, std::string>> lines;
  for (const auto& e : api.Objects(kube::resources::kEvents, ns)) {
    lines.emplace_back(std::stoll(e["metadata"].value("resourceVersion", "0")),
                       e.value("type", "") + " " + e.value("reason", "") + ": " + e.value("note", ""));
  }
  for (const auto& e : api.Objects(kube::resources::kCoreEvents, ns)) {
    lines.emplace_back(std::stoll(e["metadata"].value("resourceVersion", "0")),
                       e.value("type", "") + " " + e.value("reason", "") + ": " + e.value("message", ""));
  }
  std::sort(lines.begin(), lines.end());
  std::vector<std::string> out;
  for (auto& [rv, line] : lines) out.push_back(std::move(line));
  return out;
}

Json SucceededBuildPod(const Json& job, const std::string& termination_message, const std::string& node) {
  Json pod = LoadTestdata("pod-build-succeeded.json");
  const std::string job_name = job["metadata"]["name"];
  pod["metadata"] = {{"name", job_name + "-x7k2p"},
                     {"namespace", job["metadata"]["namespace"]},
                     {"labels", job["spec"]["template"]["metadata"]["labels"]}};
  pod["metadata"]["labels"]["job-name"] = job_name;
  pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] = job_name;
  pod["spec"]["nodeName"] = node;
  pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"] = termination_message;
  return pod;
}

}  // namespace archway::optest

#include "tests/operator/operator_env.h"

#include <stdexcept>
#include <thread>

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
  std::string config = Json{{"architecture", arch}, {"os", os}, {"rootfs", {{"type", "layers"}, {"diff_ids", Json::array()}}},
                            {"config", {{"Labels", {{"salt", salt}}}}}}
                           .dump();
  std::string layer = "layer of " + repository + " " + os + "/" + arch + " " + salt;
  std::string config_digest = testing::PushBlob(registry, repository, config);
  std::string layer_digest = testing::PushBlob(registry, repository, layer);
  Json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                     {"digest", config_digest},
                     {"size", config.size()}}},
                   {"layers", Json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                                            {"digest", layer_digest},
                                            {"size", layer.size()}}})}};
  return testing::PushRaw(registry, repository, tag, "application/vnd.oci.image.manifest.v1+json", manifest.dump());
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

}  // namespace archway::optest

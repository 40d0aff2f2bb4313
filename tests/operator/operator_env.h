// Test environment for the operator: the fake API server, a real docker-registry, and an
// operator (Controller) wired to both exactly as `archway operator` wires them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "kube/client.h"
#include "kube/events.h"
#include "operator/config.h"
#include "operator/controller.h"
#include "operator/metrics.h"
#include "registry/client.h"
#include "registry/resolver.h"
#include "tests/fakeapi/fake_api_server.h"
#include "tests/support/registry_server.h"

namespace archway::optest {

using Json = nlohmann::json;

// One running operator process, minus the process.
class OperatorInstance {
 public:
  OperatorInstance(const kube::ClusterConfig& cluster, op::OperatorConfig config);
  ~OperatorInstance();
  void Start();
  void Stop();  // the "kill": workers and informers stop; nothing is cleaned up
  op::Controller& controller() { return *controller_; }
  op::Metrics& metrics() { return *metrics_; }
  kube::Client& kube() { return *kube_; }

 private:
  std::unique_ptr<kube::Client> kube_;
  std::unique_ptr<registry::Client> registry_;
  std::unique_ptr<registry::Resolver> resolver_;
  std::unique_ptr<kube::EventRecorder> events_;
  std::unique_ptr<op::Metrics> metrics_;
  std::unique_ptr<op::Controller> controller_;
};

// Polls `done` every 20 ms until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout);

// A hand-written single-platform OCI image (config + one layer) pushed over the HTTP API;
// `salt` makes distinct images of one platform. Returns the manifest digest.
std::string PushTinyImage(testing::RegistryServer& registry, const std::string& repository, const std::string& tag,
                          const std::string& os, const std::string& arch, const std::string& salt = "");

// An operator config whose builder images are tiny lists (linux/amd64, linux/arm64) in
// `registry`, so the operator's check of their platforms reads this registry only.
op::OperatorConfig LocalBuilderImages(testing::RegistryServer& registry, op::OperatorConfig config = {});

// The Nodes of tests/operator/testdata/nodes-list.json ("pi-01" arm64, "amd-01" amd64).
Json SampleNode(const std::string& name);
Json LoadTestdata(const std::string& name);

// A MultiArchImage object.
Json MultiArchImageObject(const std::string& ns, const std::string& name, const Json& spec);

// The Events of `ns` (events.k8s.io and core), oldest first, as "Type Reason: note".
std::vector<std::string> EventLines(fakeapi::FakeApiServer& api, const std::string& ns);

// A Job's pod as the kubelet leaves it when the `build` container exited 0 after writing
// `termination_message` (shape: testdata/pod-build-succeeded.json).
Json SucceededBuildPod(const Json& job, const std::string& termination_message, const std::string& node = "amd-01");

}  // namespace archway::optest

// The gate controller (webhook/gate_controller.h) in-process, against the fake API server
// (which enforces the real API's rules for gated pods: a release it refuses fails here)
// and a real docker-registry behind a delaying relay; one that never answers stands in
// for a registry that hangs.
#include "webhook/gate_controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kube/client.h"
#include "kube/object.h"
#include "registry/client.h"
#include "registry/resolver.h"
#include "tests/fakeapi/fake_api_server.h"
#include "tests/support/fixtures.h"
#include "tests/support/registry_server.h"
#include "tests/support/tcp_relay.h"
#include "webhook/gates.h"
#include "webhook/kube_cluster.h"
#include "webhook/metrics.h"
#include "webhook/namespace_preferences.h"

namespace archway::webhook {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
namespace r = kube::resources;

bool WaitFor(const std::function<bool()>& done, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return done();
}

// Counts the pod updates one replica sends (to tell which replica wrote).
class CountingClient : public kube::Client {
 public:
  explicit CountingClient(std::unique_ptr<kube::Client> inner) : inner_(std::move(inner)) {}
  Result<Json> Get(const kube::ResourceRef& ref, const std::string& ns, const std::string& name) override {
    return inner_->Get(ref, ns, name);
  }
  Result<kube::ListResult> List(const kube::ResourceRef& ref, const std::string& ns,
                                const kube::ListOptions& options) override {
    return inner_->List(ref, ns, options);
  }
  Result<Json> Create(const kube::ResourceRef& ref, const std::string& ns, const Json& object) override {
    return inner_->Create(ref, ns, object);
  }
  Result<Json> Update(const kube::ResourceRef& ref, const std::string& ns, const Json& object) override {
    if (ref.resource == "pods") ++pod_updates;
    auto result = inner_->Update(ref, ns, object);
    if (!result.ok() && result.error().code == ErrorCode::kInvalidArgument) {
      refused_updates.push_back(result.error().message);
    }
    return result;
  }
  Result<Json> UpdateStatus(const kube::ResourceRef& ref, const std::string& ns, const Json& object) override {
    return inner_->UpdateStatus(ref, ns, object);
  }
  Result<Json> Patch(const kube::ResourceRef& ref, const std::string& ns, const std::string& name,
                     kube::PatchType type, const Json& patch, const std::string& subresource) override {
    return inner_->Patch(ref, ns, name, type, patch, subresource);
  }
  Result<Json> Delete(const kube::ResourceRef& ref, const std::string& ns, const std::string& name,
                      const kube::DeleteOptions& options) override {
    return inner_->Delete(ref, ns, name, options);
  }
  Result<Json> GetPath(const std::string& path) override { return inner_->GetPath(path); }
  Status Watch(const kube::ResourceRef& ref, const std::string& ns, const kube::WatchOptions& options,
               const kube::WatchHandler& handler, std::stop_token stop) override {
    return inner_->Watch(ref, ns, options, handler, stop);
  }
  std::atomic<int> pod_updates{0};
  std::vector<std::string> refused_updates;  // 422s: the controller broke the API's rules

 private:
  std::unique_ptr<kube::Client> inner_;
};

// One webhook replica's gate controller: its own API client, resolver and metrics.
struct Replica {
  Replica(fakeapi::FakeApiServer& api, const std::string& identity, GateControllerOptions options,
          milliseconds registry_timeout = milliseconds(3000)) {
    kube::ClientOptions client_options;
    client_options.qps = 0;
    client_options.max_retries = 0;
    client = std::make_unique<CountingClient>(kube::NewHttpClient(api.ClusterConfig(), client_options).value());
    registry::ClientOptions registry_options;
    registry_options.proxy = http::ProxyConfig{};
    registry_options.connect_timeout = registry_timeout;
    registry_options.request_timeout = registry_timeout;
    registry_client = std::make_unique<registry::Client>(std::move(registry_options));
    resolver = std::make_unique<registry::Resolver>(*registry_client, registry::ResolverOptions{});
    cluster = std::make_unique<KubeCluster>(*client, SecretRef{}, identity);
    cluster->Start();
    options.identity = identity;
    controller = std::make_unique<GateController>(
        *client, *resolver, options,
        GateControllerDeps{
            .secrets = cluster.get(), .nodes = cluster.get(), .namespaces = cluster.get(), .metrics = &metrics});
  }
  ~Replica() {
    controller.reset();
    cluster->Stop();
  }
  Metrics metrics;
  std::unique_ptr<CountingClient> client;
  std::unique_ptr<registry::Client> registry_client;
  std::unique_ptr<registry::Resolver> resolver;
  std::unique_ptr<KubeCluster> cluster;
  std::unique_ptr<GateController> controller;
};

double Sample(const Metrics& metrics, const std::string& line_prefix) {
  const std::string text = metrics.Serialize();
  double sum = 0;
  size_t at = 0;
  while ((at = text.find(line_prefix, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      const size_t space = text.find(' ', at + line_prefix.size());
      const size_t end = text.find('\n', space);
      sum += std::stod(text.substr(space + 1, end - space - 1));
    }
    at += line_prefix.size();
  }
  return sum;
}

class GateControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    admin_ = kube::NewHttpClient(api_.ClusterConfig()).value();
    testing::PushPlatformIndex(registry_, "gates/multi", "1", {"linux/amd64", "linux/arm64"});
    testing::PushPlatformImage(registry_, "gates/amd64", "1", "linux/amd64");
    testing::PushPlatformImage(registry_, "gates/arm64", "1", "linux/arm64");
    relay_.SetResponseDelay(milliseconds(300));
  }

  GateControllerOptions Options(milliseconds gate_timeout = std::chrono::seconds(30)) {
    GateControllerOptions options;
    options.gate_timeout = gate_timeout;
    options.lease_duration = milliseconds(1500);
    options.retry_transient = milliseconds(300);
    return options;
  }

  // A pod as admission gates it (gate appended to the user's, the label set).
  Json GatedPod(const std::string& name, const std::vector<std::string>& images, Json spec = Json::object(),
                Json user_gates = Json::array()) {
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"labels", {{kGatedLabel, "true"}}}}},
                {"spec", spec}};
    for (size_t i = 0; i < images.size(); ++i) {
      pod["spec"]["containers"].push_back({{"name", "c" + std::to_string(i)}, {"image", images[i]}});
    }
    user_gates.push_back({{"name", kGateName}});
    pod["spec"]["schedulingGates"] = user_gates;
    return pod;
  }

  Json Create(const Json& pod) {
    auto created = admin_->Create(r::kPods, "team", pod);
    EXPECT_TRUE(created.ok()) << created.error().message;
    return created.ok() ? *created : Json();
  }

  Json Stored(const std::string& name) { return api_.Peek(r::kPods, "team", name).value_or(Json()); }

  bool Released(const std::string& name) {
    const Json pod = Stored(name);
    return pod.is_object() && !CarriesGate(pod) && kube::LabelOf(pod, kGatedLabel).empty();
  }

  std::vector<Json> EventsAbout(const std::string& pod, const std::string& reason) {
    std::vector<Json> found;
    for (const auto& e : api_.Objects(r::kEvents, "team")) {
      if (e["regarding"].value("name", "") == pod && e.value("reason", "") == reason) found.push_back(e);
    }
    return found;
  }

  static Json Terms(const Json& pod) {
    const auto pointer =
        "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer;
    return pod.contains(pointer) ? pod.at(pointer) : Json();
  }
  static std::string Annotation(const Json& pod, const std::string& key) {
    return pod["metadata"].value("annotations", Json::object()).value(key, "<none>");
  }

  std::string Slow(const std::string& repo) { return relay_.host() + "/" + repo; }

  fakeapi::FakeApiServer api_;
  std::unique_ptr<kube::Client> admin_;
  testing::RegistryServer registry_;
  testing::TcpRelay relay_{registry_.host()};
};

TEST_F(GateControllerTest, AGatedPodGetsItsImagesAffinityAndLosesTheGateInOneUpdate) {
  Replica replica(api_, "a", Options());
  Json spec = {{"affinity", Json::parse(R"({"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":
      {"nodeSelectorTerms":[{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}]}}})")}};
  Create(GatedPod("web", {Slow("gates/multi:1")}, spec, Json::parse(R"([{"name":"example.com/quota"}])")));
  replica.controller->Start();
  ASSERT_TRUE(WaitFor([&] { return Released("web"); }, std::chrono::seconds(20))) << Stored("web").dump();
  const Json pod = Stored("web");
  EXPECT_EQ(Terms(pod), Json::parse(R"([{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]},
      {"key":"kubernetes.io/os","operator":"In","values":["linux"]},
      {"key":"kubernetes.io/arch","operator":"In","values":["amd64","arm64"]}]}])"));
  EXPECT_EQ(pod["spec"]["schedulingGates"], Json::parse(R"([{"name":"example.com/quota"}])")) << "the user's gate stays";
  EXPECT_EQ(Annotation(pod, kPlatformsAnnotation), "linux/amd64,linux/arm64");
  EXPECT_EQ(replica.client->pod_updates, 1) << "one update";
  EXPECT_TRUE(replica.client->refused_updates.empty());
  EXPECT_EQ(Sample(replica.metrics, "archway_gate_outcomes_total{result=\"placed\"}"), 1);
  EXPECT_EQ(Sample(replica.metrics, "archway_gate_wait_seconds_count"), 1);
  EXPECT_TRUE(WaitFor([&] { return Sample(replica.metrics, "archway_gated_pods") == 0; }, std::chrono::seconds(5)));
}

// A released pod gets its namespace's preferred platforms (archway.dev/preferred-platforms
// on the Namespace), as admission would have given it, not the config's.
TEST_F(GateControllerTest, AReleasedPodGetsItsNamespacesPreferredPlatforms) {
  api_.Put(r::kNamespaces, Json{{"apiVersion", "v1"},
                                {"kind", "Namespace"},
                                {"metadata",
                                 {{"name", "team"},
                                  {"annotations", {{kPreferredPlatformsAnnotation, "linux/arm64=50,linux/amd64=10"}}}}}});
  GateControllerOptions options = Options();
  options.decision.preferred_platforms = {{"linux", "amd64", 80}};
  Replica replica(api_, "a", options);
  ASSERT_TRUE(replica.cluster->WaitForSync(milliseconds(10000)));
  Create(GatedPod("steered", {Slow("gates/multi:1")}));
  replica.controller->Start();
  ASSERT_TRUE(WaitFor([&] { return Released("steered"); }, std::chrono::seconds(20))) << Stored("steered").dump();
  const auto preferred = "/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution"_json_pointer;
  const Json pod = Stored("steered");
  ASSERT_TRUE(pod.contains(preferred)) << pod["spec"].dump();
  EXPECT_EQ(pod.at(preferred), Json::parse(R"([
      {"weight":50,"preference":{"matchExpressions":[{"key":"kubernetes.io/os","operator":"In","values":["linux"]},
                                                     {"key":"kubernetes.io/arch","operator":"In","values":["arm64"]}]}},
      {"weight":10,"preference":{"matchExpressions":[{"key":"kubernetes.io/os","operator":"In","values":["linux"]},
                                                     {"key":"kubernetes.io/arch","operator":"In","values":["amd64"]}]}}])"));
  EXPECT_TRUE(replica.client->refused_updates.empty());
}

TEST_F(GateControllerTest, ARegistryThatNeverAnswersReleasesThePodAfterGateTimeout) {
  testing::TcpRelay hanging(registry_.host());
  hanging.SetResponseDelay(std::chrono::seconds(60));
  Replica replica(api_, "a", Options(std::chrono::seconds(2)), std::chrono::seconds(3));
  Create(GatedPod("stuck", {hanging.host() + "/gates/amd64:1"}));
  replica.controller->Start();
  EXPECT_TRUE(WaitFor([&] { return Sample(replica.metrics, "archway_gated_pods") == 1; }, std::chrono::seconds(5)));
  const auto start = Clock::now();
  ASSERT_TRUE(WaitFor([&] { return Released("stuck"); }, std::chrono::seconds(10))) << Stored("stuck").dump();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(4)) << "released at gateTimeout (from creationTimestamp)";
  const Json pod = Stored("stuck");
  EXPECT_EQ(Terms(pod), Json());
  EXPECT_NE(Annotation(pod, kSkippedReasonAnnotation).find("did not finish within gateTimeout (2s)"), std::string::npos)
      << pod.dump();
  EXPECT_TRUE(WaitFor([&] { return EventsAbout("stuck", kNoPlatformAffinityReason).size() == 1; },
                      std::chrono::seconds(5)));
  EXPECT_EQ(Sample(replica.metrics, "archway_gate_outcomes_total{result=\"timed_out\"}"), 1);
}

TEST_F(GateControllerTest, AHungRegistryLeavesLookUpThreadsForAnother) {
  testing::TcpRelay hanging(registry_.host());
  hanging.SetResponseDelay(std::chrono::seconds(60));
  const GateControllerOptions options = Options();
  ASSERT_EQ(options.lookup_threads, 4u);
  Replica replica(api_, "a", options, std::chrono::seconds(8));
  // More pods at the hung registry than the controller has look-up threads.
  for (int i = 0; i < 6; ++i) {
    Create(GatedPod("stuck-" + std::to_string(i), {hanging.host() + "/gates/amd64:" + std::to_string(i)}));
  }
  replica.controller->Start();
  ASSERT_TRUE(WaitFor([&] { return Sample(replica.metrics, "archway_gated_pods") == 6; }, std::chrono::seconds(5)));
  std::this_thread::sleep_for(milliseconds(300));  // their look-ups have taken what threads they can
  const auto start = Clock::now();
  Create(GatedPod("sound", {registry_.host() + "/gates/amd64:1"}));
  ASSERT_TRUE(WaitFor([&] { return Released("sound"); }, std::chrono::seconds(20))) << Stored("sound").dump();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(4)) << "not after the hung look-ups' 8 s timeout";
  EXPECT_EQ(Annotation(Stored("sound"), kPlatformsAnnotation), "linux/amd64");
  EXPECT_FALSE(Released("stuck-0"));
}

TEST_F(GateControllerTest, OnlyTheLeaseHolderWritesAndATakeOverFinishesTheWork) {
  Replica a(api_, "replica-a", Options());
  Replica b(api_, "replica-b", Options());
  a.controller->Start();
  ASSERT_TRUE(WaitFor([&] { return a.controller->Synced(); }, std::chrono::seconds(5)));
  b.controller->Start();
  Create(GatedPod("first", {Slow("gates/amd64:1")}));
  ASSERT_TRUE(WaitFor([&] { return Released("first"); }, std::chrono::seconds(20)));
  EXPECT_EQ(a.client->pod_updates, 1);
  EXPECT_EQ(b.client->pod_updates, 0) << "the replica without the Lease only waits";
  EXPECT_FALSE(b.controller->Leading());

  // A pod whose look-up is under way when the holder goes: the standby finishes it.
  relay_.SetResponseDelay(milliseconds(1500));
  Create(GatedPod("second", {Slow("gates/arm64:1")}));
  EXPECT_TRUE(WaitFor([&] { return Sample(a.metrics, "archway_gated_pods") == 1; }, std::chrono::seconds(5)));
  a.controller->Stop();  // as on SIGTERM: the Lease is released
  ASSERT_TRUE(WaitFor([&] { return Released("second"); }, std::chrono::seconds(20))) << Stored("second").dump();
  EXPECT_TRUE(b.controller->Leading());
  EXPECT_EQ(a.client->pod_updates, 1);
  EXPECT_EQ(b.client->pod_updates, 1);
  EXPECT_EQ(Terms(Stored("second")), Json::parse(R"([{"matchExpressions":[
      {"key":"kubernetes.io/os","operator":"In","values":["linux"]},
      {"key":"kubernetes.io/arch","operator":"In","values":["arm64"]}]}])"));
}

TEST_F(GateControllerTest, APodDeletedWhileGatedLeavesNothingBehind) {
  relay_.SetResponseDelay(milliseconds(1500));
  Replica replica(api_, "a", Options());
  replica.controller->Start();
  Create(GatedPod("gone", {Slow("gates/amd64:1")}));
  ASSERT_TRUE(WaitFor([&] { return Sample(replica.metrics, "archway_gated_pods") == 1; }, std::chrono::seconds(5)));
  ASSERT_TRUE(admin_->Delete(r::kPods, "team", "gone").ok());
  EXPECT_TRUE(WaitFor([&] { return Sample(replica.metrics, "archway_gated_pods") == 0; }, std::chrono::seconds(5)));
  std::this_thread::sleep_for(milliseconds(2000));  // the look-up ends meanwhile
  EXPECT_FALSE(api_.Peek(r::kPods, "team", "gone"));
  EXPECT_EQ(replica.client->pod_updates, 0);
  EXPECT_TRUE(api_.Objects(r::kEvents, "team").empty());
}

TEST_F(GateControllerTest, BadInputReleasesEveryPodWithoutACrash) {
  Replica replica(api_, "a", Options());
  // An image made unparsable while gated (images may change on a pod), 50 gates of the
  // user's, a gate removed by someone else, and a pod archway.dev/skip-ped meanwhile.
  Create(GatedPod("unparsable", {"registry.lan/Bad Image"}));
  Json fifty = Json::array();
  for (int i = 0; i < 50; ++i) fifty.push_back({{"name", "example.com/g" + std::to_string(i)}});
  Create(GatedPod("fifty", {registry_.host() + "/gates/amd64:1"}, Json::object(), fifty));
  Create(GatedPod("released-by-hand", {registry_.host() + "/gates/amd64:1"}));
  Json by_hand = Stored("released-by-hand");
  by_hand["spec"].erase("schedulingGates");
  ASSERT_TRUE(admin_->Update(r::kPods, "team", by_hand).ok());
  Json skipped = GatedPod("skipped", {registry_.host() + "/gates/amd64:1"});
  skipped["metadata"]["annotations"] = {{kSkipAnnotation, "true"}};
  Create(skipped);
  replica.controller->Start();
  for (const char* name : {"unparsable", "fifty", "released-by-hand", "skipped"}) {
    EXPECT_TRUE(WaitFor([&] { return Released(name); }, std::chrono::seconds(20))) << Stored(name).dump();
  }
  EXPECT_NE(Annotation(Stored("unparsable"), kSkippedReasonAnnotation).find("could not inspect"), std::string::npos);
  EXPECT_EQ(Stored("fifty")["spec"]["schedulingGates"], fifty);
  EXPECT_FALSE(Terms(Stored("fifty")).is_null());
  EXPECT_EQ(Terms(Stored("released-by-hand")), Json()) << "a pod released by someone else keeps its scheduling";
  EXPECT_EQ(Annotation(Stored("skipped"), kSkippedReasonAnnotation), "opted out with the annotation archway.dev/skip");
  EXPECT_TRUE(replica.client->refused_updates.empty()) << replica.client->refused_updates.front();
}

TEST_F(GateControllerTest, AnUpdateConflictStormEndsWithThePodReleased) {
  Replica replica(api_, "a", Options());
  Create(GatedPod("busy", {registry_.host() + "/gates/amd64:1"}));
  // Another writer changes the pod every few milliseconds, and the API answers the
  // controller's next updates with 409 Conflict on top.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      (void)admin_->Patch(r::kPods, "team", "busy", kube::PatchType::kMerge,
                          {{"metadata", {{"annotations", {{"writer", std::to_string(i)}}}}}});
      std::this_thread::sleep_for(milliseconds(2));
    }
  });
  api_.FailNext("/api/v1/namespaces/team/pods/busy", 12, 409, 0, "PUT");
  replica.controller->Start();
  const bool released = WaitFor([&] { return Released("busy"); }, std::chrono::seconds(30));
  stop = true;
  writer.join();
  ASSERT_TRUE(released) << Stored("busy").dump();
  EXPECT_FALSE(Terms(Stored("busy")).is_null());
  EXPECT_GE(replica.client->pod_updates, 13);
}

TEST_F(GateControllerTest, TheEventOfANamelessPodIsWrittenOnceOnThePodWhateverTheRestarts) {
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", "build-x7k2p"},
                {"labels", {{kEventLabel, "NoCommonPlatform"}}},
                {"annotations", {{kSkippedReasonAnnotation, "the images have no platform in common: a (linux/amd64)"}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "a"}}}}}}};
  Create(pod);
  {
    Replica replica(api_, "a", Options());
    replica.controller->Start();
    ASSERT_TRUE(WaitFor([&] { return kube::LabelOf(Stored("build-x7k2p"), kEventLabel).empty(); },
                        std::chrono::seconds(10)));
  }
  ASSERT_EQ(EventsAbout("build-x7k2p", "NoCommonPlatform").size(), 1u);
  EXPECT_EQ(EventsAbout("build-x7k2p", "NoCommonPlatform")[0].value("note", ""),
            "the images have no platform in common: a (linux/amd64)");
  // A replica that crashed after the Event and before taking the label off: the next one
  // finds the label again, and the Event's name makes the second write a no-op.
  Json again = Stored("build-x7k2p");
  again["metadata"]["labels"][kEventLabel] = "NoCommonPlatform";
  ASSERT_TRUE(admin_->Update(r::kPods, "team", again).ok());
  Replica next(api_, "b", Options());
  next.controller->Start();
  ASSERT_TRUE(WaitFor([&] { return kube::LabelOf(Stored("build-x7k2p"), kEventLabel).empty(); },
                      std::chrono::seconds(10)));
  EXPECT_EQ(EventsAbout("build-x7k2p", "NoCommonPlatform").size(), 1u);
}

TEST_F(GateControllerTest, SupportIsReadFromTheApiServersVersion) {
  const auto support = DetectSchedulingGates(*admin_);
  EXPECT_TRUE(support.supported) << support.reason;
  EXPECT_EQ(support.version.rfind("v1.", 0), 0u) << support.version;
  EXPECT_TRUE(support.reason.empty()) << support.reason;
}

TEST(SchedulingGatesIn, ReadsGitVersionThenMajorAndMinor) {
  struct Case {
    const char* version;
    bool supported;
  };
  for (const auto& [text, supported] : std::vector<Case>{
           // envtest's apiserver, built from source: no major/minor (seen on the real one).
           {R"({"gitVersion":"v1.28.15","major":"","minor":""})", true},
           {R"({"gitVersion":"v1.29.3+k3s1","major":"1","minor":"29"})", true},
           {R"({"gitVersion":"v1.27.4-eks-2d98532","major":"1","minor":"27+"})", true},
           {R"({"gitVersion":"v1.26.9","major":"1","minor":"26"})", false},
           {R"({"gitVersion":"v2.0.0"})", true},
           {R"({"gitVersion":"","major":"1","minor":"30+"})", true},
           {R"({"gitVersion":"v1.x","major":"1","minor":"25"})", false},
       }) {
    const auto support = SchedulingGatesIn(Json::parse(text));
    EXPECT_EQ(support.supported, supported) << text << ": " << support.reason;
    EXPECT_EQ(support.reason.empty(), supported) << text;
  }
  for (const char* unreadable : {R"({})", R"({"gitVersion":"v1","major":"","minor":""})", R"({"major":1,"minor":28})",
                                 R"([])"}) {
    const auto support = SchedulingGatesIn(Json::parse(unreadable));
    EXPECT_FALSE(support.supported) << unreadable;
    EXPECT_NE(support.reason.find("says no major and minor"), std::string::npos) << unreadable << ": " << support.reason;
  }
  EXPECT_NE(SchedulingGatesIn(Json::parse(R"({"gitVersion":"v1.26.1"})")).reason.find("Kubernetes 1.26"),
            std::string::npos);
}

}  // namespace
}  // namespace archway::webhook

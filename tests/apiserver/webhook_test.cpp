// The webhook, called by a real kube-apiserver: `archway webhook` runs on loopback under
// its chart ServiceAccount's token, the MutatingWebhookConfiguration is the chart's own
// (rendered with failurePolicy Fail, so any failure of the call fails the create instead
// of passing silently; with a URL and the test CA instead of the Service), and pods are
// created through the API. The images are real, in docker-registry on loopback. A TCP
// relay in front of the webhook counts the apiserver's connections and reads its ALPN
// offer; another delays a registry. kube-controller-manager runs the ReplicaSet and Job
// controllers too, to see the reviews of pods made by controllers, and the DaemonSet
// controller, to see which nodes a DaemonSet placed by its template runs on.
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "tests/apiserver/apiserver_env.h"
#include "tests/support/fixtures.h"
#include "tests/support/http_server.h"
#include "tests/support/registry_server.h"
#include "tests/support/tcp_relay.h"

namespace archway::apitest {
namespace {

ARCHWAY_APISERVER_SUITE((SuiteOptions{testing::EnvtestOptions{
    .controller_manager = true,
    .controllers = {"serviceaccount", "namespace", "garbagecollector", "root-ca-cert-publisher", "replicaset", "job",
                    "daemonset"},
    .apiserver_flags = {}}}));

constexpr const char* kDenyLabel = "archway-test/policy";

const Json kNoCommonPlatformTerm = Json::parse(
    R"({"matchExpressions":[{"key":"archway.dev/no-common-platform","operator":"Exists"}]})");

Json Expression(const std::string& key, const std::vector<std::string>& values) {
  return {{"key", key}, {"operator", "In"}, {"values", values}};
}

// The term archway adds for one OS.
Json PlatformExpressions(const std::string& os, const std::vector<std::string>& archs) {
  return Json::array({Expression("kubernetes.io/os", {os}), Expression("kubernetes.io/arch", archs)});
}

Json Terms(const Json& pod) {
  const auto pointer =
      "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer;
  return pod.contains(pointer) ? pod.at(pointer) : Json();
}

std::string Annotation(const Json& pod, const std::string& key) {
  const Json annotations = pod["metadata"].value("annotations", Json::object());
  return annotations.contains(key) ? annotations[key].get<std::string>() : "<none>";
}

struct PodSpec {
  std::vector<std::string> init_images{};
  std::vector<std::string> images{};
  std::vector<std::string> pull_secrets{};
  Json affinity{};
  Json node_selector{};
};

Json PodObject(const std::string& name, const PodSpec& spec) {
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}}},
              {"spec", {{"containers", Json::array()}}}};
  for (size_t i = 0; i < spec.init_images.size(); ++i) {
    pod["spec"]["initContainers"].push_back({{"name", "init" + std::to_string(i)}, {"image", spec.init_images[i]}});
  }
  for (size_t i = 0; i < spec.images.size(); ++i) {
    pod["spec"]["containers"].push_back({{"name", "c" + std::to_string(i)}, {"image", spec.images[i]}});
  }
  for (const auto& secret : spec.pull_secrets) pod["spec"]["imagePullSecrets"].push_back({{"name", secret}});
  if (!spec.affinity.is_null()) pod["spec"]["affinity"] = spec.affinity;
  if (!spec.node_selector.is_null()) pod["spec"]["nodeSelector"] = spec.node_selector;
  return pod;
}

struct Created {
  http::Response response;
  Json pod;  // as the API answered it (after every mutation)
  std::chrono::milliseconds took{0};
  std::string Warnings() const {
    std::string all;
    for (const auto& w : apitest::Warnings(response)) all += w + "\n";
    return all;
  }
};

Created CreatePod(const std::string& ns, const Json& pod, bool dry_run = false) {
  const auto start = Clock::now();
  Created created;
  created.response = Cluster().Call("POST", "/api/v1/namespaces/" + ns + "/pods" + (dry_run ? "?dryRun=All" : ""),
                                    pod.dump());
  created.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  created.pod = Body(created.response);
  return created;
}

Json GetPod(const std::string& ns, const std::string& name) {
  return Body(Cluster().Call("GET", "/api/v1/namespaces/" + ns + "/pods/" + name));
}

// events.k8s.io/v1 Events in `ns` about the Pod `name`.
std::vector<Json> PodEvents(const std::string& ns, const std::string& name) {
  std::vector<Json> out;
  for (const auto& e : Body(Cluster().Call("GET", "/apis/events.k8s.io/v1/namespaces/" + ns + "/events"))
                           .value("items", Json::array())) {
    if (e["regarding"].value("kind", "") == "Pod" && e["regarding"].value("name", "") == name) out.push_back(e);
  }
  return out;
}

Json DockerConfigSecret(const std::string& name, const std::string& registry, const std::string& user,
                        const std::string& password) {
  const std::string config =
      Json{{"auths", {{registry, {{"auth", Base64Encode(user + ":" + password)}}}}}}.dump();
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", name}}},
          {"type", "kubernetes.io/dockerconfigjson"},
          {"data", {{".dockerconfigjson", Base64Encode(config)}}}};
}

class WebhookOnApiserver : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!ClusterAvailable()) return;
    registry_ = new testing::RegistryServer();
    private_registry_ = new testing::RegistryServer(
        testing::RegistryServerOptions::Htpasswd({{"ci", "s3cret"}, {"global", "g10bal"}}));
    const std::string host = registry_->host();
    testing::PushPlatformImage(*registry_, "e2e/amd64", "1", "linux/amd64");
    testing::PushPlatformImage(*registry_, "e2e/arm64", "1", "linux/arm64");
    testing::PushPlatformIndex(*registry_, "e2e/multi", "1", {"linux/amd64", "linux/arm64"});
    testing::PushPlatformIndex(*registry_, "e2e/mixed", "1", {"linux/amd64", "linux/arm64", "windows/amd64"});
    testing::PushPlatformImage(*private_registry_, "team/private", "1", "linux/arm64");
    testing::PushPlatformImage(*private_registry_, "team/global-only", "1", "linux/amd64");
    amd64_ = host + "/e2e/amd64:1";
    arm64_ = host + "/e2e/arm64:1";
    multi_ = host + "/e2e/multi:1";
    mixed_ = host + "/e2e/mixed:1";
    private_image_ = private_registry_->host() + "/team/private:1";
    global_only_ = private_registry_->host() + "/team/global-only:1";

    // The default release (opt-out namespaces, pending policy, a global pull secret), and
    // a second release with the deny policy, selected by the opt-in namespaceSelector.
    chart_ = new charttest::Rendered(RenderChart(
        {"--set", "webhook.failurePolicy=Fail", "--set", "globalPullSecret.name=archway-pull", "--set-json",
         std::string(R"(webhook.namespaceSelector={"matchExpressions":[{"key":")") + kDenyLabel +
             R"(","operator":"DoesNotExist"}]})"}));
    deny_chart_ = new charttest::Rendered(RenderChart(
        {"--set", "fullnameOverride=archway-deny", "--set", "webhook.noCommonPlatform=deny", "--set",
         "webhook.failurePolicy=Fail", "--set-json",
         std::string(R"(webhook.namespaceSelector={"matchLabels":{")") + kDenyLabel + R"(":"deny"}})"}));

    webhook_ = new ArchwayWebhook("webhook", RenderedConfig(*chart_, "archway-webhook"),
                                  ServiceAccountKubeconfig(kWebhookServiceAccount));
    deny_webhook_ = new ArchwayWebhook("deny-webhook", RenderedConfig(*deny_chart_, "archway-deny-webhook"),
                                       ServiceAccountKubeconfig(kWebhookServiceAccount));
    relay_ = new testing::TcpRelay(webhook_->host());
    ASSERT_TRUE(webhook_->WaitReady()) << webhook_->Log();
    ASSERT_TRUE(deny_webhook_->WaitReady()) << deny_webhook_->Log();
    for (auto [rendered, name, url] :
         {std::tuple{chart_, "archway", "https://" + relay_->host() + "/mutate"},
          std::tuple{deny_chart_, "archway-deny", "https://" + deny_webhook_->host() + "/mutate"}}) {
      auto applied = Cluster().Apply(WebhookConfigurationFor(*rendered, name, url, Cluster().ca_pem()), false);
      ASSERT_TRUE(applied.ok()) << applied.error().message;
    }
    // The apiserver picks up webhook configurations from a watch: wait until it calls us.
    Cluster().CreateNamespace("probe");
    ASSERT_TRUE(WaitFor(
        [&] {
          return Annotation(CreatePod("probe", PodObject("probe", {.images = {amd64_}}), true).pod,
                            "archway.dev/platforms") != "<none>";
        },
        std::chrono::seconds(30)))
        << webhook_->Log();
  }

  static void TearDownTestSuite() {
    if (!ClusterAvailable()) return;
    // The configurations go first, so nothing calls a webhook that is gone.
    for (const char* name : {"archway", "archway-deny", "archway-capture"}) {
      Cluster().Call("DELETE", std::string("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/") + name);
    }
    for (ArchwayWebhook* w : {webhook_, deny_webhook_}) {
      if (w == nullptr) continue;
      const int code = w->process().Stop();
      EXPECT_EQ(code, 0) << w->Log();
      EXPECT_TRUE(w->process().GroupGone());
    }
    delete relay_;
    delete webhook_;
    delete deny_webhook_;
    delete chart_;
    delete deny_chart_;
    delete registry_;
    delete private_registry_;
  }

  void SetUp() override { ARCHWAY_REQUIRE_CLUSTER(); }

  static testing::RegistryServer* registry_;
  static testing::RegistryServer* private_registry_;
  static charttest::Rendered* chart_;
  static charttest::Rendered* deny_chart_;
  static ArchwayWebhook* webhook_;
  static ArchwayWebhook* deny_webhook_;
  static testing::TcpRelay* relay_;
  static std::string amd64_, arm64_, multi_, mixed_, private_image_, global_only_;
};

testing::RegistryServer* WebhookOnApiserver::registry_ = nullptr;
testing::RegistryServer* WebhookOnApiserver::private_registry_ = nullptr;
charttest::Rendered* WebhookOnApiserver::chart_ = nullptr;
charttest::Rendered* WebhookOnApiserver::deny_chart_ = nullptr;
ArchwayWebhook* WebhookOnApiserver::webhook_ = nullptr;
ArchwayWebhook* WebhookOnApiserver::deny_webhook_ = nullptr;
testing::TcpRelay* WebhookOnApiserver::relay_ = nullptr;
std::string WebhookOnApiserver::amd64_, WebhookOnApiserver::arm64_, WebhookOnApiserver::multi_,
    WebhookOnApiserver::mixed_, WebhookOnApiserver::private_image_, WebhookOnApiserver::global_only_;

TEST_F(WebhookOnApiserver, PodsGetExactlyTheAffinityTheirImagesNeed) {
  Cluster().CreateNamespace("affinity");
  struct Case {
    std::string name{};
    PodSpec spec{};
    Json terms{};  // expected, as stored
    std::string platforms_annotation{};
  };
  const Json user_terms = Json::parse(R"([
      {"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]},
      {"matchExpressions":[{"key":"zone","operator":"In","values":["a","b"]}]}])");
  Json anded = user_terms;
  for (auto& term : anded) {
    for (const auto& e : PlatformExpressions("linux", {"amd64", "arm64"})) term["matchExpressions"].push_back(e);
  }
  const std::vector<Case> cases = {
      {"no-affinity", {.images = {amd64_}}, Json::array({{{"matchExpressions", PlatformExpressions("linux", {"amd64"})}}}),
       "linux/amd64"},
      {"two-user-terms",
       {.images = {multi_},
        .affinity = {{"nodeAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {{"nodeSelectorTerms", user_terms}}}}}}},
       anded, "linux/amd64,linux/arm64"},
      {"init-narrows", {.init_images = {amd64_}, .images = {multi_}},
       Json::array({{{"matchExpressions", PlatformExpressions("linux", {"amd64"})}}}), "linux/amd64"},
      {"mixed-os", {.images = {mixed_}},
       Json::array({{{"matchExpressions", PlatformExpressions("linux", {"amd64", "arm64"})}},
                    {{"matchExpressions", PlatformExpressions("windows", {"amd64"})}}}),
       "linux/amd64,linux/arm64,windows/amd64"},
      // The user pinned the architecture: left as written.
      {"node-selector-arch", {.images = {amd64_}, .node_selector = {{"kubernetes.io/arch", "arm64"}}}, Json(), "<none>"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Created created = CreatePod("affinity", PodObject(c.name, c.spec));
    ASSERT_EQ(created.response.status, 201) << created.response.body;
    const Json stored = GetPod("affinity", c.name);
    EXPECT_EQ(Terms(stored), c.terms) << stored["spec"].dump();
    EXPECT_EQ(Annotation(stored, "archway.dev/platforms"), c.platforms_annotation);
    EXPECT_EQ(stored["spec"].value("nodeSelector", Json()), c.spec.node_selector);
  }
  const Json pinned = GetPod("affinity", "node-selector-arch");
  EXPECT_NE(Annotation(pinned, "archway.dev/skipped-reason").find("arch"), std::string::npos)
      << pinned["metadata"].dump();
}

TEST_F(WebhookOnApiserver, PrivateImageIsResolvedWithThePodsPullSecret) {
  Cluster().CreateNamespace("private");
  auto secret = Cluster().Call("POST", "/api/v1/namespaces/private/secrets",
                               DockerConfigSecret("regcred", private_registry_->host(), "ci", "s3cret").dump());
  ASSERT_EQ(secret.status, 201) << secret.body;
  // The webhook reads pull secrets from its watch cache: the Secret arrives by watch.
  const Json with_secret = PodObject("with-secret", {.images = {private_image_}, .pull_secrets = {"regcred"}});
  ASSERT_TRUE(WaitFor([&] { return !Terms(CreatePod("private", with_secret, true).pod).is_null(); },
                      std::chrono::seconds(15)))
      << webhook_->Log();
  Created created = CreatePod("private", with_secret);
  ASSERT_EQ(created.response.status, 201) << created.response.body;
  EXPECT_EQ(Terms(GetPod("private", "with-secret")),
            Json::array({{{"matchExpressions", PlatformExpressions("linux", {"arm64"})}}}));

  // Without the secret the image cannot be read: no affinity, and the user is told why.
  Created without = CreatePod("private", PodObject("without-secret", {.images = {private_image_}}));
  ASSERT_EQ(without.response.status, 201) << without.response.body;
  EXPECT_EQ(Terms(GetPod("private", "without-secret")), Json());
  EXPECT_NE(without.Warnings().find("could not inspect"), std::string::npos) << without.Warnings();
}

TEST_F(WebhookOnApiserver, GlobalPullSecretResolvesImagesInEveryNamespace) {
  Cluster().CreateNamespace("global-a");
  // Before the global secret exists the image is unreadable...
  Created before = CreatePod("global-a", PodObject("before", {.images = {global_only_}}));
  ASSERT_EQ(before.response.status, 201) << before.response.body;
  EXPECT_EQ(Terms(before.pod), Json());
  EXPECT_NE(before.Warnings().find("could not inspect"), std::string::npos) << before.Warnings();

  // ...and once it does (chart value globalPullSecret.name, in the release namespace),
  // pods with no imagePullSecrets of their own get their affinity.
  auto secret = Cluster().Call(
      "POST", std::string("/api/v1/namespaces/") + kReleaseNamespace + "/secrets",
      DockerConfigSecret("archway-pull", private_registry_->host(), "global", "g10bal").dump());
  ASSERT_EQ(secret.status, 201) << secret.body;
  const Json pod = PodObject("after", {.images = {global_only_}});
  ASSERT_TRUE(WaitFor([&] { return !Terms(CreatePod("global-a", pod, true).pod).is_null(); }, std::chrono::seconds(15)))
      << webhook_->Log();
  Created after = CreatePod("global-a", pod);
  ASSERT_EQ(after.response.status, 201) << after.response.body;
  EXPECT_EQ(Terms(GetPod("global-a", "after")), Json::array({{{"matchExpressions", PlatformExpressions("linux", {"amd64"})}}}));
  // The global secret's credentials reached the registry they belong to.
  bool authenticated_pull = false;
  for (const auto& r : private_registry_->Requests()) {
    authenticated_pull |= r.method == "GET" && r.path == "/v2/team/global-only/manifests/1" && r.status == 200;
  }
  EXPECT_TRUE(authenticated_pull) << private_registry_->DescribeRequests();
}

TEST_F(WebhookOnApiserver, NoCommonPlatformWaitsVisiblyWithAWarningAndAnEvent) {
  Cluster().CreateNamespace("nocommon");
  Created created = CreatePod("nocommon", PodObject("stuck", {.init_images = {amd64_}, .images = {arm64_}}));
  ASSERT_EQ(created.response.status, 201) << created.response.body;
  EXPECT_EQ(Terms(GetPod("nocommon", "stuck")), Json::array({kNoCommonPlatformTerm}));
  // The warning kubectl prints comes back through the apiserver's Warning header.
  EXPECT_NE(created.Warnings().find("no platform in common"), std::string::npos) << created.Warnings();
  ASSERT_TRUE(WaitFor([] { return !PodEvents("nocommon", "stuck").empty(); }, std::chrono::seconds(10)))
      << webhook_->Log();
  const Json event = PodEvents("nocommon", "stuck").front();
  EXPECT_EQ(event.value("reason", ""), "NoCommonPlatform");
  EXPECT_EQ(event.value("type", ""), "Warning");
  EXPECT_NE(event.value("note", "").find(amd64_), std::string::npos) << event.dump();
}

TEST_F(WebhookOnApiserver, DenyPolicyRefusesTheCreateWithTheReason) {
  Cluster().CreateNamespace("denied", {{kDenyLabel, "deny"}});
  Created refused = CreatePod("denied", PodObject("stuck", {.init_images = {amd64_}, .images = {arm64_}}));
  EXPECT_EQ(refused.response.status, 403) << refused.response.body;
  const std::string message = refused.pod.value("message", "");
  EXPECT_NE(message.find("admission webhook \"pods.archway.dev\" denied the request"), std::string::npos) << message;
  EXPECT_NE(message.find("no platform in common"), std::string::npos) << message;
  EXPECT_NE(message.find(arm64_), std::string::npos) << message;
  EXPECT_EQ(Cluster().Call("GET", "/api/v1/namespaces/denied/pods/stuck").status, 404);
  // The same release still mutates the pods it can place.
  Created placed = CreatePod("denied", PodObject("fine", {.images = {arm64_}}));
  ASSERT_EQ(placed.response.status, 201) << placed.response.body;
  EXPECT_EQ(Terms(placed.pod), Json::array({{{"matchExpressions", PlatformExpressions("linux", {"arm64"})}}}));
}

TEST_F(WebhookOnApiserver, DryRunIsMutatedButRecordsNoEvent) {
  Cluster().CreateNamespace("dryrun");
  auto mwc = Body(Cluster().Call("GET", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/archway"));
  EXPECT_EQ(mwc["webhooks"][0].value("sideEffects", ""), "NoneOnDryRun");
  Created dry = CreatePod("dryrun", PodObject("dry", {.init_images = {amd64_}, .images = {arm64_}}), true);
  ASSERT_EQ(dry.response.status, 201) << dry.response.body;
  EXPECT_EQ(Terms(dry.pod), Json::array({kNoCommonPlatformTerm}));
  EXPECT_EQ(Cluster().Call("GET", "/api/v1/namespaces/dryrun/pods/dry").status, 404);

  if (!Cluster().binaries().kubectl.empty()) {
    // The same through `kubectl create --dry-run=server`, as a user would.
    const std::string file = Cluster().dir().File("dry-kubectl.json");
    testing::WriteFile(file, PodObject("dry-kubectl", {.init_images = {amd64_}, .images = {arm64_}}).dump());
    auto r = testing::RunCommand({Cluster().binaries().kubectl, "--kubeconfig", Cluster().admin_kubeconfig(), "-n",
                                  "dryrun", "create", "--dry-run=server", "-o", "json", "-f", file},
                                 std::chrono::seconds(30));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("archway.dev/no-common-platform"), std::string::npos) << r.output;
  } else {
    std::printf("kubectl is not on PATH: `kubectl create --dry-run=server` not run (the API call above was)\n");
  }
  // A real create afterwards records its Event: so the dry runs' absence is not a delay.
  ASSERT_EQ(CreatePod("dryrun", PodObject("real", {.init_images = {amd64_}, .images = {arm64_}})).response.status, 201);
  ASSERT_TRUE(WaitFor([] { return !PodEvents("dryrun", "real").empty(); }, std::chrono::seconds(10)));
  EXPECT_TRUE(PodEvents("dryrun", "dry").empty());
  EXPECT_TRUE(PodEvents("dryrun", "dry-kubectl").empty());
}

bool CarriesArchwayGate(const Json& pod) {
  for (const auto& gate : pod["spec"].value("schedulingGates", Json::array())) {
    if (gate.value("name", "") == "archway.dev/platforms") return true;
  }
  return false;
}

std::string Label(const Json& pod, const std::string& key) {
  return pod["metadata"].value("labels", Json::object()).value(key, "<none>");
}

// onMiss: gate (the chart's default) on a registry slower than the budget: the pod is
// created SchedulingGated within the budget, and the gate controller (in whichever
// webhook replica holds the Lease, under the chart's ServiceAccount) releases it with one
// update the real apiserver's validation of gated pods accepts: the affinity set on a pod
// with none, requirements ANDed into a user's term, the user's own gate kept.
TEST_F(WebhookOnApiserver, SlowRegistryGatesThePodAndTheGateControllerReleasesIt) {
  Cluster().CreateNamespace("slow");
  auto mwc = Body(Cluster().Call("GET", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/archway"));
  const int timeout_seconds = mwc["webhooks"][0].value("timeoutSeconds", 0);
  ASSERT_EQ(timeout_seconds, 4) << "the chart's timeoutSeconds for the default 2s budget";
  // Every answer of this registry arrives 2.5 s late: past the 2 s budget, within the
  // apiserver's 4 s. failurePolicy is Fail: had the apiserver's timeout fired, the create
  // would have been refused.
  testing::TcpRelay slow(registry_->host());
  slow.SetResponseDelay(std::chrono::milliseconds(2500));
  const std::string image = slow.host() + "/e2e/amd64:1";
  const std::string multi = slow.host() + "/e2e/multi:1";
  Created plain = CreatePod("slow", PodObject("plain", {.images = {image}}));
  Json with_term = PodObject(
      "with-term", {.images = {multi},
                    .affinity = {{"nodeAffinity",
                                  {{"requiredDuringSchedulingIgnoredDuringExecution",
                                    {{"nodeSelectorTerms", {{{"matchExpressions", {Expression("disk", {"ssd"})}}}}}}}}}}});
  with_term["spec"]["schedulingGates"] = Json::parse(R"([{"name":"example.com/quota"}])");
  Created termed = CreatePod("slow", with_term);
  for (const Created* c : {&plain, &termed}) {
    ASSERT_EQ(c->response.status, 201) << c->response.body;
    EXPECT_LT(c->took, std::chrono::milliseconds(3500)) << "the webhook answers within its 2 s budget";
    ASSERT_TRUE(CarriesArchwayGate(c->pod)) << webhook_->Log();
    EXPECT_EQ(Label(c->pod, "archway.dev/gated"), "true");
    // What `kubectl get pod` shows as the STATUS: the apiserver sets it on a gated pod.
    EXPECT_EQ(c->pod["status"].value("conditions", Json::array()),
              Json::parse(R"([{"lastProbeTime":null,"lastTransitionTime":null,"type":"PodScheduled","status":"False",
                  "reason":"SchedulingGated","message":"Scheduling is blocked due to non-empty scheduling gates"}])"));
    EXPECT_NE(c->Warnings().find("SchedulingGated"), std::string::npos) << c->Warnings();
  }
  EXPECT_EQ(Terms(plain.pod), Json()) << "no affinity while gated";
  EXPECT_EQ(termed.pod["spec"]["schedulingGates"],
            Json::parse(R"([{"name":"example.com/quota"},{"name":"archway.dev/platforms"}])"));

  for (const char* name : {"plain", "with-term"}) {
    EXPECT_TRUE(WaitFor([&] { return !CarriesArchwayGate(GetPod("slow", name)); }, std::chrono::seconds(60)))
        << name << ": " << GetPod("slow", name).dump() << "\n" << webhook_->Log() << "\n" << deny_webhook_->Log();
  }
  const Json released = GetPod("slow", "plain");
  EXPECT_EQ(Terms(released), Json::array({{{"matchExpressions", PlatformExpressions("linux", {"amd64"})}}}));
  EXPECT_EQ(Label(released, "archway.dev/gated"), "<none>");
  EXPECT_EQ(Annotation(released, "archway.dev/platforms"), "linux/amd64");
  EXPECT_FALSE(released["spec"].contains("schedulingGates")) << "no empty list left behind";
  const Json joined = GetPod("slow", "with-term");
  Json expressions = Json::array({Expression("disk", {"ssd"})});
  for (const auto& e : PlatformExpressions("linux", {"amd64", "arm64"})) expressions.push_back(e);
  EXPECT_EQ(Terms(joined), Json::array({{{"matchExpressions", expressions}}}));
  EXPECT_EQ(joined["spec"]["schedulingGates"], Json::parse(R"([{"name":"example.com/quota"}])"));
  EXPECT_EQ(Label(joined, "archway.dev/gated"), "<none>");

  // The release was the webhook ServiceAccount's update of each pod, accepted (200).
  int updates = 0;
  for (const auto& e : AuditEventsOf(ServiceAccountUser(kWebhookServiceAccount))) {
    const Json ref = e.value("objectRef", Json::object());
    if (e.value("verb", "") == "update" && ref.value("resource", "") == "pods" && ref.value("namespace", "") == "slow" &&
        e.value("stage", "") == "ResponseComplete" && e["responseStatus"].value("code", 0) == 200) {
      ++updates;
    }
  }
  EXPECT_EQ(updates, 2);
  EXPECT_EQ(webhook_->MetricSum("archway_gate_outcomes_total{result=\"placed\"}") +
                deny_webhook_->MetricSum("archway_gate_outcomes_total{result=\"placed\"}"),
            2);

  // Admission's own look-up went on in the background: a later pod of the image is placed inline.
  Created later = CreatePod("slow", PodObject("later", {.images = {image}}));
  ASSERT_EQ(later.response.status, 201) << later.response.body;
  EXPECT_FALSE(CarriesArchwayGate(later.pod));
  EXPECT_EQ(Terms(later.pod), Json::array({{{"matchExpressions", PlatformExpressions("linux", {"amd64"})}}}))
      << later.Warnings();
  EXPECT_GE(slow.AcceptedConnections(), 1);
}

TEST_F(WebhookOnApiserver, ApiserverReusesOneConnectionAndOffersHttp11) {
  Cluster().CreateNamespace("connections");
  auto admissions = [&] { return webhook_->MetricSum("archway_admission_requests_total"); };
  const int connections_before = relay_->AcceptedConnections();
  const double admissions_before = admissions();
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(CreatePod("connections", PodObject("pod-" + std::to_string(i), {.images = {multi_}})).response.status, 201);
  }
  EXPECT_EQ(admissions() - admissions_before, 6);
  // Six reviews, at most one new connection (none when an earlier test's is still open).
  EXPECT_LE(relay_->AcceptedConnections() - connections_before, 1);
  // What the apiserver's webhook client offers in its ClientHello. The v1.32 apiserver of
  // the captured samples offered h2 and http/1.1; this v1.28.15 offers http/1.1 alone. The
  // webhook must speak HTTP/1.1 either way (it never selects h2: tests/webhook/e2e_test).
  const auto offers = relay_->OfferedAlpn();
  ASSERT_FALSE(offers.empty());
  for (const auto& offer : offers) {
    std::string text;
    for (const auto& protocol : offer) text += protocol + " ";
    std::printf("apiserver ClientHello to the webhook offers ALPN: %s\n", text.c_str());
    ASSERT_FALSE(offer.empty()) << "no ALPN offered";
    EXPECT_EQ(offer.back(), "http/1.1");
    for (const auto& protocol : offer) EXPECT_TRUE(protocol == "h2" || protocol == "http/1.1") << protocol;
  }
  EXPECT_LE(offers.size(), 3u) << "the apiserver keeps its connection to the webhook";
}

TEST_F(WebhookOnApiserver, IgnoredNamespaceIsNeverSentToTheWebhook) {
  Cluster().CreateNamespace("ignored", {{"archway.dev/ignore", "true"}});
  Created created = CreatePod("ignored", PodObject("left-alone", {.images = {amd64_}}));
  ASSERT_EQ(created.response.status, 201) << created.response.body;
  EXPECT_EQ(Annotation(created.pod, "archway.dev/platforms"), "<none>");
  EXPECT_EQ(Annotation(created.pod, "archway.dev/skipped-reason"), "<none>");
  EXPECT_EQ(Terms(created.pod), Json());
}

// What the apiserver sends for pods that controllers make: recorded by a stand-in webhook
// that allows everything, beside archway's.
TEST_F(WebhookOnApiserver, PodsMadeByControllersHaveOnlyGenerateNameAndOwnerAtAdmission) {
  if (!Cluster().has_controller_manager()) {
    GTEST_SKIP() << "no kube-controller-manager: no ReplicaSet or Job controller makes pods";
  }
  const std::string cert = Cluster().dir().File("capture.crt");
  const std::string key = Cluster().dir().File("capture.key");
  Cluster().IssueServingCertificate(cert, key);
  testing::LoopbackHttpServer capture(
      [](const testing::HttpRecord& r) {
        const Json review = Json::parse(r.body, nullptr, false);
        const std::string uid = review.is_discarded() ? "" : review["request"].value("uid", "");
        testing::HttpReply reply;
        reply.headers = {{"Content-Type", "application/json"}};
        reply.body = Json{{"apiVersion", "admission.k8s.io/v1"},
                          {"kind", "AdmissionReview"},
                          {"response", {{"uid", uid}, {"allowed", true}}}}
                         .dump();
        return reply;
      },
      testing::LoopbackTls::Files(cert, key));
  Cluster().CreateNamespace("controllers", {{"archway-test/capture", "true"}});
  Json capture_config = {
      {"apiVersion", "admissionregistration.k8s.io/v1"},
      {"kind", "MutatingWebhookConfiguration"},
      {"metadata", {{"name", "archway-capture"}}},
      {"webhooks",
       {{{"name", "capture.archway.test"},
         {"admissionReviewVersions", {"v1"}},
         {"sideEffects", "None"},
         {"failurePolicy", "Fail"},
         {"clientConfig", {{"url", capture.url() + "/capture"}, {"caBundle", Base64Encode(Cluster().ca_pem())}}},
         {"rules", {{{"apiGroups", {""}}, {"apiVersions", {"v1"}}, {"operations", {"CREATE"}}, {"resources", {"pods"}}}}},
         {"namespaceSelector", {{"matchLabels", {{"archway-test/capture", "true"}}}}}}}}};
  auto applied = Cluster().Apply(capture_config, false);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  const Json probe = PodObject("capture-probe", {.images = {amd64_}});
  ASSERT_TRUE(WaitFor([&] {
    CreatePod("controllers", probe, true);
    return !capture.Requests().empty();
  }, std::chrono::seconds(30)));
  capture.ResetRequests();

  const Json template_spec = {{"containers", {{{"name", "c"}, {"image", amd64_}}}}};
  auto rs = Cluster().Call("POST", "/apis/apps/v1/namespaces/controllers/replicasets",
                           Json{{"apiVersion", "apps/v1"},
                                {"kind", "ReplicaSet"},
                                {"metadata", {{"name", "web"}}},
                                {"spec",
                                 {{"replicas", 1},
                                  {"selector", {{"matchLabels", {{"app", "web"}}}}},
                                  {"template", {{"metadata", {{"labels", {{"app", "web"}}}}}, {"spec", template_spec}}}}}}
                               .dump());
  ASSERT_EQ(rs.status, 201) << rs.body;
  Json job_pod = {{"restartPolicy", "Never"},
                  {"initContainers", {{{"name", "i"}, {"image", amd64_}}}},
                  {"containers", {{{"name", "c"}, {"image", arm64_}}}}};
  auto job = Cluster().Call("POST", "/apis/batch/v1/namespaces/controllers/jobs",
                            Json{{"apiVersion", "batch/v1"},
                                 {"kind", "Job"},
                                 {"metadata", {{"name", "build"}}},
                                 {"spec", {{"template", {{"spec", job_pod}}}}}}
                                .dump());
  ASSERT_EQ(job.status, 201) << job.body;
  const std::string rs_uid = Body(rs)["metadata"]["uid"];
  const std::string job_uid = Body(job)["metadata"]["uid"];

  std::map<std::string, Json> reviews;  // owner kind -> request
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& r : capture.Requests()) {
      const Json request = Json::parse(r.body)["request"];
      const Json owners = request["object"]["metadata"].value("ownerReferences", Json::array());
      if (!owners.empty()) reviews[owners[0].value("kind", "")] = request;
    }
    return reviews.count("ReplicaSet") && reviews.count("Job");
  }, std::chrono::seconds(30)))
      << "the controllers' pods were not seen";
  for (const auto& [kind, request] : reviews) {
    SCOPED_TRACE(kind);
    const Json metadata = request["object"]["metadata"];
    std::printf("AdmissionReview of a %s-made pod: request.name=%s, metadata=%s\n", kind.c_str(),
                request.contains("name") ? request["name"].dump().c_str() : "(absent)", metadata.dump().c_str());
    EXPECT_FALSE(request.contains("name")) << "request.name is absent: the pod has no name yet";
    EXPECT_FALSE(metadata.contains("name"));
    EXPECT_FALSE(metadata.contains("uid")) << "no uid before it is stored";
    EXPECT_EQ(metadata.value("generateName", ""), kind == "ReplicaSet" ? "web-" : "build-");
    EXPECT_EQ(request.value("namespace", ""), "controllers");
    const Json owner = metadata["ownerReferences"][0];
    EXPECT_EQ(owner.value("apiVersion", ""), kind == "ReplicaSet" ? "apps/v1" : "batch/v1");
    EXPECT_EQ(owner.value("name", ""), kind == "ReplicaSet" ? "web" : "build");
    EXPECT_EQ(owner.value("uid", ""), kind == "ReplicaSet" ? rs_uid : job_uid);
    EXPECT_TRUE(owner.value("controller", false));
    EXPECT_TRUE(owner.value("blockOwnerDeletion", false));
  }
  EXPECT_EQ(reviews["Job"]["object"]["metadata"].value("finalizers", Json::array()),
            Json::array({"batch.kubernetes.io/job-tracking"}));

  // archway placed both: affinity for the ReplicaSet's pod, the pending requirement for
  // the Job's.
  // The reviews come before the pods are stored: wait for both pods.
  std::map<std::string, Json> by_owner;
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& pod : Body(Cluster().Call("GET", "/api/v1/namespaces/controllers/pods")).value("items", Json::array())) {
      by_owner[pod["metadata"]["ownerReferences"][0].value("kind", "")] = pod;
    }
    return by_owner.count("ReplicaSet") && by_owner.count("Job");
  }, std::chrono::seconds(10)));
  EXPECT_EQ(Terms(by_owner["ReplicaSet"]), Json::array({{{"matchExpressions", PlatformExpressions("linux", {"amd64"})}}}));
  EXPECT_EQ(Terms(by_owner["Job"]), Json::array({kNoCommonPlatformTerm}));
  // The Job's pod had no name at admission: its NoCommonPlatform Event went to the Job
  // then, and to the pod once it existed (the gate controller, through the label
  // archway.dev/event), which then loses the label.
  const std::string job_pod_name = by_owner["Job"]["metadata"].value("name", "");
  auto events_about = [&](const std::string& kind, const std::string& name) {
    int count = 0;
    for (const auto& e : Body(Cluster().Call("GET", "/apis/events.k8s.io/v1/namespaces/controllers/events"))
                             .value("items", Json::array())) {
      if (e.value("reason", "") == "NoCommonPlatform" && e["regarding"].value("kind", "") == kind &&
          e["regarding"].value("name", "") == name) {
        ++count;
      }
    }
    return count;
  };
  EXPECT_TRUE(WaitFor([&] { return events_about("Job", "build") == 1; }, std::chrono::seconds(10)))
      << webhook_->Log();
  EXPECT_TRUE(WaitFor([&] { return events_about("Pod", job_pod_name) == 1; }, std::chrono::seconds(20)))
      << job_pod_name << "\n" << webhook_->Log() << "\n" << deny_webhook_->Log();
  EXPECT_TRUE(WaitFor([&] { return Label(GetPod("controllers", job_pod_name), "archway.dev/event") == "<none>"; },
                      std::chrono::seconds(10)));
  EXPECT_EQ(events_about("Pod", job_pod_name), 1) << "written once";
  EXPECT_EQ(events_about("ReplicaSet", "web"), 0) << "the ReplicaSet's pod was placed: nothing to report";
  Cluster().Call("DELETE", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/archway-capture");
}

// Runs last (gtest keeps the order of definition): everything the webhook did above, as
// the apiserver's audit log saw it.
Json DaemonSetObject(const std::string& name, const std::string& image) {
  Json ds = {{"apiVersion", "apps/v1"}, {"kind", "DaemonSet"}, {"metadata", {{"name", name}}}};
  ds["spec"]["selector"]["matchLabels"]["app"] = name;
  ds["spec"]["template"]["metadata"]["labels"]["app"] = name;
  ds["spec"]["template"]["spec"]["containers"] = Json::array({{{"name", "c"}, {"image", image}}});
  return ds;
}

// A Node as a kubelet registers it (a Node's status is kept on create): Ready, labelled.
Json ReadyNode(const std::string& name, const std::string& arch) {
  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
  node["metadata"]["labels"] = {{"kubernetes.io/arch", arch}, {"kubernetes.io/os", "linux"}};
  node["status"]["conditions"] = Json::array({{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}});
  return node;
}

// A DaemonSet created and updated through the API: stored with its template patched, so
// the DaemonSet controller makes pods only for the nodes its images run on; its pods are
// answered from the template; re-applying the manifest as written changes nothing.
TEST_F(WebhookOnApiserver, DaemonSetsArePlacedByTheirTemplate) {
  const std::string ns = "daemons";
  const std::string base = "/apis/apps/v1/namespaces/" + ns + "/daemonsets";
  Cluster().CreateNamespace(ns);
  for (const auto& [node, arch] : {std::pair{"ds-amd64", "amd64"}, std::pair{"ds-pi", "arm64"}}) {
    ASSERT_EQ(Cluster().Call("POST", "/api/v1/nodes", ReadyNode(node, arch).dump()).status, 201);
    // The not-ready NoSchedule taint the apiserver puts on a new Node, which the node
    // lifecycle controller (not run here) lifts once the Node is Ready.
    ASSERT_EQ(Cluster().Call("PATCH", std::string("/api/v1/nodes/") + node, R"({"spec":{"taints":null}})",
                             "application/merge-patch+json").status, 200);
  }
  // The webhook's node cache has both once it warns that an amd64 image cannot run on ds-pi.
  ASSERT_TRUE(WaitFor(
      [&] {
        Json pod = PodObject("node-probe", {.images = {amd64_}});
        pod["spec"]["nodeName"] = "ds-pi";
        return CreatePod(ns, pod, true).Warnings().find("ds-pi") != std::string::npos;
      },
      std::chrono::seconds(20)))
      << webhook_->Log();

  // Before the DaemonSet: its controller makes the pod as soon as it is stored. The image
  // is in the webhook's memory since the probe, so neither the DaemonSet nor its pod cost
  // a registry request; the pod is not even looked up (answered from the template).
  const double from_template = webhook_->MetricSum("archway_admission_requests_total{result=\"from_template\"}");
  auto registry_reads = [&] {
    return registry_->CountRequests("GET", "/v2/e2e/amd64/.*") + registry_->CountRequests("HEAD", "/v2/e2e/amd64/.*");
  };
  const int reads_before = registry_reads();
  const Json manifest = DaemonSetObject("exporter", amd64_);
  const http::Response created = Cluster().Call("POST", base, manifest.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  Json stored = Body(Cluster().Call("GET", base + "/exporter"));
  EXPECT_EQ(Annotation(stored["spec"]["template"], "archway.dev/platforms"), "linux/amd64");
  EXPECT_EQ(Terms(stored["spec"]["template"]), Json::array({{{"matchExpressions", PlatformExpressions("linux", {"amd64"})}}}))
      << stored["spec"]["template"].dump();
  const int generation = stored["metadata"].value("generation", 0);

  // The Event names the node skipped and why.
  const std::string uid = stored["metadata"].value("uid", "");
  auto skips_event = [&]() -> std::string {
    for (const auto& e : Body(Cluster().Call("GET", "/apis/events.k8s.io/v1/namespaces/" + ns + "/events"))
                             .value("items", Json::array())) {
      if (e["regarding"].value("uid", "") == uid && e.value("reason", "") == "SkipsNodes") return e.value("note", "");
    }
    return "";
  };
  EXPECT_TRUE(WaitFor([&] { return !skips_event().empty(); }, std::chrono::seconds(10))) << webhook_->Log();
  EXPECT_EQ(skips_event(), "skips 1 linux/arm64 node: image " + amd64_ + " has no linux/arm64 build");

  if (Cluster().has_controller_manager()) {
    // The DaemonSet controller wants it on ds-amd64 only.
    auto status = [&] { return Body(Cluster().Call("GET", base + "/exporter"))["status"]; };
    ASSERT_TRUE(WaitFor([&] { return status().value("currentNumberScheduled", 0) == 1; }, std::chrono::seconds(30)))
        << status().dump();
    EXPECT_EQ(status().value("desiredNumberScheduled", 0), 1) << "the arm64 node is not wanted";
    Json pods = Body(Cluster().Call("GET", "/api/v1/namespaces/" + ns + "/pods?labelSelector=app%3Dexporter"));
    ASSERT_EQ(pods["items"].size(), 1u) << pods.dump();
    const Json& pod = pods["items"][0];
    EXPECT_EQ(Annotation(pod, "archway.dev/platforms"), "linux/amd64");
    EXPECT_EQ(Terms(pod)[0]["matchFields"][0]["values"], Json::array({"ds-amd64"})) << Terms(pod).dump();
    EXPECT_EQ(webhook_->MetricSum("archway_admission_requests_total{result=\"from_template\"}"), from_template + 1);
    EXPECT_EQ(registry_reads(), reads_before);
  }

  // Re-applying the manifest as written (without archway's fields, as a GitOps sync does)
  // puts archway's requirement back: the template is as stored, generation stays.
  // (A PUT at the resourceVersion just read, again when the DaemonSet controller's status
  // update came in between.)
  auto put_over = [&](Json object) {
    http::Response put;
    for (int attempt = 0; attempt < 5; ++attempt) {
      object["metadata"]["resourceVersion"] = Body(Cluster().Call("GET", base + "/exporter"))["metadata"]["resourceVersion"];
      put = Cluster().Call("PUT", base + "/exporter", object.dump());
      if (put.status != 409) break;
    }
    return put;
  };
  Json again = manifest;
  again["metadata"]["labels"] = {{"synced", "yes"}};
  http::Response put = put_over(again);
  ASSERT_EQ(put.status, 200) << put.body;
  Json after = Body(put);
  EXPECT_EQ(after["metadata"].value("generation", 0), generation) << after.dump();
  EXPECT_EQ(after["spec"]["template"], Body(Cluster().Call("GET", base + "/exporter"))["spec"]["template"]);
  EXPECT_EQ(after["spec"]["template"], stored["spec"]["template"]);

  // New images: archway's requirement is replaced, a rollout starts.
  Json update = after;
  update["spec"]["template"]["spec"]["containers"][0]["image"] = multi_;
  put = put_over(update);
  ASSERT_EQ(put.status, 200) << put.body;
  after = Body(put);
  EXPECT_EQ(after["metadata"].value("generation", 0), generation + 1);
  EXPECT_EQ(Annotation(after["spec"]["template"], "archway.dev/platforms"), "linux/amd64,linux/arm64");
  EXPECT_EQ(Terms(after["spec"]["template"]),
            Json::array({{{"matchExpressions", PlatformExpressions("linux", {"amd64", "arm64"})}}}));
  if (Cluster().has_controller_manager()) {
    EXPECT_TRUE(WaitFor(
        [&] {
          return Body(Cluster().Call("GET", base + "/exporter"))["status"].value("desiredNumberScheduled", 0) == 2;
        },
        std::chrono::seconds(30)));
  }

  EXPECT_EQ(Cluster().Call("DELETE", base + "/exporter").status, 200);
  for (const char* node : {"ds-amd64", "ds-pi"}) Cluster().Call("DELETE", std::string("/api/v1/nodes/") + node);
}

// A Namespace's archway.dev/preferred-platforms gives the pods created in it preferred
// terms (the suite's chart configures no preferredPlatforms); a value that does not parse
// gives the config's list (none here) and a warning naming the namespace and the item.
TEST_F(WebhookOnApiserver, ANamespacesPreferredPlatformsSteerItsPods) {
  const std::string ns = "steered";
  const Json namespace_object = {
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata", {{"name", ns}, {"annotations", {{"archway.dev/preferred-platforms", "linux/arm64=50,linux/amd64=10"}}}}}};
  ASSERT_EQ(Cluster().Call("POST", "/api/v1/namespaces", namespace_object.dump()).status, 201);
  auto preferred = [](const Json& pod) {
    const auto pointer = "/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution"_json_pointer;
    return pod.contains(pointer) ? pod.at(pointer) : Json();
  };
  auto prefer = [](int weight, const std::string& arch) {
    return Json{{"weight", weight}, {"preference", {{"matchExpressions", PlatformExpressions("linux", {arch})}}}};
  };
  // The Namespace reaches the webhook's cache by watch.
  const Json pod = PodObject("web", {.images = {multi_}});
  ASSERT_TRUE(WaitFor([&] { return !preferred(CreatePod(ns, pod, true).pod).is_null(); }, std::chrono::seconds(15)))
      << webhook_->Log();
  Created created = CreatePod(ns, pod);
  ASSERT_EQ(created.response.status, 201) << created.response.body;
  const Json stored = GetPod(ns, "web");
  EXPECT_EQ(preferred(stored), Json::array({prefer(50, "arm64"), prefer(10, "amd64")})) << stored["spec"].dump();
  EXPECT_EQ(Terms(stored), Json::array({{{"matchExpressions", PlatformExpressions("linux", {"amd64", "arm64"})}}}));
  EXPECT_EQ(created.Warnings().find("preferred-platforms"), std::string::npos) << created.Warnings();

  const double invalid_before = webhook_->MetricSum("archway_namespace_preferred_platforms_invalid_total");
  ASSERT_EQ(Cluster().Call("PATCH", "/api/v1/namespaces/" + ns,
                           R"({"metadata":{"annotations":{"archway.dev/preferred-platforms":"linux/arm64=50,linux/amd64=500"}}})",
                           "application/merge-patch+json").status,
            200);
  const Json typo = PodObject("typo", {.images = {multi_}});
  ASSERT_TRUE(WaitFor([&] { return CreatePod(ns, typo, true).Warnings().find("namespace steered") != std::string::npos; },
                      std::chrono::seconds(15)))
      << webhook_->Log();
  Created warned = CreatePod(ns, typo);
  ASSERT_EQ(warned.response.status, 201) << warned.response.body;
  EXPECT_EQ(preferred(GetPod(ns, "typo")), Json()) << "the config's list: none";
  // A Warning header quotes the message: its quotes come escaped.
  EXPECT_NE(warned.Warnings().find(R"(namespace steered: archway.dev/preferred-platforms is not applied )"
                                   R"((\"linux/amd64=500\": weight 500 is outside 1-100))"),
            std::string::npos)
      << warned.Warnings();
  EXPECT_EQ(webhook_->MetricSum("archway_namespace_preferred_platforms_invalid_total"), invalid_before + 1)
      << "counted once, however many pods";
}

TEST_F(WebhookOnApiserver, TheWebhookWasNeverRefusedAndListsOnlyPullSecrets) {
  const auto events = AuditEventsOf(ServiceAccountUser(kWebhookServiceAccount));
  ASSERT_FALSE(events.empty());
  int secret_reads = 0;
  for (const auto& e : events) {
    const int code = e["responseStatus"].value("code", 0);
    EXPECT_NE(code, 403) << "forbidden: " << e.value("verb", "") << " " << e.value("requestURI", "");
    EXPECT_NE(code, 401) << e.value("requestURI", "");
    const Json ref = e.value("objectRef", Json::object());
    if (ref.value("resource", "") == "namespaces") {
      const std::string verb = e.value("verb", "");
      EXPECT_TRUE(verb == "list" || verb == "watch") << "a Namespace " << verb << ": " << e.value("requestURI", "");
    }
    if (ref.value("resource", "") == "secrets") {
      ++secret_reads;
      const std::string uri = e.value("requestURI", "");
      EXPECT_TRUE(uri.find("fieldSelector=type%3Dkubernetes.io%2Fdockerconfigjson") != std::string::npos ||
                  uri.find("fieldSelector=type%3Dkubernetes.io%2Fdockercfg") != std::string::npos)
          << "a Secret read without the pull-secret field selector: " << e.value("verb", "") << " " << uri;
    }
  }
  EXPECT_GT(secret_reads, 0) << DescribeAudit(events);
}

}  // namespace
}  // namespace archway::apitest

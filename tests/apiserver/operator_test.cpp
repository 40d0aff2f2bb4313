// The CRD and the operator on a real kube-apiserver: the CRD from crds/ validated by the
// real structural-schema and CEL code (and compared with tests/operator's hand-written
// validator), `archway operator` run as a process under its chart ServiceAccount's token
// against a real docker-registry, owner-reference garbage collection by a real
// kube-controller-manager, the Lease, Events, and the audit log counting its writes.
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "tests/apiserver/apiserver_env.h"
#include "tests/operator/openapi_validator.h"
#include "tests/support/fixtures.h"
#include "tests/support/process.h"
#include "tests/support/registry_server.h"

namespace archway::apitest {
namespace {

// The operator needs update on multiarchimages/finalizers to create Jobs with
// blockOwnerDeletion where this admission plugin is on (as on OpenShift): turn it on.
ARCHWAY_APISERVER_SUITE((SuiteOptions{testing::EnvtestOptions{
    .controller_manager = true,
    .controllers = {"serviceaccount", "namespace", "garbagecollector", "root-ca-cert-publisher"},
    .apiserver_flags = {"--enable-admission-plugins=OwnerReferencesPermissionEnforcement"}}}));

const std::string kSourceDir = ARCHWAY_SOURCE_DIR;
const std::string kMaiPath = "/apis/archway.dev/v1alpha1";

Json CrdSchema() {
  return optest::LoadYamlFile(kSourceDir + "/crds/archway.dev_multiarchimages.yaml")["spec"]["versions"][0]["schema"]
                             ["openAPIV3Schema"];
}

std::string MaiCollection(const std::string& ns) { return kMaiPath + "/namespaces/" + ns + "/multiarchimages"; }

Json Mai(const std::string& name, const Json& spec) {
  return {{"apiVersion", "archway.dev/v1alpha1"}, {"kind", "MultiArchImage"}, {"metadata", {{"name", name}}}, {"spec", spec}};
}

// --- the CRD's schema ---------------------------------------------------------------------

using Causes = std::set<std::pair<std::string, std::string>>;  // (field, message)

std::string Describe(const Causes& causes) {
  std::string out;
  for (const auto& [field, message] : causes) out += "  " + field + ": " + message + "\n";
  return out.empty() ? "  (accepted)\n" : out;
}

// What the apiserver says of `object` (a dry-run create with kubectl's fieldValidation=Strict).
Causes ApiCauses(const Json& object, http::Response* raw = nullptr) {
  http::Response r = Cluster().Call("POST", MaiCollection("schema") + "?dryRun=All&fieldValidation=Strict", object.dump());
  if (raw) *raw = r;
  Causes causes;
  if (r.status == 201) return causes;
  const Json status = Body(r);
  if (r.status == 400) {
    // Strict decoding: `... strict decoding error: unknown field "spec.x", unknown field "spec.y"`.
    const std::string message = status.value("message", "");
    for (size_t at = message.find("unknown field \""); at != std::string::npos;
         at = message.find("unknown field \"", at + 1)) {
      const size_t start = at + 15;
      const std::string field = message.substr(start, message.find('"', start) - start);
      causes.insert({field, "unknown field \"" + field + "\""});
    }
    if (causes.empty()) causes.insert({"<400>", message});
    return causes;
  }
  for (const auto& c : status["details"].value("causes", Json::array())) {
    // "some validation rules were not checked because the object was invalid": CEL rules
    // only run on an object that passes the schema.
    if (c.value("field", "") == "<nil>") continue;
    causes.insert({c.value("field", ""), c.value("message", "")});
  }
  if (causes.empty()) causes.insert({"<" + std::to_string(r.status) + ">", r.body});
  return causes;
}

Causes ValidatorCauses(const Json& object) {
  Causes causes;
  for (const auto& c : optest::ValidateSchema(CrdSchema(), object)) causes.insert({c.field, c.message});
  return causes;
}

class CrdOnApiserver : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (ClusterAvailable()) Cluster().CreateNamespace("schema");
  }
  void SetUp() override { ARCHWAY_REQUIRE_CLUSTER(); }
};

TEST_F(CrdOnApiserver, EveryExampleIsAccepted) {
  for (const char* name : {"sources-mode.yaml", "build-mode.yaml", "build-follow-bases.yaml"}) {
    SCOPED_TRACE(name);
    Json example = optest::LoadYamlFile(kSourceDir + "/crds/examples/" + name);
    example["metadata"]["namespace"] = "schema";
    auto applied = Cluster().Apply(example, /*dry_run=*/true);
    ASSERT_TRUE(applied.ok()) << applied.error().message;
    EXPECT_TRUE(ValidatorCauses(example).empty());
  }
}

// Each bad spec is rejected by the real apiserver naming exactly the fields (and words)
// the hand-written validator of tests/operator names, so the validator's unit tests are
// checked against the real thing.
TEST_F(CrdOnApiserver, BadSpecsAreRejectedAsTheHandWrittenValidatorSays) {
  const Json sources = Json::parse(R"({"image":"registry.lan:5000/web:1.4","platforms":["linux/amd64","linux/arm64"],
      "sources":[{"image":"registry.lan:5000/web:1.4-amd64"}]})");
  const Json build = optest::LoadYamlFile(kSourceDir + "/crds/examples/build-mode.yaml")["spec"];
  struct Case {
    std::string name;
    Json spec;
  };
  std::vector<Case> cases;
  auto with = [](Json spec, const std::function<void(Json&)>& change) {
    change(spec);
    return spec;
  };
  cases.push_back({"valid sources", sources});
  cases.push_back({"valid variants", with(sources, [](Json& s) { s["platforms"] = {"linux/arm/v7", "windows/amd64"}; })});
  cases.push_back({"bad platform", with(sources, [](Json& s) { s["platforms"] = {"linux/amd64", "linux/arm64/8"}; })});
  cases.push_back({"overlong platform", with(build, [](Json& s) { s["platforms"][0] = "linux/" + std::string(60, 'z'); })});
  cases.push_back({"multiple causes", with(sources, [](Json& s) {
                     s.erase("image");
                     s["platforms"] = {"linux/amd64", "Linux/ARM64", "arm64"};
                     s["format"] = "zip";
                   })});
  cases.push_back({"both sources and build", with(sources, [](Json& s) { s["build"] = {{"git", {{"url", "https://git.lan/x.git"}}}}; })});
  cases.push_back({"neither sources nor build", with(sources, [](Json& s) { s.erase("sources"); })});
  // A bad enum does not stop the CEL rule; a missing required field does.
  cases.push_back({"both, and a bad enum", with(sources, [](Json& s) {
                     s["build"] = {{"git", {{"url", "https://git.lan/x.git"}}}, {"strategy", "kaniko"}};
                   })});
  cases.push_back({"both, and a missing field", with(sources, [](Json& s) { s["build"] = {{"git", Json::object()}}; })});
  cases.push_back({"both, and a wrong type", with(sources, [](Json& s) {
                     s["build"] = {{"git", {{"url", "https://git.lan/x.git"}}}, {"contextDir", 7}};
                   })});
  cases.push_back({"both, and a bad pattern", with(sources, [](Json& s) {
                     s["build"] = {{"git", {{"url", "https://git.lan/x.git"}}}};
                     s["platforms"] = {"linux"};
                   })});
  cases.push_back({"enums and required", with(build, [](Json& s) {
                     s["build"]["emulation"] = "Sometimes";
                     s["build"]["strategy"] = "kaniko";
                     s["build"]["git"].erase("url");
                   })});
  cases.push_back({"no image", with(sources, [](Json& s) { s.erase("image"); })});
  cases.push_back({"empty platforms", with(sources, [](Json& s) { s["platforms"] = Json::array(); })});
  cases.push_back({"duplicate platforms", with(sources, [](Json& s) { s["platforms"] = {"linux/amd64", "linux/amd64"}; })});
  cases.push_back({"unknown field", with(sources, [](Json& s) { s["platfroms"] = {"linux/amd64"}; })});
  cases.push_back({"unknown nested field", with(build, [](Json& s) { s["build"]["git"]["branch"] = "main"; })});
  cases.push_back({"pushSecretRef without name", with(sources, [](Json& s) { s["pushSecretRef"] = Json::object(); })});
  cases.push_back({"non-string build arg", with(build, [](Json& s) { s["build"]["buildArgs"]["N"] = 3; })});
  cases.push_back({"wrong types", with(sources, [](Json& s) {
                     s["image"] = 42;
                     s["sources"] = "all";
                   })});
  cases.push_back({"resources as numbers", with(build, [](Json& s) { s["build"]["resources"]["requests"]["cpu"] = 2; })});
  // Following base images (issue 17).
  cases.push_back({"bad base-image fields", with(build, [](Json& s) {
                     s["build"]["rebuildPolicy"] = "Daily";
                     s["build"]["baseImages"] = {"debian:12", "debian:12", ""};
                     s["build"]["platformOverrides"]["linux/arm/v7"]["strategy"] = "kaniko";
                   })});
  cases.push_back({"followBaseImages not a boolean", with(build, [](Json& s) { s["build"]["followBaseImages"] = "yes"; })});
  cases.push_back({"baseImages and followBaseImages", with(build, [](Json& s) { s["build"]["followBaseImages"] = true; })});
  cases.push_back({"followBaseImages with an empty list", with(build, [](Json& s) {
                     s["build"]["followBaseImages"] = true;
                     s["build"]["baseImages"] = Json::array();
                   })});
  cases.push_back({"too many base images", with(build, [](Json& s) {
                     s["build"]["baseImages"] = Json::array();
                     for (int i = 0; i < 17; ++i) s["build"]["baseImages"].push_back("base" + std::to_string(i) + ":1");
                   })});
  cases.push_back({"overlong base image", with(build, [](Json& s) { s["build"]["baseImages"] = {std::string(513, 'b')}; })});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Json object = Mai("case", c.spec);
    http::Response raw;
    const Causes api = ApiCauses(object, &raw);
    const Causes ours = ValidatorCauses(object);
    EXPECT_EQ(ours, api) << "the apiserver said:\n" << Describe(api) << "the hand-written validator said:\n"
                         << Describe(ours) << "(HTTP " << raw.status << ")";
  }
}

// The status the operator writes for a resource following its bases is kept whole by the
// real apiserver (a field missing from the CRD's schema would be pruned on write).
TEST_F(CrdOnApiserver, TheBaseImageStatusIsStoredUnpruned) {
  Json object = optest::LoadYamlFile(kSourceDir + "/crds/examples/build-follow-bases.yaml");
  object["metadata"]["namespace"] = "schema";
  http::Response created = Cluster().Call("POST", MaiCollection("schema"), object.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  Json stored = Body(created);
  const Json status = optest::LoadYamlFile(kSourceDir + "/tests/operator/testdata/status-follow-bases.json");
  stored["status"] = status;
  EXPECT_TRUE(ValidatorCauses(stored).empty()) << Describe(ValidatorCauses(stored));
  http::Response updated = Cluster().Call("PUT", MaiCollection("schema") + "/tools/status", stored.dump());
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(Body(Cluster().Call("GET", MaiCollection("schema") + "/tools"))["status"], status);
  // `kubectl get -o wide` prints the followed bases and when a base change last rebuilt it
  // (the CRD's priority-1 printer columns); plain `kubectl get` leaves them out.
  if (Cluster().binaries().kubectl.empty()) {
    std::printf("kubectl is not on PATH: the printer columns were not printed (the schema test checks them)\n");
    return;
  }
  auto kubectl = [](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {Cluster().binaries().kubectl, "--kubeconfig", Cluster().admin_kubeconfig(), "-n",
                                     "schema", "get", "mai", "tools"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunCommand(argv, std::chrono::seconds(30));
  };
  auto wide = kubectl({"-o", "wide"});
  ASSERT_EQ(wide.exit_code, 0) << wide.output;
  EXPECT_NE(wide.output.find("BASES"), std::string::npos) << wide.output;
  EXPECT_NE(wide.output.find("BASE-REBUILD"), std::string::npos) << wide.output;
  EXPECT_NE(wide.output.find("docker.io/library/debian:12-slim"), std::string::npos) << wide.output;
  auto plain = kubectl({});
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(plain.output.find("BASES"), std::string::npos) << plain.output;
  std::printf("kubectl get mai -o wide:\n%s", wide.output.c_str());
}

// --- the operator ---------------------------------------------------------------------

Json NodeObject(const std::string& name, const std::string& arch) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata",
           {{"name", name},
            {"labels", {{"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", arch}, {"kubernetes.io/hostname", name},
                        {"archway.dev/builder", "true"}}}}}};
}

Json ReadyStatus() {
  return {{"status",
           {{"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"},
                             {"message", "kubelet is posting ready status"}}}}}}};
}

class OperatorOnApiserver : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!ClusterAvailable()) return;
    registry_ = new testing::RegistryServer(testing::RegistryServerOptions::Htpasswd({{"ci", "s3cret"}}));
    chart_ = new charttest::Rendered(RenderChart());
    operator_ = StartOperator("operator");
    ASSERT_TRUE(WaitFor([] { return operator_->Ready(); }, std::chrono::seconds(30))) << operator_->Log();
    // Nodes a builder can use: one amd64, one arm64, both Ready (status written as a kubelet would).
    for (auto [name, arch] : {std::pair{"amd-01", "amd64"}, std::pair{"pi-01", "arm64"}}) {
      ASSERT_EQ(Cluster().Call("POST", "/api/v1/nodes", NodeObject(name, arch).dump()).status, 201);
      auto status = Cluster().Call("PATCH", std::string("/api/v1/nodes/") + name + "/status", ReadyStatus().dump(),
                                   "application/merge-patch+json");
      ASSERT_EQ(status.status, 200) << status.body;
    }
  }
  static void TearDownTestSuite() {
    if (!ClusterAvailable()) return;
    if (operator_ != nullptr) {
      EXPECT_EQ(operator_->process().Stop(), 0) << operator_->Log();
      EXPECT_TRUE(operator_->process().GroupGone());
    }
    delete operator_;
    delete chart_;
    delete registry_;
  }
  void SetUp() override { ARCHWAY_REQUIRE_CLUSTER(); }

  // The chart's operator config, resync every 2 s, under the operator's token.
  static ArchwayOperator* StartOperator(const std::string& name) {
    return new ArchwayOperator(name, RenderedConfig(*chart_, "archway-operator"),
                               ServiceAccountKubeconfig(kOperatorServiceAccount), {"--resync", "2s"});
  }

  static Json Get(const std::string& ns, const std::string& name) {
    return Body(Cluster().Call("GET", MaiCollection(ns) + "/" + name));
  }
  static std::string Phase(const std::string& ns, const std::string& name) {
    const Json object = Get(ns, name);
    return object.is_object() ? object.value("status", Json::object()).value("phase", "") : "";
  }
  static std::vector<Json> JobsOf(const std::string& ns, const std::string& name) {
    return Body(Cluster().Call("GET", "/apis/batch/v1/namespaces/" + ns +
                                          "/jobs?labelSelector=archway.dev%2Fmultiarchimage%3D" + name))
        .value("items", Json::array())
        .get<std::vector<Json>>();
  }
  static void CreatePushSecret(const std::string& ns) {
    const std::string config =
        Json{{"auths", {{registry_->host(), {{"auth", Base64Encode("ci:s3cret")}}}}}}.dump();
    const Json secret = {{"apiVersion", "v1"},
                         {"kind", "Secret"},
                         {"metadata", {{"name", "regcred"}}},
                         {"type", "kubernetes.io/dockerconfigjson"},
                         {"data", {{".dockerconfigjson", Base64Encode(config)}}}};
    ASSERT_EQ(Cluster().Call("POST", "/api/v1/namespaces/" + ns + "/secrets", secret.dump()).status, 201);
  }

  // A namespace with the push secret and a one-platform source image, and a sources-mode
  // MultiArchImage "web" publishing <ns>/web:1 from it.
  static void CreateSingleSourceImage(const std::string& ns, const std::string& platform) {
    Cluster().CreateNamespace(ns);
    CreatePushSecret(ns);
    const std::string host = registry_->host();
    testing::PushPlatformImage(*registry_, ns + "/src", "one", platform, ns);
    const Json spec = {{"image", host + "/" + ns + "/web:1"},
                       {"platforms", {platform}},
                       {"pushSecretRef", {{"name", "regcred"}}},
                       {"sources", {{{"image", host + "/" + ns + "/src:one"}}}}};
    ASSERT_EQ(Cluster().Call("POST", MaiCollection(ns), Mai("web", spec).dump()).status, 201);
  }

  static testing::RegistryServer* registry_;
  static charttest::Rendered* chart_;
  static ArchwayOperator* operator_;
};

testing::RegistryServer* OperatorOnApiserver::registry_ = nullptr;
charttest::Rendered* OperatorOnApiserver::chart_ = nullptr;
ArchwayOperator* OperatorOnApiserver::operator_ = nullptr;

TEST_F(OperatorOnApiserver, SourcesModeGoesReadyWithTheDigestAndRecordsEvents) {
  Cluster().CreateNamespace("sources");
  CreatePushSecret("sources");
  const std::string amd = testing::PushPlatformImage(*registry_, "app/src", "amd64", "linux/amd64");
  const std::string arm = testing::PushPlatformImage(*registry_, "app/src", "arm64", "linux/arm64");
  const std::string host = registry_->host();
  const Json spec = {{"image", host + "/app/web:1.4"},
                     {"platforms", {"linux/amd64", "linux/arm64"}},
                     {"pushSecretRef", {{"name", "regcred"}}},
                     {"sources", {{{"image", host + "/app/src:amd64"}}, {{"image", host + "/app/src:arm64"}}}}};
  auto created = Cluster().Call("POST", MaiCollection("sources"), Mai("web", spec).dump());
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_TRUE(WaitFor([] { return Phase("sources", "web") == "Ready"; }, std::chrono::seconds(30)))
      << Get("sources", "web").dump(2) << operator_->Log();
  const Json status = Get("sources", "web").value("status", Json::object());
  // The digest is the list that is now in the registry, listing both sources.
  testing::HttpReply list = testing::HttpCall(
      host, "GET", "/v2/app/web/manifests/1.4",
      {{"Authorization", "Basic " + Base64Encode("ci:s3cret")}, {"Accept", "application/vnd.oci.image.index.v1+json"}});
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(status.value("digest", ""), "sha256:" + Sha256Hex(list.body));
  std::set<std::string> children;
  const Json index = Json::parse(list.body);
  for (const auto& m : index["manifests"]) children.insert(m["digest"].get<std::string>());
  EXPECT_EQ(children, (std::set<std::string>{amd, arm}));
  EXPECT_EQ(status.value("observedGeneration", 0), 1);
  // Status was written through the status subresource, which the real schema accepted whole.
  ASSERT_EQ(status["platforms"].size(), 2u) << status.dump();
  EXPECT_EQ(status["platforms"][0].value("source", ""), host + "/app/src:amd64@" + amd);

  // Events about the resource, recorded by the operator's ServiceAccount.
  ASSERT_TRUE(WaitFor([] {
    for (const auto& e : Body(Cluster().Call("GET", "/apis/events.k8s.io/v1/namespaces/sources/events"))
                             .value("items", Json::array())) {
      if (e["regarding"].value("kind", "") == "MultiArchImage" && e["regarding"].value("name", "") == "web") return true;
    }
    return false;
  }, std::chrono::seconds(10)));
  bool created_by_operator = false;
  for (const auto& e : AuditEventsOf(ServiceAccountUser(kOperatorServiceAccount))) {
    created_by_operator |= e.value("verb", "") == "create" && e["objectRef"].value("resource", "") == "events" &&
                           e["responseStatus"].value("code", 0) == 201;
  }
  EXPECT_TRUE(created_by_operator);
}

TEST_F(OperatorOnApiserver, BuildModeJobsArePinnedOwnedAndCollectedWithTheirOwner) {
  ASSERT_TRUE(Cluster().has_controller_manager()) << "garbage collection needs kube-controller-manager";
  Cluster().CreateNamespace("build");
  CreatePushSecret("build");
  const Json spec = {{"image", registry_->host() + "/app/api:2.0"},
                     {"platforms", {"linux/amd64", "linux/arm64"}},
                     {"pushSecretRef", {{"name", "regcred"}}},
                     {"build",
                      {{"git", {{"url", "https://git.lan/api.git"}, {"revision", "v2.0"}}},
                       {"nodeSelector", {{"archway.dev/builder", "true"}}}}}};
  auto created = Cluster().Call("POST", MaiCollection("build"), Mai("api", spec).dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string uid = Body(created)["metadata"]["uid"];
  ASSERT_TRUE(WaitFor([] { return JobsOf("build", "api").size() == 2; }, std::chrono::seconds(30)))
      << operator_->Log();
  std::set<std::string> archs;
  for (const auto& job : JobsOf("build", "api")) {
    const Json selector = job["spec"]["template"]["spec"]["nodeSelector"];
    EXPECT_EQ(selector.value("kubernetes.io/os", ""), "linux");
    EXPECT_EQ(selector.value("archway.dev/builder", ""), "true") << "the user's selector is kept";
    archs.insert(selector.value("kubernetes.io/arch", ""));
    const Json owners = job["metadata"]["ownerReferences"];
    ASSERT_EQ(owners.size(), 1u);
    EXPECT_EQ(owners[0], (Json{{"apiVersion", "archway.dev/v1alpha1"},
                               {"kind", "MultiArchImage"},
                               {"name", "api"},
                               {"uid", uid},
                               {"controller", true},
                               {"blockOwnerDeletion", true}}));
  }
  EXPECT_EQ(archs, (std::set<std::string>{"amd64", "arm64"}));
  EXPECT_TRUE(WaitFor([] { return Phase("build", "api") == "Building"; }, std::chrono::seconds(10)));

  // Deleting the resource: kube-controller-manager's garbage collector deletes its Jobs.
  auto deleted = Cluster().Call("DELETE", MaiCollection("build") + "/api");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_TRUE(WaitFor([] { return JobsOf("build", "api").empty(); }, std::chrono::seconds(30)))
      << JobsOf("build", "api").size() << " Jobs left";
}

TEST_F(OperatorOnApiserver, ResyncOfAReadyResourceMakesNoWrites) {
  CreateSingleSourceImage("resync", "linux/amd64");
  ASSERT_TRUE(WaitFor([] { return Phase("resync", "web") == "Ready"; }, std::chrono::seconds(30))) << operator_->Log();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the Ready transition's Event and status settle

  auto writes = [] {
    std::vector<Json> out;
    for (const auto& e : AuditEventsOf(ServiceAccountUser(kOperatorServiceAccount))) {
      const std::string verb = e.value("verb", "");
      // The Lease is renewed every 2 s whatever happens: that is leader election, not a resync.
      if (e["objectRef"].value("resource", "") == "leases") continue;
      if (verb == "create" || verb == "update" || verb == "patch" || verb == "delete") out.push_back(e);
    }
    return out;
  };
  const auto sample = "archway_reconciles_total{result=\"success\"}";
  const size_t writes_before = writes().size();
  const double reconciles_before = operator_->MetricSum(sample);
  // Resync is every 2 s: wait for at least two more reconciles of everything.
  ASSERT_TRUE(WaitFor([&] { return operator_->MetricSum(sample) >= reconciles_before + 4; }, std::chrono::seconds(15)))
      << operator_->Metrics();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto after = writes();
  EXPECT_EQ(after.size(), writes_before) << "writes during resyncs:\n"
                                         << DescribeAudit(std::vector<Json>(after.begin() + static_cast<long>(writes_before), after.end()));
}

// Runs last in this suite: it replaces the operator.
// The exec-format-error watcher under the chart's RBAC: a pod on the arm64 node whose
// amd64-only image (behind the registry's auth: resolved with the pod's imagePullSecrets
// from the push-secret cache) failed as runc 1.1 reports it gets one ExecFormatError
// Event, and a later restart adds none.
TEST_F(OperatorOnApiserver, ExecFormatErrorPodGetsOneEvent) {
  const std::string ns = "execfmt";
  Cluster().CreateNamespace(ns);
  CreatePushSecret(ns);
  const std::string digest = testing::PushPlatformIndex(*registry_, ns + "/tool", "v1", {"linux/amd64"}, ns);
  const std::string image = registry_->host() + "/" + ns + "/tool:v1";
  const Json pod = {{"apiVersion", "v1"},
                    {"kind", "Pod"},
                    {"metadata", {{"name", "tool-0"}}},
                    {"spec",
                     {{"nodeName", "pi-01"},
                      {"imagePullSecrets", {{{"name", "regcred"}}}},
                      {"containers", {{{"name", "tool"}, {"image", image}}}}}}};
  auto created = Cluster().Call("POST", "/api/v1/namespaces/" + ns + "/pods", pod.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  // What the kubelet writes after runc 1.1 failed with FallbackToLogsOnError.
  auto write_status = [&](const std::string& name, int restarts) {
    const Json status = {
        {"status",
         {{"phase", "Running"},
          {"containerStatuses",
           {{{"name", "tool"},
             {"image", image},
             {"imageID", registry_->host() + "/" + ns + "/tool@" + digest},
             {"ready", false},
             {"restartCount", restarts},
             {"state", {{"waiting", {{"reason", "CrashLoopBackOff"},
                                     {"message", "back-off 10s restarting failed container=tool pod=" + name}}}}},
             {"lastState", {{"terminated", {{"exitCode", 1}, {"reason", "Error"},
                                             {"message", "exec /usr/bin/tool: exec format error\n"},
                                             {"startedAt", "2025-01-01T00:00:00Z"},
                                             {"finishedAt", "2025-01-01T00:00:01Z"}}}}}}}}}}};
    auto patched = Cluster().Call("PATCH", "/api/v1/namespaces/" + ns + "/pods/" + name + "/status", status.dump(),
                                  "application/strategic-merge-patch+json");
    ASSERT_EQ(patched.status, 200) << patched.body;
  };
  write_status("tool-0", 1);
  auto exec_events = [&](const std::string& name) {
    std::vector<Json> out;
    for (const auto& e : Body(Cluster().Call("GET", "/apis/events.k8s.io/v1/namespaces/" + ns + "/events"))
                             .value("items", Json::array())) {
      if (e.value("reason", "") == "ExecFormatError" && e["regarding"].value("name", "") == name) out.push_back(e);
    }
    return out;
  };
  ASSERT_TRUE(WaitFor([&] { return !exec_events("tool-0").empty(); }, std::chrono::seconds(20))) << operator_->Log();
  const Json event = exec_events("tool-0").front();
  std::printf("ExecFormatError Event recorded by the operator:\n%s\n",
              Json{{"type", event.value("type", "")}, {"reason", event.value("reason", "")},
                   {"regarding", event["regarding"]}, {"note", event.value("note", "")}}
                  .dump(2)
                  .c_str());
  EXPECT_EQ(event.value("type", ""), "Warning");
  const std::string note = event.value("note", "");
  EXPECT_NE(note.find("linux/amd64"), std::string::npos) << note;
  EXPECT_NE(note.find("pi-01"), std::string::npos) << note;
  // Another restart: the status changes, the report does not repeat. A second pod is the
  // barrier that shows the watcher has handled the first one's update.
  write_status("tool-0", 2);
  Json second = pod;
  second["metadata"]["name"] = "tool-1";
  ASSERT_EQ(Cluster().Call("POST", "/api/v1/namespaces/" + ns + "/pods", second.dump()).status, 201);
  write_status("tool-1", 1);
  ASSERT_TRUE(WaitFor([&] { return !exec_events("tool-1").empty(); }, std::chrono::seconds(20))) << operator_->Log();
  EXPECT_EQ(exec_events("tool-0").size(), 1u);
}

TEST_F(OperatorOnApiserver, LeaseIsHeldAndTakenOverOnShutdown) {
  const std::string lease_path = std::string("/apis/coordination.k8s.io/v1/namespaces/") + kReleaseNamespace +
                                 "/leases/archway-operator";
  auto holder = [&] {
    const Json lease = Body(Cluster().Call("GET", lease_path));
    return lease.is_object() ? lease.value("spec", Json::object()).value("holderIdentity", "") : "";
  };
  const std::string first = holder();
  ASSERT_FALSE(first.empty()) << "the running operator holds the Lease";
  // A second replica stands by: ready, but the Lease stays with the first.
  std::unique_ptr<ArchwayOperator> standby(StartOperator("operator-standby"));
  ASSERT_TRUE(WaitFor([&] { return standby->Ready(); }, std::chrono::seconds(30))) << standby->Log();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(holder(), first);
  // SIGTERM releases the Lease, so the standby takes it without waiting for it to expire.
  const auto stopped = Clock::now();
  EXPECT_EQ(operator_->process().Stop(), 0) << operator_->Log();
  std::string second;
  ASSERT_TRUE(WaitFor([&] {
    second = holder();
    return !second.empty() && second != first;
  }, std::chrono::seconds(20)))
      << standby->Log();
  EXPECT_LT(Clock::now() - stopped, std::chrono::seconds(10)) << "taken over before the 15 s lease duration";
  // And the new leader reconciles: a new resource goes Ready.
  CreateSingleSourceImage("takeover", "linux/arm64");
  EXPECT_TRUE(WaitFor([] { return Phase("takeover", "web") == "Ready"; }, std::chrono::seconds(30))) << standby->Log();
  EXPECT_EQ(standby->process().Stop(), 0) << standby->Log();
  EXPECT_TRUE(standby->process().GroupGone());
}

// Runs last: the operator processes' own requests (user agent archway/...), across this
// suite, as the audit log saw them. Nothing was refused, and every read of Secrets was the
// push-secret cache's list or watch with its type field selector (RBAC allows listing all
// Secrets: it cannot narrow a list by field).
TEST_F(OperatorOnApiserver, TheOperatorWasNeverRefusedAndListsOnlyPushSecrets) {
  int own = 0;
  int secret_reads = 0;
  for (const auto& e : AuditEventsOf(ServiceAccountUser(kOperatorServiceAccount))) {
    if (e.value("userAgent", "").rfind("archway/", 0) != 0) continue;  // the tests' own calls with its token
    ++own;
    const int code = e["responseStatus"].value("code", 0);
    EXPECT_TRUE(code != 401 && code != 403) << code << " for " << e.value("verb", "") << " " << e.value("requestURI", "");
    if (e.value("objectRef", Json::object()).value("resource", "") != "secrets") continue;
    ++secret_reads;
    const std::string uri = e.value("requestURI", "");
    EXPECT_NE(uri.find("fieldSelector=type%3Dkubernetes.io%2Fdockerconfigjson"), std::string::npos)
        << "a Secret read without the push-secret field selector: " << e.value("verb", "") << " " << uri;
  }
  EXPECT_GT(own, 0) << "the operator made no request";
  EXPECT_GT(secret_reads, 0) << "the operator's push-secret cache never listed";
}

}  // namespace
}  // namespace archway::apitest

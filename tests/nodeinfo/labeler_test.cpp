// The labeler's reconcile against the in-process fake API server: it reads and patches
// only its own Node, only the archway.dev labels, writes nothing when they are right,
// and says clearly what is wrong when the Node is missing or the API refuses.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "kube/client.h"
#include "nodeinfo/labeler.h"
#include "tests/fakeapi/fake_api_server.h"
#include "tests/nodeinfo/testdata.h"

namespace archway::nodeinfo {
namespace {

using nlohmann::json;
namespace r = kube::resources;

json RealNode(size_t index) {
  // Node objects as a v1.32 apiserver answered them (tests/kube/testdata).
  std::ifstream in(std::string(ARCHWAY_SOURCE_DIR) + "/tests/kube/testdata/nodes-list.json");
  return json::parse(in)["items"].at(index);
}

// A Node shaped like a real one, renamed, with kubernetes.io/arch `arch` ("" = none).
json NodeNamed(const std::string& name, const std::string& arch, json extra_labels = json::object()) {
  json node = RealNode(0);
  json& meta = node["metadata"];
  for (const char* k : {"uid", "resourceVersion", "creationTimestamp", "managedFields"}) meta.erase(k);
  meta["name"] = name;
  meta["labels"]["kubernetes.io/hostname"] = name;
  meta["labels"]["kubernetes.io/arch"] = arch;
  meta["labels"]["beta.kubernetes.io/arch"] = arch;
  if (arch.empty()) {
    meta["labels"].erase("kubernetes.io/arch");
    meta["labels"].erase("beta.kubernetes.io/arch");
  }
  for (auto& [k, v] : extra_labels.items()) meta["labels"][k] = v;
  node["spec"]["taints"] = json::array({{{"key", "dedicated"}, {"value", "edge"}, {"effect", "NoSchedule"}}});
  return node;
}

NodeFacts Recorded(const std::string& sample, const std::string& node_arch, const std::string& machine,
                   std::optional<Arm32Probe> probe = std::nullopt) {
  NodeFacts facts;
  facts.node_arch = node_arch;
  facts.process_arch = node_arch;
  facts.machine = machine;
  facts.cpuinfo = testing::Sample(sample);
  facts.arm32 = std::move(probe);
  return facts;
}

json WithoutVolatile(json node) {
  node["metadata"].erase("resourceVersion");
  node["metadata"].erase("managedFields");
  return node;
}

class LabelerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    kube::ClientOptions options;
    options.qps = 0;
    options.max_retries = 0;
    auto client = kube::NewHttpClient(server_.ClusterConfig(), options);
    ASSERT_TRUE(client.ok()) << client.error().message;
    client_ = std::move(*client);
    server_.Put(r::kNodes, NodeNamed("pi-zero", "arm"));
    server_.Put(r::kNodes, NodeNamed("pi4", "arm64"));
    server_.Put(r::kNodes, NodeNamed("graviton", "arm64"));
    server_.Put(r::kNodes, RealNode(0));  // amd-01
    server_.Put(r::kNodes, RealNode(1));
    server_.ResetCounts();
  }

  json NodeLabels(const std::string& name) { return server_.Peek(r::kNodes, "", name).value()["metadata"]["labels"]; }

  // Every Node but `except`, without resourceVersions: to show they were left alone.
  std::map<std::string, json> OthersThan(const std::string& except) {
    std::map<std::string, json> nodes;
    for (auto& node : server_.Objects(r::kNodes)) {
      const std::string name = node["metadata"]["name"];
      if (name != except) nodes[name] = WithoutVolatile(node);
    }
    return nodes;
  }

  fakeapi::FakeApiServer server_;
  std::unique_ptr<kube::Client> client_;
};

TEST_F(LabelerTest, PatchesOnlyItsOwnNodeAndOnlyArchwayLabels) {
  const auto others = OthersThan("pi-zero");
  json before = WithoutVolatile(*server_.Peek(r::kNodes, "", "pi-zero"));
  std::string asked_arch;
  auto outcome = Reconcile(*client_, "pi-zero", [&](const std::string& arch) {
    asked_arch = arch;
    return Recorded("pi-zero-raspbian-buster.txt", arch, "armv6l");
  });
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_EQ(asked_arch, "arm") << "facts are gathered for the Node's own kubernetes.io/arch";
  EXPECT_TRUE(outcome->written);
  EXPECT_EQ(outcome->patch, json::parse(R"({"metadata":{"labels":{"archway.dev/arm-variant":"v6"}}})"));

  // Requests: one GET and one PATCH, both of /api/v1/nodes/pi-zero.
  EXPECT_EQ(server_.RequestCount("get"), 1);
  EXPECT_EQ(server_.RequestCount("patch"), 1);
  EXPECT_EQ(server_.WriteCount(), 1);
  for (const auto& request : server_.Requests()) EXPECT_EQ(request.path, "/api/v1/nodes/pi-zero") << request.method;

  // The Node changed by exactly one label; every other Node is untouched.
  json after = WithoutVolatile(*server_.Peek(r::kNodes, "", "pi-zero"));
  EXPECT_EQ(after["metadata"]["labels"]["archway.dev/arm-variant"], "v6");
  after["metadata"]["labels"].erase("archway.dev/arm-variant");
  EXPECT_EQ(after, before);
  EXPECT_EQ(OthersThan("pi-zero"), others);
}

TEST_F(LabelerTest, NoWriteWhenTheLabelsAreAlreadyRight) {
  auto facts = [](const std::string& arch) {
    return Recorded("pi4-model-b-64bit.txt", arch, "aarch64", Arm32Probe{Arm32Support::kNative, "aarch64", "ran"});
  };
  ASSERT_TRUE(Reconcile(*client_, "pi4", facts).ok());
  EXPECT_EQ(NodeLabels("pi4")["archway.dev/arm-variant"], "v8");
  EXPECT_EQ(NodeLabels("pi4")["archway.dev/arm32"], "v8");
  server_.ResetCounts();
  const int64_t rv = server_.CurrentResourceVersion();
  for (int i = 0; i < 3; ++i) {
    auto again = Reconcile(*client_, "pi4", facts);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_FALSE(again->written);
    EXPECT_TRUE(again->patch.is_null());
  }
  EXPECT_EQ(server_.WriteCount(), 0);
  EXPECT_EQ(server_.RequestCount("get"), 3);
  EXPECT_EQ(server_.CurrentResourceVersion(), rv);
}

TEST_F(LabelerTest, FollowsTheFactsAndRemovesALabelThatNoLongerApplies) {
  // An arm64 server whose kernel loses 32-bit support (e.g. rebooted into a 16K-page kernel).
  auto native = [](const std::string& arch) {
    return Recorded("grace-neoverse-v2.txt", arch, "aarch64", Arm32Probe{Arm32Support::kNative, "aarch64", "ran"});
  };
  auto refused = [](const std::string& arch) {
    return Recorded("grace-neoverse-v2.txt", arch, "aarch64", Arm32Probe{Arm32Support::kNotExecutable, "", "ENOEXEC"});
  };
  ASSERT_TRUE(Reconcile(*client_, "graviton", native).ok());
  EXPECT_EQ(NodeLabels("graviton")["archway.dev/arm32"], "v8");
  auto changed = Reconcile(*client_, "graviton", refused);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->patch, json::parse(R"({"metadata":{"labels":{"archway.dev/arm32":"none"}}})"));
  EXPECT_EQ(NodeLabels("graviton")["archway.dev/arm32"], "none");

  // A 32-bit node carrying a stale arm32 label (say, reinstalled with a 32-bit OS).
  server_.Put(r::kNodes, NodeNamed("pi-zero", "arm", {{"archway.dev/arm32", "v8"}, {"archway.dev/arm-variant", "v8"}}));
  auto cleaned = Reconcile(*client_, "pi-zero", [](const std::string& arch) {
    return Recorded("pi-zero-raspbian-buster.txt", arch, "armv6l");
  });
  ASSERT_TRUE(cleaned.ok()) << cleaned.error().message;
  EXPECT_EQ(cleaned->patch,
            json::parse(R"({"metadata":{"labels":{"archway.dev/arm-variant":"v6","archway.dev/arm32":null}}})"));
  json labels = NodeLabels("pi-zero");
  EXPECT_FALSE(labels.contains("archway.dev/arm32"));
  EXPECT_EQ(labels["archway.dev/arm-variant"], "v6");
  EXPECT_EQ(labels["team"], nullptr);
  EXPECT_EQ(labels["kubernetes.io/hostname"], "pi-zero");
}

TEST_F(LabelerTest, AnAmd64NodeLosesStaleArchwayLabels) {
  server_.Put(r::kNodes, NodeNamed("x86", "amd64", {{"archway.dev/arm-variant", "v7"}}));
  auto outcome = Reconcile(*client_, "x86", [](const std::string& arch) {
    return Recorded("build-machine-x86_64.txt", arch, "x86_64");
  });
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->patch, json::parse(R"({"metadata":{"labels":{"archway.dev/arm-variant":null}}})"));
  EXPECT_FALSE(NodeLabels("x86").contains("archway.dev/arm-variant"));
  EXPECT_EQ(NodeLabels("x86")["kubernetes.io/arch"], "amd64");
}

TEST_F(LabelerTest, NodeWithoutArchLabelIsAskedWithEmptyArch) {
  server_.Put(r::kNodes, NodeNamed("bare", ""));
  std::string asked = "unset";
  auto outcome = Reconcile(*client_, "bare", [&](const std::string& arch) {
    asked = arch;
    return NodeFacts{};
  });
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(asked, "");
  EXPECT_TRUE(outcome->patch.is_null());
}

TEST_F(LabelerTest, MissingNodeIsAClearErrorAndNoWrite) {
  auto outcome = Reconcile(*client_, "pi-nine", [](const std::string&) { return NodeFacts{}; });
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kNotFound);
  EXPECT_NE(outcome.error().message.find("cannot get its Node: nodes pi-nine"), std::string::npos) << outcome.error().message;
  EXPECT_NE(outcome.error().message.find("NODE_NAME"), std::string::npos) << outcome.error().message;
  EXPECT_EQ(server_.WriteCount(), 0);
}

TEST_F(LabelerTest, ForbiddenPatchNamesThePermission) {
  server_.FailNext("/api/v1/nodes/pi4", 1, 403, 0, "PATCH");
  auto outcome = Reconcile(*client_, "pi4", [](const std::string& arch) {
    return Recorded("pi4-model-b-64bit.txt", arch, "aarch64", Arm32Probe{Arm32Support::kNative, "aarch64", "ran"});
  });
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kForbidden);
  EXPECT_NE(outcome.error().message.find("cannot patch its Node"), std::string::npos) << outcome.error().message;
  EXPECT_NE(outcome.error().message.find("get and patch on nodes"), std::string::npos) << outcome.error().message;
  EXPECT_FALSE(NodeLabels("pi4").contains("archway.dev/arm-variant"));
}

// Bodies a real v1.28.15 apiserver sent with the chart's RBAC and policy (testdata/README.md).
TEST_F(LabelerTest, ForbiddenByRbacWithTheRealApiServersBody) {
  server_.FailNextWithBody("/api/v1/nodes/pi4", 1, 403, testing::Testdata("status-403-get-node-rbac.json"));
  auto outcome = Reconcile(*client_, "pi4", [](const std::string&) { return NodeFacts{}; });
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kForbidden);
  const std::string& message = outcome.error().message;
  EXPECT_NE(message.find("cannot get resource \"nodes\""), std::string::npos) << message;
  EXPECT_NE(message.find("which the chart's ClusterRole grants"), std::string::npos) << message;
}

TEST_F(LabelerTest, RefusedByTheAdmissionPolicyWithTheRealApiServersBody) {
  // The GET goes through; the body answers the PATCH (FailNextWithBody has no method
  // filter, so it is armed from inside the facts callback, between the two requests).
  auto outcome = Reconcile(*client_, "pi4", [&](const std::string& arch) {
    server_.FailNextWithBody("/api/v1/nodes/pi4", 1, 403, testing::Testdata("status-403-patch-node-policy.json"));
    return Recorded("pi4-model-b-64bit.txt", arch, "aarch64", Arm32Probe{Arm32Support::kNative, "aarch64", "ran"});
  });
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kForbidden);
  const std::string& message = outcome.error().message;
  EXPECT_NE(message.find("ValidatingAdmissionPolicy 'archway-node-labeler'"), std::string::npos) << message;
  EXPECT_NE(message.find("refused by admission"), std::string::npos) << message;
  EXPECT_EQ(message.find("ClusterRole"), std::string::npos) << "not an RBAC problem: " << message;
}

TEST_F(LabelerTest, DryRunReadsButNeverWrites) {
  auto outcome = Reconcile(
      *client_, "pi-zero", [](const std::string& arch) { return Recorded("pi-zero-raspbian-buster.txt", arch, "armv6l"); },
      /*dry_run=*/true);
  ASSERT_TRUE(outcome.ok());
  EXPECT_FALSE(outcome->written);
  EXPECT_FALSE(outcome->patch.is_null());
  EXPECT_EQ(server_.WriteCount(), 0);
}

TEST_F(LabelerTest, InvalidNodeNameSendsNothing) {
  for (const char* name : {"", "Pi-Zero", "pi_zero", "-pi", "pi..zero", "pi/zero"}) {
    auto outcome = Reconcile(*client_, name, [](const std::string&) { return NodeFacts{}; });
    ASSERT_FALSE(outcome.ok()) << name;
    EXPECT_EQ(outcome.error().code, ErrorCode::kInvalidArgument) << name;
  }
  EXPECT_EQ(server_.Requests().size(), 0u);
  EXPECT_EQ(NodeNameProblem("k3s-agent-1.lan"), "");
  EXPECT_EQ(NodeNameProblem(std::string(254, 'a')), "longer than 253 characters");
}

}  // namespace
}  // namespace archway::nodeinfo

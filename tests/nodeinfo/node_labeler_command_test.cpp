// `archway node-labeler` as a process against the fake API server: --once on a Node that
// claims arm64 (so this machine's real 32-bit arm probe decides archway.dev/arm32), the
// long-running loop with NODE_NAME from the environment ending cleanly on SIGTERM, usage
// errors, and --print.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include "nodeinfo/facts.h"
#include "tests/fakeapi/fake_api_server.h"
#include "tests/nodeinfo/testdata.h"
#include "tests/support/process.h"

namespace archway::nodeinfo {
namespace {

using nlohmann::json;
using archway::testing::RunCommand;
using archway::testing::TempDir;
namespace r = kube::resources;

json MinimalNode(const std::string& name, const std::string& arch, json labels = json::object()) {
  labels["kubernetes.io/arch"] = arch;
  labels["kubernetes.io/os"] = "linux";
  labels["kubernetes.io/hostname"] = name;
  return {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}, {"labels", labels}}},
          {"spec", json::object()}};
}

class NodeLabelerCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    kubeconfig_ = dir_.File("kubeconfig");
    archway::testing::WriteFile(kubeconfig_, "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n"
                                             "    server: " + api_.url() +
                                                 "\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: c\n  context: "
                                                 "{cluster: fake, user: u}\ncurrent-context: c\n");
    api_.Put(r::kNodes, MinimalNode("neighbour", "arm64"));
    unsetenv("NODE_NAME");
  }

  json Labels(const std::string& node) { return api_.Peek(r::kNodes, "", node).value()["metadata"]["labels"]; }

  fakeapi::FakeApiServer api_;
  TempDir dir_{"archway-node-labeler"};
  std::string kubeconfig_;
};

TEST_F(NodeLabelerCommandTest, OnceLabelsAnArm64NodeFromThisMachinesProbe) {
  api_.Put(r::kNodes, MinimalNode("probe-node", "arm64"));
  const json neighbour = api_.Peek(r::kNodes, "", "neighbour").value();
  api_.ResetCounts();
  auto run = RunCommand({ARCHWAY_BINARY, "node-labeler", "--once", "--node-name", "probe-node", "--kubeconfig",
                         kubeconfig_});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  json labels = Labels("probe-node");
  EXPECT_EQ(labels["archway.dev/arm-variant"], "v8");
  if (std::string(BuildArch()) != "arm64") {
    // This machine cannot run 32-bit arm code natively; emulated or not, the label is none.
    EXPECT_EQ(labels["archway.dev/arm32"], "none") << run.output;
    EXPECT_NE(run.output.find("32-bit arm: none"), std::string::npos) << run.output;
  }
  EXPECT_NE(run.output.find("\"msg\":\"node labelled\""), std::string::npos) << run.output;
  EXPECT_EQ(api_.RequestCount("patch"), 1);
  EXPECT_EQ(api_.WriteCount(), 1);
  for (const auto& request : api_.Requests()) EXPECT_EQ(request.path, "/api/v1/nodes/probe-node");
  EXPECT_EQ(api_.Peek(r::kNodes, "", "neighbour").value(), neighbour);

  api_.ResetCounts();
  auto again = RunCommand({ARCHWAY_BINARY, "node-labeler", "--once", "--node-name", "probe-node", "--kubeconfig",
                           kubeconfig_});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("node labels already right"), std::string::npos) << again.output;
  EXPECT_EQ(api_.WriteCount(), 0);
}

TEST_F(NodeLabelerCommandTest, LoopTakesNodeNameFromTheEnvironmentAndStopsOnSigterm) {
  api_.Put(r::kNodes, MinimalNode("loop-node", "amd64", {{"archway.dev/arm-variant", "v7"}}));
  const std::string log_path = dir_.File("labeler.log");
  const std::string binary = ARCHWAY_BINARY;
  const std::string kubeconfig = kubeconfig_;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FILE* log = std::fopen(log_path.c_str(), "w");
    if (log) {
      dup2(fileno(log), 1);
      dup2(fileno(log), 2);
    }
    setenv("NODE_NAME", "loop-node", 1);
    execl(binary.c_str(), binary.c_str(), "node-labeler", "--kubeconfig", kubeconfig.c_str(), "--interval", "1h",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Labels("loop-node").contains("archway.dev/arm-variant") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(Labels("loop-node").contains("archway.dev/arm-variant")) << archway::testing::ReadFile(log_path);
  EXPECT_EQ(Labels("loop-node")["kubernetes.io/arch"], "amd64");
  kill(pid, SIGTERM);
  int status = 0;
  pid_t reaped = 0;
  const auto stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((reaped = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < stop_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (reaped == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "the labeler did not stop on SIGTERM\n" << archway::testing::ReadFile(log_path);
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << archway::testing::ReadFile(log_path);
  const std::string log = archway::testing::ReadFile(log_path);
  EXPECT_NE(log.find("\"msg\":\"stopping\""), std::string::npos) << log;
  EXPECT_EQ(api_.RequestCount("patch"), 1);
}

TEST_F(NodeLabelerCommandTest, MissingNodeFailsOnceWithAHint) {
  auto run = RunCommand({ARCHWAY_BINARY, "node-labeler", "--once", "--node-name", "ghost", "--kubeconfig", kubeconfig_});
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("no such Node"), std::string::npos) << run.output;
  EXPECT_EQ(api_.WriteCount(), 0);
}

TEST_F(NodeLabelerCommandTest, UsageErrors) {
  const std::vector<std::vector<std::string>> cases = {
      {"--once", "--kubeconfig", kubeconfig_},                // no NODE_NAME, no --node-name
      {"--once", "--node-name", "Pi_Zero"},                   // not a Node name
      {"--frobnicate"},
      {"--node-name"},                                        // missing value
      {"--interval", "10ms", "--node-name", "a"},
      {"--interval", "soon", "--node-name", "a"},
      {"--print", "--once"},
      {"--json", "--node-name", "a"},
  };
  for (auto args : cases) {
    args.insert(args.begin(), {ARCHWAY_BINARY, "node-labeler"});
    auto run = RunCommand(args);
    EXPECT_EQ(run.exit_code, 2) << args[2] << "\n" << run.output;
    EXPECT_NE(run.output.find("usage: archway node-labeler"), std::string::npos) << run.output;
  }
  EXPECT_EQ(api_.Requests().size(), 0u);
  auto help = RunCommand({ARCHWAY_BINARY, "node-labeler", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  auto top = RunCommand({ARCHWAY_BINARY, "--help"});
  EXPECT_NE(top.output.find("node-labeler"), std::string::npos) << top.output;
}

TEST_F(NodeLabelerCommandTest, PrintShowsFactsAndLabelsWithoutAnApi) {
  auto text = RunCommand({ARCHWAY_BINARY, "node-labeler", "--print"});
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("arm32 probe"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("label         archway.dev/arm-variant"), std::string::npos) << text.output;

  auto zero = RunCommand({ARCHWAY_BINARY, "node-labeler", "--print", "--node-arch", "arm", "--cpuinfo",
                          testing::TestdataPath("cpuinfo/pi-zero-raspbian-buster.txt")});
  ASSERT_EQ(zero.exit_code, 0) << zero.output;
  EXPECT_NE(zero.output.find("label         archway.dev/arm-variant=v6"), std::string::npos) << zero.output;
  EXPECT_NE(zero.output.find("label         archway.dev/arm32 (absent)"), std::string::npos) << zero.output;

  auto json_run = RunCommand({ARCHWAY_BINARY, "node-labeler", "--print", "--json", "--node-arch", "arm64"});
  ASSERT_EQ(json_run.exit_code, 0) << json_run.output;
  json out = json::parse(json_run.output, nullptr, false);
  ASSERT_FALSE(out.is_discarded()) << json_run.output;
  EXPECT_EQ(out["labels"]["archway.dev/arm-variant"], "v8");
  EXPECT_EQ(out["facts"]["buildArch"], BuildArch());
  EXPECT_TRUE(out["facts"]["arm32Probe"]["support"].is_string());
  if (std::string(BuildArch()) != "arm64") {
    EXPECT_EQ(out["labels"]["archway.dev/arm32"], "none");
  }
  EXPECT_EQ(api_.Requests().size(), 0u);
}

}  // namespace
}  // namespace archway::nodeinfo

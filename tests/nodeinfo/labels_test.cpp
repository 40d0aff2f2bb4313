// The detection table: recorded boards -> the archway.dev labels they get, and the
// merge patch that gets a Node there.
#include <gtest/gtest.h>

#include "nodeinfo/labels.h"
#include "tests/nodeinfo/testdata.h"

namespace archway::nodeinfo {
namespace {

using nlohmann::json;
using testing::Sample;

Arm32Probe Probe(Arm32Support support, std::string machine = "", std::string detail = "detail") {
  return Arm32Probe{support, std::move(machine), std::move(detail)};
}

// A board as the labeler sees it: its recorded cpuinfo, the Node's kubernetes.io/arch,
// uname -m, and (on arm64) the probe's answer. AT_HWCAP was not recorded with the
// samples, so it is left 0 and only cpuinfo's Features speak for the capabilities.
NodeFacts Board(const std::string& sample, const std::string& node_arch, const std::string& machine,
                std::optional<Arm32Probe> probe = std::nullopt) {
  NodeFacts facts;
  facts.node_arch = node_arch;
  facts.process_arch = node_arch == "arm64" ? "arm64" : node_arch == "arm" ? "arm" : "amd64";
  facts.machine = machine;
  facts.cpuinfo = Sample(sample);
  facts.arm32 = std::move(probe);
  return facts;
}

std::optional<std::string> Label(const LabelPlan& plan, const char* key) {
  auto it = plan.labels.find(key);
  EXPECT_NE(it, plan.labels.end()) << "every plan decides every archway label: " << key;
  return it == plan.labels.end() ? std::nullopt : it->second;
}

std::string Notes(const LabelPlan& plan) {
  std::string all;
  for (const auto& note : plan.notes) all += note + "\n";
  return all;
}

struct Row {
  const char* board;
  NodeFacts facts;
  std::optional<std::string> arm_variant;
  std::optional<std::string> arm32;
};

TEST(Labels, DetectionTable) {
  const std::vector<Row> rows = {
      {"Pi Zero (ARMv6, 32-bit)", Board("pi-zero-raspbian-buster.txt", "arm", "armv6l"), "v6", std::nullopt},
      {"Pi 1 Model B (ARMv6)", Board("pi1-model-b.txt", "arm", "armv6l"), "v6", std::nullopt},
      {"Pi 2 Model B (Cortex-A7)", Board("pi2-model-b-raspbian.txt", "arm", "armv7l"), "v7", std::nullopt},
      {"Pi 3, 32-bit kernel", Board("pi3-model-b-32bit.txt", "arm", "armv7l"), "v7", std::nullopt},
      {"CM4, 32-bit kernel", Board("cm4-32bit.txt", "arm", "armv7l"), "v7", std::nullopt},
      {"Pi 4, 64-bit kernel, 32-bit userland (arm node)", Board("pi4-model-b-64bit.txt", "arm", "aarch64"), "v8",
       std::nullopt},
      {"Pi 4, 64-bit OS", Board("pi4-model-b-64bit.txt", "arm64", "aarch64", Probe(Arm32Support::kNative, "aarch64")),
       "v8", "v8"},
      {"Pi 3, 64-bit OS", Board("pi3-model-b-64bit.txt", "arm64", "aarch64", Probe(Arm32Support::kNative, "aarch64")),
       "v8", "v8"},
      {"Grace / Graviton4 (Neoverse V2)",
       Board("grace-neoverse-v2.txt", "arm64", "aarch64", Probe(Arm32Support::kNotExecutable)), "v8", "none"},
      {"Pi 4, arm64 kernel built without CONFIG_COMPAT",
       Board("pi4-model-b-64bit.txt", "arm64", "aarch64", Probe(Arm32Support::kNotExecutable)), "v8", "none"},
      {"arm64 with qemu-arm binfmt",
       Board("grace-neoverse-v2.txt", "arm64", "aarch64", Probe(Arm32Support::kEmulated, "armv7l")), "v8", "none"},
      {"arm64, probe refused (EACCES)",
       Board("pi4-model-b-64bit.txt", "arm64", "aarch64", Probe(Arm32Support::kProbeFailed)), "v8", "none"},
      {"this x86_64 build machine", Board("build-machine-x86_64.txt", "amd64", "x86_64"), std::nullopt, std::nullopt},
  };
  for (const Row& row : rows) {
    LabelPlan plan = PlanLabels(row.facts);
    EXPECT_EQ(Label(plan, kArmVariantLabel), row.arm_variant) << row.board << "\n" << Notes(plan);
    EXPECT_EQ(Label(plan, kArm32Label), row.arm32) << row.board << "\n" << Notes(plan);
    EXPECT_EQ(plan.labels.size(), 2u) << row.board;
    EXPECT_FALSE(plan.notes.empty()) << row.board;
  }
}

TEST(Labels, NotesExplainTheDecisions) {
  LabelPlan zero = PlanLabels(Board("pi-zero-raspbian-buster.txt", "arm", "armv6l"));
  EXPECT_NE(Notes(zero).find("Raspberry Pi ARMv6 quirk"), std::string::npos) << Notes(zero);

  // A Pi 3 with a 32-bit kernel: the CPU is ARMv8, containerd there pulls v7 images.
  LabelPlan pi3 = PlanLabels(Board("pi3-model-b-32bit.txt", "arm", "armv7l"));
  EXPECT_NE(Notes(pi3).find("the CPU has v8 capabilities, but containerd here selects v7"), std::string::npos)
      << Notes(pi3);

  LabelPlan emulated = PlanLabels(
      Board("grace-neoverse-v2.txt", "arm64", "aarch64", Probe(Arm32Support::kEmulated, "armv7l", "ran under qemu")));
  EXPECT_NE(Notes(emulated).find("emulated programs are not counted"), std::string::npos) << Notes(emulated);
  EXPECT_NE(Notes(emulated).find("not visible"), std::string::npos) << Notes(emulated);

  NodeFacts with_handler = Board("grace-neoverse-v2.txt", "arm64", "aarch64", Probe(Arm32Support::kEmulated, "armv7l"));
  with_handler.binfmt = ReadBinfmtMisc(testing::TestdataPath("binfmt"));
  EXPECT_NE(Notes(PlanLabels(with_handler)).find("binfmt_misc qemu-arm-tonistiigi -> /usr/bin/qemu-arm"),
            std::string::npos);

  LabelPlan unprobed = PlanLabels(Board("pi4-model-b-64bit.txt", "arm64", "aarch64"));
  EXPECT_EQ(Label(unprobed, kArm32Label), "none");
  EXPECT_NE(Notes(unprobed).find("not probed"), std::string::npos);
}

TEST(Labels, ArmNodeWithoutCpuinfoFallsBackToUnameThenCapabilities) {
  NodeFacts facts;
  facts.node_arch = "arm";
  facts.process_arch = "arm";
  facts.machine = "armv7l";
  facts.cpuinfo_error = "/proc/cpuinfo: Permission denied";
  LabelPlan plan = PlanLabels(facts);
  EXPECT_EQ(Label(plan, kArmVariantLabel), "v7");
  EXPECT_NE(Notes(plan).find("Permission denied"), std::string::npos);

  // Neither cpuinfo nor uname: AT_HWCAP of a 32-bit process (neon, vfpv4, lpae) decides.
  facts.machine = "unknown-machine";
  facts.hwcap = (1u << 12) | (1u << 16) | (1u << 20);
  plan = PlanLabels(facts);
  EXPECT_EQ(Label(plan, kArmVariantLabel), "v7");
  EXPECT_NE(Notes(plan).find("capabilities decide"), std::string::npos) << Notes(plan);

  // The same bits read by an arm64 process mean something else and are ignored.
  facts.process_arch = "arm64";
  plan = PlanLabels(facts);
  EXPECT_EQ(Label(plan, kArmVariantLabel), std::nullopt);
  EXPECT_NE(Notes(plan).find("no arm variant label"), std::string::npos);
}

TEST(Labels, VariantsBelowV5AreNotLabelled) {
  NodeFacts facts;
  facts.node_arch = "arm";
  facts.cpuinfo = CpuInfo{.processors = 1, .cpu_architecture = "4T"};
  LabelPlan plan = PlanLabels(facts);
  EXPECT_EQ(Label(plan, kArmVariantLabel), std::nullopt);
  EXPECT_NE(Notes(plan).find("v4"), std::string::npos);
  facts.cpuinfo->cpu_architecture = "5TEJ";
  EXPECT_EQ(Label(PlanLabels(facts), kArmVariantLabel), "v5");
}

TEST(Labels, NodeWithoutArchLabelGetsNeither) {
  NodeFacts facts;  // node_arch ""
  LabelPlan plan = PlanLabels(facts);
  EXPECT_EQ(Label(plan, kArmVariantLabel), std::nullopt);
  EXPECT_EQ(Label(plan, kArm32Label), std::nullopt);
  EXPECT_NE(Notes(plan).find("unknown"), std::string::npos);
}

TEST(LabelPatch, TouchesOnlyArchwayLabelsThatDiffer) {
  LabelPlan plan;
  plan.labels[kArmVariantLabel] = "v8";
  plan.labels[kArm32Label] = "none";
  json current = {{"kubernetes.io/arch", "arm64"}, {"team", "edge"}};
  EXPECT_EQ(LabelPatch(current, plan),
            json::parse(R"({"metadata":{"labels":{"archway.dev/arm-variant":"v8","archway.dev/arm32":"none"}}})"));

  current[kArmVariantLabel] = "v8";
  current[kArm32Label] = "none";
  EXPECT_TRUE(LabelPatch(current, plan).is_null()) << "already right: no write";

  current[kArm32Label] = "v8";
  EXPECT_EQ(LabelPatch(current, plan), json::parse(R"({"metadata":{"labels":{"archway.dev/arm32":"none"}}})"));

  plan.labels[kArm32Label] = std::nullopt;  // e.g. the node turned out to be 32-bit
  EXPECT_EQ(LabelPatch(current, plan), json::parse(R"({"metadata":{"labels":{"archway.dev/arm32":null}}})"));
  current.erase(kArm32Label);
  EXPECT_TRUE(LabelPatch(current, plan).is_null()) << "absent and should be: nothing to do";

  EXPECT_EQ(LabelPatch(nullptr, plan), json::parse(R"({"metadata":{"labels":{"archway.dev/arm-variant":"v8"}}})"));
  current[kArmVariantLabel] = 8;  // not a string: replaced
  EXPECT_EQ(LabelPatch(current, plan), json::parse(R"({"metadata":{"labels":{"archway.dev/arm-variant":"v8"}}})"));
}

}  // namespace
}  // namespace archway::nodeinfo

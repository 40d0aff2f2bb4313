// containerd's arm variant rules (platforms/cpuinfo_linux.go) and the capability floor.
#include <gtest/gtest.h>

#include "nodeinfo/arm_variant.h"
#include "tests/nodeinfo/testdata.h"

namespace archway::nodeinfo {
namespace {

using testing::Sample;

CpuInfo WithArchitecture(const std::string& value, const std::string& model_name = "") {
  CpuInfo info;
  info.processors = 1;
  info.cpu_architecture = value;
  info.model_name = model_name;
  return info;
}

TEST(ArmVariant, CpuArchitectureValuesAsContainerdMapsThem) {
  const std::vector<std::pair<std::string, ArmVariant>> cases = {
      {"8", ArmVariant::kV8},     {"AArch64", ArmVariant::kV8}, {"7", ArmVariant::kV7},
      {"7M", ArmVariant::kV7},    {"?(12)", ArmVariant::kV7},   {"?(17)", ArmVariant::kV7},
      {"6", ArmVariant::kV6},     {"6TEJ", ArmVariant::kV6},    {"5TEJ", ArmVariant::kV5},
      {"5", ArmVariant::kV5},     {"4T", ArmVariant::kV4},      {"3", ArmVariant::kV3},
      {"9", ArmVariant::kUnknown}, {"?(18)", ArmVariant::kUnknown}, {"v7", ArmVariant::kUnknown},
  };
  for (const auto& [value, want] : cases) {
    CpuInfo info = WithArchitecture(value);
    VariantFinding got = ContainerdArmVariant(&info, "armv7l");
    EXPECT_EQ(got.variant, want) << value;
    EXPECT_NE(got.source.find(value), std::string::npos) << got.source;
  }
}

TEST(ArmVariant, WithoutTheCpuinfoLineUnameDecides) {
  // containerd's own TestGetCPUVariantFromArch cases.
  const std::vector<std::pair<std::string, ArmVariant>> cases = {
      {"aarch64", ArmVariant::kV8}, {"Armv8", ArmVariant::kV8},   {"armv7l", ArmVariant::kV7},
      {"armv6l", ArmVariant::kV6},  {"armv5tel", ArmVariant::kV5}, {"armv4", ArmVariant::kV4},
      {"armv3", ArmVariant::kV3},   {"armv9", ArmVariant::kUnknown}, {"armxxxx", ArmVariant::kUnknown},
      {"armv", ArmVariant::kUnknown}, {"x86_64", ArmVariant::kUnknown}, {"", ArmVariant::kUnknown},
  };
  CpuInfo no_line = WithArchitecture("");
  for (const auto& [machine, want] : cases) {
    EXPECT_EQ(ContainerdArmVariant(&no_line, machine).variant, want) << machine;
    EXPECT_EQ(ContainerdArmVariant(nullptr, machine).variant, want) << machine;
  }
  EXPECT_NE(ContainerdArmVariant(nullptr, "armv7l").source.find("uname -m \"armv7l\""), std::string::npos);
}

TEST(ArmVariant, RaspberryPiArmv6QuirkOnlyForAPlainSeven) {
  CpuInfo zero = Sample("pi-zero-raspbian-buster.txt");
  VariantFinding got = ContainerdArmVariant(&zero, "armv6l");
  EXPECT_EQ(got.variant, ArmVariant::kV6);
  EXPECT_NE(got.source.find("ARMv6 quirk"), std::string::npos) << got.source;
  EXPECT_EQ(ContainerdArmVariant(&zero, "armv7l").variant, ArmVariant::kV6);  // cpuinfo wins over uname

  CpuInfo seven_m = WithArchitecture("7M", "ARMv6-compatible processor");
  EXPECT_EQ(ContainerdArmVariant(&seven_m, "armv6l").variant, ArmVariant::kV7);  // containerd compares "7" only
  CpuInfo from_uname = WithArchitecture("", "ARMv6-compatible processor rev 7 (v6l)");
  EXPECT_EQ(ContainerdArmVariant(&from_uname, "armv7l").variant, ArmVariant::kV6);
  CpuInfo eight = WithArchitecture("8", "ARMv6-compatible processor");
  EXPECT_EQ(ContainerdArmVariant(&eight, "aarch64").variant, ArmVariant::kV8);
}

TEST(ArmVariant, HwcapBitsNameWhatCpuinfoPrints) {
  // The Pi Zero's Features line as AT_HWCAP bits: half thumb fastmult vfp edsp java tls.
  const uint64_t zero = (1u << 1) | (1u << 2) | (1u << 4) | (1u << 6) | (1u << 7) | (1u << 8) | (1u << 15);
  EXPECT_EQ(ArmHwcapNames(zero, 0), Sample("pi-zero-raspbian-buster.txt").features);
  // A Pi 3 in 32-bit mode: ... lpae evtstrm, and crc32 in AT_HWCAP2.
  const uint64_t pi3 = zero & ~(1u << 8);  // no java
  const uint64_t pi3_full = pi3 | (1u << 12) | (1u << 13) | (1u << 16) | (1u << 17) | (1u << 18) | (1u << 19) |
                            (1u << 20) | (1u << 21);
  // In the kernel's order too: AT_HWCAP bits upwards, then AT_HWCAP2's.
  EXPECT_EQ(ArmHwcapNames(pi3_full, 1u << 4), Sample("pi3-model-b-32bit.txt").features);
  EXPECT_TRUE(ArmHwcapNames(0, 0).empty());
  EXPECT_TRUE(ArmHwcapNames(uint64_t{1} << 40, uint64_t{1} << 40).empty());  // unknown bits are ignored
}

TEST(ArmVariant, CapabilityFloor) {
  EXPECT_EQ(CapabilityFloor(Sample("pi-zero-raspbian-buster.txt").features), ArmVariant::kV6);  // tls
  EXPECT_EQ(CapabilityFloor(Sample("pi2-model-b-raspbian.txt").features), ArmVariant::kV7);
  EXPECT_EQ(CapabilityFloor(Sample("pi3-model-b-32bit.txt").features), ArmVariant::kV8);  // crc32
  EXPECT_EQ(CapabilityFloor(Sample("pi4-model-b-64bit.txt").features), ArmVariant::kV8);  // asimd
  EXPECT_EQ(CapabilityFloor({"half", "thumb", "edsp"}), ArmVariant::kUnknown);
  EXPECT_EQ(CapabilityFloor({}), ArmVariant::kUnknown);
  EXPECT_EQ(CapabilityFloor(Sample("build-machine-x86_64.txt").features), ArmVariant::kV8)
      << "x86's flags include \"aes\": the floor is only asked for arm nodes";
}

TEST(ArmVariant, Names) {
  EXPECT_STREQ(ArmVariantName(ArmVariant::kV6), "v6");
  EXPECT_STREQ(ArmVariantName(ArmVariant::kV8), "v8");
  EXPECT_STREQ(ArmVariantName(ArmVariant::kUnknown), "unknown");
}

}  // namespace
}  // namespace archway::nodeinfo

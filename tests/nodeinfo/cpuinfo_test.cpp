// ParseCpuInfo on real boards' /proc/cpuinfo and on text that is not cpuinfo.
#include <gtest/gtest.h>

#include "nodeinfo/cpuinfo.h"
#include "tests/nodeinfo/testdata.h"

namespace archway::nodeinfo {
namespace {

using testing::Sample;

TEST(CpuInfo, PiZeroSingleCoreWithMachineLines) {
  CpuInfo info = Sample("pi-zero-raspbian-buster.txt");
  EXPECT_EQ(info.processors, 1);
  EXPECT_EQ(info.cpu_architecture, "7");
  EXPECT_EQ(info.model_name, "ARMv6-compatible processor rev 7 (v6l)");
  EXPECT_EQ(info.features, (std::vector<std::string>{"half", "thumb", "fastmult", "vfp", "edsp", "java", "tls"}));
  EXPECT_EQ(info.cpu_implementer, "0x41");
  EXPECT_EQ(info.cpu_part, "0xb76");
  EXPECT_EQ(info.hardware, "BCM2835");
  EXPECT_EQ(info.model, "Raspberry Pi Zero Rev 1.3");
}

TEST(CpuInfo, FirstCoreWinsAndTrailingBlanksAreTrimmed) {
  CpuInfo info = Sample("cm4-32bit.txt");  // its Features lines end in a blank
  EXPECT_EQ(info.processors, 4);
  EXPECT_EQ(info.features.back(), "crc32");
  EXPECT_TRUE(info.HasFeature("lpae"));
  EXPECT_FALSE(info.HasFeature("crc"));
  EXPECT_EQ(info.model, "Raspberry Pi Compute Module 4 Rev 1.0");
}

TEST(CpuInfo, Arm64KernelHasNoModelNameButArm64Features) {
  CpuInfo info = Sample("pi4-model-b-64bit.txt");
  EXPECT_EQ(info.processors, 4);
  EXPECT_EQ(info.cpu_architecture, "8");
  EXPECT_EQ(info.model_name, "");
  EXPECT_TRUE(info.HasFeature("asimd"));
  EXPECT_EQ(info.cpu_part, "0xd08");
  EXPECT_EQ(info.hardware, "");
  EXPECT_EQ(info.model, "Raspberry Pi 4 Model B Rev 1.5");

  CpuInfo grace = Sample("grace-neoverse-v2.txt");
  EXPECT_EQ(grace.processors, 1);
  EXPECT_EQ(grace.cpu_part, "0xd4f");
  EXPECT_TRUE(grace.HasFeature("sve2"));
}

TEST(CpuInfo, X86FlagsAreFeaturesAndNumericModelIsNotTheBoardModel) {
  CpuInfo info = Sample("build-machine-x86_64.txt");
  EXPECT_EQ(info.processors, 2);
  EXPECT_EQ(info.cpu_architecture, "");
  EXPECT_TRUE(info.HasFeature("sse2"));
  EXPECT_EQ(info.model, "");  // x86's "model : 2" is not the Raspberry Pi "Model" line
  EXPECT_EQ(info.model_name, "AMD EPYC");
}

TEST(CpuInfo, KeysMatchCaseInsensitivelyAsContainerdDoes) {
  auto info = ParseCpuInfo("Processor : 0\ncpu ARCHITECTURE:  7 \r\nModel Name: x: y\n");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->processors, 1);
  EXPECT_EQ(info->cpu_architecture, "7");
  EXPECT_EQ(info->model_name, "x: y");  // everything after the first ':'
}

TEST(CpuInfo, ThisMachine) {
  auto info = ReadCpuInfo();
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_GE(info->processors, 1);
}

TEST(CpuInfo, RefusesWhatIsNotCpuinfo) {
  for (std::string_view text : {std::string_view(""), std::string_view("hello\nworld\n"),
                                std::string_view("{\"processor\": 0}"), std::string_view("a:b\nc:d")}) {
    auto info = ParseCpuInfo(text);
    ASSERT_FALSE(info.ok()) << text;
    EXPECT_EQ(info.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(info.error().message.find("not /proc/cpuinfo"), std::string::npos) << info.error().message;
  }
  std::string with_nul("processor\t: 0\n\0", 15);
  EXPECT_FALSE(ParseCpuInfo(with_nul).ok());
  std::string huge(kMaxCpuInfoBytes + 1, 'x');
  auto too_big = ParseCpuInfo(huge);
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.error().message.find("limit"), std::string::npos);
  auto missing = ReadCpuInfo("/nonexistent/cpuinfo");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("/nonexistent/cpuinfo"), std::string::npos);
}

}  // namespace
}  // namespace archway::nodeinfo

#include "registry/platform.h"

#include <gtest/gtest.h>

namespace archway::registry {
namespace {

Platform P(std::string os, std::string arch, std::string variant = "") {
  Platform p;
  p.os = std::move(os);
  p.architecture = std::move(arch);
  p.variant = std::move(variant);
  return p;
}

TEST(PlatformTest, NormalisesAsContainerdDoes) {
  struct Case {
    Platform in;
    std::string out;
  };
  const Case cases[] = {
      {P("linux", "aarch64"), "linux/arm64"},
      {P("linux", "arm64", "v8"), "linux/arm64"},
      {P("linux", "arm64", "8"), "linux/arm64"},
      {P("linux", "x86_64"), "linux/amd64"},
      {P("linux", "x86-64"), "linux/amd64"},
      {P("linux", "amd64", "v1"), "linux/amd64"},
      {P("linux", "amd64", "v3"), "linux/amd64/v3"},
      {P("linux", "armhf"), "linux/arm/v7"},
      {P("linux", "armel"), "linux/arm/v6"},
      {P("linux", "arm"), "linux/arm/v7"},
      {P("linux", "arm", "7"), "linux/arm/v7"},
      {P("linux", "arm", "6"), "linux/arm/v6"},
      {P("linux", "arm", "v5"), "linux/arm/v5"},
      {P("linux", "i386"), "linux/386"},
      {P("Linux", "AMD64"), "linux/amd64"},
      {P("macos", "arm64"), "darwin/arm64"},
      {P("windows", "amd64"), "windows/amd64"},
      {P("linux", "riscv64"), "linux/riscv64"},
  };
  for (const auto& c : cases) EXPECT_EQ(Normalize(c.in).String(), c.out) << c.in.String();
}

TEST(PlatformTest, ParsesOsArchVariant) {
  auto p = ParsePlatform("linux/arm/v7");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, P("linux", "arm", "v7"));
  auto q = ParsePlatform("linux/aarch64");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->String(), "linux/arm64");
  for (const char* bad : {"", "linux", "linux/", "/amd64", "linux/arm/v7/x", "linux/am d64", "linux//v7"}) {
    auto r = ParsePlatform(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(PlatformTest, UnknownAndEmptyAreNotRunnable) {
  EXPECT_TRUE(IsRunnable(P("linux", "amd64")));
  EXPECT_FALSE(IsRunnable(P("unknown", "unknown")));
  EXPECT_FALSE(IsRunnable(P("linux", "unknown")));
  EXPECT_FALSE(IsRunnable(P("", "")));
}

TEST(PlatformTest, CompatiblePlatformsFallBackToOlderArmVariantsOnly) {
  auto strings = [](const std::vector<Platform>& platforms) {
    std::vector<std::string> out;
    for (const auto& p : platforms) out.push_back(p.String());
    return out;
  };
  EXPECT_EQ(strings(CompatiblePlatforms(P("linux", "arm", "v7"))),
            (std::vector<std::string>{"linux/arm/v7", "linux/arm/v6", "linux/arm/v5"}));
  EXPECT_EQ(strings(CompatiblePlatforms(P("linux", "arm", "v8"))),
            (std::vector<std::string>{"linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"}));
  EXPECT_EQ(strings(CompatiblePlatforms(P("linux", "arm", "v5"))), std::vector<std::string>{"linux/arm/v5"});
  EXPECT_EQ(strings(CompatiblePlatforms(P("linux", "arm64"))), std::vector<std::string>{"linux/arm64"});
  EXPECT_EQ(strings(CompatiblePlatforms(P("linux", "amd64"))), std::vector<std::string>{"linux/amd64"});
}

TEST(PlatformTest, OrderingIgnoresOsVersion) {
  Platform a = P("windows", "amd64");
  Platform b = a;
  b.os_version = "10.0.20348.2582";
  EXPECT_EQ(a, b);
  EXPECT_LT(P("linux", "amd64"), P("linux", "arm64"));
  EXPECT_LT(P("linux", "arm", "v6"), P("linux", "arm", "v7"));
}

}  // namespace
}  // namespace archway::registry

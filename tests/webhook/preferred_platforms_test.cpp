// The "os/arch=weight" items of preferredPlatforms (config file and flag).
#include "webhook/preferred_platforms.h"

#include <gtest/gtest.h>

#include "webhook/config.h"

namespace archway::webhook {
namespace {

TEST(PreferredPlatforms, ParsesItemsInOrder) {
  auto parsed = ParsePreferredPlatformsText("linux/arm64=50, linux/amd64=10,,");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, (std::vector<PreferredPlatform>{{"linux", "arm64", 50}, {"linux", "amd64", 10}}));
  auto bounds = ParsePreferredPlatforms({"linux/arm64=1", "windows/amd64=100"});
  ASSERT_TRUE(bounds.ok()) << bounds.error().message;
  EXPECT_EQ(bounds->size(), 2u);
  // arm64's v8 is arm64 itself.
  auto v8 = ParsePreferredPlatforms({"linux/arm64/v8=5"});
  ASSERT_TRUE(v8.ok()) << v8.error().message;
  EXPECT_EQ(*v8, (std::vector<PreferredPlatform>{{"linux", "arm64", 5}}));
  EXPECT_TRUE(ParsePreferredPlatformsText("").value().empty());
}

struct BadItem {
  std::string text;
  std::string says;  // in the error
};

class BadPreferredPlatforms : public ::testing::TestWithParam<BadItem> {};

TEST_P(BadPreferredPlatforms, ErrorSaysWhy) {
  auto parsed = ParsePreferredPlatformsText(GetParam().text);
  ASSERT_FALSE(parsed.ok()) << GetParam().text;
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(parsed.error().message.find(GetParam().says), std::string::npos) << parsed.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Items, BadPreferredPlatforms,
    ::testing::Values(BadItem{"linux/arm64=0", "weight 0 is outside 1-100"},
                      BadItem{"linux/arm64=101", "weight 101 is outside 1-100"},
                      BadItem{"linux/arm64=-5", "outside 1-100"},
                      BadItem{"linux/arm64=high", "\"high\" is not a whole number"},
                      BadItem{"linux/arm64=5.5", "is not a whole number"},
                      BadItem{"linux/arm64=", "is not a whole number"},
                      BadItem{"linux/arm64=99999999999999999999", "is not a whole number"},
                      BadItem{"linux/arm64", "is not PLATFORM=WEIGHT"},
                      BadItem{"arm64=50", "platform \"arm64\" is not os/arch"},
                      BadItem{"linux/arm64/v8/x=50", "is not os/arch"},
                      BadItem{"=50", "platform \"\" is not os/arch"},
                      BadItem{"linux/arm/v7=50", "names a variant"},
                      BadItem{"linux/arm64=50,linux/arm64=10", "linux/arm64 is named twice"}));

TEST(PreferredPlatforms, ConfigKeyAndFlag) {
  auto config = ParseWebhookConfig("preferredPlatforms: [\"linux/arm64=50\", \"linux/amd64=10\"]\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->preferred_platforms,
            (std::vector<PreferredPlatform>{{"linux", "arm64", 50}, {"linux", "amd64", 10}}));
  ASSERT_TRUE(ApplyFlags(*config, {"--preferred-platforms", "linux/amd64=20"}).ok());
  EXPECT_EQ(config->preferred_platforms, (std::vector<PreferredPlatform>{{"linux", "amd64", 20}}));
  EXPECT_TRUE(ParseWebhookConfig("").value().preferred_platforms.empty());
  auto none = ParseWebhookConfig("preferredPlatforms:\n");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->preferred_platforms.empty());
}

TEST(PreferredPlatforms, ConfigErrorsNameTheKey) {
  for (const std::string yaml : {"preferredPlatforms: [\"linux/arm64=0\"]\n", "preferredPlatforms: [\"linux/arm64=101\"]\n",
                                 "preferredPlatforms: [\"linux/arm64=lots\"]\n", "preferredPlatforms: [\"arm64=5\"]\n",
                                 "preferredPlatforms: \"linux/arm64=5\"\n",
                                 "preferredPlatforms: [{platform: linux/arm64, weight: 50}]\n"}) {
    auto config = ParseWebhookConfig(yaml);
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_NE(config.error().message.find("config key \"preferredPlatforms\""), std::string::npos)
        << config.error().message;
  }
  WebhookConfig config;
  Status flag = ApplyFlags(config, {"--preferred-platforms=linux/arm64=0"});
  ASSERT_FALSE(flag.ok());
  EXPECT_NE(flag.error().message.find("preferred-platforms"), std::string::npos) << flag.error().message;
  EXPECT_NE(flag.error().message.find("outside 1-100"), std::string::npos) << flag.error().message;
}

}  // namespace
}  // namespace archway::webhook

#include "registry/www_authenticate.h"

#include <gtest/gtest.h>

namespace archway::registry {
namespace {

TEST(WwwAuthenticateTest, ParsesBearerWithQuotedCommas) {
  auto challenges = ParseWwwAuthenticate(
      R"(Bearer realm="https://auth.lan/token",service="registry.lan",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "bearer");
  EXPECT_EQ(challenges[0].Param("realm"), "https://auth.lan/token");
  EXPECT_EQ(challenges[0].Param("service"), "registry.lan");
  EXPECT_EQ(challenges[0].Param("scope"), "repository:a/b:pull,push repository:c:pull");
  EXPECT_EQ(challenges[0].Param("error"), "insufficient_scope");
}

TEST(WwwAuthenticateTest, ParsesSeveralChallengesEscapesAndTokens) {
  auto challenges = ParseWwwAuthenticate(R"(Basic realm="say \"hi\", ok", Bearer REALM=https://a/t , service=x)");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "basic");
  EXPECT_EQ(challenges[0].Param("realm"), R"(say "hi", ok)");
  EXPECT_EQ(challenges[1].scheme, "bearer");
  EXPECT_EQ(challenges[1].Param("realm"), "https://a/t");
  EXPECT_EQ(challenges[1].Param("service"), "x");
}

TEST(WwwAuthenticateTest, SurvivesGarbage) {
  for (const char* garbage : {"", ",,,", "\"", "Bearer realm=\"unterminated", "= = =", "Bearer ,,realm", "(){}"}) {
    auto challenges = ParseWwwAuthenticate(garbage);
    for (const auto& c : challenges) EXPECT_FALSE(c.scheme.empty());
  }
  auto basic = ParseWwwAuthenticate("Basic");
  ASSERT_EQ(basic.size(), 1u);
  EXPECT_EQ(basic[0].scheme, "basic");
}

}  // namespace
}  // namespace archway::registry

#include "base/duration.h"

#include <gtest/gtest.h>

namespace archway {
namespace {

using std::chrono::milliseconds;

TEST(Duration, Parses) {
  EXPECT_EQ(ParseDuration("2s").value(), milliseconds(2000));
  EXPECT_EQ(ParseDuration("500ms").value(), milliseconds(500));
  EXPECT_EQ(ParseDuration("10m").value(), milliseconds(600000));
  EXPECT_EQ(ParseDuration("1h30m").value(), milliseconds(5400000));
  EXPECT_EQ(ParseDuration("0").value(), milliseconds(0));
}

TEST(Duration, RejectsBadInput) {
  for (const char* text : {"", "2", "s", "-1s", "2x", "1.5s", "99999999999h"}) {
    auto parsed = ParseDuration(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message.find("invalid duration"), std::string::npos);
  }
}

TEST(Duration, Formats) {
  EXPECT_EQ(FormatDuration(milliseconds(2000)), "2s");
  EXPECT_EQ(FormatDuration(milliseconds(90000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1s500ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
}

}  // namespace
}  // namespace archway

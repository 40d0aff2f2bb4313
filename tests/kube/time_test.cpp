// The API's time formats (metav1.Time, metav1.MicroTime).
#include "kube/time.h"

#include <gtest/gtest.h>

namespace archway::kube {
namespace {

TEST(TimeTest, MicroTimeHasAlwaysSixFractionalDigits) {
  using namespace std::chrono;
  auto t = system_clock::time_point(seconds(1795446710));  // whole second: still .000000
  EXPECT_EQ(FormatMicroTime(t), "2026-11-23T15:11:50.000000Z");
  EXPECT_EQ(FormatMicroTime(t + microseconds(497329)), "2026-11-23T15:11:50.497329Z");
  EXPECT_EQ(FormatTime(t + microseconds(497329)), "2026-11-23T15:11:50Z");
  auto parsed = ParseTime("2026-11-23T15:11:40.976347Z");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(FormatMicroTime(*parsed), "2026-11-23T15:11:40.976347Z");
  EXPECT_EQ(FormatTime(*parsed), "2026-11-23T15:11:40Z");
  auto offset = ParseTime("2026-11-23T16:11:40.5+01:00");
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(FormatMicroTime(*offset), "2026-11-23T15:11:40.500000Z");
  for (const char* bad : {"", "2026-11-23", "2026-11-23T15:11:40", "2026-11-23T15:11:40.Z", "2026-13-23T15:11:40Z",
                          "2026-11-23T15:11:40Zjunk"})
    EXPECT_FALSE(ParseTime(bad).ok()) << bad;
}

}  // namespace
}  // namespace archway::kube

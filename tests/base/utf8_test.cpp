#include "base/utf8.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace archway {
namespace {

// "é" is 2 bytes, "€" 3, "😀" 4.
TEST(Utf8Test, TruncateNeverCutsACharacter) {
  const std::string text = "ab\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // ab é € 😀 z
  EXPECT_EQ(TruncateUtf8(text, 100), text);
  EXPECT_EQ(TruncateUtf8(text, 2), "ab");
  EXPECT_EQ(TruncateUtf8(text, 3), "ab");                   // inside é
  EXPECT_EQ(TruncateUtf8(text, 4), "ab\xC3\xA9");
  EXPECT_EQ(TruncateUtf8(text, 6), "ab\xC3\xA9");           // inside €
  EXPECT_EQ(TruncateUtf8(text, 10), "ab\xC3\xA9\xE2\x82\xAC");  // inside 😀
  EXPECT_EQ(TruncateUtf8(text, 11), "ab\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(TruncateUtf8(text, 0), "");
  for (size_t n = 0; n <= text.size(); ++n) {
    EXPECT_NO_THROW((void)nlohmann::json(TruncateUtf8(text, n)).dump()) << n;  // still serialisable
  }
}

TEST(Utf8Test, TextThatIsNotUtf8IsCutAsBytes) {
  const std::string continuation_bytes(10, '\x80');
  EXPECT_EQ(TruncateUtf8(continuation_bytes, 5), std::string(5, '\x80'));
}

TEST(Utf8Test, ShortenMarksTheCutAndKeepsTheBudget) {
  EXPECT_EQ(ShortenUtf8("short", 10), "short");
  EXPECT_EQ(ShortenUtf8("abcdefghij", 8), "abcde...");
  const std::string euros = "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC";  // €€€, 9 bytes
  EXPECT_EQ(ShortenUtf8(euros, 8), "\xE2\x82\xAC...");  // 3 + 3: the second € does not fit in 5
  EXPECT_LE(ShortenUtf8(euros, 8).size(), 8u);
}

}  // namespace
}  // namespace archway

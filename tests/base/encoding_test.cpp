#include "base/encoding.h"

#include <gtest/gtest.h>

namespace archway {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, StreamMatchesOneShot) {
  Sha256Stream stream;
  stream.Update("a");
  stream.Update("bc");
  EXPECT_EQ(stream.FinishHex(), Sha256Hex("abc"));
}

TEST(Base64, RoundTrip) {
  for (std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "ci:fake-password-123"}) {
    auto decoded = Base64Decode(Base64Encode(text));
    ASSERT_TRUE(decoded.has_value()) << text;
    EXPECT_EQ(*decoded, text);
  }
  EXPECT_EQ(Base64Encode("ci:fake-password-123"), "Y2k6ZmFrZS1wYXNzd29yZC0xMjM=");
}

TEST(Base64, AppendsToWhatIsThere) {
  std::string out = "prefix:";
  AppendBase64("ci:fake-password-123", out);
  AppendBase64("", out);
  AppendBase64("f", out);
  EXPECT_EQ(out, "prefix:Y2k6ZmFrZS1wYXNzd29yZC0xMjM=Zg==");
}

TEST(Base64, AcceptsUnpaddedAndUrlSafe) {
  EXPECT_EQ(Base64Decode("Zm9vYg").value(), "foob");
  EXPECT_EQ(Base64Decode("-_8").value(), std::string("\xfb\xff"));
  EXPECT_EQ(Base64Decode("  Zm9v\n").value(), "foo");
}

TEST(Base64, RejectsGarbage) {
  EXPECT_FALSE(Base64Decode("Zm9v!").has_value());
  EXPECT_FALSE(Base64Decode("Zm=9v").has_value());
  EXPECT_FALSE(Base64Decode("Z===").has_value());
}

}  // namespace
}  // namespace archway

// webhook/json_text writes what Json::dump writes, whatever the values hold.
#include "webhook/json_text.h"

#include <gtest/gtest.h>

namespace archway::webhook {
namespace {

using Json = nlohmann::json;

std::string Written(const Json& value) {
  std::string out = "prefix:";
  AppendJson(value, out);
  EXPECT_EQ(out.substr(0, 7), "prefix:");  // appends
  return out.substr(7);
}

TEST(JsonText, WritesWhatJsonDumpWrites) {
  const Json values[] = {
      "plain", "", "line\nbreak \"q\" \\ \t \x01 \x1F \x7F", "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
      "bad utf-8 \xFF\xC3(", Json::object(), Json::array(), nullptr, true, false, 0, -2, 1.5, 1e300, -0.0,
      18446744073709551615u, Json::array({1, "a", Json::array({Json::object()})}),
      Json{{"b", 1}, {"a", Json{{"\xC3\xA9", "x"}, {"", nullptr}}}, {"matchExpressions", Json::array({"x"})}},
  };
  for (const auto& value : values) {
    EXPECT_EQ(Written(value), value.dump(-1, ' ', false, Json::error_handler_t::replace)) << value.dump();
  }
}

TEST(JsonText, StringsAreQuotedAndEscapedAsJsonDoes) {
  for (const std::string text : {"kubernetes.io/arch", "a\"b", "c\\d", "tab\there", "\xE2\x82\xAC", "\xFF"}) {
    std::string out;
    AppendJsonString(text, out);
    EXPECT_EQ(out, Json(text).dump(-1, ' ', false, Json::error_handler_t::replace));
  }
}

}  // namespace
}  // namespace archway::webhook

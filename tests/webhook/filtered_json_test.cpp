// ParseJsonShaped against nlohmann::json::parse, the parser it stands in for: the same
// texts accepted and rejected, and the same values built (left-out members removed).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "webhook/filtered_json.h"

namespace archway::webhook {
namespace {

using Json = nlohmann::json;

// A shape keeping "a", "", "keep" and "image" (with this shape again), and "labels" and
// "whole" whole, at every depth; anything else ("skip", "volumes", ...) is left out.
extern const JsonShape kTree;
const JsonShape::Member kTreeMembers[] = {{"a", &kTree},           {"", &kTree},          {"keep", &kTree},
                                          {"image", &kTree},       {"labels", nullptr},   {"whole", nullptr}};
const JsonShape kTree{kTreeMembers};
const JsonShape::Member kOnlyNameMembers[] = {{"name", nullptr}};
const JsonShape kOnlyName{kOnlyNameMembers};

// What ParseJsonShaped must give: nlohmann's DOM without the left-out members.
void ApplyShape(Json& value, const JsonShape* shape) {
  if (shape == nullptr) return;
  if (value.is_array()) {
    for (auto& element : value) ApplyShape(element, shape);
    return;
  }
  if (!value.is_object()) return;
  for (auto it = value.begin(); it != value.end();) {
    const JsonShape::Member* member = nullptr;
    for (const auto& candidate : shape->members) {
      if (candidate.key == it.key()) member = &candidate;
    }
    if (member == nullptr) {
      it = value.erase(it);
    } else {
      ApplyShape(*it, member->shape);
      ++it;
    }
  }
}

// Json's operator== treats 1, 1u and 1.0 as equal; the reader must build the same types.
::testing::AssertionResult SameValue(const Json& a, const Json& b, const std::string& where = "$") {
  if (a.type() != b.type()) {
    return ::testing::AssertionFailure() << where << ": type " << a.type_name() << " vs " << b.type_name() << " ("
                                         << a.dump() << " vs " << b.dump() << ")";
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return ::testing::AssertionFailure() << where << ": " << a.dump() << " vs " << b.dump();
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end()) return ::testing::AssertionFailure() << where << ": no member " << it.key();
      if (auto same = SameValue(*it, *other, where + "." + it.key()); !same) return same;
    }
    return ::testing::AssertionSuccess();
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return ::testing::AssertionFailure() << where << ": " << a.dump() << " vs " << b.dump();
    for (size_t i = 0; i < a.size(); ++i) {
      if (auto same = SameValue(a[i], b[i], where + "[" + std::to_string(i) + "]"); !same) return same;
    }
    return ::testing::AssertionSuccess();
  }
  if (a != b) return ::testing::AssertionFailure() << where << ": " << a.dump() << " vs " << b.dump();
  return ::testing::AssertionSuccess();
}

std::string Printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text.substr(0, 400)) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02X", c);
      out += hex;
    }
  }
  return out;
}

// Both parsers agree on `text`.
::testing::AssertionResult Agrees(const std::string& text, const JsonShape& shape = kTree) {
  const bool expected_ok = Json::accept(text);
  Json actual;
  const bool actual_ok = ParseJsonShaped(text, shape, actual);
  if (expected_ok != actual_ok) {
    return ::testing::AssertionFailure() << "nlohmann " << (expected_ok ? "accepts" : "rejects") << " but the reader "
                                         << (actual_ok ? "accepts" : "rejects") << ": " << Printable(text);
  }
  if (!expected_ok) return ::testing::AssertionSuccess();
  Json expected = Json::parse(text);
  ApplyShape(expected, &shape);
  if (auto same = SameValue(actual, expected); !same) return same << " in " << Printable(text);
  return ::testing::AssertionSuccess();
}

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(ARCHWAY_SOURCE_DIR) + "/tests/webhook/testdata/" + name, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(FilteredJson, EdgeCasesAsNlohmann) {
  const std::vector<std::string> cases = {
      "", " ", "{", "}", "[", "]", "{}", "[]", " { } ", "[ ]", "null", "true", "false", "nul", "tru", "falsey",
      "0", "-0", "-", "01", "1.", ".5", "1e", "1e+", "1E-2", "+1", "1.5e3", "-1.25E+2", "0.0", "-0.0",
      "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
      "18446744073709551615", "18446744073709551616", "1e308", "1e309", "-1e309", "1e-400", "2.5e-324",
      "123456789012345678901234567890", std::string(400, '9'), "[" + std::string(400, '9') + "]",
      R"({"skip": 1e999})", R"({"skip": [1, 2e400]})", R"({"skip": )" + std::string(400, '9') + "}",
      R"("a\"b\\c\/d\be\ff\ng\rh\ti")", R"("\u0041\u00e9\u20AC\uD83D\uDE00")", R"("\u0000")", R"("\ud83d\ude00")",
      R"("\uD83D")", R"("\uD83Dx")", R"("\uD83D\u0041")", R"("\uDE00")", R"("\u12")", R"("\u12G4")", R"("\x")",
      R"("\)", "\"abc", "\"a\x01\"", "\"a\x1F\"", "\"a\x7F\"", "\"tab\there\"",
      "\"\xC3\xA9\"", "\"\xC2\x80\"", "\"\xC1\xBF\"", "\"\xC0\x80\"", "\"\xE0\xA0\x80\"", "\"\xE0\x9F\xBF\"",
      "\"\xED\x9F\xBF\"", "\"\xED\xA0\x80\"", "\"\xEF\xBF\xBF\"", "\"\xF0\x90\x80\x80\"", "\"\xF0\x8F\xBF\xBF\"",
      "\"\xF4\x8F\xBF\xBF\"", "\"\xF4\x90\x80\x80\"", "\"\xF5\x80\x80\x80\"", "\"\xFF\"", "\"\x80\"",
      "\"\xE2\x82\"", "\"\xF0\x9F\x98\"", "\"\xC3\"",
      "{\"skip\":\"\xC3\x28\"}", "{\"skip\":\"\\uDE00\"}", "{\"skip\":\"a\x01\"}", "{\"skip\":[1,]}", "{\"skip\":{\"a\":}}",
      "\xEF\xBB\xBF{}", "\xEF\xBB{}", " \xEF\xBB\xBF{}", "\xEF\xBB\xBF", std::string("{}\0junk", 7),
      std::string("[1\0]", 4), std::string("\0", 1), std::string("{\"a\":\0}", 7), "{} x", "{}{}", "[1 2]",
      "[1,]", "[,1]", "{,}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "{1:2}", "{'a':1}", "[1]]", "[[1]",
      "/* c */ {}", "{} // c", "[NaN]", "[Infinity]", "[-Infinity]", "\t\n\r [ \t\n\r1 \t\n\r] \t\n\r", "\f[]",
      R"({"a":1,"a":2})", R"({"a":{"b":1},"a":[2]})", R"({"skip":1,"skip":{"x":[}})", R"({"skip":1,"a":2,"skip":3})",
      R"({"labels":{"x":"y","skip":1},"keep":{"labels":[1],"volumes":{},"inner":{"skip":null,"z":true}}})",
      R"({"keep":[[{"a":1,"skip":2}],{"whole":{"skip":[3]}},4,"s"],"a":{"a":{"a":{"b":1}}}})",
      R"([{"skip":1},{"skip":[{"skip":2}]},{"":{"":""}}])", R"({"":1})", R"({"ski":1,"skipp":2,"Skip":3})",
      R"({"a" : [ 1 , { "skip" : { } , "b" : [ ] } ] })",
      // Keys are matched without decoding unless they hold an escape or a non-ASCII byte.
      R"({"\u0061":1,"sk\u0069p":2,"\"a":3})", R"({"keep":{"\u0061\u0062":{"skip":1}}})", "{\"\xC3\xA9\":1}",
  };
  for (const auto& text : cases) EXPECT_TRUE(Agrees(text));
}

// Strings are scanned eight bytes at a time: a special byte at every offset of a word.
TEST(FilteredJson, SpecialBytesAtEveryOffsetAsNlohmann) {
  const std::vector<std::string> specials = {"\\n", "\\u00e9", "\\\"", "\x01", "\x1F", "\x7F", " ", "~",
                                             "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xFF", "\xC3", "\"", "\\"};
  for (size_t before = 0; before < 20; ++before) {
    for (size_t after : {0, 1, 7, 8, 9, 30}) {
      for (const auto& special : specials) {
        const std::string text = "\"" + std::string(before, 'a') + special + std::string(after, 'b') + "\"";
        EXPECT_TRUE(Agrees("[" + text + "]"));
        EXPECT_TRUE(Agrees("{\"skip\":" + text + ",\"a\":" + text + "}"));
        EXPECT_TRUE(Agrees("{\"a\":" + text));  // ends inside or right after the string
        EXPECT_TRUE(Agrees("{" + text + ":1,\"labels\":{" + text + ":[2]}}"));  // as keys, left out and built
        EXPECT_TRUE(Agrees("{" + text));
      }
    }
  }
}

TEST(FilteredJson, DeepNestingIsNotRecursion) {
  const size_t depth = 100000;
  const std::string arrays = std::string(depth, '[') + std::string(depth, ']');
  Json out;
  EXPECT_TRUE(ParseJsonShaped(arrays, kTree, out));
  EXPECT_TRUE(ParseJsonShaped("{\"skip\":" + arrays + "}", kTree, out));
  EXPECT_EQ(out, Json::object());
  EXPECT_FALSE(ParseJsonShaped(std::string(depth, '['), kTree, out));
  EXPECT_FALSE(ParseJsonShaped("{\"skip\":" + std::string(depth, '{'), kTree, out));
  std::string objects;
  for (size_t i = 0; i < 1000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(1000, '}');
  EXPECT_TRUE(Agrees(objects));
}

TEST(FilteredJson, RealReviewsAsNlohmann) {
  for (const char* name : {"admissionreview-pod-create.json", "admissionreview-pod-create-generatename.json",
                           "admissionreview-pod-dryrun.json"}) {
    const std::string text = ReadTestdata(name);
    ASSERT_FALSE(text.empty()) << name;
    EXPECT_TRUE(Agrees(text)) << name;
    EXPECT_TRUE(Agrees(text, kOnlyName)) << name;
  }
}

// A random JSON document exercising every token kind, with random whitespace.
class RandomDocument {
 public:
  explicit RandomDocument(std::mt19937& random) : random_(random) {}

  std::string Make() {
    std::string out;
    Value(out, 0);
    return out;
  }

 private:
  size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random_); }
  void Space(std::string& out) {
    static const char* kSpaces[] = {"", "", "", " ", "\n  ", "\t", "\r\n"};
    out += kSpaces[Pick(7)];
  }
  void Text(std::string& out) {
    static const char* kPieces[] = {"skip", "labels", "a", "image", "", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n",
                                    "\\r", "\\t", "\\u0041", "\\u00e9", "\\uFFFF", "\\ud83d\\ude00", "\\u0000",
                                    "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\x7F", " ", "volumes", "keep", "whole"};
    out += '"';
    for (size_t n = Pick(4); n > 0; --n) out += kPieces[Pick(sizeof(kPieces) / sizeof(kPieces[0]))];
    out += '"';
  }
  void Number(std::string& out) {
    static const char* kNumbers[] = {"0", "-0", "7", "-42", "3.25", "-0.5e-3", "1E+2", "6.02e23",
                                     "18446744073709551615", "18446744073709551616", "-9223372036854775808",
                                     "-9223372036854775809", "1e-320", "12345678901234567890123"};
    out += kNumbers[Pick(sizeof(kNumbers) / sizeof(kNumbers[0]))];
  }
  void Value(std::string& out, int depth) {
    Space(out);
    switch (depth > 4 ? Pick(4) : Pick(7)) {
      case 0: Text(out); break;
      case 1: Number(out); break;
      case 2: out += Pick(2) ? "true" : "false"; break;
      case 3: out += "null"; break;
      case 4:
      case 5: {
        out += '{';
        for (size_t n = Pick(5), i = 0; i < n; ++i) {
          if (i > 0) out += ',';
          Space(out);
          Text(out);
          Space(out);
          out += ':';
          Value(out, depth + 1);
        }
        Space(out);
        out += '}';
        break;
      }
      default: {
        out += '[';
        for (size_t n = Pick(4), i = 0; i < n; ++i) {
          if (i > 0) out += ',';
          Value(out, depth + 1);
        }
        Space(out);
        out += ']';
      }
    }
    Space(out);
  }

  std::mt19937& random_;
};

// Small edits at random places: what a fuzzer or a broken client would send.
std::string Mutate(const std::string& text, std::mt19937& random) {
  static const std::string kBytes = std::string("{}[]\",:\\/ \t\n0123456789-+.eEtfnu\x01\x1F\x7F") +
                                    "\x80\xBF\xC0\xC2\xDF\xE0\xED\xEF\xF0\xF4\xF5\xFF" + std::string(1, '\0');
  std::string out = text;
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random); };
  for (size_t edits = 1 + pick(3); edits > 0 && !out.empty(); --edits) {
    const size_t at = pick(out.size());
    switch (pick(4)) {
      case 0: out[at] = kBytes[pick(kBytes.size())]; break;
      case 1: out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), kBytes[pick(kBytes.size())]); break;
      case 2: out.erase(at, 1 + pick(3)); break;
      default: out.insert(at, out.substr(pick(out.size()), 1 + pick(8)));
    }
  }
  return out;
}

TEST(FilteredJson, RandomDocumentsAndMutationsAsNlohmann) {
  std::mt19937 random(20261123);
  RandomDocument documents(random);
  std::vector<std::string> seeds = {ReadTestdata("admissionreview-pod-create.json")};
  for (int i = 0; i < 4000; ++i) {
    const std::string document = documents.Make();
    ASSERT_TRUE(Json::accept(document)) << Printable(document);  // the generator makes valid JSON
    ASSERT_TRUE(Agrees(document));
    ASSERT_TRUE(Agrees(Mutate(document, random)));
    if (i % 8 == 0) {
      ASSERT_TRUE(Agrees(Mutate(seeds[0], random)));
    }
  }
}

}  // namespace
}  // namespace archway::webhook

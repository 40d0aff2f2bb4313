#include "check/yaml_json.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

namespace archway::check {
namespace {

constexpr const char* kCoreTag = "tag:yaml.org,2002:";

bool OneOf(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* word : words) {
    if (text == word) return true;
  }
  return false;
}

int DigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

// Go's strconv.ParseInt(text, 0, 64) / ParseUint: a sign, then 0x / 0o / 0b / a leading 0
// (octal) or decimal digits. nullopt when it is no integer or does not fit.
std::optional<Json> ParseGoInteger(const std::string& text) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  int base = 10;
  if (i + 1 < text.size() && text[i] == '0') {
    const char prefix = static_cast<char>(text[i + 1] | 0x20);
    if (prefix == 'x') base = 16, i += 2;
    else if (prefix == 'o') base = 8, i += 2;
    else if (prefix == 'b') base = 2, i += 2;
    else base = 8, i += 1;
  }
  if (i >= text.size()) return std::nullopt;
  uint64_t magnitude = 0;
  for (; i < text.size(); ++i) {
    const int digit = DigitValue(text[i]);
    if (digit >= base) return std::nullopt;
    if (magnitude > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(digit)) / static_cast<uint64_t>(base)) {
      return std::nullopt;
    }
    magnitude = magnitude * static_cast<uint64_t>(base) + static_cast<uint64_t>(digit);
  }
  constexpr uint64_t kMaxPositive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (!negative) {
    if (magnitude <= kMaxPositive) return Json(static_cast<int64_t>(magnitude));
    return Json(magnitude);
  }
  if (magnitude <= kMaxPositive) return Json(-static_cast<int64_t>(magnitude));
  if (magnitude == kMaxPositive + 1) return Json(std::numeric_limits<int64_t>::min());
  return std::nullopt;
}

// go-yaml's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
bool IsYamlStyleFloat(const std::string& text) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i > start;
  };
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits()) return false;
  } else {
    if (!digits()) return false;
    if (i < text.size() && text[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == text.size();
}

// Thrown by the builder; caught with yaml-cpp's own errors.
YAML::ParserException Failure(const YAML::Mark& mark, const std::string& message) {
  return YAML::ParserException(mark, message);
}

// Builds one JSON value per document from the parser's events.
class JsonBuilder : public YAML::EventHandler {
 public:
  JsonBuilder(const YamlLimits& limits, int first_line, std::vector<YamlDocument>& out)
      : limits_(limits), first_line_(first_line), out_(out) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 can emit documents without end on some malformed input (the fuzzer's
    // `&List","ila"ment`): a bound on documents ends that loop.
    if (out_.size() >= limits_.max_documents) {
      throw Failure(mark, "more than " + std::to_string(limits_.max_documents) + " documents in one stream");
    }
    stack_.clear();
    anchors_.clear();
    values_ = 0;
    root_ = nullptr;
    start_ = mark;
  }
  void OnDocumentEnd() override {
    out_.push_back(YamlDocument{first_line_ + std::max(0, start_.line), std::move(root_)});
    root_ = nullptr;
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (InKeyPosition()) return SetKey("null", false, anchor);
    Count(mark, 1);
    Complete(mark, nullptr, anchor, 1);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw Failure(mark, "an alias refers to the node that contains it");
    if (InKeyPosition()) {
      if (!it->second.value.is_string()) throw Failure(mark, "a mapping key is not a scalar");
      return SetKey(it->second.value.get<std::string>(), false, YAML::NullAnchor);
    }
    Count(mark, it->second.count);
    Complete(mark, it->second.value, YAML::NullAnchor, it->second.count);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (InKeyPosition()) return SetKey(value, tag == "?" && value == "<<", anchor);
    Count(mark, 1);
    Complete(mark, Resolve(tag, value), anchor, 1);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, Json::array(), anchor);
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, Json::object(), anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Frame {
    Json value;
    YAML::anchor_t anchor = YAML::NullAnchor;
    YAML::Mark mark;
    size_t values_before = 0;
    std::optional<std::string> key;  // a mapping's key waiting for its value
    bool merge = false;              // ... and it is "<<"
    std::vector<Json> merges;        // mappings merged in when the mapping ends
  };
  struct Anchored {
    Json value;
    size_t count = 0;
  };

  static Json Resolve(const std::string& tag, const std::string& value) {
    if (tag == "?") return ResolvePlainScalar(value);
    const std::string core = kCoreTag;
    if (tag.rfind(core, 0) == 0) {
      const std::string type = tag.substr(core.size());
      if (type == "int" || type == "float" || type == "bool" || type == "null") return ResolvePlainScalar(value);
    }
    return value;  // quoted, literal, folded, !!str, and tags archway does not know
  }

  bool InKeyPosition() const {
    return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().key.has_value();
  }

  void SetKey(std::string key, bool merge, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Anchored{Json(key), 1};
    stack_.back().key = std::move(key);
    stack_.back().merge = merge;
  }

  void Count(const YAML::Mark& mark, size_t count) {
    values_ += count;
    if (values_ > limits_.max_values) {
      throw Failure(mark, "the document expands to more than " + std::to_string(limits_.max_values) +
                              " values (aliases of aliases?)");
    }
  }

  void Open(const YAML::Mark& mark, Json value, YAML::anchor_t anchor) {
    if (InKeyPosition()) throw Failure(mark, "a mapping key is not a scalar");
    if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
      throw Failure(mark, "nested deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    Count(mark, 1);
    Frame& frame = stack_.emplace_back();
    frame.value = std::move(value);
    frame.anchor = anchor;
    frame.mark = mark;
    frame.values_before = values_ - 1;
  }

  void Close() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    // Merged keys never replace explicit ones, and earlier merges win over later ones.
    for (const Json& merged : frame.merges) {
      for (const auto& [key, value] : merged.items()) {
        if (!frame.value.contains(key)) frame.value[key] = value;
      }
    }
    Complete(frame.mark, std::move(frame.value), frame.anchor, values_ - frame.values_before);
  }

  void Complete(const YAML::Mark& mark, Json value, YAML::anchor_t anchor, size_t count) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Anchored{value, count};
    if (stack_.empty()) {
      root_ = std::move(value);
      return;
    }
    Frame& parent = stack_.back();
    if (parent.value.is_array()) {
      parent.value.push_back(std::move(value));
      return;
    }
    if (parent.merge) {
      if (value.is_object()) {
        parent.merges.push_back(std::move(value));
      } else if (value.is_array()) {
        for (auto& item : value) {
          if (!item.is_object()) throw Failure(mark, "a merge key (<<) takes a mapping or a list of mappings");
          parent.merges.push_back(std::move(item));
        }
      } else {
        throw Failure(mark, "a merge key (<<) takes a mapping or a list of mappings");
      }
    } else {
      parent.value[*parent.key] = std::move(value);  // a repeated key replaces, as in go-yaml
    }
    parent.key.reset();
    parent.merge = false;
  }

  const YamlLimits& limits_;
  const int first_line_;
  std::vector<YamlDocument>& out_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  size_t values_ = 0;
  Json root_;
  YAML::Mark start_;
};

}  // namespace

Json ResolvePlainScalar(const std::string& text) {
  if (OneOf(text, {"", "~", "null", "Null", "NULL"})) return nullptr;
  if (OneOf(text, {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"})) return true;
  if (OneOf(text, {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"})) return false;
  const char first = text[0];
  if (!((first >= '0' && first <= '9') || first == '+' || first == '-' || first == '.')) return text;
  std::string plain;
  plain.reserve(text.size());
  for (char c : text) {
    if (c != '_') plain += c;
  }
  if (auto integer = ParseGoInteger(plain)) return *integer;
  if (IsYamlStyleFloat(plain)) {
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(plain.c_str(), &end);
    if (errno == 0 && end == plain.c_str() + plain.size()) return value;
  }
  return text;
}

Result<std::vector<YamlDocument>> ParseYamlStream(std::string_view text, int first_line, const YamlLimits& limits) {
  std::vector<YamlDocument> documents;
  std::istringstream in{std::string(text)};
  try {
    YAML::Parser parser(in);
    JsonBuilder builder(limits, first_line, documents);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const YAML::Exception& e) {
    std::string where = e.mark.is_null() ? std::string()
                                         : "line " + std::to_string(first_line + e.mark.line) + ", column " +
                                               std::to_string(e.mark.column + 1) + ": ";
    return Error(ErrorCode::kInvalidArgument, where + e.msg);
  }
  return documents;
}

}  // namespace archway::check

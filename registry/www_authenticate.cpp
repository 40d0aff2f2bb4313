#include "registry/www_authenticate.h"

#include <algorithm>
#include <cctype>

namespace archway::registry {
namespace {

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::string_view("!#$%&'*+-.^_`|~/").find(c) != std::string_view::npos;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}
  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::string_view Token() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && IsTokenChar(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  std::string Value() {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '"') {
      ++pos_;
      std::string out;
      while (pos_ < text_.size() && text_[pos_] != '"') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
        out.push_back(text_[pos_++]);
      }
      if (pos_ < text_.size()) ++pos_;  // closing quote
      return out;
    }
    // Unquoted: everything up to the next separator (URLs are often left unquoted).
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != ' ' && text_[pos_] != '\t') ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }
  size_t pos() const { return pos_; }
  void set_pos(size_t pos) { pos_ = pos; }
  // Skips to just after the next top-level comma (error recovery).
  void SkipItem() {
    bool quoted = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') quoted = !quoted;
      if (c == '\\' && quoted && pos_ < text_.size()) ++pos_;
      if (c == ',' && !quoted) return;
    }
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<Challenge> ParseWwwAuthenticate(std::string_view header) {
  std::vector<Challenge> challenges;
  Scanner s(header);
  while (!s.AtEnd()) {
    if (s.Consume(',')) continue;
    std::string_view scheme = s.Token();
    if (scheme.empty()) {
      s.SkipItem();
      continue;
    }
    Challenge challenge;
    challenge.scheme = Lower(scheme);
    // Parameters: key=value separated by commas, until a token not followed by '='
    // (the next challenge's scheme).
    while (!s.AtEnd()) {
      size_t mark = s.pos();
      s.Consume(',');
      std::string_view key = s.Token();
      if (key.empty()) {
        if (s.AtEnd()) break;
        s.SkipItem();
        continue;
      }
      if (!s.Consume('=')) {
        s.set_pos(mark);  // a new challenge starts here
        break;
      }
      challenge.params[Lower(key)] = s.Value();
    }
    challenges.push_back(std::move(challenge));
  }
  return challenges;
}

}  // namespace archway::registry

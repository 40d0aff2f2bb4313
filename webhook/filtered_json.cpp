#include "webhook/filtered_json.h"

#include <locale.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace archway::webhook {
namespace {

using Json = nlohmann::json;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Length of the well-formed UTF-8 sequence (RFC 3629, the table nlohmann checks) that
// starts at `p` with a byte >= 0x80, or 0 when it is not one.
size_t Utf8SequenceLength(const char* p, const char* end) {
  const size_t available = static_cast<size_t>(end - p);
  auto in = [&](size_t i, unsigned low, unsigned high) {
    if (i >= available) return false;
    const unsigned byte = static_cast<unsigned char>(p[i]);
    return byte >= low && byte <= high;
  };
  const unsigned lead = static_cast<unsigned char>(p[0]);
  if (lead >= 0xC2 && lead <= 0xDF) return in(1, 0x80, 0xBF) ? 2 : 0;
  if (lead == 0xE0) return in(1, 0xA0, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
  if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    return in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (lead == 0xED) return in(1, 0x80, 0x9F) && in(2, 0x80, 0xBF) ? 3 : 0;  // no UTF-16 surrogates
  if (lead == 0xF0) return in(1, 0x90, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  if (lead >= 0xF1 && lead <= 0xF3) return in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  if (lead == 0xF4) return in(1, 0x80, 0x8F) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  return 0;
}

void AppendUtf8(uint32_t codepoint, std::string& out) {
  if (codepoint < 0x80) {
    out.push_back(static_cast<char>(codepoint));
  } else if (codepoint < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (codepoint >> 6)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  } else if (codepoint < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (codepoint >> 12)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (codepoint >> 18)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  }
}

// strtod in the "C" locale, whatever the process's locale ('.' is JSON's decimal point).
double ParseDouble(const char* begin, const char* end) {
  static const locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", static_cast<locale_t>(nullptr));
  char small[64];
  std::string large;
  const size_t length = static_cast<size_t>(end - begin);
  const char* text = small;
  if (length < sizeof(small)) {
    std::memcpy(small, begin, length);
    small[length] = '\0';
  } else {
    large.assign(begin, end);
    text = large.c_str();
  }
  return strtod_l(text, nullptr, c_locale);
}

class Reader {
 public:
  explicit Reader(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  bool Parse(const JsonShape& shape, Json& root) {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;  // as nlohmann: one leading BOM
    std::vector<Open> open;
    Json* slot = &root;
    const JsonShape* slot_shape = &shape;
    for (;;) {
      bool opened = false;
      if (!Value(*slot, opened)) return false;
      if (opened) open.push_back(Open{slot, slot_shape});
      switch (Advance(open, opened, slot, slot_shape)) {
        case Step::kValue:
          break;
        case Step::kDone:
          return true;
        case Step::kError:
          return false;
      }
    }
  }

 private:
  enum class Step { kValue, kDone, kError };
  // A container being filled (an element stays put while a child is open) and the shape
  // of its members (nullptr: all of them, whole).
  struct Open {
    Json* value;
    const JsonShape* shape;
  };

  void SkipWhitespace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Consume(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  // One value into `slot`. An object or array with members is only opened (`opened`);
  // Advance() fills it.
  bool Value(Json& slot, bool& opened) {
    SkipWhitespace();
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        ++p_;
        slot = Json::object();
        SkipWhitespace();
        opened = !Consume('}');
        return true;
      case '[':
        ++p_;
        slot = Json::array();
        SkipWhitespace();
        opened = !Consume(']');
        return true;
      case '"':
        slot = Json::string_t();
        return String(slot.get_ptr<Json::string_t*>());
      case 't':
        slot = true;
        return Literal("true");
      case 'f':
        slot = false;
        return Literal("false");
      case 'n':
        slot = nullptr;
        return Literal("null");
      default:
        return Number(&slot);
    }
  }

  // After a value (or right after opening a container): finds where the next value goes
  // and its shape, closing containers and skipping left-out members on the way.
  Step Advance(std::vector<Open>& open, bool just_opened, Json*& slot, const JsonShape*& slot_shape) {
    bool first = just_opened;
    for (;;) {
      SkipWhitespace();
      // As nlohmann: a NUL byte after the document ends the input.
      if (open.empty()) return p_ == end_ || *p_ == '\0' ? Step::kDone : Step::kError;
      Json& container = *open.back().value;
      const JsonShape* shape = open.back().shape;
      if (!first) {
        if (p_ == end_) return Step::kError;
        if (*p_ == (container.is_object() ? '}' : ']')) {
          ++p_;
          open.pop_back();
          continue;
        }
        if (*p_ != ',') return Step::kError;
        ++p_;
        SkipWhitespace();
      }
      first = false;
      if (container.is_array()) {
        slot = &container.get_ref<Json::array_t&>().emplace_back();
        slot_shape = shape;
        return Step::kValue;
      }
      std::string_view key;
      if (!Key(key)) return Step::kError;
      if (shape != nullptr) {
        const JsonShape::Member* member = nullptr;
        for (const auto& candidate : shape->members) {
          if (candidate.key == key) {
            member = &candidate;
            break;
          }
        }
        if (member == nullptr) {
          if (!Skip()) return Step::kError;
          continue;
        }
        slot_shape = member->shape;
      } else {
        slot_shape = nullptr;
      }
      // A repeated member replaces the earlier one.
      slot = &container.get_ref<Json::object_t&>()[std::string(key)];
      return Step::kValue;
    }
  }

  // `"key" :` (whitespace before it already skipped). `key` views the input when the key
  // has nothing to decode (nearly always: no copy), else the decoded key_.
  bool Key(std::string_view& key) {
    if (p_ == end_ || *p_ != '"') return false;
    const char* start = ++p_;
    SkipPlainAscii();
    if (p_ != end_ && *p_ == '"') {
      key = std::string_view(start, static_cast<size_t>(p_ - start));
      ++p_;
    } else {
      p_ = start - 1;
      key_.clear();
      if (!String(&key_)) return false;
      key = key_;
    }
    return KeySeparator();
  }
  // A key that is only checked.
  bool SkipKey() {
    if (p_ == end_ || *p_ != '"' || !String(nullptr)) return false;
    return KeySeparator();
  }
  bool KeySeparator() {
    SkipWhitespace();
    return Consume(':');
  }

  // One value, checked as strictly as a built one, but not built.
  bool Skip() {
    skip_closers_.clear();
    for (;;) {
      SkipWhitespace();
      if (p_ == end_) return false;
      switch (*p_) {
        case '{':
          ++p_;
          SkipWhitespace();
          if (Consume('}')) break;
          skip_closers_.push_back('}');
          if (!SkipKey()) return false;
          continue;
        case '[':
          ++p_;
          SkipWhitespace();
          if (Consume(']')) break;
          skip_closers_.push_back(']');
          continue;
        case '"':
          if (!String(nullptr)) return false;
          break;
        case 't':
          if (!Literal("true")) return false;
          break;
        case 'f':
          if (!Literal("false")) return false;
          break;
        case 'n':
          if (!Literal("null")) return false;
          break;
        default:
          if (!Number(nullptr)) return false;
      }
      for (;;) {  // after a value: close containers until the next value
        if (skip_closers_.empty()) return true;
        SkipWhitespace();
        if (p_ == end_) return false;
        if (*p_ == skip_closers_.back()) {
          ++p_;
          skip_closers_.pop_back();
          continue;
        }
        if (*p_ != ',') return false;
        ++p_;
        if (skip_closers_.back() == '}') {
          SkipWhitespace();
          if (!SkipKey()) return false;
        }
        break;
      }
    }
  }

  // A string at its opening quote; decoded into *out unless out is null.
  bool String(std::string* out) {
    ++p_;
    for (;;) {
      const char* run = p_;
      SkipPlainAscii();
      if (out != nullptr && p_ != run) out->append(run, p_);
      if (p_ == end_) return false;
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return false;  // control characters must be escaped
      if (c == '\\') {
        if (!Escape(out)) return false;
        continue;
      }
      const size_t length = Utf8SequenceLength(p_, end_);
      if (length == 0) return false;
      if (out != nullptr) out->append(p_, length);
      p_ += length;
    }
  }

  // Advances over bytes that stand for themselves in a string (0x20-0x7F but '"' and
  // '\\'), eight at a time while it can: they are most of a review's bytes.
  void SkipPlainAscii() {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHighs = 0x8080808080808080ULL;
    while (end_ - p_ >= 8) {
      uint64_t word;
      std::memcpy(&word, p_, 8);
      // A high bit in `special` marks a byte < 0x20, == '"', == '\\' or >= 0x80.
      const uint64_t below_space = word - kOnes * 0x20;
      const uint64_t quote = (word ^ (kOnes * '"')) - kOnes;
      const uint64_t backslash = (word ^ (kOnes * '\\')) - kOnes;
      const uint64_t special = (((below_space | quote | backslash) & ~word) | word) & kHighs;
      if (special != 0) {
        if constexpr (std::endian::native == std::endian::little) {
          // The lowest flagged byte is exact (a borrow only flags bytes above a special
          // one) and is the first in memory: jump straight to it.
          p_ += std::countr_zero(special) / 8;
          return;
        }
        break;
      }
      p_ += 8;
    }
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) return;
      ++p_;
    }
  }

  bool Escape(std::string* out) {
    ++p_;
    if (p_ == end_) return false;
    char decoded;
    switch (*p_++) {
      case '"': decoded = '"'; break;
      case '\\': decoded = '\\'; break;
      case '/': decoded = '/'; break;
      case 'b': decoded = '\b'; break;
      case 'f': decoded = '\f'; break;
      case 'n': decoded = '\n'; break;
      case 'r': decoded = '\r'; break;
      case 't': decoded = '\t'; break;
      case 'u': return UnicodeEscape(out);
      default: return false;
    }
    if (out != nullptr) out->push_back(decoded);
    return true;
  }

  // After "\u": a code point, or a surrogate pair (a lone surrogate is an error).
  bool UnicodeEscape(std::string* out) {
    uint32_t codepoint = 0;
    if (!Hex4(codepoint)) return false;
    if (codepoint >= 0xD800 && codepoint <= 0xDBFF) {
      uint32_t low = 0;
      if (!Literal("\\u") || !Hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
      codepoint = 0x10000 + ((codepoint - 0xD800) << 10) + (low - 0xDC00);
    } else if (codepoint >= 0xDC00 && codepoint <= 0xDFFF) {
      return false;
    }
    if (out != nullptr) AppendUtf8(codepoint, *out);
    return true;
  }

  bool Hex4(uint32_t& value) {
    if (end_ - p_ < 4) return false;
    value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = p_[i];
      uint32_t digit;
      if (c >= '0' && c <= '9') {
        digit = static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
      value = value * 16 + digit;
    }
    p_ += 4;
    return true;
  }

  // A number into *out unless out is null. As nlohmann: a negative integer that fits is an
  // int64, a non-negative one a uint64, anything else a double, which must be finite.
  bool Number(Json* out) {
    const char* start = p_;
    const bool negative = Consume('-');
    if (p_ == end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    } else {
      return false;
    }
    bool integer = true;
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      integer = false;
      if (p_ == end_ || !IsDigit(*p_)) return false;
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      integer = false;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return false;
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    }
    if (integer) {
      if (negative) {
        int64_t value = 0;
        if (std::from_chars(start, p_, value).ec == std::errc()) {
          if (out != nullptr) *out = value;
          return true;
        }
      } else {
        uint64_t value = 0;
        if (std::from_chars(start, p_, value).ec == std::errc()) {
          if (out != nullptr) *out = value;
          return true;
        }
      }
    }
    const double value = ParseDouble(start, p_);
    if (!std::isfinite(value)) return false;
    if (out != nullptr) *out = value;
    return true;
  }

  const char* p_;
  const char* const end_;
  std::string key_;           // a key with escapes, decoded (reused)
  std::string skip_closers_;  // open containers of a skipped value: '}' or ']'
};

}  // namespace

bool ParseJsonShaped(std::string_view text, const JsonShape& shape, nlohmann::json& out) {
  return Reader(text).Parse(shape, out);
}

}  // namespace archway::webhook

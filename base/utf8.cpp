#include "base/utf8.h"

namespace archway {
namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::string TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  // A character starts at a byte that is not a continuation byte: back off to one (at most
  // 3 bytes for well-formed text), so the cut falls just before it.
  size_t end = max_bytes;
  for (int i = 0; i < 3 && end > 0 && IsContinuationByte(text[end]); ++i) --end;
  if (IsContinuationByte(text[end])) end = max_bytes;  // not UTF-8 here: cut as bytes
  return std::string(text.substr(0, end));
}

std::string ShortenUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  if (max_bytes < 3) return std::string(max_bytes, '.');
  return TruncateUtf8(text, max_bytes - 3) + "...";
}

}  // namespace archway

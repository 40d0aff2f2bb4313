// Cutting text to a byte budget without cutting a UTF-8 character in two. API objects
// are JSON, and a string that ends inside a character is not UTF-8: nlohmann refuses to
// serialise it (type_error 316), so one such message in a status or an Event would fail
// the whole write. Text that was not UTF-8 to begin with is cut as bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace archway {

// The longest prefix of `text` of at most `max_bytes` bytes that ends on a character boundary.
std::string TruncateUtf8(std::string_view text, size_t max_bytes);

// `text` whole when it fits `max_bytes`; else a prefix (TruncateUtf8) and "...", `max_bytes` in all.
std::string ShortenUtf8(std::string_view text, size_t max_bytes);

}  // namespace archway

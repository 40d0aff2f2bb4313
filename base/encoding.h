// Hashing and encodings, all done by OpenSSL.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace archway {

// Lower-case hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(std::string_view data);

// Incremental SHA-256 for streamed content (blob copies).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view data);
  std::string FinishHex();  // lower-case hex; the stream cannot be reused after
 private:
  void* ctx_;
};

// Standard base64 (RFC 4648 section 4) with padding, no line breaks.
std::string Base64Encode(std::string_view data);
// The same, appended to `out` (no intermediate string).
void AppendBase64(std::string_view data, std::string& out);
// Accepts standard and URL-safe alphabets, with or without padding, ignores
// surrounding whitespace; nullopt on anything else.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace archway

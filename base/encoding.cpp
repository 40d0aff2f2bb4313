#include "base/encoding.h"

// SHA-256 through SHA256_Init/Update/Final, which OpenSSL 3 deprecates in favour of EVP:
// EVP's first digest fetches a provider, fills its name map and checks engines, ~5M
// instructions that were half of an `archway inspect` (callgrind). These calls run the
// same assembly block function without that set-up. Base64 stays on EVP_Encode/Decode,
// which need no fetch.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cctype>
#include <vector>

namespace archway {
namespace {

std::string ToHex(const unsigned char* bytes, unsigned int length) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0x0f]);
  }
  return out;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(digest, &ctx);
  return ToHex(digest, SHA256_DIGEST_LENGTH);
}

Sha256Stream::Sha256Stream() : ctx_(new SHA256_CTX) { SHA256_Init(static_cast<SHA256_CTX*>(ctx_)); }

Sha256Stream::~Sha256Stream() { delete static_cast<SHA256_CTX*>(ctx_); }

void Sha256Stream::Update(std::string_view data) {
  SHA256_Update(static_cast<SHA256_CTX*>(ctx_), data.data(), data.size());
}

std::string Sha256Stream::FinishHex() {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, static_cast<SHA256_CTX*>(ctx_));
  return ToHex(digest, SHA256_DIGEST_LENGTH);
}

std::string Base64Encode(std::string_view data) {
  std::string out;
  AppendBase64(data, out);
  return out;
}

void AppendBase64(std::string_view data, std::string& out) {
  if (data.empty()) return;
  const size_t start = out.size();
  out.resize(start + 4 * ((data.size() + 2) / 3));
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + start),
                                reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(start + static_cast<size_t>(written));
}

std::optional<std::string> Base64Decode(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  std::string normalized;
  normalized.reserve(text.size() + 3);
  for (char c : text) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return std::nullopt;
    normalized.push_back(c);
  }
  size_t padding_at = normalized.find('=');
  if (padding_at != std::string::npos) {
    for (size_t i = padding_at; i < normalized.size(); ++i)
      if (normalized[i] != '=') return std::nullopt;
    if (normalized.size() - padding_at > 2) return std::nullopt;
  }
  while (normalized.size() % 4 != 0) normalized.push_back('=');
  if (normalized.empty()) return std::string();
  std::string out(normalized.size() / 4 * 3, '\0');
  int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(normalized.data()),
                                static_cast<int>(normalized.size()));
  if (decoded < 0) return std::nullopt;
  // EVP_DecodeBlock counts padding as zero bytes; drop them.
  size_t pad = 0;
  for (size_t i = normalized.size(); i > 0 && normalized[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<size_t>(decoded) - pad);
  return out;
}

}  // namespace archway

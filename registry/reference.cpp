#include "registry/reference.h"

#include <cctype>

#include "base/utf8.h"
#include "registry/manifest.h"

namespace archway::registry {
namespace {

// Limits from github.com/distribution/reference.
constexpr size_t kNameTotalLengthMax = 255;
constexpr size_t kTagLengthMax = 128;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

Error Invalid(std::string_view text, std::string_view reason) {
  return Error(ErrorCode::kInvalidArgument, "invalid reference \"" + std::string(text) + "\": " + std::string(reason));
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool IsDomainComponent(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

// host [":" port], host = domain-name | "[" IPv6 "]"
bool IsValidDomain(std::string_view domain) {
  std::string_view host = domain;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : host.substr(1, close - 1)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
    std::string_view rest = host.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':' || rest.size() < 2) return false;
    for (char c : rest.substr(1)) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
  }
  size_t colon = host.find(':');
  if (colon != std::string_view::npos) {
    std::string_view port = host.substr(colon + 1);
    if (port.empty()) return false;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    host = host.substr(0, colon);
  }
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    if (!IsDomainComponent(host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)))
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// path-component := alnum+ (separator alnum+)*, separator := [_.] | "__" | "-"+
const char* PathComponentProblem(std::string_view s) {
  if (s.empty()) return "empty path component";
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) {
    for (char c : s) {
      if (c >= 'A' && c <= 'Z') return "repository name must be lowercase";
    }
    return "path components must start and end with a lower-case letter or digit";
  }
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (IsLowerAlnum(c)) {
      ++i;
      continue;
    }
    if (c >= 'A' && c <= 'Z') return "repository name must be lowercase";
    if (c == '.') {
      if (!IsLowerAlnum(s[i + 1])) return "invalid separator in repository name";
      ++i;
    } else if (c == '_') {
      if (s[i + 1] == '_') {
        if (!IsLowerAlnum(s[i + 2])) return "invalid separator in repository name";
        i += 2;
      } else {
        ++i;
      }
      if (!IsLowerAlnum(s[i])) return "invalid separator in repository name";
    } else if (c == '-') {
      while (i < s.size() && s[i] == '-') ++i;
      if (!IsLowerAlnum(s[i])) return "invalid separator in repository name";
    } else {
      return "invalid character in repository name";
    }
  }
  return nullptr;
}

// tag := [\w][\w.-]{0,127}
bool IsValidTag(std::string_view tag) {
  if (tag.empty() || tag.size() > kTagLengthMax) return false;
  auto word = [](char c) { return IsAlnum(c) || c == '_'; };
  if (!word(tag.front())) return false;
  for (char c : tag) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

bool Is64Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string Reference::Name() const { return domain + "/" + repository; }

std::string Reference::String() const {
  std::string out = Name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string Reference::Identifier() const { return digest.empty() ? tag : digest; }

Reference Reference::WithTag(std::string new_tag) const {
  Reference copy = *this;
  copy.tag = std::move(new_tag);
  copy.digest.clear();
  return copy;
}

Reference Reference::WithDigest(std::string new_digest) const {
  Reference copy = *this;
  copy.digest = std::move(new_digest);
  copy.tag.clear();
  return copy;
}

Result<Reference> ParseReference(std::string_view text) {
  if (text.empty()) return Invalid(text, "empty reference");
  if (text.size() > 4096) return Invalid(TruncateUtf8(text, 64), "reference is too long");
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) < 0x20)
      return Invalid(text, "contains whitespace or control characters");
  }

  Reference ref;
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    std::string_view digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (digest.find(':') == std::string_view::npos) return Invalid(text, "digest must be algorithm:hex");
    if (!IsValidDigest(digest)) {
      if (digest.substr(0, 7) != "sha256:") return Invalid(text, "unsupported digest algorithm (only sha256)");
      return Invalid(text, "digest must be sha256: followed by 64 lower-case hex characters");
    }
    ref.digest = std::string(digest);
  }
  // A ':' after the last '/' starts the tag; before it, it belongs to a host:port.
  size_t last_slash = rest.rfind('/');
  size_t last_colon = rest.rfind(':');
  if (last_colon != std::string_view::npos && (last_slash == std::string_view::npos || last_colon > last_slash)) {
    std::string_view tag = rest.substr(last_colon + 1);
    rest = rest.substr(0, last_colon);
    if (!IsValidTag(tag)) {
      if (tag.size() > kTagLengthMax) return Invalid(text, "tag is longer than 128 characters");
      return Invalid(text, "invalid tag \"" + std::string(tag) + "\"");
    }
    ref.tag = std::string(tag);
  }
  if (rest.empty()) return Invalid(text, "missing repository name");

  // Docker's normalisation: the first component is a domain when it contains '.' or ':',
  // is "localhost", or has upper-case letters (which a repository cannot have).
  std::string_view remote = rest;
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    bool has_upper = false;
    for (char c : first) has_upper |= (c >= 'A' && c <= 'Z');
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost" || has_upper ||
        (!first.empty() && first.front() == '[')) {
      if (!IsValidDomain(first)) return Invalid(text, "invalid registry host \"" + std::string(first) + "\"");
      ref.domain = std::string(first);
      remote = rest.substr(slash + 1);
    }
  }
  if (ref.domain.empty()) ref.domain = "docker.io";
  if (ref.domain == "index.docker.io") ref.domain = "docker.io";
  if (remote.empty()) return Invalid(text, "missing repository name");

  size_t start = 0;
  while (true) {
    size_t next = remote.find('/', start);
    std::string_view component =
        remote.substr(start, next == std::string_view::npos ? std::string_view::npos : next - start);
    if (const char* problem = PathComponentProblem(component)) return Invalid(text, problem);
    if (next == std::string_view::npos) break;
    start = next + 1;
  }
  if (ref.domain == "docker.io" && Is64Hex(remote))
    return Invalid(text, "a 64-character hex string is an image ID, not a repository name");
  ref.repository = std::string(remote);
  if (ref.domain == "docker.io" && ref.repository.find('/') == std::string::npos)
    ref.repository = "library/" + ref.repository;
  if (ref.Name().size() > kNameTotalLengthMax) return Invalid(text, "repository name is longer than 255 characters");
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::string DefaultEndpointHost(std::string_view domain) {
  if (domain == "docker.io" || domain == "index.docker.io") return "registry-1.docker.io";
  return std::string(domain);
}

}  // namespace archway::registry

#include "tests/support/token_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "base/encoding.h"

namespace archway::testing {
namespace {

// One RSA key and self-signed certificate per test process.
struct SigningKey {
  EVP_PKEY* key = nullptr;
  std::string certificate_pem;
  std::string key_id;  // libtrust key ID, which the registry matches against "kid"

  SigningKey() {
    key = EVP_RSA_gen(2048);
    if (key == nullptr) throw std::runtime_error("RSA key generation failed");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 365);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("archway test token issuer"),
                               -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    certificate_pem.assign(data, static_cast<size_t>(len));
    BIO_free(bio);
    X509_free(cert);

    // libtrust: base32 of the first 240 bits of SHA-256(DER SubjectPublicKeyInfo),
    // in groups of four joined by ':'.
    unsigned char* der = nullptr;
    int der_len = i2d_PUBKEY(key, &der);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(der, static_cast<size_t>(der_len), digest);
    OPENSSL_free(der);
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::string b32;
    for (int i = 0; i < 30; i += 5) {
      uint64_t block = 0;
      for (int j = 0; j < 5; ++j) block = (block << 8) | digest[i + j];
      for (int j = 7; j >= 0; --j) b32.push_back(kAlphabet[(block >> (j * 5)) & 31]);
    }
    for (size_t i = 0; i < b32.size(); i += 4) {
      if (i != 0) key_id += ':';
      key_id += b32.substr(i, 4);
    }
  }
};

const SigningKey& Key() {
  static const SigningKey* key = new SigningKey();  // lives for the process, like the registry's trust
  return *key;
}

std::string Base64Url(std::string_view data) {
  std::string s = Base64Encode(data);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t next = s.find(sep, start);
    parts.push_back(s.substr(start, next == std::string::npos ? std::string::npos : next - start));
    if (next == std::string::npos) return parts;
    start = next + 1;
  }
}

struct Access {
  std::string type, name;
  std::vector<std::string> actions;
};

// "repository:a/b:pull,push" (the name may contain ':' only before the last one).
bool ParseScope(const std::string& scope, Access& out) {
  size_t first = scope.find(':');
  size_t last = scope.rfind(':');
  if (first == std::string::npos || first == last) return false;
  out.type = scope.substr(0, first);
  out.name = scope.substr(first + 1, last - first - 1);
  out.actions = Split(scope.substr(last + 1), ',');
  return true;
}

std::string SignJwt(const nlohmann::json& claims) {
  const SigningKey& key = Key();
  nlohmann::json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"kid", key.key_id}};
  std::string signing_input = Base64Url(header.dump()) + "." + Base64Url(claims.dump());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t sig_len = 0;
  std::string signature;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.key) == 1 &&
      EVP_DigestSign(ctx, nullptr, &sig_len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) == 1) {
    signature.resize(sig_len);
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &sig_len,
                   reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
    signature.resize(sig_len);
  }
  EVP_MD_CTX_free(ctx);
  return signing_input + "." + Base64Url(signature);
}

std::atomic<uint64_t> g_token_serial{0};

}  // namespace

TokenServer::TokenServer(std::map<std::string, std::string> users, std::vector<TokenGrant> grants,
                         int expires_in_seconds)
    : users_(std::move(users)),
      grants_(std::move(grants)),
      expires_in_seconds_(expires_in_seconds),
      http_([this](const HttpRecord& r) { return Handle(r); }) {
  Key();
}

const std::string& TokenServer::CertificatePem() { return Key().certificate_pem; }

std::vector<std::string> TokenServer::Allowed(const std::string& user, const std::string& repository,
                                              const std::vector<std::string>& wanted) const {
  std::vector<std::string> granted;
  for (const std::string& action : wanted) {
    bool ok = std::any_of(grants_.begin(), grants_.end(), [&](const TokenGrant& g) {
      return g.user == user && (g.repository == "*" || g.repository == repository) &&
             std::any_of(g.actions.begin(), g.actions.end(), [&](const std::string& a) { return a == "*" || a == action; });
    });
    if (ok) granted.push_back(action);
  }
  return granted;
}

std::string TokenServer::Mint(const std::string& user, const std::string& scope) const {
  nlohmann::json access = nlohmann::json::array();
  for (const std::string& one : Split(scope, ' ')) {
    Access a;
    if (!ParseScope(one, a)) continue;
    std::vector<std::string> granted = a.type == "repository" ? Allowed(user, a.name, a.actions) : std::vector<std::string>{};
    access.push_back({{"type", a.type}, {"name", a.name}, {"actions", granted}});
  }
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::json claims = {{"iss", kIssuer},
                           {"sub", user},
                           {"aud", kService},
                           {"exp", now + expires_in_seconds_},
                           {"nbf", now - 10},
                           {"iat", now},
                           {"jti", std::to_string(now) + "-" + std::to_string(++g_token_serial)},
                           {"access", access}};
  return SignJwt(claims);
}

HttpReply TokenServer::Handle(const HttpRecord& request) {
  if (request.Path() != "/token") return HttpReply{404, {}, "not found"};
  std::string user;
  std::string authorization = request.Header("authorization");
  if (!authorization.empty()) {
    if (authorization.rfind("Basic ", 0) != 0) return HttpReply{401, {}, R"({"details":"unsupported authorization"})"};
    std::optional<std::string> decoded = Base64Decode(authorization.substr(6));
    size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) return HttpReply{401, {}, R"({"details":"malformed basic credentials"})"};
    user = decoded->substr(0, colon);
    auto it = users_.find(user);
    if (it == users_.end() || it->second != decoded->substr(colon + 1)) {
      return HttpReply{401, {{"Content-Type", "application/json"}}, R"({"details":"incorrect username or password"})"};
    }
  }
  std::string query = request.target.find('?') == std::string::npos ? "" : request.target.substr(request.target.find('?') + 1);
  std::string scope;
  for (const std::string& pair : Split(query, '&')) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos) continue;
    std::string key = pair.substr(0, eq);
    std::string value = PercentDecode(pair.substr(eq + 1));
    if (key == "scope") scope += (scope.empty() ? "" : " ") + value;
    if (key == "service" && value != kService) return HttpReply{400, {}, R"({"details":"unknown service"})"};
  }
  nlohmann::json body = {{"token", Mint(user, scope)}, {"expires_in", expires_in_seconds_}};
  body["access_token"] = body["token"];
  return HttpReply{200, {{"Content-Type", "application/json"}}, body.dump()};
}

}  // namespace archway::testing

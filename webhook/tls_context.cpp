#include "webhook/tls_context.h"

#include <openssl/ssl.h>
#include <sys/stat.h>

#include <cstring>

#include "base/log.h"

namespace archway::webhook {
namespace {

// ALPN: speak HTTP/1.1 only. Selecting nothing when http/1.1 is not offered lets the
// client fall back to its default instead of failing the handshake.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
               void*) {
  static const unsigned char kHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned int i = 0;
  while (i < inlen) {
    const unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == sizeof(kHttp11) && std::memcmp(in + i + 1, kHttp11, len) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(const std::string& cert_file,
                                                                      const std::string& key_file) {
  namespace ssl = boost::asio::ssl;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                           ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  if (context->use_certificate_chain_file(cert_file, ec); ec) {
    return Error(ErrorCode::kInvalidArgument, "TLS certificate " + cert_file + ": " + ec.message());
  }
  if (context->use_private_key_file(key_file, ssl::context::pem, ec); ec) {
    return Error(ErrorCode::kInvalidArgument, "TLS key " + key_file + ": " + ec.message());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return Error(ErrorCode::kInvalidArgument, "TLS key " + key_file + " does not match the certificate " + cert_file);
  }
  SSL_CTX_set_alpn_select_cb(native, SelectAlpn, nullptr);
  return context;
}

TlsContextProvider::TlsContextProvider(std::string cert_file, std::string key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

Result<std::unique_ptr<TlsContextProvider>> TlsContextProvider::Create(std::string cert_file, std::string key_file) {
  std::unique_ptr<TlsContextProvider> provider(new TlsContextProvider(std::move(cert_file), std::move(key_file)));
  std::lock_guard lock(provider->mu_);
  if (auto s = provider->Reload(Stat(provider->cert_file_), Stat(provider->key_file_)); !s.ok()) return s.error();
  return provider;
}

TlsContextProvider::FileStamp TlsContextProvider::Stat(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FileStamp{};
  return FileStamp{static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec,
                   static_cast<long long>(st.st_size), static_cast<unsigned long long>(st.st_ino)};
}

Status TlsContextProvider::Reload(const FileStamp& cert_stamp, const FileStamp& key_stamp) {
  auto context = MakeServerContext(cert_file_, key_file_);
  if (!context.ok()) {
    failed_cert_stamp_ = cert_stamp;
    failed_key_stamp_ = key_stamp;
    return context.error();
  }
  current_ = std::move(*context);
  cert_stamp_ = cert_stamp;
  key_stamp_ = key_stamp;
  ++loads_;
  return Status::Ok();
}

std::shared_ptr<boost::asio::ssl::context> TlsContextProvider::Current() {
  const FileStamp cert_stamp = Stat(cert_file_);
  const FileStamp key_stamp = Stat(key_file_);
  std::lock_guard lock(mu_);
  const bool changed = !(cert_stamp == cert_stamp_) || !(key_stamp == key_stamp_);
  const bool known_bad = cert_stamp == failed_cert_stamp_ && key_stamp == failed_key_stamp_;
  if (changed && !known_bad) {
    if (auto s = Reload(cert_stamp, key_stamp); s.ok()) {
      log::Info("TLS certificate reloaded", {{"cert", cert_file_}});
    } else {
      log::Warn("TLS certificate change not loaded; keeping the previous one", {{"error", s.error().message}});
    }
  }
  return current_;
}

int TlsContextProvider::LoadCount() const {
  std::lock_guard lock(mu_);
  return loads_;
}

}  // namespace archway::webhook

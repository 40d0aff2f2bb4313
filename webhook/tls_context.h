// The server's TLS material, read from files and reloaded when they change (cert-manager
// and the chart rotate them in place). Each new connection asks for Current(): when the
// certificate or key file's (mtime, size, inode) changed since the last successful load,
// a new context is built for the new handshake; connections already open keep theirs.
// A pair that does not load (cert-manager writes the two files one after the other) keeps
// the previous context and is retried on the next connection.
//
// Every context: TLS 1.2 or newer; ALPN answers "http/1.1" when offered and never "h2"
// (the apiserver offers h2 and breaks on a server that selects it without speaking it).
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"

namespace archway::webhook {

class TlsContextProvider {
 public:
  // Fails when the pair does not load now (a server without a certificate cannot serve).
  static Result<std::unique_ptr<TlsContextProvider>> Create(std::string cert_file, std::string key_file);

  std::shared_ptr<boost::asio::ssl::context> Current();

  // How many times a new pair was loaded (1 after Create).
  int LoadCount() const;

 private:
  struct FileStamp {
    long long mtime_ns = 0;
    long long size = -1;
    unsigned long long inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  TlsContextProvider(std::string cert_file, std::string key_file);
  Status Reload(const FileStamp& cert_stamp, const FileStamp& key_stamp);  // requires mu_
  static FileStamp Stat(const std::string& path);

  const std::string cert_file_;
  const std::string key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_;
  FileStamp cert_stamp_;
  FileStamp key_stamp_;
  FileStamp failed_cert_stamp_;  // last pair that failed, so it is not retried in a loop
  FileStamp failed_key_stamp_;
  int loads_ = 0;
};

// A TLS server context for `cert_file`/`key_file` with the settings above.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(const std::string& cert_file,
                                                                      const std::string& key_file);

}  // namespace archway::webhook

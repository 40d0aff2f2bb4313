// A tiny HTTP/1.1 server on 127.0.0.1 for tests that need a peer a real registry cannot
// play: a broken registry (wrong digest, endless body), a hanging one, a redirecting one,
// a rate limiter, or a token server. Every request is recorded (method, target, headers).
//
//   LoopbackHttpServer server([](const HttpRecord& r) {
//     return HttpReply{.status = 429, .headers = {{"Retry-After", "1"}}};
//   });
//   ... point a client at server.host() ...
//   EXPECT_EQ(server.Requests().size(), 2u);
//
// With LoopbackTls it serves HTTPS instead (TLS 1.2+, no ALPN protocol selected): with a
// fresh self-signed certificate for 127.0.0.1 and the names given (ca_file() verifies it),
// or with a given certificate and key, e.g. a stand-in admission webhook that records
// what a real kube-apiserver sends.
//
// Also a minimal blocking HTTP client (HttpCall) that does not share code with archway's.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/loopback_listener.h"

namespace archway::testing {

struct HttpRecord {
  std::string method;
  std::string target;  // path and query as sent
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string Path() const { return target.substr(0, target.find('?')); }
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
  bool HasHeader(const std::string& lower_name) const { return headers.count(lower_name) != 0; }
};

struct HttpReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Accept the request and never answer (until the server is destroyed).
  bool hang = false;
  // Announce this Content-Length but send only `body` (with hang: a stalled body).
  long long declared_length = -1;
  // Send the body with chunked transfer encoding (no Content-Length).
  bool chunked = false;
  // Close the connection right after reading the request, without answering.
  bool close_without_reply = false;
  // Answer (without "Connection: close"), then close the connection: a keep-alive timeout.
  bool close_after_reply = false;
};

struct LoopbackTls {
  std::vector<std::string> names;  // DNS names in the certificate besides IP 127.0.0.1
  // PEM files of a certificate chain and key to present instead of a generated certificate.
  std::string cert_file;
  std::string key_file;

  // A fresh self-signed certificate for 127.0.0.1 and `dns_names`.
  static LoopbackTls SelfSigned(std::vector<std::string> dns_names) { return {std::move(dns_names), "", ""}; }
  // The certificate chain and key in these PEM files.
  static LoopbackTls Files(std::string cert, std::string key) { return {{}, std::move(cert), std::move(key)}; }
};

class LoopbackHttpServer {
 public:
  using Handler = std::function<HttpReply(const HttpRecord&)>;

  explicit LoopbackHttpServer(Handler handler);
  LoopbackHttpServer(Handler handler, LoopbackTls tls);
  ~LoopbackHttpServer();
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  int port() const { return listener_.port(); }
  std::string host() const { return "127.0.0.1:" + std::to_string(port()); }
  std::string url() const { return (tls_ ? "https://" : "http://") + host(); }
  // TLS mode: the PEM certificate that verifies this server ("" otherwise).
  std::string ca_file() const;

  std::vector<HttpRecord> Requests() const;
  void ResetRequests();
  // Connections the server has closed so far (its side of a keep-alive timeout).
  int ClosedConnections() const;

 private:
  struct TlsState;
  void Serve(int fd);
  template <typename Stream>
  void ServeStream(Stream& stream);

  Handler handler_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable stopped_;
  std::vector<HttpRecord> requests_;
  int closed_connections_ = 0;
  std::shared_ptr<TlsState> tls_;
  LoopbackListener listener_;
};

// One request on a fresh connection to "host:port" (plain HTTP). Throws on connection
// failure. The reply's headers are in `headers` with their original names.
HttpReply HttpCall(const std::string& host, const std::string& method, const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers = {},
                   const std::string& body = "");

// The value of a reply header, case-insensitive ("" when absent).
std::string ReplyHeader(const HttpReply& reply, const std::string& name);

std::string LowerCase(std::string text);

// The record of a request the loopback servers read with Beast (http::request<string_body>).
template <typename BeastRequest>
HttpRecord RecordOf(const BeastRequest& request) {
  HttpRecord record;
  record.method = std::string(request.method_string());
  record.target = std::string(request.target());
  for (const auto& field : request) record.headers[LowerCase(std::string(field.name_string()))] = std::string(field.value());
  record.body = request.body();
  return record;
}

}  // namespace archway::testing

#include "tests/support/http_server.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tests/support/process.h"

namespace archway::testing {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

}  // namespace

std::string LowerCase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct LoopbackHttpServer::TlsState {
  TempDir dir{"archway-loopback-tls"};
  ssl::context context{ssl::context::tls_server};
  std::string cert_file;  // the certificate presented, when given rather than generated
};

LoopbackHttpServer::LoopbackHttpServer(Handler handler) : handler_(std::move(handler)) {
  listener_.Start([this](int fd) { Serve(fd); });
}

LoopbackHttpServer::LoopbackHttpServer(Handler handler, LoopbackTls tls)
    : handler_(std::move(handler)), tls_(std::make_shared<TlsState>()) {
  tls_->context.set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                            ssl::context::no_tlsv1_1);
  if (!tls.cert_file.empty()) {
    boost::system::error_code ec;
    tls_->context.use_certificate_chain_file(tls.cert_file, ec);
    if (!ec) tls_->context.use_private_key_file(tls.key_file, ssl::context::pem, ec);
    if (ec) throw std::runtime_error("LoopbackHttpServer: cannot load " + tls.cert_file + " / " + tls.key_file + ": " + ec.message());
    tls_->cert_file = tls.cert_file;
    listener_.Start([this](int fd) { Serve(fd); });
    return;
  }
  std::string names = "IP:127.0.0.1";
  for (const auto& name : tls.names) names += ",DNS:" + name;
  CommandResult made = RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                                   "/CN=archway-loopback", "-addext", "subjectAltName=" + names, "-keyout",
                                   tls_->dir.File("tls.key"), "-out", tls_->dir.File("tls.crt")},
                                  std::chrono::seconds(30));
  if (made.exit_code != 0) throw std::runtime_error("openssl req failed: " + made.output);
  tls_->context.use_certificate_chain_file(tls_->dir.File("tls.crt"));
  tls_->context.use_private_key_file(tls_->dir.File("tls.key"), ssl::context::pem);
  tls_->cert_file = tls_->dir.File("tls.crt");
  listener_.Start([this](int fd) { Serve(fd); });
}

std::string LoopbackHttpServer::ca_file() const { return tls_ ? tls_->cert_file : ""; }

LoopbackHttpServer::~LoopbackHttpServer() {
  {
    // Under the lock: a hanging connection has either not checked the flag yet or is waiting.
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stopped_.notify_all();
  listener_.Stop();
}

void LoopbackHttpServer::Serve(int fd) {
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.assign(tcp::v4(), fd, ec);
  if (!ec && tls_) {
    ssl::stream<tcp::socket&> stream(socket, tls_->context);
    stream.handshake(ssl::stream_base::server, ec);
    if (!ec) ServeStream(stream);
  } else if (!ec) {
    ServeStream(socket);
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
  listener_.Untrack(fd);
  socket.close(ec);
  std::lock_guard<std::mutex> lock(mu_);
  ++closed_connections_;
}

template <typename Stream>
void LoopbackHttpServer::ServeStream(Stream& socket) {
  boost::system::error_code ec;
  beast::flat_buffer buffer;
  while (!ec && !stopping_) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    bhttp::read(socket, buffer, parser, ec);
    if (ec) break;
    const auto& message = parser.get();
    HttpRecord record = RecordOf(message);
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(record);
    }
    HttpReply reply = handler_(record);
    bool keep_alive = message.keep_alive();
    if (reply.close_without_reply) break;
    if (reply.hang && reply.declared_length < 0) {
      std::unique_lock<std::mutex> lock(mu_);
      stopped_.wait(lock, [this] { return stopping_.load(); });
      break;
    }
    bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(reply.status), message.version()};
    for (const auto& [name, value] : reply.headers) response.set(name, value);
    response.body() = reply.body;
    response.keep_alive(keep_alive);
    if (reply.declared_length >= 0) {
      // Headers announce more than is sent; the rest never comes.
      response.content_length(static_cast<uint64_t>(reply.declared_length));
      bhttp::response_serializer<bhttp::string_body> serializer(response);
      bhttp::write_header(socket, serializer, ec);
      asio::write(socket, asio::buffer(reply.body), ec);
      std::unique_lock<std::mutex> lock(mu_);
      stopped_.wait(lock, [this] { return stopping_.load(); });
      break;
    }
    if (record.method == "HEAD") {
      // Content-Length describes the GET body; a HEAD response has none.
      auto length = reply.body.size();
      bool has_length = false;
      for (const auto& [name, value] : reply.headers) has_length |= LowerCase(name) == "content-length";
      if (!has_length) response.content_length(length);
      bhttp::response_serializer<bhttp::string_body> serializer(response);
      serializer.split(true);
      bhttp::write_header(socket, serializer, ec);
    } else if (reply.chunked) {
      response.chunked(true);
      bhttp::write(socket, response, ec);
    } else {
      response.prepare_payload();
      bhttp::write(socket, response, ec);
    }
    if (!keep_alive || reply.close_after_reply) break;
  }
}

std::vector<HttpRecord> LoopbackHttpServer::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void LoopbackHttpServer::ResetRequests() {
  std::lock_guard<std::mutex> lock(mu_);
  requests_.clear();
}

int LoopbackHttpServer::ClosedConnections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_connections_;
}

HttpReply HttpCall(const std::string& host, const std::string& method, const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body) {
  asio::io_context io;
  tcp::resolver resolver(io);
  size_t colon = host.rfind(':');
  auto endpoints = resolver.resolve(host.substr(0, colon), host.substr(colon + 1));
  tcp::socket socket(io);
  asio::connect(socket, endpoints);
  bhttp::request<bhttp::string_body> request{bhttp::string_to_verb(method), target, 11};
  request.set(bhttp::field::host, host);
  request.set(bhttp::field::user_agent, "archway-test-fixtures");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  if (!body.empty() || method == "PUT" || method == "POST" || method == "PATCH") request.prepare_payload();
  bhttp::write(socket, request);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);
  bhttp::read(socket, buffer, parser);
  const auto& response = parser.get();
  HttpReply reply;
  reply.status = static_cast<int>(response.result_int());
  for (const auto& field : response) reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  reply.body = response.body();
  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_both, ec);
  return reply;
}

std::string ReplyHeader(const HttpReply& reply, const std::string& name) {
  std::string wanted = LowerCase(name);
  for (const auto& [key, value] : reply.headers) {
    if (LowerCase(key) == wanted) return value;
  }
  return "";
}

}  // namespace archway::testing

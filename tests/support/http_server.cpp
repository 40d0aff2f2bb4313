#include "tests/support/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

LoopbackHttpServer::LoopbackHttpServer(Handler handler, const LoopbackTls& tls)
    : LoopbackHttpServer(std::move(handler)) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  context->use_certificate_chain_file(tls.cert_file, ec);
  if (!ec) context->use_private_key_file(tls.key_file, asio::ssl::context::pem, ec);
  if (ec) throw std::runtime_error("LoopbackHttpServer: cannot load " + tls.cert_file + " / " + tls.key_file + ": " + ec.message());
  std::lock_guard<std::mutex> lock(mu_);  // set before the first connection is served
  tls_ = context;
}

LoopbackHttpServer::LoopbackHttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ListenOnLoopback(&port_, "LoopbackHttpServer");
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

LoopbackHttpServer::~LoopbackHttpServer() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : connections_) shutdown(fd, SHUT_RDWR);
  }
  stopped_.notify_all();
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  close(listen_fd_);
}

void LoopbackHttpServer::AcceptLoop() {
  while (!stopping_) {
    const int fd = AcceptWithin(listen_fd_, 50);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      close(fd);
      break;
    }
    connections_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void LoopbackHttpServer::Serve(int fd) {
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.assign(tcp::v4(), fd, ec);
  std::shared_ptr<void> tls;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tls = tls_;
  }
  if (!ec && tls) {
    asio::ssl::stream<tcp::socket&> stream(socket, *std::static_pointer_cast<asio::ssl::context>(tls));
    stream.handshake(asio::ssl::stream_base::server, ec);
    if (!ec) ServeStream(stream);
  } else if (!ec) {
    ServeStream(socket);
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
  std::lock_guard<std::mutex> lock(mu_);
  connections_.erase(std::remove(connections_.begin(), connections_.end(), fd), connections_.end());
  socket.close(ec);
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
    HttpRecord record;
    record.method = std::string(message.method_string());
    record.target = std::string(message.target());
    for (const auto& field : message) record.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
    record.body = message.body();
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(record);
    }
    HttpReply reply = handler_(record);
    bool keep_alive = message.keep_alive();
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
      for (const auto& [name, value] : reply.headers) has_length |= Lower(name) == "content-length";
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
    if (!keep_alive) break;
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
  std::string wanted = Lower(name);
  for (const auto& [key, value] : reply.headers) {
    if (Lower(key) == wanted) return value;
  }
  return "";
}

}  // namespace archway::testing

#include "operator/health_server.h"

#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace archway::op {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

// A probe that sends nothing for this long is dropped, so it cannot hold the thread.
constexpr auto kIdleTimeout = std::chrono::seconds(10);

// One connection: read a request, answer, repeat while the client keeps it alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const std::function<bool()>& ready, const std::function<std::string()>& metrics)
      : stream_(std::move(socket)), ready_(ready), metrics_(metrics) {}

  void Read() {
    request_ = {};
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->Answer();
                     });
  }

 private:
  void Answer() {
    std::string_view target(request_.target().data(), request_.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    auto response = std::make_shared<http::response<http::string_body>>();
    response->version(request_.version());
    response->keep_alive(request_.keep_alive());
    response->set(http::field::content_type, "text/plain");
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      response->result(http::status::method_not_allowed);
      response->body() = "method not allowed";
    } else if (path == "/healthz") {
      response->result(http::status::ok);
      response->body() = "ok";
    } else if (path == "/metrics" && metrics_) {
      response->result(http::status::ok);
      response->set(http::field::content_type, "text/plain; version=0.0.4");
      response->body() = metrics_();
    } else if (path == "/readyz" && ready_) {
      bool ready = ready_();
      response->result(ready ? http::status::ok : http::status::service_unavailable);
      response->body() = ready ? "ok" : "not ready";
    } else {
      response->result(http::status::not_found);
      response->body() = "not found";
    }
    response->prepare_payload();
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, *response, [self = shared_from_this(), response](beast::error_code ec, size_t) {
      if (!ec && response->keep_alive()) self->Read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  const std::function<bool()>& ready_;
  const std::function<std::string()>& metrics_;
};

}  // namespace

struct HealthServer::Impl {
  std::string listen;
  std::function<bool()> ready;
  std::function<std::string()> metrics;
  net::io_context ioc{1};
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread thread;
  unsigned short port = 0;

  void Accept() {
    acceptor->async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      if (!ec) std::make_shared<Session>(std::move(socket), ready, metrics)->Read();
      Accept();
    });
  }
};

HealthServer::HealthServer(std::string listen, std::function<bool()> ready, std::function<std::string()> metrics)
    : impl_(std::make_unique<Impl>()) {
  impl_->listen = std::move(listen);
  impl_->ready = std::move(ready);
  impl_->metrics = std::move(metrics);
}

HealthServer::~HealthServer() { Stop(); }

unsigned short HealthServer::port() const { return impl_->port; }

Status HealthServer::Start() {
  const std::string& listen = impl_->listen;
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Error(ErrorCode::kInvalidArgument, "health listen address \"" + listen + "\" has no :port");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  beast::error_code ec;
  tcp::resolver resolver(impl_->ioc);
  auto endpoints = resolver.resolve(host, listen.substr(colon + 1), tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return Error(ErrorCode::kInvalidArgument, "listen address \"" + listen + "\": " + ec.message());
  }
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->ioc);
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Error(ErrorCode::kUnavailable, "listen on " + listen + ": " + ec.message());
  impl_->port = acceptor->local_endpoint().port();
  impl_->acceptor = std::move(acceptor);
  impl_->Accept();
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
  return Status::Ok();
}

void HealthServer::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->ioc.stop();
  impl_->thread.join();
  impl_->acceptor.reset();
}

}  // namespace archway::op

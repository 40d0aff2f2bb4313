#include "base/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <type_traits>

#include "base/log.h"

namespace archway {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void CloseIfIdle() = 0;
};

// One listener's routes and count.
struct Port {
  explicit Port(HttpListener l) : listener(std::move(l)) {}
  HttpListener listener;
  std::atomic<uint64_t> accepted{0};
  unsigned short port = 0;
};

// State shared by the listeners and sessions of one server.
struct Core {
  explicit Core(HttpServerOptions o) : options(std::move(o)) {}
  HttpServerOptions options;
  std::atomic<bool> draining{false};

  std::mutex mu;
  std::condition_variable drained;
  int in_flight = 0;     // guarded by mu
  uint64_t next_id = 0;  // guarded by mu
  std::map<uint64_t, std::weak_ptr<SessionBase>> sessions;  // guarded by mu

  uint64_t Register(std::weak_ptr<SessionBase> session) {
    std::lock_guard lock(mu);
    sessions.emplace(++next_id, std::move(session));
    return next_id;
  }
  void Unregister(uint64_t id) {
    std::lock_guard lock(mu);
    sessions.erase(id);
  }
  void RequestStarted() {
    std::lock_guard lock(mu);
    ++in_flight;
  }
  void RequestDone() {
    std::lock_guard lock(mu);
    if (--in_flight == 0) drained.notify_all();
  }
};

const HttpRoute* FindRoute(const Port& port, std::string_view path) {
  for (const auto& route : port.listener.routes) {
    if (route.path == path) return &route;
  }
  return nullptr;
}

bool Allows(const HttpRoute& route, std::string_view method) {
  return std::any_of(route.methods.begin(), route.methods.end(),
                     [&](const std::string& allowed) { return allowed == method || (allowed == "GET" && method == "HEAD"); });
}

std::string AllowHeader(const HttpRoute& route) {
  std::string allow;
  for (const auto& method : route.methods) {
    if (!allow.empty()) allow += ", ";
    allow += method;
    if (method == "GET") allow += ", HEAD";
  }
  return allow;
}

// Request bodies up to this size keep their buffer for the connection's next request.
constexpr size_t kRecycledBodyCapacity = 64 * 1024;

template <bool kTls>
class Session : public SessionBase, public std::enable_shared_from_this<Session<kTls>> {
  using Stream = std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

 public:
  Session(tcp::socket&& socket, std::shared_ptr<asio::ssl::context> context, Port& port, Core& core)
    requires kTls
      : context_(std::move(context)), stream_(std::move(socket), *context_), port_(port), core_(core) {}
  Session(tcp::socket&& socket, Port& port, Core& core)
    requires(!kTls)
      : stream_(std::move(socket)), port_(port), core_(core) {}
  ~Session() override {
    if (in_flight_) core_.RequestDone();
    core_.Unregister(id_);
  }

  void Run() {
    id_ = core_.Register(this->weak_from_this());
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Start(); });
  }

  void CloseIfIdle() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) beast::get_lowest_layer(self->stream_).cancel();
    });
  }

 private:
  void Start() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(core_.options.io_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](const beast::error_code& ec) {
                                if (ec) {
                                  log::Debug("TLS handshake failed", {{"error", ec.message()}});
                                  return;
                                }
                                self->DoRead();
                              });
    } else {
      DoRead();
    }
  }

  void DoRead() {
    if (core_.draining) {
      DoClose();
      return;
    }
    // The next request is read into the last one's body buffer (only the buffer: the rest
    // of the message is new): an admission review is a few KiB, and a fresh buffer per
    // request costs an allocation that makes glibc consolidate its free lists every time.
    std::string body;
    if (parser_ && parser_->get().body().capacity() <= kRecycledBodyCapacity) {
      body = std::move(parser_->get().body());
      body.clear();
    }
    parser_.emplace();
    parser_->get().body() = std::move(body);
    parser_->body_limit(core_.options.max_body_bytes);
    head_ = false;
    idle_ = true;
    beast::get_lowest_layer(stream_).expires_after(core_.options.idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](const beast::error_code& ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(const beast::error_code& ec) {
    idle_ = false;
    if (ec == bhttp::error::body_limit) {
      Begin();
      version_ = parser_->get().version();
      Write(HttpResponse{413, "request body larger than " + std::to_string(core_.options.max_body_bytes) + " bytes\n"},
            /*keep_alive=*/false);
      return;
    }
    if (ec == bhttp::error::end_of_stream) {
      DoClose();
      return;
    }
    if (ec) return;  // timeout, reset, cancelled by shutdown, garbage: drop the connection
    Begin();
    auto& request = parser_->get();
    version_ = request.version();
    keep_alive_ = request.keep_alive();
    head_ = request.method() == bhttp::verb::head;
    Dispatch(request);
  }

  void Dispatch(const bhttp::request<bhttp::string_body>& message) {
    const std::string_view target(message.target().data(), message.target().size());
    const std::string_view method(message.method_string().data(), message.method_string().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const HttpRoute* route = FindRoute(port_, path);
    if (route == nullptr) {
      Write(HttpResponse{404, "not found\n"}, true);
      return;
    }
    if (!Allows(*route, method)) {
      allow_ = AllowHeader(*route);
      Write(HttpResponse{405, "method not allowed: use " + allow_ + "\n"}, true);
      return;
    }
    const HttpRequest request{method, target, path, message.body(), core_.draining, stream_.get_executor()};
    // An answer given later is posted to this connection's io_context.
    auto later = [self = this->shared_from_this()](HttpResponse response) {
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response)]() mutable { self->Write(std::move(response), true); });
    };
    if (auto response = route->handler(request, std::move(later))) Write(std::move(*response), true);
  }

  void Begin() {
    in_flight_ = true;
    core_.RequestStarted();
  }

  void Write(HttpResponse answer, bool keep_alive) {
    response_.emplace(static_cast<bhttp::status>(answer.status), version_ ? version_ : 11);
    response_->set(bhttp::field::content_type, answer.content_type);
    if (!allow_.empty()) response_->set(bhttp::field::allow, allow_);
    response_->body() = std::move(answer.body);
    const bool keep = keep_alive && keep_alive_ && !core_.draining;
    response_->keep_alive(keep);
    response_->prepare_payload();
    if (head_) response_->body().clear();  // Content-Length stays that of the GET
    allow_.clear();
    beast::get_lowest_layer(stream_).expires_after(core_.options.io_timeout);
    bhttp::async_write(stream_, *response_,
                       [self = this->shared_from_this(), keep](const beast::error_code& ec, size_t) {
                         self->OnWrite(ec, keep);
                       });
  }

  void OnWrite(const beast::error_code& ec, bool keep) {
    if (in_flight_) {
      in_flight_ = false;
      core_.RequestDone();
    }
    if (ec) return;
    if (!keep) {
      DoClose();
      return;
    }
    DoRead();
  }

  void DoClose() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](const beast::error_code&) {});
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  std::shared_ptr<asio::ssl::context> context_;  // outlives stream_ (declared first)
  Stream stream_;
  Port& port_;
  Core& core_;
  uint64_t id_ = 0;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  std::string allow_;  // the Allow header of a 405
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool idle_ = false;
  bool in_flight_ = false;
};

// Each IO thread runs its own io_context; connections are dealt to them in turn.
class IoContexts {
 public:
  explicit IoContexts(size_t count) {
    for (size_t i = 0; i < std::max<size_t>(1, count); ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));  // 1: one thread runs it
      guards_.emplace_back(asio::make_work_guard(*contexts_.back()));
    }
  }
  asio::io_context& Next() { return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()]; }
  asio::io_context& First() { return *contexts_.front(); }
  size_t size() const { return contexts_.size(); }
  asio::io_context& at(size_t i) { return *contexts_[i]; }
  void Stop() {
    guards_.clear();
    for (auto& context : contexts_) context->stop();
  }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::atomic<size_t> next_{0};
};

// The endpoints `address` names: every interface (IPv6 with IPv4 mapped, or IPv4 alone),
// an address, or what a name resolves to.
Result<tcp::endpoint> EndpointOf(const ListenAddress& address, asio::io_context& io) {
  if (address.host.empty()) return tcp::endpoint(tcp::v6(), address.port);
  beast::error_code ec;
  auto ip = asio::ip::make_address(address.host, ec);
  if (!ec) return tcp::endpoint(ip, address.port);
  tcp::resolver resolver(io);
  auto found = resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::passive, ec);
  if (ec || found.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "listen address " + address.String() + ": " + (ec ? ec.message() : "no address"));
  }
  return found.begin()->endpoint();
}

class Acceptor : public std::enable_shared_from_this<Acceptor> {
 public:
  Acceptor(IoContexts& io, Port& port, Core& core) : io_(io), acceptor_(io.First()), port_(port), core_(core) {}

  Status Open() {
    const ListenAddress& address = port_.listener.address;
    auto endpoint = EndpointOf(address, io_.First());
    if (!endpoint.ok()) return endpoint.error();
    beast::error_code ec;
    acceptor_.open(endpoint->protocol(), ec);
    if (ec && address.host.empty()) {  // no IPv6 on this host: all IPv4 interfaces
      *endpoint = tcp::endpoint(tcp::v4(), address.port);
      ec.clear();
      acceptor_.open(endpoint->protocol(), ec);
    }
    if (!ec && endpoint->protocol() == tcp::v6() && address.host.empty()) {
      acceptor_.set_option(asio::ip::v6_only(false), ec);
    }
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(*endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Error(ErrorCode::kUnavailable, "cannot listen on " + address.String() + ": " + ec.message());
    port_.port = acceptor_.local_endpoint().port();
    return Status::Ok();
  }

  void Accept() {
    acceptor_.async_accept(io_.Next(), [self = shared_from_this()](const beast::error_code& ec, tcp::socket socket) {
      self->OnAccept(ec, std::move(socket));
    });
  }

  void Close() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->CloseNow(); });
  }
  // Only from the acceptor's thread, or once the IO threads have stopped.
  void CloseNow() {
    beast::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  void OnAccept(const beast::error_code& ec, tcp::socket socket) {
    if (!acceptor_.is_open() || core_.draining) return;
    if (ec) {
      log::Warn("accept failed", {{"listener", port_.listener.name}, {"error", ec.message()}});
    } else {
      port_.accepted.fetch_add(1, std::memory_order_relaxed);
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (port_.listener.tls) {
        std::make_shared<Session<true>>(std::move(socket), port_.listener.tls(), port_, core_)->Run();
      } else {
        std::make_shared<Session<false>>(std::move(socket), port_, core_)->Run();
      }
    }
    Accept();
  }

  IoContexts& io_;
  tcp::acceptor acceptor_;
  Port& port_;
  Core& core_;
};

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions options, std::vector<HttpListener> listeners) : core(std::move(options)), io(core.options.io_threads) {
    for (auto& listener : listeners) ports.push_back(std::make_unique<Port>(std::move(listener)));
  }

  Core core;  // destroyed after io: sessions unregister from it
  std::vector<std::unique_ptr<Port>> ports;
  IoContexts io;
  std::vector<std::shared_ptr<Acceptor>> acceptors;
  std::vector<std::thread> threads;
  bool running = false;
};

HttpServer::HttpServer(HttpServerOptions options, std::vector<HttpListener> listeners)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(listeners))) {}

HttpServer::~HttpServer() {
  Shutdown(std::chrono::milliseconds(0));
  impl_->acceptors.clear();
}

Status HttpServer::Start() {
  for (auto& port : impl_->ports) {
    auto acceptor = std::make_shared<Acceptor>(impl_->io, *port, impl_->core);
    if (auto s = acceptor->Open(); !s.ok()) {
      return port->listener.name.empty() ? s.error() : s.error().Wrap(port->listener.name);
    }
    impl_->acceptors.push_back(std::move(acceptor));
  }
  for (auto& acceptor : impl_->acceptors) acceptor->Accept();
  for (size_t i = 0; i < impl_->io.size(); ++i) {
    impl_->threads.emplace_back([this, i] { impl_->io.at(i).run(); });
  }
  impl_->running = true;
  return Status::Ok();
}

unsigned short HttpServer::port(size_t listener) const {
  return listener < impl_->ports.size() ? impl_->ports[listener]->port : 0;
}

uint64_t HttpServer::accepted(size_t listener) const {
  return listener < impl_->ports.size() ? impl_->ports[listener]->accepted.load(std::memory_order_relaxed) : 0;
}

void HttpServer::Shutdown(std::chrono::milliseconds drain) {
  if (!impl_->running) return;
  impl_->running = false;
  Core& core = impl_->core;
  core.draining = true;
  for (auto& acceptor : impl_->acceptors) acceptor->Close();
  std::vector<std::shared_ptr<SessionBase>> sessions;
  {
    std::lock_guard lock(core.mu);
    for (auto& [id, weak] : core.sessions) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
  }
  // Outside the lock: dropping the last reference runs ~Session, which unregisters.
  for (auto& session : sessions) session->CloseIfIdle();
  sessions.clear();
  {
    std::unique_lock lock(core.mu);
    core.drained.wait_for(lock, drain, [&] { return core.in_flight == 0; });
  }
  impl_->io.Stop();
  for (auto& thread : impl_->threads) thread.join();
  impl_->threads.clear();
  // The posted closes may not have run before the stop: the port must not take connections.
  for (auto& acceptor : impl_->acceptors) acceptor->CloseNow();
}

}  // namespace archway

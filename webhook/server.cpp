#include "webhook/server.h"

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

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/duration.h"
#include "base/log.h"

namespace archway::webhook {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// The apiserver appends its timeoutSeconds as "?timeout=5s"; answer a little before it
// gives up so the pod is admitted (unchanged) rather than failed by the apiserver.
std::chrono::milliseconds DeadlineCapFromQuery(std::string_view target) {
  constexpr std::chrono::milliseconds kNoCap{24 * 3600 * 1000};
  const auto question = target.find('?');
  if (question == std::string_view::npos) return kNoCap;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.starts_with("timeout=")) {
      auto timeout = ParseDuration(pair.substr(8));
      if (!timeout.ok()) return kNoCap;
      const auto margin = std::min<std::chrono::milliseconds>(*timeout / 5, std::chrono::milliseconds(500));
      return std::max(std::chrono::milliseconds(50), *timeout - margin);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return kNoCap;
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void CloseIfIdle() = 0;
};

// State shared by the listeners and sessions of one server.
struct Core {
  Core(ServerOptions o, Admitter& a, Metrics& m, std::function<bool()> r)
      : options(std::move(o)), admitter(a), metrics(m), ready(std::move(r)) {}
  ServerOptions options;
  Admitter& admitter;
  Metrics& metrics;
  std::function<bool()> ready;
  std::atomic<bool> draining{false};

  std::mutex mu;
  std::condition_variable drained;
  int in_flight = 0;  // guarded by mu
  uint64_t next_id = 0;
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

// Request bodies up to this size keep their buffer for the connection's next request.
constexpr size_t kRecycledBodyCapacity = 64 * 1024;

template <bool kTls>
class Session : public SessionBase, public std::enable_shared_from_this<Session<kTls>> {
  using Stream = std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

 public:
  Session(tcp::socket&& socket, std::shared_ptr<ssl::context> context, Core& core)
    requires kTls
      : context_(std::move(context)), stream_(std::move(socket), *context_), core_(core) {}
  Session(tcp::socket&& socket, Core& core)
    requires(!kTls)
      : stream_(std::move(socket)), core_(core) {}
  ~Session() override {
    if (in_flight_) core_.RequestDone();
    core_.Unregister(id_);
  }

  void Run() {
    id_ = core_.Register(this->weak_from_this());
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Start(); });
  }

  void CloseIfIdle() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) beast::get_lowest_layer(self->stream_).cancel();
    });
  }

 private:
  void Start() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(core_.options.io_timeout);
      stream_.async_handshake(ssl::stream_base::server,
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
    // The next review is read into the last one's body buffer (only the buffer: the rest
    // of the message is new): a review is a few KiB, and a fresh buffer per request costs
    // an allocation that makes glibc consolidate its free lists every time.
    std::string body;
    if (parser_ && parser_->get().body().capacity() <= kRecycledBodyCapacity) {
      body = std::move(parser_->get().body());
      body.clear();
    }
    parser_.emplace();
    parser_->get().body() = std::move(body);
    parser_->body_limit(core_.options.max_body_bytes);
    idle_ = true;
    beast::get_lowest_layer(stream_).expires_after(core_.options.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](const beast::error_code& ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(const beast::error_code& ec) {
    idle_ = false;
    if (ec == http::error::body_limit) {
      Begin();
      version_ = parser_->get().version();
      Respond(413, "text/plain", "request body larger than " + std::to_string(core_.options.max_body_bytes) + " bytes\n",
              /*keep_alive=*/false);
      return;
    }
    if (ec == http::error::end_of_stream) {
      DoClose();
      return;
    }
    if (ec) return;  // timeout, reset, cancelled by shutdown, garbage: drop the connection
    Begin();
    auto& request = parser_->get();
    version_ = request.version();
    keep_alive_ = request.keep_alive();
    const std::string_view target(request.target().data(), request.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if constexpr (kTls) {
      if (path == "/mutate") {
        if (request.method() != http::verb::post) {
          Respond(405, "text/plain", "use POST\n", true);
          return;
        }
        // An answer given synchronously (every image cached) is written right here; one
        // given later by the look-up pool or the budget timer is posted to this connection's
        // io_context.
        auto self = this->shared_from_this();
        admit_thread_ = std::this_thread::get_id();
        admitting_ = true;
        core_.admitter.Admit(request.body(), DeadlineCapFromQuery(target), stream_.get_executor(),
                             [self](HttpAnswer answer) {
                               if (self->admitting_ && std::this_thread::get_id() == self->admit_thread_) {
                                 self->sync_answer_ = std::move(answer);
                                 return;
                               }
                               net::post(self->stream_.get_executor(), [self, answer = std::move(answer)]() mutable {
                                 self->Respond(answer.status, answer.content_type, std::move(answer.body), true);
                               });
                             });
        admitting_ = false;
        if (sync_answer_) {
          HttpAnswer answer = std::move(*sync_answer_);
          sync_answer_.reset();
          Respond(answer.status, answer.content_type, std::move(answer.body), true);
        }
        return;
      }
    } else {
      if (path == "/metrics") {
        Respond(200, "text/plain; version=0.0.4", core_.metrics.Serialize(), true);
        return;
      }
    }
    if (path == "/healthz") {
      Respond(200, "text/plain", "ok\n", true);
    } else if (path == "/readyz") {
      const bool ready = !core_.draining && (!core_.ready || core_.ready());
      Respond(ready ? 200 : 503, "text/plain", ready ? "ok\n" : "not ready\n", true);
    } else {
      Respond(404, "text/plain", "not found\n", true);
    }
  }

  void Begin() {
    in_flight_ = true;
    core_.RequestStarted();
  }

  void Respond(unsigned status, const std::string& content_type, std::string body, bool keep_alive) {
    response_.emplace(static_cast<http::status>(status), version_ ? version_ : 11);
    response_->set(http::field::content_type, content_type);
    response_->body() = std::move(body);
    const bool keep = keep_alive && keep_alive_ && !core_.draining;
    response_->keep_alive(keep);
    response_->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(core_.options.io_timeout);
    http::async_write(stream_, *response_,
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

  std::shared_ptr<ssl::context> context_;  // outlives stream_ (declared first)
  Stream stream_;
  Core& core_;
  uint64_t id_ = 0;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool idle_ = false;
  bool in_flight_ = false;
  std::atomic<bool> admitting_{false};
  std::thread::id admit_thread_;
  std::optional<HttpAnswer> sync_answer_;
};

// Each IO thread runs its own io_context, and a connection lives on one of them from
// accept to close: its handlers never hop threads (no strand, no cross-thread wake-up,
// its buffers freed by the thread that allocated them). Connections are dealt to the
// contexts in turn.
class IoContexts {
 public:
  explicit IoContexts(size_t count) {
    for (size_t i = 0; i < std::max<size_t>(1, count); ++i) {
      contexts_.push_back(std::make_unique<net::io_context>(1));  // 1: one thread runs it
      guards_.emplace_back(net::make_work_guard(*contexts_.back()));
    }
  }
  net::io_context& Next() { return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()]; }
  net::io_context& First() { return *contexts_.front(); }
  size_t size() const { return contexts_.size(); }
  net::io_context& at(size_t i) { return *contexts_[i]; }
  void Stop() {
    guards_.clear();
    for (auto& context : contexts_) context->stop();
  }

 private:
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::atomic<size_t> next_{0};
};

template <bool kTls>
class Listener : public std::enable_shared_from_this<Listener<kTls>> {
 public:
  Listener(IoContexts& io, Core& core, TlsContextProvider* tls)
      : io_(io), acceptor_(io.First()), core_(core), tls_(tls) {}

  Status Open(const ListenAddress& address) {
    beast::error_code ec;
    tcp::endpoint endpoint;
    if (address.host.empty()) {
      endpoint = tcp::endpoint(tcp::v6(), address.port);
    } else {
      auto ip = net::ip::make_address(address.host, ec);
      if (ec) return Error(ErrorCode::kInvalidArgument, "listen address " + address.host + ": " + ec.message());
      endpoint = tcp::endpoint(ip, address.port);
    }
    acceptor_.open(endpoint.protocol(), ec);
    if (ec && address.host.empty()) {  // no IPv6 on this host: all IPv4 interfaces
      endpoint = tcp::endpoint(tcp::v4(), address.port);
      ec.clear();
      acceptor_.open(endpoint.protocol(), ec);
    }
    if (!ec && endpoint.protocol() == tcp::v6()) acceptor_.set_option(net::ip::v6_only(false), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return Error(ErrorCode::kUnavailable, "cannot listen on " + (address.host.empty() ? "*" : address.host) + ":" +
                                                std::to_string(address.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    return Status::Ok();
  }

  void Accept() {
    acceptor_.async_accept(io_.Next(), [self = this->shared_from_this()](const beast::error_code& ec,
                                                                         tcp::socket socket) {
      self->OnAccept(ec, std::move(socket));
    });
  }

  void Close() {
    net::post(acceptor_.get_executor(), [self = this->shared_from_this()] {
      beast::error_code ignored;
      self->acceptor_.close(ignored);
    });
  }

  unsigned short port() const { return port_; }

 private:
  void OnAccept(const beast::error_code& ec, tcp::socket socket) {
    if (!acceptor_.is_open() || core_.draining) return;
    if (ec) {
      log::Warn("accept failed", {{"error", ec.message()}});
    } else {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if constexpr (kTls) {
        std::make_shared<Session<true>>(std::move(socket), tls_->Current(), core_)->Run();
      } else {
        std::make_shared<Session<false>>(std::move(socket), core_)->Run();
      }
    }
    Accept();
  }

  IoContexts& io_;
  tcp::acceptor acceptor_;
  Core& core_;
  TlsContextProvider* tls_;
  unsigned short port_ = 0;
};

}  // namespace

struct Server::Impl {
  Impl(ServerOptions options, Admitter& admitter, TlsContextProvider& tls_provider, Metrics& metrics,
       std::function<bool()> ready)
      : core(std::move(options), admitter, metrics, std::move(ready)),
        io(core.options.io_threads),
        tls(tls_provider) {}

  Core core;  // destroyed after io: sessions unregister from it
  IoContexts io;
  TlsContextProvider& tls;
  std::shared_ptr<Listener<true>> https;
  std::shared_ptr<Listener<false>> plain;
  std::vector<std::thread> threads;
  bool running = false;
};

Server::Server(ServerOptions options, Admitter& admitter, TlsContextProvider& tls, Metrics& metrics,
               std::function<bool()> ready)
    : impl_(std::make_unique<Impl>(std::move(options), admitter, tls, metrics, std::move(ready))) {}

Server::~Server() {
  Shutdown(std::chrono::milliseconds(0));
  impl_->https.reset();
  impl_->plain.reset();
}

Status Server::Start() {
  impl_->https = std::make_shared<Listener<true>>(impl_->io, impl_->core, &impl_->tls);
  if (auto s = impl_->https->Open(impl_->core.options.https); !s.ok()) return s.error().Wrap("https");
  impl_->plain = std::make_shared<Listener<false>>(impl_->io, impl_->core, nullptr);
  if (auto s = impl_->plain->Open(impl_->core.options.metrics); !s.ok()) return s.error().Wrap("metrics");
  impl_->https->Accept();
  impl_->plain->Accept();
  for (size_t i = 0; i < impl_->io.size(); ++i) {
    impl_->threads.emplace_back([this, i] { impl_->io.at(i).run(); });
  }
  impl_->running = true;
  return Status::Ok();
}

unsigned short Server::https_port() const { return impl_->https ? impl_->https->port() : 0; }
unsigned short Server::metrics_port() const { return impl_->plain ? impl_->plain->port() : 0; }

void Server::Shutdown(std::chrono::milliseconds drain) {
  if (!impl_->running) return;
  impl_->running = false;
  Core& core = impl_->core;
  core.draining = true;
  impl_->https->Close();
  impl_->plain->Close();
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
}

}  // namespace archway::webhook

#include "base/http.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <limits>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/encoding.h"
#include "base/resolve.h"

namespace archway::http {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Adds every certificate of a PEM bundle to the context's trust store.
Status AddCaPem(ssl::context& ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return Error(ErrorCode::kInternal, "out of memory");
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.native_handle());
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++added;
  }
  BIO_free(bio);
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (added == 0) return Error(ErrorCode::kInvalidArgument, "CA data holds no PEM certificate");
  return Status::Ok();
}

// Maps a transport error to a Result error; `what` says which step failed.
Error TransportError(const beast::error_code& ec, const std::string& what) {
  if (ec == beast::error::timeout) return Error(ErrorCode::kTimeout, what + " timed out");
  return Error(ErrorCode::kNetwork, what + ": " + ec.message());
}

// "host:port" with IPv6 in brackets and the port always written (CONNECT's authority-form).
std::string HostPort(const Origin& origin) {
  return (origin.host.find(':') != std::string::npos ? "[" + origin.host + "]" : origin.host) + ":" + origin.port;
}

// A peer's reason phrase, fit for one line of a message.
std::string ShortReason(std::string_view reason) {
  std::string out(reason.substr(0, 80));
  for (char& ch : out) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  }
  return out;
}

std::string ProxyAuthHint(const Proxy& proxy) {
  return proxy.authorization.empty() ? " (the proxy URL carries no credentials)"
                                     : " (the proxy refused the credentials of the proxy URL)";
}

}  // namespace

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Origin::Authority() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? "443" : "80")) out += ":" + port;
  return out;
}

std::string Origin::Key() const {
  return std::string(tls ? "https://" : "http://") + (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
         ":" + port;
}

std::string Proxy::Display() const { return HostPort(origin); }

std::string RouteKey(const Origin& origin, const Proxy* proxy) {
  if (proxy == nullptr) return origin.Key();
  // Credentials enter the key only as a hash: pool keys may end up in a debugger or a log.
  std::string key = "via " + proxy->origin.Key();
  if (!proxy->authorization.empty()) key += "#" + Sha256Hex(proxy->authorization).substr(0, 16);
  return key + " " + origin.Key();
}

bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS" ||
         method == "TRACE";
}

bool Origin::HostIsIp() const {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

Result<Origin> ParseOrigin(std::string_view authority, bool tls) {
  Origin origin;
  origin.tls = tls;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Error(ErrorCode::kInvalidArgument, "\"" + std::string(authority) + "\": unterminated IPv6 literal");
    }
    origin.host = Lower(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Error(ErrorCode::kInvalidArgument, "\"" + std::string(authority) + "\": bad port");
      port = rest.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(':') != colon) {
      return Error(ErrorCode::kInvalidArgument, "\"" + std::string(authority) + "\": IPv6 addresses need [brackets]");
    }
    origin.host = Lower(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (origin.host.empty()) return Error(ErrorCode::kInvalidArgument, "\"" + std::string(authority) + "\" has no host");
  if (port.empty()) {
    origin.port = tls ? "443" : "80";
  } else {
    bool numeric = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!numeric || std::stoi(std::string(port)) > 65535 || std::stoi(std::string(port)) == 0) {
      return Error(ErrorCode::kInvalidArgument, "\"" + std::string(authority) + "\": bad port \"" + std::string(port) + "\"");
    }
    origin.port = std::string(port);
  }
  return origin;
}

// --- TlsContext ---------------------------------------------------------------------------

struct TlsContext::Impl {
  ssl::context ctx{ssl::context::tls_client};
  bool verify_peer = true;
};

TlsContext::TlsContext() : impl_(std::make_unique<Impl>()) {}
TlsContext::~TlsContext() = default;
bool TlsContext::verify_peer() const { return impl_->verify_peer; }
void* TlsContext::native_context() { return &impl_->ctx; }

Result<std::shared_ptr<TlsContext>> TlsContext::New(const TlsOptions& options) {
  std::shared_ptr<TlsContext> context(new TlsContext());
  ssl::context& ctx = context->impl_->ctx;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  context->impl_->verify_peer = options.verify_peer;
  boost::system::error_code ec;
  if (!options.verify_peer) {
    ctx.set_verify_mode(ssl::verify_none);
  } else {
    ctx.set_verify_mode(ssl::verify_peer);
    if (!options.ca_file.empty()) {
      ctx.load_verify_file(options.ca_file, ec);
      if (ec) return Error(ErrorCode::kInvalidArgument, "CA file " + options.ca_file + ": " + ec.message());
    }
    if (!options.ca_pem.empty()) {
      if (Status added = AddCaPem(ctx, options.ca_pem); !added.ok()) return added.error();
    }
    if (options.ca_file.empty() && options.ca_pem.empty()) {
      ctx.set_default_verify_paths(ec);
      if (ec) return Error(ErrorCode::kInternal, "system CA certificates: " + ec.message());
    }
  }
  if (!options.cert_file.empty()) {
    ctx.use_certificate_chain_file(options.cert_file, ec);
    if (ec) return Error(ErrorCode::kInvalidArgument, "client certificate " + options.cert_file + ": " + ec.message());
    ctx.use_private_key_file(options.key_file, ssl::context::pem, ec);
    if (ec) return Error(ErrorCode::kInvalidArgument, "client key " + options.key_file + ": " + ec.message());
  } else if (!options.cert_pem.empty()) {
    ctx.use_certificate_chain(net::buffer(options.cert_pem), ec);
    if (ec) return Error(ErrorCode::kInvalidArgument, "client certificate: " + ec.message());
    ctx.use_private_key(net::buffer(options.key_pem), ssl::context::pem, ec);
    if (ec) return Error(ErrorCode::kInvalidArgument, "client key: " + ec.message());
  }
  return context;
}

// --- Response -----------------------------------------------------------------------------

std::string Response::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

// --- Connection ---------------------------------------------------------------------------

struct Connection::Impl {
  Origin origin;
  std::optional<Proxy> proxy;
  std::string route_key;
  std::shared_ptr<TlsContext> tls_context;  // keeps the ssl::context alive
  net::io_context ioc;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  // The streaming response in progress (Begin/ReadSome).
  std::optional<bhttp::response_parser<bhttp::buffer_body>> stream_parser;
  std::atomic<bool> interrupted{false};
  bool reusable = false;
  bool used = false;
  bool written = false;  // some of the last request went out

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // Runs the io_context until the operation started on it completes.
  void Run() {
    ioc.restart();
    ioc.run();
  }

  template <class Op>
  beast::error_code Do(Clock::time_point deadline, Op&& op) {
    beast::error_code ec;
    lowest().expires_at(deadline);
    if (tls) {
      op(*tls, ec);
    } else {
      op(*plain, ec);
    }
    Run();
    if (interrupted) ec = net::error::operation_aborted;
    return ec;
  }

  void Close() {
    if (!tls && !plain) return;  // Open failed before making a stream (the name did not resolve)
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
  }

  bhttp::request<bhttp::span_body<const char>> Build(const Request& request) {
    bhttp::request<bhttp::span_body<const char>> req;
    req.method_string(request.method);
    req.version(11);
    req.set(bhttp::field::host, origin.Authority());
    if (proxy && !origin.tls) {
      // Plain HTTP through a proxy: the absolute URL tells the proxy where to go.
      req.target("http://" + origin.Authority() + request.target);
      if (!proxy->authorization.empty()) req.set(bhttp::field::proxy_authorization, proxy->authorization);
    } else {
      req.target(request.target);
    }
    for (const auto& [name, value] : request.headers) req.insert(name, value);
    bool has_body = !request.body.empty() || request.method == "PUT" || request.method == "POST" ||
                    request.method == "PATCH";
    if (has_body) {
      req.body() = bhttp::span_body<const char>::value_type(request.body.data(), request.body.size());
      req.content_length(request.body.size());
    }
    req.keep_alive(request.keep_alive);
    return req;
  }

  template <class Body>
  static void CopyHeaders(const bhttp::response<Body>& res, Response& out) {
    out.status = res.result_int();
    for (const auto& field : res) out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }

  beast::error_code Send(const Request& request, Clock::time_point deadline) {
    auto req = Build(request);
    used = true;
    reusable = false;
    written = false;
    return Do(deadline, [&](auto& stream, beast::error_code& ec) {
      bhttp::async_write(stream, req, [this, &ec](beast::error_code e, size_t sent) {
        ec = e;
        written = !e || sent > 0;
      });
    });
  }

  // CONNECT through the proxy to the origin; on success the socket is a tunnel to it.
  Status OpenTunnel(Clock::time_point deadline) {
    const std::string target = HostPort(origin);
    const std::string who = "proxy " + proxy->Display();
    bhttp::request<bhttp::empty_body> req{bhttp::verb::connect, target, 11};
    req.set(bhttp::field::host, target);
    if (!proxy->authorization.empty()) req.set(bhttp::field::proxy_authorization, proxy->authorization);
    beast::tcp_stream& stream = lowest();
    stream.expires_at(deadline);
    beast::error_code ec;
    bhttp::async_write(stream, req, [&ec](beast::error_code e, size_t) { ec = e; });
    Run();
    if (interrupted) ec = net::error::operation_aborted;
    if (ec) return TransportError(ec, "CONNECT " + target + " to " + who);
    bhttp::response_parser<bhttp::empty_body> parser;
    parser.skip(true);  // a 2xx answer to CONNECT has no body: the tunnel starts right after it
    bhttp::async_read_header(stream, buffer, parser, [&ec](beast::error_code e, size_t) { ec = e; });
    Run();
    if (interrupted) ec = net::error::operation_aborted;
    if (ec) return TransportError(ec, who + " answering CONNECT " + target);
    const auto& answer = parser.get();
    const int status = answer.result_int();
    if (status / 100 != 2) {
      std::string reason = ShortReason(std::string_view(answer.reason().data(), answer.reason().size()));
      return Error(ErrorCode::kNetwork, who + " answered " + std::to_string(status) + (reason.empty() ? "" : " " + reason) +
                                            " to CONNECT " + target + (status == 407 ? ProxyAuthHint(*proxy) : ""));
    }
    // Nothing may come before the origin's TLS answer, and the TLS stream would not see it.
    if (buffer.size() != 0) return Error(ErrorCode::kNetwork, who + " sent data after its answer to CONNECT " + target);
    return Status::Ok();
  }
};

Connection::Connection() : impl_(std::make_unique<Impl>()) {}
Connection::~Connection() {
  if (impl_) impl_->Close();
}

const Origin& Connection::origin() const { return impl_->origin; }
const std::string& Connection::route_key() const { return impl_->route_key; }
bool Connection::reusable() const { return impl_->reusable && !impl_->interrupted; }
bool Connection::used() const { return impl_->used; }
bool Connection::request_written() const { return impl_->written; }
bool Connection::interrupted() const { return impl_->interrupted; }

bool Connection::IdleAndOpen() const {
  if (impl_->interrupted || impl_->buffer.size() != 0) return false;
  auto& socket = impl_->lowest().socket();
  if (!socket.is_open()) return false;
  char byte;
  ssize_t got = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // Nothing to read is the only healthy state: 0 is the peer's FIN, and bytes on an idle
  // connection are a TLS close_notify or an unasked answer (408).
  return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void Connection::Interrupt() {
  impl_->interrupted = true;
  // Posted to the connection's own io_context, so only the thread running it (the one
  // blocked in a call, or the next caller) touches the socket.
  Impl* impl = impl_.get();
  net::post(impl_->ioc, [impl] { impl->Close(); });
}

Result<std::unique_ptr<Connection>> Connection::Open(const Origin& origin, std::shared_ptr<TlsContext> tls,
                                                      std::chrono::milliseconds connect_timeout, const Proxy* proxy) {
  std::unique_ptr<Connection> conn(new Connection());
  Impl& c = *conn->impl_;
  c.origin = origin;
  if (proxy != nullptr) c.proxy = *proxy;
  c.route_key = RouteKey(origin, proxy);
  c.buffer.reserve(16 * 1024);  // a manifest or an API object in one or two reads, not 512-byte ones
  const Clock::time_point connect_deadline = Clock::now() + connect_timeout;
  const std::string where = origin.Authority();
  // Through a proxy only the proxy's name is looked up here: the proxy resolves the origin's.
  const Origin& peer = proxy != nullptr ? proxy->origin : origin;
  const std::string peer_name = proxy != nullptr ? "proxy " + proxy->Display() : where;
  const std::string via = proxy != nullptr ? " (through proxy " + proxy->Display() + ")" : "";
  auto endpoints = Resolve(peer.host, peer.port, connect_deadline);
  if (!endpoints.ok()) {
    if (endpoints.error().code == ErrorCode::kTimeout) {
      return Error(ErrorCode::kTimeout, "connect to " + peer_name + " timed out after " +
                                            std::to_string(connect_timeout.count()) + " ms: the DNS look-up of " +
                                            peer.host + " did not finish");
    }
    return proxy != nullptr ? endpoints.error().Wrap("proxy " + proxy->Display()) : endpoints.error();
  }
  if (origin.tls) {
    if (!tls) return Error(ErrorCode::kInternal, where + ": TLS origin without a TLS context");
    c.tls_context = std::move(tls);
    auto* ctx = static_cast<ssl::context*>(c.tls_context->native_context());
    c.tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(c.ioc, *ctx);
    SSL* ssl = c.tls->native_handle();
    // The origin's name, also inside a proxy's tunnel: the proxy's is never what is verified.
    bool is_ip = origin.HostIsIp();
    if (!is_ip) SSL_set_tlsext_host_name(ssl, origin.host.c_str());
    if (c.tls_context->verify_peer()) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, origin.host.c_str());
      } else {
        X509_VERIFY_PARAM_set1_host(param, origin.host.c_str(), 0);
      }
    }
  } else {
    c.plain = std::make_unique<beast::tcp_stream>(c.ioc);
  }
  beast::error_code ec;
  c.lowest().expires_at(connect_deadline);
  c.lowest().async_connect(*endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
  c.Run();
  if (ec) {
    if (ec == beast::error::timeout) {
      return Error(ErrorCode::kTimeout, "connect to " + peer_name + " timed out after " +
                                            std::to_string(connect_timeout.count()) + " ms");
    }
    return Error(ErrorCode::kNetwork, "connect to " + peer_name + ": " + ec.message());
  }
  if (proxy != nullptr && origin.tls) {
    if (Status tunnel = c.OpenTunnel(connect_deadline); !tunnel.ok()) return tunnel.error();
  }
  if (c.tls) {
    c.lowest().expires_after(connect_timeout);
    c.tls->async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
    c.Run();
    if (ec) {
      if (ec == beast::error::timeout) return Error(ErrorCode::kTimeout, "TLS handshake with " + where + via + " timed out");
      std::string reason = ec.message();
      if (ec.category() == net::error::get_ssl_category()) {
        long verify = SSL_get_verify_result(c.tls->native_handle());
        if (verify != X509_V_OK) reason = X509_verify_cert_error_string(verify);
      }
      return Error(ErrorCode::kNetwork, "TLS handshake with " + where + via + ": " + reason);
    }
  }
  return conn;
}

Result<Response> Connection::RoundTrip(const Request& request, size_t body_limit, Clock::time_point deadline) {
  Impl& c = *impl_;
  if (c.interrupted) return Error(ErrorCode::kNetwork, "connection closed");
  beast::error_code ec = c.Send(request, deadline);
  if (ec) return TransportError(ec, "send " + request.method);
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(body_limit);
  if (request.method == "HEAD") parser.skip(true);
  // The parser enforces the limit: on the header (Content-Length) or as the body arrives.
  auto too_large = [&] {
    c.Close();
    return Error(ErrorCode::kBadResponse, "response is larger than " + std::to_string(body_limit) + " bytes");
  };
  ec = c.Do(deadline, [&](auto& stream, beast::error_code& out) {
    bhttp::async_read_header(stream, c.buffer, parser, [&out](beast::error_code e, size_t) { out = e; });
  });
  if (ec == bhttp::error::body_limit) return too_large();
  if (ec) return TransportError(ec, "read response");
  if (!parser.is_done()) {
    ec = c.Do(deadline, [&](auto& stream, beast::error_code& out) {
      bhttp::async_read(stream, c.buffer, parser, [&out](beast::error_code e, size_t) { out = e; });
    });
    if (ec == bhttp::error::body_limit) return too_large();
    if (ec) return TransportError(ec, "read response body");
  }
  auto res = parser.release();
  Response out;
  Impl::CopyHeaders(res, out);
  out.body = std::move(res.body());
  c.reusable = res.keep_alive() && request.keep_alive;
  return out;
}

Result<Response> Connection::Begin(const Request& request, Clock::time_point deadline) {
  Impl& c = *impl_;
  if (c.interrupted) return Error(ErrorCode::kNetwork, "connection closed");
  beast::error_code ec = c.Send(request, deadline);
  if (ec) return TransportError(ec, "send " + request.method);
  c.stream_parser.emplace();
  c.stream_parser->body_limit(std::numeric_limits<std::uint64_t>::max());  // streams are unbounded
  ec = c.Do(deadline, [&](auto& stream, beast::error_code& out) {
    bhttp::async_read_header(stream, c.buffer, *c.stream_parser, [&out](beast::error_code e, size_t) { out = e; });
  });
  if (ec) return TransportError(ec, "read response");
  Response out;
  Impl::CopyHeaders(c.stream_parser->get(), out);
  return out;
}

Result<size_t> Connection::ReadSome(char* buffer, size_t size, Clock::time_point deadline) {
  Impl& c = *impl_;
  if (!c.stream_parser) return Error(ErrorCode::kInternal, "ReadSome without Begin");
  auto& parser = *c.stream_parser;
  while (!parser.is_done()) {
    parser.get().body().data = buffer;
    parser.get().body().size = size;
    // read_some: hand over whatever arrived; a full read would wait for the buffer to fill.
    beast::error_code ec = c.Do(deadline, [&](auto& stream, beast::error_code& out) {
      bhttp::async_read_some(stream, c.buffer, parser, [&out](beast::error_code e, size_t) { out = e; });
    });
    if (ec == bhttp::error::need_buffer) ec = {};
    size_t got = size - parser.get().body().size;
    if (got > 0) return got;  // an error after data is reported by the next call
    if (ec) return TransportError(ec, "read response body");
  }
  c.reusable = parser.get().keep_alive();
  return size_t{0};
}

// --- ConnectionPool -----------------------------------------------------------------------

std::unique_ptr<Connection> ConnectionPool::Take(const Origin& origin, const Proxy* proxy) {
  std::vector<std::unique_ptr<Connection>> closed;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  auto it = idle_.find(RouteKey(origin, proxy));
  if (it == idle_.end()) return nullptr;
  while (!it->second.empty()) {
    std::unique_ptr<Connection> conn = std::move(it->second.back());
    it->second.pop_back();
    if (conn->IdleAndOpen()) return conn;
    closed.push_back(std::move(conn));
  }
  return nullptr;
}

void ConnectionPool::Return(std::unique_ptr<Connection> connection) {
  if (!connection || !connection->reusable()) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = idle_[connection->route_key()];
  if (slot.size() < max_idle_) slot.push_back(std::move(connection));
}

Result<Response> Exchange(ConnectionPool& pool, const Origin& origin, const std::shared_ptr<TlsContext>& tls,
                          const Request& request, const ExchangeOptions& options) {
  const Proxy* proxy = options.proxy ? &*options.proxy : nullptr;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Connection> conn = attempt == 0 ? pool.Take(origin, proxy) : nullptr;
    const bool reused = conn != nullptr;
    if (!conn) {
      auto opened = Connection::Open(origin, tls, options.connect_timeout, proxy);
      if (!opened.ok()) return opened.error();
      conn = std::move(*opened);
    }
    auto response = conn->RoundTrip(request, options.body_limit, Clock::now() + options.timeout);
    if (!response.ok()) {
      const Error& error = response.error();
      if (error.code == ErrorCode::kTimeout) {
        return Error(ErrorCode::kTimeout, "no complete response within " + std::to_string(options.timeout.count()) + " ms");
      }
      // A kept-alive connection the peer closed meanwhile (the check in Take can lose that
      // race). Sending again on a new connection must not repeat an action.
      if (reused && error.code == ErrorCode::kNetwork) {
        if (!conn->request_written() || IsIdempotent(request.method)) continue;
        return Error(ErrorCode::kNetwork, error.message + " (the connection closed after the " + request.method +
                                              " was sent: it may have reached the server, so it is not sent again)");
      }
      return error;
    }
    if (proxy != nullptr && !origin.tls && response->status == 407) {
      // Only a proxy answers 407: the request never reached the origin.
      return Error(ErrorCode::kNetwork, "proxy " + proxy->Display() + " answered 407 to " + request.method + " http://" +
                                            origin.Authority() + request.target.substr(0, request.target.find('?')) +
                                            ProxyAuthHint(*proxy));
    }
    pool.Return(std::move(conn));
    return response;
  }
  return Error(ErrorCode::kNetwork, origin.Authority() + ": the connection was closed by the peer");
}

}  // namespace archway::http

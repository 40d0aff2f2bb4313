// HTTP/1.1 client transport over TCP or TLS (Boost.Beast), shared by the registry and the
// Kubernetes API clients. It knows nothing of registries or Kubernetes: it opens
// connections, directly or through a forward proxy, sends one request at a time on each,
// reads bounded responses and keeps idle connections for reuse. Auth and redirects belong
// to the callers; Exchange retries only what cannot repeat an action (see there).
//
// Every call runs on the calling thread (each connection has its own io_context), so there
// is no background thread pool to start: a CLI process that makes one request pays for
// one connection and nothing else. The one exception is a DNS look-up, which runs on a
// thread of its own so that it can be abandoned at the deadline (base/resolve.h).
//
// Deadlines: connecting (the DNS look-up, TCP, a proxy's CONNECT) is bounded by the
// connect timeout, the TLS handshake by another of the same length; everything after it
// (writing the request, reading the response) by one deadline per exchange. A peer or a
// resolver that stops answering never holds a caller past its deadline.
//
// Proxies: a connection goes through the Proxy it is given, nullptr means direct. Which
// proxy applies (HTTPS_PROXY, NO_PROXY, ...) is base/proxy.h's business; the registry
// client asks it, the Kubernetes API client always connects directly.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/result.h"

namespace archway::http {

using Clock = std::chrono::steady_clock;

// Where a connection goes.
struct Origin {
  bool tls = true;
  std::string host;  // a name or an IP literal, IPv6 without brackets, lower case
  std::string port;  // always explicit

  // host[:port] as written in a URL and a Host header ("[::1]:5000"; the port is left
  // out when it is the scheme's default).
  std::string Authority() const;
  // "https://host:port": one pool of idle connections per key.
  std::string Key() const;
  bool HostIsIp() const;
};

// Percent-encodes everything but RFC 3986's unreserved characters (for query values).
std::string UrlEncode(std::string_view text);

// "host", "host:port", "[v6]" or "[v6]:port"; the scheme's default port when none is given.
Result<Origin> ParseOrigin(std::string_view authority, bool tls);

// A forward proxy (plain HTTP). An https:// origin is reached through a CONNECT tunnel with
// TLS to the origin inside it, verifying the origin's name, never the proxy's; an http://
// origin gets absolute-form request targets ("GET http://host/path"). `authorization` is
// sent as Proxy-Authorization on the CONNECT or the proxied request, never inside a tunnel.
struct Proxy {
  Origin origin;              // the proxy itself; tls is false
  std::string authorization;  // "Basic ..." from the proxy URL's userinfo; "" = none

  // "proxy.corp:3128": how messages name the proxy (never with its credentials).
  std::string Display() const;
};

// The pool key of a connection to `origin` through `proxy` (nullptr: direct). A direct and
// a proxied connection to one origin never share a key, nor do two proxies or two sets of
// proxy credentials.
std::string RouteKey(const Origin& origin, const Proxy* proxy);

struct TlsOptions {
  bool verify_peer = true;  // false: any certificate is accepted (insecure_skip_verify)
  // Trusted CAs: a PEM file and/or PEM text. Neither: the system's roots.
  std::string ca_file;
  std::string ca_pem;
  // Client certificate (mutual TLS): files or PEM text.
  std::string cert_file;
  std::string key_file;
  std::string cert_pem;
  std::string key_pem;
};

// A client TLS configuration (TLS 1.2 or later), shared by every connection made with it.
// The peer's name (or IP) is verified against its certificate unless verify_peer is off.
class TlsContext {
 public:
  // Errors name the file or field that could not be loaded.
  static Result<std::shared_ptr<TlsContext>> New(const TlsOptions& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool verify_peer() const;
  void* native_context();  // the asio ssl::context, for Connection

 private:
  TlsContext();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct Request {
  std::string method;  // GET, HEAD, PUT, POST, PATCH, DELETE
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;  // sent with its Content-Length (0 for an empty PUT/POST/PATCH)
  bool keep_alive = true;
};

struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header of that name (case-insensitive), "" when absent.
  std::string Header(std::string_view name) const;
};

// One connection, used by one thread at a time (Interrupt excepted).
class Connection {
 public:
  // `tls` must be set for a TLS origin and is ignored otherwise. Through `proxy` when it
  // is not null; failures of the proxy say so ("proxy proxy.corp:3128 answered 407 ...").
  static Result<std::unique_ptr<Connection>> Open(const Origin& origin, std::shared_ptr<TlsContext> tls,
                                                  std::chrono::milliseconds connect_timeout,
                                                  const Proxy* proxy = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends `request` and reads the whole response. A body longer than `body_limit` (by its
  // Content-Length or as it arrives) ends the exchange with kBadResponse "larger than"
  // and the connection unusable. kTimeout past `deadline`, kNetwork for transport errors.
  Result<Response> RoundTrip(const Request& request, size_t body_limit, Clock::time_point deadline);

  // Streaming: sends `request` and reads the status line and headers (body left empty);
  // then ReadSome hands over the body as it arrives.
  Result<Response> Begin(const Request& request, Clock::time_point deadline);
  // Up to `size` bytes of the body into `buffer`; 0 once the body is complete.
  Result<size_t> ReadSome(char* buffer, size_t size, Clock::time_point deadline);

  // From any thread: closes the connection; a call blocked on it returns an error soon.
  void Interrupt();
  bool interrupted() const;

  // True when the last response was read completely and both sides keep the connection.
  bool reusable() const;
  // True when this connection has served an exchange before (so a peer may have closed it).
  bool used() const;
  // False when the last request failed before any of its bytes went out, so the peer
  // cannot have seen it (safe to send again whatever the method).
  bool request_written() const;
  // For an idle connection: false when the peer has closed it or sent something unasked
  // (an idle keep-alive connection has nothing to read). One non-blocking peek.
  bool IdleAndOpen() const;

  const Origin& origin() const;
  const std::string& route_key() const;  // RouteKey(origin, proxy)

 private:
  Connection();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Idle keep-alive connections, per RouteKey. Thread-safe.
class ConnectionPool {
 public:
  explicit ConnectionPool(size_t max_idle_per_origin = 8) : max_idle_(max_idle_per_origin) {}

  // An idle connection of that route that is still open (closed ones are dropped), or null.
  std::unique_ptr<Connection> Take(const Origin& origin, const Proxy* proxy = nullptr);
  // Keeps `connection` if it is reusable and there is room; otherwise closes it.
  void Return(std::unique_ptr<Connection> connection);

 private:
  size_t max_idle_;
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
};

struct ExchangeOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{30000};  // the rest of the exchange, after connecting
  size_t body_limit = 64 << 20;
  std::optional<Proxy> proxy;  // connect through it; nullopt: directly
};

// RFC 9110's idempotent methods: GET, HEAD, OPTIONS, TRACE, PUT, DELETE.
bool IsIdempotent(std::string_view method);

// One exchange through `pool`: an idle connection when there is one, else a new one;
// returned to the pool afterwards. When a reused connection fails without a response (the
// peer closed it meanwhile), the request is sent once more on a new connection only if
// that cannot repeat an action: none of it had gone out, or the method is idempotent. A
// POST or PATCH that may have reached the server fails instead, saying so. Through a
// proxy, its 407 answer is an error naming the proxy, not a response.
Result<Response> Exchange(ConnectionPool& pool, const Origin& origin, const std::shared_ptr<TlsContext>& tls,
                          const Request& request, const ExchangeOptions& options);

}  // namespace archway::http

// A small HTTP/1.1 server (Boost.Beast) for archway's own endpoints: the webhook's HTTPS
// admission port and metrics port, the operator's health and metrics ports.
//
// - Listeners, each plain HTTP or TLS (a context per new connection, so a reloaded
//   certificate reaches the next handshake), each with its routes: exact paths (the query
//   is ignored) and the methods they take. An unknown path gets 404, another method 405
//   with Allow; HEAD is answered wherever GET is, without the body.
// - A handler answers at once, or later (from any thread) through the Respond it is given:
//   a slow handler never holds an IO thread.
// - HTTP/1.1 keep-alive (the apiserver sends every review over one connection); bodies
//   above max_body_bytes get 413 and the connection is closed; a connection that sends
//   nothing for idle_timeout, or whose handshake or write makes no progress for
//   io_timeout, is dropped.
// - IO on `io_threads` threads, each running its own io_context; a connection lives on
//   one of them from accept to close, so its handlers never hop threads.
// - Accepted connections are counted per listener (connection reuse made visible).
// - Shutdown(drain): stops accepting, closes idle connections, lets requests in flight
//   finish (bounded by `drain`), then stops.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/listen_address.h"
#include "base/result.h"

namespace boost::asio::ssl {
class context;
}

namespace archway {

struct HttpRequest {
  std::string_view method;  // "GET", "POST", ...
  std::string_view target;  // path and query as sent
  std::string_view path;    // target without the query
  std::string_view body;
  bool draining = false;    // the server is shutting down (readiness probes say so)
  // The connection's executor: timers of an answer given later run here.
  boost::asio::any_io_executor executor;
};

struct HttpResponse {
  unsigned status = 200;
  std::string body;
  std::string content_type = "text/plain";
};

// Sends the response to a request answered later; call exactly once, from any thread.
using Respond = std::function<void(HttpResponse)>;

// The response now, or nullopt and `later` is called with it.
using HttpHandler = std::function<std::optional<HttpResponse>(const HttpRequest& request, Respond later)>;

struct HttpRoute {
  std::string path;
  std::vector<std::string> methods;  // GET also answers HEAD
  HttpHandler handler;
};

struct HttpListener {
  std::string name;  // "https", "metrics": names it in errors ("" for none)
  ListenAddress address;
  std::vector<HttpRoute> routes;
  // TLS: the context for each new connection; null for plain HTTP.
  std::function<std::shared_ptr<boost::asio::ssl::context>()> tls;
};

struct HttpServerOptions {
  size_t io_threads = 1;
  size_t max_body_bytes = 1 << 20;
  std::chrono::milliseconds idle_timeout{90000};  // keep-alive connections with no request
  std::chrono::milliseconds io_timeout{10000};    // a handshake or write that makes no progress
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, std::vector<HttpListener> listeners);
  ~HttpServer();  // Shutdown(0) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every listener, then starts the IO threads. Errors name the listener and the
  // address (in use, not an address of this host, ...).
  Status Start();
  // Listeners are numbered in the order given.
  unsigned short port(size_t listener) const;  // the bound port (useful with port 0)
  uint64_t accepted(size_t listener) const;    // connections accepted so far

  void Shutdown(std::chrono::milliseconds drain);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway

// The admission server: HTTPS (Boost.Beast over OpenSSL) for the apiserver, and a
// separate plain-HTTP port for Prometheus.
//
// HTTPS routes: POST /mutate (the query, e.g. "?timeout=5s", is allowed and its timeout
// caps the budget), GET /healthz, GET /readyz (503 until `ready` says so).
// Metrics port routes: GET /metrics, /healthz, /readyz.
//
// HTTP/1.1 with keep-alive (the apiserver sends every review over one connection);
// bodies above max_body_bytes get 413; IO runs on `io_threads` threads, each with its own
// io_context and each connection on one of them, and admission look-ups run on the
// Admitter's pool, so a slow registry never holds an IO thread. Shutdown() stops
// accepting, closes idle connections, lets requests in flight finish (bounded by
// `drain`), then stops.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "base/result.h"
#include "webhook/admitter.h"
#include "webhook/config.h"
#include "webhook/metrics.h"
#include "webhook/tls_context.h"

namespace archway::webhook {

struct ServerOptions {
  ListenAddress https;
  ListenAddress metrics;
  size_t io_threads = 2;
  size_t max_body_bytes = 3 << 20;
  std::chrono::milliseconds idle_timeout{90000};  // keep-alive connections with no request
  std::chrono::milliseconds io_timeout{10000};    // a handshake or write that makes no progress
};

class Server {
 public:
  // `ready` answers /readyz (e.g. "caches synced"); all references must outlive the Server.
  Server(ServerOptions options, Admitter& admitter, TlsContextProvider& tls, Metrics& metrics,
         std::function<bool()> ready);
  ~Server();  // Shutdown(0) if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds both ports and starts the IO threads. Errors name the address (in use, ...).
  Status Start();
  // The bound ports (useful with port 0).
  unsigned short https_port() const;
  unsigned short metrics_port() const;

  void Shutdown(std::chrono::milliseconds drain);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::webhook

// The admission server: HTTPS for the apiserver and a separate plain-HTTP port for
// Prometheus, both on base/http_server.h (keep-alive, body limit, IO threads, graceful
// drain: see there).
//
// HTTPS routes: POST /mutate (the query, e.g. "?timeout=5s", is allowed and its timeout
// caps the budget), GET /healthz, GET /readyz (503 until `ready` says so, and while
// draining). Metrics port routes: GET /metrics, /healthz, /readyz.
//
// A review whose images are all known is answered on the IO thread; the others are
// answered from the Admitter's look-up pool, so a slow registry never holds an IO thread.
// Connections accepted on each port are counted in archway_webhook_connections_total.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "base/http_server.h"
#include "base/result.h"
#include "webhook/admitter.h"
#include "webhook/metrics.h"
#include "webhook/tls_context.h"

namespace archway::webhook {

struct ServerOptions {
  ListenAddress https;
  ListenAddress metrics;
  // Two IO threads; reviews up to 3 MiB (a pod with large annotations is still a pod).
  HttpServerOptions serving{.io_threads = 2, .max_body_bytes = 3 << 20};
};

class Server {
 public:
  // `ready` answers /readyz (e.g. "caches synced"); all references must outlive the Server.
  Server(ServerOptions options, Admitter& admitter, TlsContextProvider& tls, Metrics& metrics,
         std::function<bool()> ready);
  ~Server();  // Shutdown(0) if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds both ports and starts the IO threads. Errors name the port and address.
  Status Start();
  // The bound ports (useful with port 0).
  unsigned short https_port() const;
  unsigned short metrics_port() const;

  void Shutdown(std::chrono::milliseconds drain);

 private:
  HttpServer http_;
};

}  // namespace archway::webhook

// Plain-HTTP endpoints for the kubelet and Prometheus, on the shared server
// (base/http_server.h): GET /healthz answers 200 while the process serves; /readyz (only
// when `ready` is given) answers 200 when `ready()` says so and 503 otherwise; /metrics
// (only when `metrics` is given) answers what it returns, in the Prometheus text format
// (Metrics::Exposition).
// One IO thread: probes and scrapes are small and rare.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/result.h"

namespace archway {
class HttpServer;
}

namespace archway::op {

class HealthServer {
 public:
  // `listen`: ":8081" (all interfaces), "host:port" or "[v6]:port"; port 0 picks a free port.
  HealthServer(std::string listen, std::function<bool()> ready, std::function<std::string()> metrics = nullptr);
  ~HealthServer();  // Stop()s
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  Status Start();  // binds and starts serving; errors name the address
  void Stop();     // lets requests in flight finish (up to a second), then stops
  unsigned short port() const;  // the bound port, after Start

 private:
  std::string listen_;
  std::function<bool()> ready_;
  std::function<std::string()> metrics_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace archway::op

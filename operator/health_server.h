// Plain-HTTP endpoints for the kubelet and Prometheus, on Boost.Beast: /healthz answers
// 200 while the process serves; /readyz (only when `ready` is given) answers 200 when
// `ready()` says so and 503 otherwise; /metrics (only when `metrics` is given) answers
// what it returns, in the Prometheus text format (Metrics::Exposition).
// One IO thread: probes and scrapes are small and rare.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/result.h"

namespace archway::op {

class HealthServer {
 public:
  // `listen`: ":8081" (all interfaces) or "host:port"; port 0 picks a free port.
  HealthServer(std::string listen, std::function<bool()> ready, std::function<std::string()> metrics = nullptr);
  ~HealthServer();  // Stop()s
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  Status Start();  // binds and starts serving; errors name the address
  void Stop();
  unsigned short port() const;  // the bound port, after Start

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::op

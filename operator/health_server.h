// /healthz and /readyz over plain HTTP (the kubelet's probes), on cpprestsdk's listener.
// /healthz answers 200 while the process serves; /readyz answers 200 when `ready()` says
// so and 503 otherwise.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/result.h"

namespace archway::op {

// ":8081" -> "http://0.0.0.0:8081"; "127.0.0.1:8081" -> "http://127.0.0.1:8081".
std::string ListenUrl(const std::string& listen);

class HealthServer {
 public:
  HealthServer(std::string listen, std::function<bool()> ready);
  ~HealthServer();  // Stop()s
  Status Start();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::op

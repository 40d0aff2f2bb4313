#include "operator/health_server.h"

#include "base/http_server.h"

namespace archway::op {
namespace {

// A probe that sends nothing for this long is dropped, so it cannot hold the thread.
constexpr std::chrono::seconds kIdleTimeout{10};
constexpr std::chrono::seconds kDrain{1};

HttpRoute Get(std::string path, std::function<HttpResponse()> answer) {
  return HttpRoute{std::move(path), {"GET"}, [answer = std::move(answer)](const HttpRequest&, Respond) {
                     return std::optional<HttpResponse>(answer());
                   }};
}

}  // namespace

HealthServer::HealthServer(std::string listen, std::function<bool()> ready, std::function<std::string()> metrics)
    : listen_(std::move(listen)), ready_(std::move(ready)), metrics_(std::move(metrics)) {}

HealthServer::~HealthServer() { Stop(); }

Status HealthServer::Start() {
  auto address = ParseListenAddress(listen_);
  if (!address.ok()) return address.error();
  HttpListener listener{"", *address, {Get("/healthz", [] { return HttpResponse{200, "ok"}; })}, nullptr};
  if (ready_) {
    listener.routes.push_back(Get("/readyz", [ready = ready_] {
      return ready() ? HttpResponse{200, "ok"} : HttpResponse{503, "not ready"};
    }));
  }
  if (metrics_) {
    listener.routes.push_back(
        Get("/metrics", [metrics = metrics_] { return HttpResponse{200, metrics(), "text/plain; version=0.0.4"}; }));
  }
  HttpServerOptions options;
  options.io_threads = 1;
  options.max_body_bytes = 64 << 10;
  options.idle_timeout = kIdleTimeout;
  options.io_timeout = kIdleTimeout;
  auto server = std::make_unique<HttpServer>(options, std::vector<HttpListener>{std::move(listener)});
  if (Status s = server->Start(); !s.ok()) return s;
  server_ = std::move(server);
  return Status::Ok();
}

void HealthServer::Stop() {
  if (server_) server_->Shutdown(kDrain);
}

unsigned short HealthServer::port() const { return server_ ? server_->port(0) : 0; }

}  // namespace archway::op

#include "operator/health_server.h"

#include <cpprest/http_listener.h>

namespace archway::op {

std::string ListenUrl(const std::string& listen) {
  std::string hostport = listen;
  if (!hostport.empty() && hostport.front() == ':') hostport = "0.0.0.0" + hostport;
  return "http://" + hostport;
}

struct HealthServer::Impl {
  std::string listen;
  std::function<bool()> ready;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener;
};

HealthServer::HealthServer(std::string listen, std::function<bool()> ready) : impl_(std::make_unique<Impl>()) {
  impl_->listen = std::move(listen);
  impl_->ready = std::move(ready);
}

HealthServer::~HealthServer() { Stop(); }

Status HealthServer::Start() {
  using namespace web::http;
  try {
    impl_->listener = std::make_unique<experimental::listener::http_listener>(utility::conversions::to_string_t(ListenUrl(impl_->listen)));
    Impl* impl = impl_.get();
    impl_->listener->support(methods::GET, [impl](http_request request) {
      const std::string path = request.relative_uri().path();
      if (path == "/healthz") {
        request.reply(status_codes::OK, "ok");
      } else if (path == "/readyz") {
        bool ready = impl->ready && impl->ready();
        request.reply(ready ? status_codes::OK : status_codes::ServiceUnavailable, ready ? "ok" : "not ready");
      } else {
        request.reply(status_codes::NotFound, "not found");
      }
    });
    impl_->listener->open().wait();
  } catch (const std::exception& e) {
    impl_->listener.reset();
    return Error(ErrorCode::kUnavailable, "health server on " + impl_->listen + ": " + e.what());
  }
  return Status::Ok();
}

void HealthServer::Stop() {
  if (!impl_->listener) return;
  try {
    impl_->listener->close().wait();
  } catch (const std::exception&) {
    // Already closed; nothing to release.
  }
  impl_->listener.reset();
}

}  // namespace archway::op

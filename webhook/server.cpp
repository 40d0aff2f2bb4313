#include "webhook/server.h"

#include <algorithm>
#include <string_view>

#include "base/duration.h"

namespace archway::webhook {
namespace {

constexpr size_t kHttps = 0;  // listener numbers
constexpr size_t kMetrics = 1;

// The apiserver appends its timeoutSeconds as "?timeout=5s"; answer a little before it
// gives up so the pod is admitted (unchanged) rather than failed by the apiserver.
std::chrono::milliseconds DeadlineCapFromQuery(std::string_view target) {
  constexpr std::chrono::milliseconds kNoCap{24 * 3600 * 1000};
  const auto question = target.find('?');
  if (question == std::string_view::npos) return kNoCap;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.starts_with("timeout=")) {
      auto timeout = ParseDuration(pair.substr(8));
      if (!timeout.ok()) return kNoCap;
      const auto margin = std::min<std::chrono::milliseconds>(*timeout / 5, std::chrono::milliseconds(500));
      return std::max(std::chrono::milliseconds(50), *timeout - margin);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return kNoCap;
}

HttpRoute Static(std::string path, std::function<HttpResponse(const HttpRequest&)> answer) {
  return HttpRoute{std::move(path), {"GET"},
                   [answer = std::move(answer)](const HttpRequest& request, Respond) { return answer(request); }};
}

// /healthz and /readyz, on both ports.
std::vector<HttpRoute> Probes(const std::function<bool()>& ready) {
  return {Static("/healthz", [](const HttpRequest&) { return HttpResponse{200, "ok\n"}; }),
          Static("/readyz", [ready](const HttpRequest& request) {
            const bool is_ready = !request.draining && (!ready || ready());
            return HttpResponse{is_ready ? 200u : 503u, is_ready ? "ok\n" : "not ready\n"};
          })};
}

std::vector<HttpListener> Listeners(const ServerOptions& options, Admitter& admitter, TlsContextProvider& tls,
                                    Metrics& metrics, const std::function<bool()>& ready) {
  HttpListener https{"https", options.https, Probes(ready), [&tls] { return tls.Current(); }};
  https.routes.push_back(HttpRoute{"/mutate", {"POST"}, [&admitter](const HttpRequest& request, Respond later) {
                                     return admitter.Admit(request.body, DeadlineCapFromQuery(request.target),
                                                           request.executor, std::move(later));
                                   }});
  HttpListener plain{"metrics", options.metrics, Probes(ready), nullptr};
  plain.routes.push_back(Static("/metrics", [&metrics](const HttpRequest&) {
    return HttpResponse{200, metrics.Serialize(), "text/plain; version=0.0.4"};
  }));
  return {std::move(https), std::move(plain)};
}

}  // namespace

Server::Server(ServerOptions options, Admitter& admitter, TlsContextProvider& tls, Metrics& metrics,
               std::function<bool()> ready)
    : http_(options.serving, Listeners(options, admitter, tls, metrics, ready)) {
  metrics.CountConnections("https", [this] { return http_.accepted(kHttps); });
  metrics.CountConnections("metrics", [this] { return http_.accepted(kMetrics); });
}

Server::~Server() = default;

Status Server::Start() { return http_.Start(); }

unsigned short Server::https_port() const { return http_.port(kHttps); }
unsigned short Server::metrics_port() const { return http_.port(kMetrics); }

void Server::Shutdown(std::chrono::milliseconds drain) { http_.Shutdown(drain); }

}  // namespace archway::webhook

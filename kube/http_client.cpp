// The real Client: HTTP/1.1 over TCP or TLS through base/http (driven by the calling
// thread, a small keep-alive pool), plus a token bucket and retries.
#include <algorithm>
#include <mutex>
#include <random>
#include <thread>

#include "base/http.h"
#include "base/log.h"
#include "kube/client.h"
#include "kube/object.h"
#include "kube/watch_decoder.h"

namespace archway::kube {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBodyBytes = 64 << 20;

struct ServerUrl {
  http::Origin origin;
  std::string prefix;  // path prefix, "" or "/k8s"
};

Result<ServerUrl> ParseServer(const std::string& server) {
  bool tls = true;
  std::string rest;
  if (server.rfind("https://", 0) == 0) {
    rest = server.substr(8);
  } else if (server.rfind("http://", 0) == 0) {
    tls = false;
    rest = server.substr(7);
  } else {
    return Error(ErrorCode::kInvalidArgument, "server \"" + server + "\" is not an http(s) URL");
  }
  auto slash = rest.find('/');
  ServerUrl url;
  if (slash != std::string::npos) url.prefix = rest.substr(slash);
  while (!url.prefix.empty() && url.prefix.back() == '/') url.prefix.pop_back();
  auto origin = http::ParseOrigin(rest.substr(0, slash), tls);
  if (!origin.ok()) return origin.error().Wrap("server \"" + server + "\"");
  url.origin = std::move(*origin);
  return url;
}

void AddQuery(std::string& target, const std::string& key, const std::string& value) {
  if (value.empty()) return;
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += key + "=" + http::UrlEncode(value);
}

// Client-side rate limit: a token bucket that reserves tokens ahead (callers sleep for
// their reservation), as client-go's flowcontrol does.
class TokenBucket {
 public:
  TokenBucket(double qps, int burst) : qps_(qps), burst_(std::max(1, burst)), tokens_(burst_), last_(Clock::now()) {}
  void Take() {
    if (qps_ <= 0) return;
    std::chrono::duration<double> wait{0};
    {
      std::lock_guard lock(mu_);
      auto now = Clock::now();
      tokens_ = std::min<double>(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * qps_);
      last_ = now;
      tokens_ -= 1;
      if (tokens_ < 0) wait = std::chrono::duration<double>(-tokens_ / qps_);
    }
    if (wait.count() > 0) std::this_thread::sleep_for(wait);
  }

 private:
  std::mutex mu_;
  double qps_;
  int burst_;
  double tokens_;
  Clock::time_point last_;
};

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path + query (without the server prefix)
  std::string body;
  std::string content_type;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string retry_after;
};

bool Retriable(int status) { return status == 429 || (status >= 500 && status != 501); }

class HttpClient final : public Client {
 public:
  HttpClient(ClusterConfig config, ClientOptions options, ServerUrl url, std::shared_ptr<http::TlsContext> tls)
      : config_(std::move(config)), options_(std::move(options)), url_(std::move(url)),
        tls_(std::move(tls)), bucket_(options_.qps, options_.burst) {}

  Result<Json> Get(const ResourceRef& ref, const std::string& ns, const std::string& name) override {
    return DoJson({"GET", ref.ObjectPath(ns, name), "", ""}, ref.resource + " " + ObjectKey(Ns(ref, ns), name));
  }

  Result<Json> GetPath(const std::string& path) override { return DoJson({"GET", path, "", ""}, "GET " + path); }

  Result<ListResult> List(const ResourceRef& ref, const std::string& ns, const ListOptions& options) override {
    std::string target = ref.CollectionPath(Ns(ref, ns));
    AddQuery(target, "labelSelector", options.label_selector);
    AddQuery(target, "fieldSelector", options.field_selector);
    if (options.limit > 0) AddQuery(target, "limit", std::to_string(options.limit));
    AddQuery(target, "continue", options.continue_token);
    AddQuery(target, "resourceVersion", options.resource_version);
    auto body = DoJson({"GET", target, "", ""}, "list " + ref.resource);
    if (!body.ok()) return body.error();
    ListResult result;
    const Json& j = *body;
    const Json* items = At(j, {"items"});
    if (items == nullptr || !(items->is_array() || items->is_null()))
      return Error(ErrorCode::kBadResponse, "list " + ref.resource + ": response is not a list");
    if (items->is_array()) result.items.assign(items->begin(), items->end());
    result.resource_version = StringAt(j, {"metadata", "resourceVersion"}).value_or("");
    result.continue_token = StringAt(j, {"metadata", "continue"}).value_or("");
    result.remaining_item_count = IntAt(j, {"metadata", "remainingItemCount"});
    return result;
  }

  Result<Json> Create(const ResourceRef& ref, const std::string& ns, const Json& object) override {
    Json body = object;
    Stamp(ref, body);
    const std::string context = "create " + ref.resource + " " + ObjectKey(Ns(ref, ns), NameOf(object));
    auto text = Serialise(body, context);
    if (!text.ok()) return text.error();
    return DoJson({"POST", ref.CollectionPath(Ns(ref, ns)), std::move(text).value(), "application/json"}, context);
  }

  Result<Json> Update(const ResourceRef& ref, const std::string& ns, const Json& object) override {
    return Put(ref, ns, object, "");
  }

  Result<Json> UpdateStatus(const ResourceRef& ref, const std::string& ns, const Json& object) override {
    return Put(ref, ns, object, "status");
  }

  Result<Json> Patch(const ResourceRef& ref, const std::string& ns, const std::string& name, PatchType type,
                     const Json& patch, const std::string& subresource) override {
    const char* content_type =
        type == PatchType::kMerge ? "application/merge-patch+json" : "application/json-patch+json";
    const std::string context = "patch " + ref.resource + " " + ObjectKey(Ns(ref, ns), name);
    auto text = Serialise(patch, context);
    if (!text.ok()) return text.error();
    return DoJson({"PATCH", ref.ObjectPath(Ns(ref, ns), name, subresource), std::move(text).value(), content_type},
                  context);
  }

  Result<Json> Delete(const ResourceRef& ref, const std::string& ns, const std::string& name,
                      const DeleteOptions& options) override {
    Json body = Json::object();
    std::string content_type;
    if (options.grace_period_seconds || !options.propagation_policy.empty()) {
      body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
      if (options.grace_period_seconds) body["gracePeriodSeconds"] = *options.grace_period_seconds;
      if (!options.propagation_policy.empty()) body["propagationPolicy"] = options.propagation_policy;
      content_type = "application/json";
    }
    return DoJson({"DELETE", ref.ObjectPath(Ns(ref, ns), name), content_type.empty() ? "" : body.dump(),
                   content_type},
                  "delete " + ref.resource + " " + ObjectKey(Ns(ref, ns), name));
  }

  Status Watch(const ResourceRef& ref, const std::string& ns, const WatchOptions& options,
               const WatchHandler& handler, std::stop_token stop) override;

 private:
  static std::string Ns(const ResourceRef& ref, const std::string& ns) { return ref.namespaced ? ns : ""; }
  // The body of a write. nlohmann throws on a string that is not UTF-8 (type_error 316):
  // that object cannot be sent, which is the caller's error to handle, not an exception.
  static Result<std::string> Serialise(const Json& body, const std::string& context) {
    try {
      return body.dump();
    } catch (const Json::exception& e) {
      return Error(ErrorCode::kInvalidArgument, context + ": the object cannot be sent as JSON: " + e.what());
    }
  }
  // apiVersion/kind are required on writes; fill them when the caller left them out.
  static void Stamp(const ResourceRef& ref, Json& object) {
    if (!object.is_object()) return;
    if (!object.contains("apiVersion")) object["apiVersion"] = ref.ApiVersion();
    if (!object.contains("kind") && !ref.kind.empty()) object["kind"] = ref.kind;
  }

  Result<Json> Put(const ResourceRef& ref, const std::string& ns, const Json& object, const std::string& sub) {
    std::string name = NameOf(object);
    if (name.empty()) return Error(ErrorCode::kInvalidArgument, "update " + ref.resource + ": object has no metadata.name");
    Json body = object;
    Stamp(ref, body);
    const std::string context =
        "update " + ref.resource + (sub.empty() ? "" : "/" + sub) + " " + ObjectKey(Ns(ref, ns), name);
    auto text = Serialise(body, context);
    if (!text.ok()) return text.error();
    return DoJson({"PUT", ref.ObjectPath(Ns(ref, ns), name, sub), std::move(text).value(), "application/json"}, context);
  }

  Result<Json> DoJson(const HttpRequest& request, const std::string& context) {
    auto response = Do(request, context);
    if (!response.ok()) return response.error();
    if (response->status < 200 || response->status >= 300)
      return ErrorFromResponse(response->status, response->body, context);
    auto parsed = Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded())
      return Error(ErrorCode::kBadResponse, context + ": response is not JSON (HTTP " + std::to_string(response->status) + ")");
    return parsed;
  }

  std::chrono::milliseconds Backoff(int attempt) {
    auto base = options_.initial_backoff * (1LL << std::min(attempt, 20));
    auto capped = std::min<std::chrono::milliseconds>(base, options_.max_backoff);
    static thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_int_distribution<int64_t> jitter(0, capped.count() / 4 + 1);
    return capped + std::chrono::milliseconds(jitter(rng));
  }

  // Sends with rate limiting and bounded retries on 429, 5xx and connection failures.
  // POST and PATCH are retried only on 429 (the server did not act on them): a create or
  // a JSON Patch ("add" to a list) that reached the server would be applied twice.
  Result<HttpResponse> Do(const HttpRequest& request, const std::string& context) {
    const bool idempotent = http::IsIdempotent(request.method);
    Error last_error(ErrorCode::kNetwork, "no attempt made");
    for (int attempt = 0;; ++attempt) {
      bucket_.Take();
      auto response = RoundTrip(request);
      bool last = attempt >= options_.max_retries;
      if (!response.ok()) {
        last_error = response.error().Wrap(context);
        if (last || !idempotent) return last_error;
        log::Debug("kube: retrying after a transport error", {{"request", context}, {"error", response.error().message}});
        std::this_thread::sleep_for(Backoff(attempt));
        continue;
      }
      if (last || !Retriable(response->status) || (!idempotent && response->status != 429)) return response;
      auto wait = Backoff(attempt);
      if (!response->retry_after.empty()) {
        char* end = nullptr;
        long seconds = std::strtol(response->retry_after.c_str(), &end, 10);
        if (end && *end == '\0' && seconds >= 0)
          wait = std::min<std::chrono::milliseconds>(std::chrono::seconds(seconds), std::chrono::seconds(60));
      }
      log::Debug("kube: retrying", {{"request", context}, {"status", std::to_string(response->status)},
                                    {"wait_ms", std::to_string(wait.count())}});
      std::this_thread::sleep_for(wait);
    }
  }

  Result<http::Request> BuildRequest(const HttpRequest& request, bool watch) {
    http::Request req;
    req.method = request.method;
    req.target = url_.prefix + request.target;
    req.headers.emplace_back("User-Agent", options_.user_agent);
    req.headers.emplace_back("Accept", "application/json");
    auto token = CurrentToken(config_);
    if (!token.ok()) return token.error();
    if (!token->empty()) req.headers.emplace_back("Authorization", "Bearer " + *token);
    if (!request.content_type.empty()) req.headers.emplace_back("Content-Type", request.content_type);
    req.keep_alive = !watch;
    return req;
  }

  Result<HttpResponse> RoundTrip(const HttpRequest& request) {
    auto req = BuildRequest(request, false);
    if (!req.ok()) return req.error();
    req->body = request.body;
    http::ExchangeOptions exchange;
    exchange.connect_timeout = options_.request_timeout;
    exchange.timeout = options_.request_timeout;
    exchange.body_limit = kMaxBodyBytes;
    auto response = http::Exchange(pool_, url_.origin, tls_, *req, exchange);
    if (!response.ok()) return response.error();
    HttpResponse out;
    out.status = response->status;
    out.body = std::move(response->body);
    out.retry_after = response->Header("Retry-After");
    return out;
  }

  ClusterConfig config_;
  ClientOptions options_;
  ServerUrl url_;
  std::shared_ptr<http::TlsContext> tls_;
  TokenBucket bucket_;
  http::ConnectionPool pool_;
};

Status HttpClient::Watch(const ResourceRef& ref, const std::string& ns, const WatchOptions& options,
                         const WatchHandler& handler, std::stop_token stop) {
  std::string target = ref.CollectionPath(Ns(ref, ns));
  AddQuery(target, "watch", "1");
  AddQuery(target, "resourceVersion", options.resource_version);
  AddQuery(target, "labelSelector", options.label_selector);
  AddQuery(target, "fieldSelector", options.field_selector);
  if (options.allow_bookmarks) AddQuery(target, "allowWatchBookmarks", "true");
  if (options.timeout_seconds > 0) AddQuery(target, "timeoutSeconds", std::to_string(options.timeout_seconds));
  const std::string context = "watch " + ref.resource;
  if (stop.stop_requested()) return Status::Ok();
  bucket_.Take();
  auto req = BuildRequest({"GET", target, "", ""}, true);
  if (!req.ok()) return req.error().Wrap(context);
  auto connected = http::Connection::Open(url_.origin, tls_, options_.request_timeout);
  if (!connected.ok()) return connected.error().Wrap(context);
  std::unique_ptr<http::Connection> conn = std::move(connected.value());
  std::stop_callback on_stop(stop, [&] { conn->Interrupt(); });
  // No event for this long (the server's timeout plus slack) means the peer is gone.
  const auto idle = std::chrono::seconds(options.timeout_seconds > 0 ? options.timeout_seconds + 30 : 3600);

  auto head = conn->Begin(*req, Clock::now() + options_.request_timeout);
  if (conn->interrupted()) return Status::Ok();
  if (!head.ok()) return head.error().Wrap(context);
  const int status = head->status;

  WatchDecoder decoder;
  std::string error_body;
  std::vector<char> chunk(64 * 1024);
  while (true) {
    auto deadline = Clock::now() + (status == 200 ? std::chrono::duration_cast<std::chrono::milliseconds>(idle)
                                                  : options_.request_timeout);
    auto got = conn->ReadSome(chunk.data(), chunk.size(), deadline);
    if (conn->interrupted()) return Status::Ok();
    if (!got.ok()) {
      if (status != 200) break;
      if (got.error().code == ErrorCode::kTimeout) {
        return Error(ErrorCode::kTimeout, context + ": no data from the server for too long");
      }
      return Error(ErrorCode::kNetwork, context + ": stream broken: " + got.error().message);
    }
    if (*got == 0) break;
    if (status != 200) {
      if (error_body.size() < (1 << 20)) error_body.append(chunk.data(), *got);
    } else {
      Status fed = decoder.Feed(std::string_view(chunk.data(), *got), handler);
      if (!fed.ok()) return fed.error().code == ErrorCode::kBadResponse ? fed.error().Wrap(context) : fed.error();
      if (decoder.stopped()) return Status::Ok();
    }
  }
  if (status != 200) return ErrorFromResponse(status, error_body, context);
  Status finished = decoder.Finish();
  if (!finished.ok()) return finished.error().Wrap(context);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Client>> NewHttpClient(const ClusterConfig& config, const ClientOptions& options) {
  auto url = ParseServer(config.server);
  if (!url.ok()) return url.error();
  std::shared_ptr<http::TlsContext> tls;
  if (url->origin.tls) {
    http::TlsOptions tls_options;
    tls_options.verify_peer = !config.insecure;
    tls_options.ca_pem = config.ca_pem;
    tls_options.cert_pem = config.client_cert_pem;
    tls_options.key_pem = config.client_key_pem;
    auto made = http::TlsContext::New(tls_options);
    if (!made.ok()) return made.error().Wrap("cluster TLS");
    tls = std::move(*made);
  }
  return std::unique_ptr<Client>(std::make_unique<HttpClient>(config, options, std::move(url.value()), std::move(tls)));
}

}  // namespace archway::kube

// The real Client: Boost.Beast HTTP/1.1 over TCP or TLS, one io_context per connection
// (driven by the calling thread), a small keep-alive pool, a token bucket and retries.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/log.h"
#include "kube/client.h"
#include "kube/watch_decoder.h"

namespace archway::kube {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBodyBytes = 64 << 20;

struct ServerUrl {
  bool tls = true;
  std::string host;  // without brackets
  std::string port;
  std::string prefix;  // path prefix, "" or "/k8s"
  bool host_is_ip = false;
};

Result<ServerUrl> ParseServer(const std::string& server) {
  ServerUrl url;
  std::string rest;
  if (server.rfind("https://", 0) == 0) {
    rest = server.substr(8);
  } else if (server.rfind("http://", 0) == 0) {
    url.tls = false;
    rest = server.substr(7);
  } else {
    return Error(ErrorCode::kInvalidArgument, "server \"" + server + "\" is not an http(s) URL");
  }
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) url.prefix = rest.substr(slash);
  while (!url.prefix.empty() && url.prefix.back() == '/') url.prefix.pop_back();
  if (!hostport.empty() && hostport[0] == '[') {
    auto close = hostport.find(']');
    if (close == std::string::npos) return Error(ErrorCode::kInvalidArgument, "server \"" + server + "\": bad IPv6 literal");
    url.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') url.port = hostport.substr(close + 2);
  } else {
    auto colon = hostport.rfind(':');
    url.host = hostport.substr(0, colon);
    if (colon != std::string::npos) url.port = hostport.substr(colon + 1);
  }
  if (url.host.empty()) return Error(ErrorCode::kInvalidArgument, "server \"" + server + "\" has no host");
  if (url.port.empty()) url.port = url.tls ? "443" : "80";
  boost::system::error_code ec;
  net::ip::make_address(url.host, ec);
  url.host_is_ip = !ec;
  return url;
}

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void AddQuery(std::string& target, const std::string& key, const std::string& value) {
  if (value.empty()) return;
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += key + "=" + UrlEncode(value);
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

struct Connection {
  net::io_context ioc;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  template <class F>
  auto Visit(F&& f) {
    return tls ? f(*tls) : f(*plain);
  }
  // Runs the io_context until the started operation completes.
  void Run() {
    ioc.restart();
    ioc.run();
  }
  void Close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
  }
};

struct HttpRequest {
  http::verb method = http::verb::get;
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
  HttpClient(ClusterConfig config, ClientOptions options, ServerUrl url, std::shared_ptr<ssl::context> ssl_ctx)
      : config_(std::move(config)), options_(std::move(options)), url_(std::move(url)),
        ssl_ctx_(std::move(ssl_ctx)), bucket_(options_.qps, options_.burst) {}

  Result<Json> Get(const ResourceRef& ref, const std::string& ns, const std::string& name) override {
    return DoJson({http::verb::get, ref.ObjectPath(ns, name), "", ""}, ref.resource + " " + ObjectKey(Ns(ref, ns), name));
  }

  Result<ListResult> List(const ResourceRef& ref, const std::string& ns, const ListOptions& options) override {
    std::string target = ref.CollectionPath(Ns(ref, ns));
    AddQuery(target, "labelSelector", options.label_selector);
    AddQuery(target, "fieldSelector", options.field_selector);
    if (options.limit > 0) AddQuery(target, "limit", std::to_string(options.limit));
    AddQuery(target, "continue", options.continue_token);
    AddQuery(target, "resourceVersion", options.resource_version);
    auto body = DoJson({http::verb::get, target, "", ""}, "list " + ref.resource);
    if (!body.ok()) return body.error();
    ListResult result;
    const Json& j = *body;
    if (!j.is_object() || !j.contains("items") || !(j["items"].is_array() || j["items"].is_null()))
      return Error(ErrorCode::kBadResponse, "list " + ref.resource + ": response is not a list");
    if (j["items"].is_array())
      for (const auto& item : j["items"]) result.items.push_back(item);
    if (j.contains("metadata") && j["metadata"].is_object()) {
      const Json& m = j["metadata"];
      if (m.contains("resourceVersion") && m["resourceVersion"].is_string()) result.resource_version = m["resourceVersion"];
      if (m.contains("continue") && m["continue"].is_string()) result.continue_token = m["continue"];
      if (m.contains("remainingItemCount") && m["remainingItemCount"].is_number_integer())
        result.remaining_item_count = m["remainingItemCount"].get<int64_t>();
    }
    return result;
  }

  Result<Json> Create(const ResourceRef& ref, const std::string& ns, const Json& object) override {
    Json body = object;
    Stamp(ref, body);
    return DoJson({http::verb::post, ref.CollectionPath(Ns(ref, ns)), body.dump(), "application/json"},
                  "create " + ref.resource + " " + ObjectKey(Ns(ref, ns), NameOf(object)));
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
    return DoJson({http::verb::patch, ref.ObjectPath(Ns(ref, ns), name, subresource), patch.dump(), content_type},
                  "patch " + ref.resource + " " + ObjectKey(Ns(ref, ns), name));
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
    return DoJson({http::verb::delete_, ref.ObjectPath(Ns(ref, ns), name), content_type.empty() ? "" : body.dump(),
                   content_type},
                  "delete " + ref.resource + " " + ObjectKey(Ns(ref, ns), name));
  }

  Status Watch(const ResourceRef& ref, const std::string& ns, const WatchOptions& options,
               const WatchHandler& handler, std::stop_token stop) override;

 private:
  static std::string NameOf(const Json& object) {
    if (object.is_object() && object.contains("metadata") && object["metadata"].is_object() &&
        object["metadata"].contains("name") && object["metadata"]["name"].is_string())
      return object["metadata"]["name"];
    return "";
  }
  static std::string Ns(const ResourceRef& ref, const std::string& ns) { return ref.namespaced ? ns : ""; }
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
    return DoJson({http::verb::put, ref.ObjectPath(Ns(ref, ns), name, sub), body.dump(), "application/json"},
                  "update " + ref.resource + (sub.empty() ? "" : "/" + sub) + " " + ObjectKey(Ns(ref, ns), name));
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
  // POSTs are retried only on 429 (the server did not act on them).
  Result<HttpResponse> Do(const HttpRequest& request, const std::string& context) {
    const bool idempotent = request.method != http::verb::post;
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

  Result<std::unique_ptr<Connection>> Connect(std::chrono::milliseconds timeout) {
    auto conn = std::make_unique<Connection>();
    tcp::resolver resolver(conn->ioc);
    beast::error_code ec;
    auto endpoints = resolver.resolve(url_.host, url_.port, ec);
    if (ec) return Error(ErrorCode::kNetwork, "resolve " + url_.host + ": " + ec.message());
    if (url_.tls) {
      conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(conn->ioc, *ssl_ctx_);
      SSL* ssl = conn->tls->native_handle();
      if (!url_.host_is_ip) SSL_set_tlsext_host_name(ssl, url_.host.c_str());
      if (!config_.insecure) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        if (url_.host_is_ip) X509_VERIFY_PARAM_set1_ip_asc(param, url_.host.c_str());
        else X509_VERIFY_PARAM_set1_host(param, url_.host.c_str(), 0);
      }
    } else {
      conn->plain = std::make_unique<beast::tcp_stream>(conn->ioc);
    }
    conn->lowest().expires_after(timeout);
    conn->lowest().async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    conn->Run();
    if (ec) return Error(ErrorCode::kNetwork, "connect " + url_.host + ":" + url_.port + ": " + ec.message());
    if (conn->tls) {
      conn->lowest().expires_after(timeout);
      conn->tls->async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
      conn->Run();
      if (ec) return Error(ErrorCode::kNetwork, "TLS handshake with " + url_.host + ": " + ec.message());
    }
    return conn;
  }

  std::unique_ptr<Connection> TakeIdle() {
    std::lock_guard lock(pool_mu_);
    if (idle_.empty()) return nullptr;
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }
  void GiveBack(std::unique_ptr<Connection> conn) {
    std::lock_guard lock(pool_mu_);
    if (idle_.size() < 8) idle_.push_back(std::move(conn));
  }

  Result<http::request<http::string_body>> BuildRequest(const HttpRequest& request, bool watch) {
    http::request<http::string_body> req{request.method, url_.prefix + request.target, 11};
    req.set(http::field::host, url_.host_is_ip && url_.host.find(':') != std::string::npos
                                   ? "[" + url_.host + "]:" + url_.port : url_.host + ":" + url_.port);
    req.set(http::field::user_agent, options_.user_agent);
    req.set(http::field::accept, "application/json");
    auto token = CurrentToken(config_);
    if (!token.ok()) return token.error();
    if (!token->empty()) req.set(http::field::authorization, "Bearer " + *token);
    if (!request.content_type.empty()) req.set(http::field::content_type, request.content_type);
    if (!request.body.empty() || request.method == http::verb::post || request.method == http::verb::put ||
        request.method == http::verb::patch) {
      req.body() = request.body;
      req.prepare_payload();
    }
    req.keep_alive(!watch);
    return req;
  }

  Result<HttpResponse> RoundTrip(const HttpRequest& request) {
    auto req = BuildRequest(request, false);
    if (!req.ok()) return req.error();
    for (int fresh = 0; fresh < 2; ++fresh) {
      std::unique_ptr<Connection> conn = fresh == 0 ? TakeIdle() : nullptr;
      bool reused = conn != nullptr;
      if (!conn) {
        auto connected = Connect(options_.request_timeout);
        if (!connected.ok()) return connected.error();
        conn = std::move(connected.value());
      }
      beast::error_code ec;
      conn->lowest().expires_after(options_.request_timeout);
      conn->Visit([&](auto& stream) {
        http::async_write(stream, *req, [&](beast::error_code e, size_t) { ec = e; });
      });
      conn->Run();
      http::response_parser<http::string_body> parser;
      parser.body_limit(kMaxBodyBytes);
      if (!ec) {
        conn->Visit([&](auto& stream) {
          http::async_read(stream, conn->buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
        });
        conn->Run();
      }
      if (ec) {
        // A pooled keep-alive connection the server closed meanwhile: try once on a new one.
        if (reused && (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
                       ec == net::error::broken_pipe || ec == net::error::eof))
          continue;
        if (ec == beast::error::timeout) return Error(ErrorCode::kTimeout, "request timed out");
        return Error(ErrorCode::kNetwork, ec.message());
      }
      auto& res = parser.get();
      HttpResponse out;
      out.status = res.result_int();
      out.body = std::move(res.body());
      if (auto it = res.find(http::field::retry_after); it != res.end()) out.retry_after = std::string(it->value());
      if (res.keep_alive()) GiveBack(std::move(conn));
      return out;
    }
    return Error(ErrorCode::kNetwork, "connection closed by the server");
  }

  ClusterConfig config_;
  ClientOptions options_;
  ServerUrl url_;
  std::shared_ptr<ssl::context> ssl_ctx_;
  TokenBucket bucket_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
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
  auto req = BuildRequest({http::verb::get, target, "", ""}, true);
  if (!req.ok()) return req.error().Wrap(context);
  auto connected = Connect(options_.request_timeout);
  if (!connected.ok()) return connected.error().Wrap(context);
  std::unique_ptr<Connection> conn = std::move(connected.value());
  std::atomic<bool> stopping{false};
  // Stop from another thread: closing is posted to the connection's own io_context, which
  // this thread is running, so the socket is only touched by one thread.
  std::stop_callback on_stop(stop, [&] {
    stopping = true;
    net::post(conn->ioc, [&] { conn->Close(); });
  });
  // No event for this long (the server's timeout plus slack) means the peer is gone.
  const auto idle = std::chrono::seconds(options.timeout_seconds > 0 ? options.timeout_seconds + 30 : 3600);

  beast::error_code ec;
  conn->lowest().expires_after(options_.request_timeout);
  conn->Visit([&](auto& stream) { http::async_write(stream, *req, [&](beast::error_code e, size_t) { ec = e; }); });
  conn->Run();
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  if (!ec) {
    conn->lowest().expires_after(options_.request_timeout);
    conn->Visit([&](auto& stream) {
      http::async_read_header(stream, conn->buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
    });
    conn->Run();
  }
  if (stopping) return Status::Ok();
  if (ec) return Error(ErrorCode::kNetwork, context + ": " + ec.message());
  const int status = parser.get().result_int();

  WatchDecoder decoder;
  std::string error_body;
  std::vector<char> chunk(64 * 1024);
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    conn->lowest().expires_after(status == 200 ? std::chrono::duration_cast<std::chrono::milliseconds>(idle)
                                               : options_.request_timeout);
    // read_some: hand over whatever arrived; a full read would wait for the buffer to fill.
    conn->Visit([&](auto& stream) {
      http::async_read_some(stream, conn->buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
    });
    conn->Run();
    if (ec == http::error::need_buffer) ec = {};
    size_t got = chunk.size() - parser.get().body().size;
    if (stopping) return Status::Ok();
    if (status != 200) {
      if (error_body.size() < (1 << 20)) error_body.append(chunk.data(), got);
    } else if (got > 0) {
      Status fed = decoder.Feed(std::string_view(chunk.data(), got), handler);
      if (!fed.ok()) return fed.error().code == ErrorCode::kBadResponse ? fed.error().Wrap(context) : fed.error();
      if (decoder.stopped()) return Status::Ok();
    }
    if (ec) {
      if (status != 200) break;
      if (ec == beast::error::timeout) return Error(ErrorCode::kTimeout, context + ": no data from the server for too long");
      return Error(ErrorCode::kNetwork, context + ": stream broken: " + ec.message());
    }
  }
  if (status != 200) return ErrorFromResponse(status, error_body, context);
  Status finished = decoder.Finish();
  if (!finished.ok()) return finished.error().Wrap(context);
  return Status::Ok();
}

Status AddCaBundle(ssl::context& ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return Error(ErrorCode::kInternal, "out of memory");
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.native_handle());
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++added;
  }
  BIO_free(bio);
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (added == 0) return Error(ErrorCode::kInvalidArgument, "CA data holds no PEM certificate");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Client>> NewHttpClient(const ClusterConfig& config, const ClientOptions& options) {
  auto url = ParseServer(config.server);
  if (!url.ok()) return url.error();
  std::shared_ptr<ssl::context> ctx;
  if (url->tls) {
    ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (config.insecure) {
      ctx->set_verify_mode(ssl::verify_none);
    } else {
      ctx->set_verify_mode(ssl::verify_peer);
      if (!config.ca_pem.empty()) {
        Status added = AddCaBundle(*ctx, config.ca_pem);
        if (!added.ok()) return added.error().Wrap("cluster CA");
      } else {
        ctx->set_default_verify_paths();
      }
    }
    if (!config.client_cert_pem.empty()) {
      boost::system::error_code ec;
      ctx->use_certificate_chain(net::buffer(config.client_cert_pem), ec);
      if (ec) return Error(ErrorCode::kInvalidArgument, "client certificate: " + ec.message());
      ctx->use_private_key(net::buffer(config.client_key_pem), ssl::context::pem, ec);
      if (ec) return Error(ErrorCode::kInvalidArgument, "client key: " + ec.message());
    }
  }
  return std::unique_ptr<Client>(std::make_unique<HttpClient>(config, options, std::move(url.value()), std::move(ctx)));
}

}  // namespace archway::kube

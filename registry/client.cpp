#include "registry/client.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <ctime>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/http.h"
#include "base/log.h"
#include "base/utf8.h"
#include "registry/endpoint.h"
#include "registry/www_authenticate.h"

namespace archway::registry {
namespace {

using Clock = std::chrono::steady_clock;
using Response = http::Response;

constexpr int kMaxRedirects = 5;
constexpr size_t kMaxErrorBodyBytes = 64 * 1024;
constexpr size_t kMaxTokenBytes = 1024 * 1024;
// CopyBlob moves blobs in ranged pieces of this size, so no layer is ever held whole.
constexpr int64_t kCopyChunkBytes = 16 * 1024 * 1024;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string ContentTypeBase(std::string value) {
  value = value.substr(0, value.find(';'));
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.erase(0, 1);
  return Lower(value);
}

// A URL split into "scheme", "host[:port]" and "/path?query".
struct Target {
  std::string scheme;
  std::string host;
  std::string path_and_query;

  std::string Path() const { return path_and_query.substr(0, path_and_query.find('?')); }
};

// Resolves a Location header against the URL it answered.
Target ResolveLocation(const Target& from, const std::string& location) {
  Target t = from;
  size_t scheme_end = location.find("://");
  if (scheme_end != std::string::npos && scheme_end < location.find('/')) {
    t.scheme = Lower(location.substr(0, scheme_end));
    std::string rest = location.substr(scheme_end + 3);
    size_t slash = rest.find_first_of("/?");
    t.host = Lower(rest.substr(0, slash));
    t.path_and_query = slash == std::string::npos ? "/" : rest.substr(slash);
    if (t.path_and_query.front() == '?') t.path_and_query = "/" + t.path_and_query;
  } else if (location.rfind("//", 0) == 0) {
    std::string rest = location.substr(2);
    size_t slash = rest.find_first_of("/?");
    t.host = Lower(rest.substr(0, slash));
    t.path_and_query = slash == std::string::npos ? "/" : rest.substr(slash);
  } else if (!location.empty() && location.front() == '/') {
    t.path_and_query = location;
  } else {
    std::string dir = from.Path();
    dir = dir.substr(0, dir.rfind('/') + 1);
    t.path_and_query = dir + location;
  }
  return t;
}

std::string AppendQuery(const std::string& path_and_query, const std::string& param) {
  return path_and_query + (path_and_query.find('?') == std::string::npos ? "?" : "&") + param;
}

// Retry-After: delta-seconds or an HTTP date.
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& value) {
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (value.size() > 9) return std::chrono::hours(24 * 365);
    return std::chrono::seconds(std::stol(value));
  }
  // IMF-fixdate, e.g. "Wed, 21 Oct 2026 07:28:00 GMT" (the only form RFC 9110 generates).
  std::tm tm{};
  std::istringstream in(value);
  in.imbue(std::locale::classic());
  in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S");
  if (in.fail()) return std::nullopt;
  std::time_t when = timegm(&tm);
  std::time_t now = std::time(nullptr);
  if (when <= now) return std::chrono::milliseconds(0);
  return std::chrono::seconds(when - now);
}

// What the registry said in an error body ({"errors":[{"code","message"}]}), for messages.
std::string RegistryErrorSummary(const std::string& body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object()) return "";
  auto errors = json.find("errors");
  if (errors == json.end() || !errors->is_array() || errors->empty() || !(*errors)[0].is_object()) return "";
  const auto& first = (*errors)[0];
  std::string out;
  if (auto code = first.find("code"); code != first.end() && code->is_string()) out = code->get<std::string>();
  if (auto message = first.find("message"); message != first.end() && message->is_string()) {
    out += (out.empty() ? "" : ": ") + message->get<std::string>();
  }
  out = TruncateUtf8(out, 300);
  // Messages are one line, whatever the peer put in them.
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return out;
}

Error StatusError(const std::string& host, const std::string& what, const Response& response) {
  std::string detail = RegistryErrorSummary(response.body);
  std::string message = host + ": " + what + ": HTTP " + std::to_string(response.status);
  if (!detail.empty()) message += " (" + detail + ")";
  ErrorCode code = ErrorCode::kBadResponse;
  switch (response.status) {
    case 401: code = ErrorCode::kUnauthorized; break;
    case 403: code = ErrorCode::kForbidden; break;
    case 404: code = ErrorCode::kNotFound; break;
    case 409: code = ErrorCode::kConflict; break;
    case 410: code = ErrorCode::kGone; break;
    case 429: code = ErrorCode::kRateLimited; break;
    default:
      if (response.status >= 500) code = ErrorCode::kUnavailable;
      break;
  }
  return Error(code, message);
}

struct TokenEntry {
  std::string token;
  Clock::time_point expires;
};

// A request as the auth/redirect/retry layers see it; the body is replayable.
struct Request {
  std::string method;
  std::string path_and_query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string_view> body;
  std::string content_type;
  std::string scope;  // token scope(s), space separated
  size_t body_limit = kMaxErrorBodyBytes;
  bool follow_redirects = true;
};

}  // namespace

struct Client::Impl {
  ClientOptions options;
  Keychain default_keychain;

  http::ProxyConfig proxies;

  std::mutex mu;
  http::ConnectionPool pool;
  std::map<std::string, std::shared_ptr<http::TlsContext>> tls_contexts;  // by endpoint host
  std::map<std::string, Challenge> challenges;                               // by endpoint host
  std::map<std::string, TokenEntry> tokens;  // realm|service|scope|credential fingerprint
  // Upload sessions a refused mount opened, reused by the next upload of that blob.
  std::map<std::string, Target> pending_uploads;

  explicit Impl(ClientOptions o) : options(std::move(o)) {
    default_keychain = options.keychain.MergedOver(options.registries.ToKeychain());
    proxies = options.proxy ? *options.proxy : http::ProxyConfig::FromEnvironment();
    if (!proxies.direct()) log::Info("registry requests go through a proxy", {{"proxy", proxies.Describe()}});
    for (const std::string& problem : proxies.Problems()) {
      log::Warn("proxy setting unusable: registry requests it applies to will fail", {{"error", problem}});
    }
  }

  const HostConfig* HostConfigFor(const std::string& host) const {
    auto it = options.registries.configs.find(host);
    return it == options.registries.configs.end() ? nullptr : &it->second;
  }

  std::optional<AuthConfig> CredentialsFor(const std::string& host, const Keychain* extra) const {
    if (extra != nullptr) {
      if (auto auth = extra->Lookup(host)) return auth;
    }
    return default_keychain.Lookup(host);
  }

  std::string FingerprintFor(const std::string& host, const Keychain* extra) const {
    if (extra != nullptr && extra->Lookup(host)) return "x" + extra->Fingerprint(host);
    return default_keychain.Fingerprint(host);
  }

  // The TLS configuration for a host: its registries.yaml `configs` entry, else defaults.
  Result<std::shared_ptr<http::TlsContext>> TlsFor(const std::string& host) {
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = tls_contexts[host];
    if (slot) return slot;
    http::TlsOptions tls;
    if (const HostConfig* config = HostConfigFor(host); config != nullptr) {
      tls.verify_peer = !config->tls.insecure_skip_verify;
      tls.ca_file = config->tls.ca_file;
      tls.cert_file = config->tls.cert_file;
      tls.key_file = config->tls.key_file;
    }
    auto made = http::TlsContext::New(tls);
    if (!made.ok()) return made.error().Wrap(host + ": TLS settings");
    slot = std::move(*made);
    return slot;
  }

  void Observe(const Target& target, const std::string& method, int status, Clock::time_point start) {
    if (!options.observer) return;
    RequestEvent event;
    event.registry = target.host;
    event.method = method;
    event.path = target.Path();
    event.status = status;
    event.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    options.observer(event);
  }

  // One HTTP exchange. The body is read up to `body_limit`; beyond that the exchange is
  // aborted (the connection dropped) rather than buffered.
  Result<Response> SendOnce(const Target& target, const Request& request, const std::string& authorization) {
    const std::string context = target.host + ": " + request.method + " " + target.Path();
    auto origin = http::ParseOrigin(target.host, target.scheme == "https");
    if (!origin.ok()) return origin.error().Wrap(context);
    std::shared_ptr<http::TlsContext> tls;
    if (origin->tls) {
      auto made = TlsFor(target.host);
      if (!made.ok()) return made.error();
      tls = std::move(*made);
    }
    auto proxy = proxies.For(*origin);
    if (!proxy.ok()) return proxy.error().Wrap(context);
    http::Request message;
    message.method = request.method;
    message.target = target.path_and_query;
    message.headers.emplace_back("User-Agent", options.user_agent);
    for (const auto& header : request.headers) message.headers.push_back(header);
    if (!authorization.empty()) message.headers.emplace_back("Authorization", authorization);
    if (request.body) {
      message.body = *request.body;
      message.headers.emplace_back("Content-Type", request.content_type.empty() ? "application/octet-stream"
                                                                                 : request.content_type);
    }
    http::ExchangeOptions exchange;
    exchange.connect_timeout = options.connect_timeout;
    exchange.timeout = options.request_timeout;
    exchange.body_limit = request.body_limit;
    exchange.proxy = std::move(*proxy);
    Clock::time_point start = Clock::now();
    auto response = http::Exchange(pool, *origin, tls, message, exchange);
    Observe(target, request.method, response.ok() ? response->status : 0, start);
    if (!response.ok()) {
      const Error& error = response.error();
      if (error.code == ErrorCode::kBadResponse) {  // the only one the transport returns: body_limit
        return Error(ErrorCode::kBadResponse, target.host + ": response to " + request.method + " " + target.Path() +
                                                  " is larger than " + std::to_string(request.body_limit) + " bytes");
      }
      if (error.code == ErrorCode::kTimeout) return Error(ErrorCode::kTimeout, context + ": " + error.message);
      return Error(error.code, context + " failed: " + error.message);
    }
    return response;
  }

  // Follows redirects by hand; Authorization goes only to the host it was meant for.
  Result<Response> SendFollowingRedirects(Target target, const Request& request, const std::string& authorization,
                                          Target* final_target = nullptr) {
    const std::string auth_host = target.host;
    const std::string auth_scheme = target.scheme;
    for (int hop = 0;; ++hop) {
      bool same_origin = target.host == auth_host && target.scheme == auth_scheme;
      auto response = SendOnce(target, request, same_origin ? authorization : std::string());
      if (!response.ok()) return response;
      int status = response->status;
      bool redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
      std::string location = response->Header("Location");
      if (!redirect || !request.follow_redirects || location.empty()) {
        if (final_target != nullptr) *final_target = target;
        return response;
      }
      if (hop >= kMaxRedirects) {
        return Error(ErrorCode::kBadResponse, auth_host + ": more than " + std::to_string(kMaxRedirects) + " redirects");
      }
      Target next = ResolveLocation(target, location);
      if (next.scheme != "http" && next.scheme != "https") {
        return Error(ErrorCode::kBadResponse, auth_host + ": redirect to unsupported scheme " + next.scheme);
      }
      if (target.scheme == "https" && next.scheme == "http") {
        return Error(ErrorCode::kBadResponse, auth_host + ": refusing redirect from https to http");
      }
      target = std::move(next);
    }
  }

  std::string BasicAuthorization(const AuthConfig& auth) {
    return "Basic " + Base64Encode(auth.username + ":" + auth.password);
  }

  // Fetches (or reuses) a bearer token for `scope` from the challenge's realm.
  Result<std::string> BearerToken(const std::string& registry_host, const Challenge& challenge,
                                  const std::string& scope, const std::optional<AuthConfig>& auth,
                                  const std::string& fingerprint, bool refresh) {
    if (auth && !auth->registry_token.empty()) return auth->registry_token;
    std::string realm = challenge.Param("realm");
    std::string service = challenge.Param("service");
    if (realm.empty()) return Error(ErrorCode::kBadResponse, registry_host + ": Bearer challenge without a realm");
    std::string key = realm + "|" + service + "|" + scope + "|" + fingerprint;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = tokens.find(key);
      if (it != tokens.end() && !refresh && Clock::now() < it->second.expires) return it->second.token;
    }
    Target realm_target = ResolveLocation(Target{"https", registry_host, "/"}, realm);
    if (realm_target.scheme != "https" && realm_target.scheme != "http") {
      return Error(ErrorCode::kBadResponse, registry_host + ": token realm " + realm + " is not an http(s) URL");
    }
    Request token_request;
    token_request.body_limit = kMaxTokenBytes;
    std::string query;
    if (!service.empty()) query += "service=" + http::UrlEncode(service);
    size_t begin = 0;
    while (begin < scope.size()) {
      size_t end = scope.find(' ', begin);
      std::string one = scope.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
      if (!one.empty()) query += std::string(query.empty() ? "" : "&") + "scope=" + http::UrlEncode(one);
      if (end == std::string::npos) break;
      begin = end + 1;
    }
    std::string authorization;
    std::string form_body;
    if (auth && !auth->identity_token.empty()) {
      // OAuth2 refresh-token grant, as docker does with an identity token.
      token_request.method = "POST";
      token_request.content_type = "application/x-www-form-urlencoded";
      form_body = "grant_type=refresh_token&client_id=archway&refresh_token=" + http::UrlEncode(auth->identity_token) +
                  (query.empty() ? "" : "&" + query);
      token_request.body = form_body;
    } else {
      token_request.method = "GET";
      if (!query.empty()) realm_target.path_and_query = AppendQuery(realm_target.path_and_query, query);
      if (auth && !auth->username.empty()) authorization = BasicAuthorization(*auth);
    }
    auto response = SendFollowingRedirects(realm_target, token_request, authorization);
    if (!response.ok()) return response.error().Wrap(registry_host + ": token request");
    if (response->status == 401 || response->status == 403) {
      return Error(ErrorCode::kUnauthorized,
                   registry_host + ": the token server " + realm_target.host + " rejected the credentials for " +
                       registry_host + " (HTTP " + std::to_string(response->status) + ")");
    }
    if (response->status != 200) return StatusError(registry_host, "token request to " + realm_target.host, *response);
    auto json = nlohmann::json::parse(response->body, nullptr, false);
    if (!json.is_object()) return Error(ErrorCode::kBadResponse, registry_host + ": token response is not a JSON object");
    std::string token;
    for (const char* field : {"token", "access_token"}) {
      auto it = json.find(field);
      if (it != json.end() && it->is_string() && !it->get<std::string>().empty()) {
        token = it->get<std::string>();
        break;
      }
    }
    if (token.empty()) return Error(ErrorCode::kBadResponse, registry_host + ": token response has no token");
    int64_t expires_in = 60;  // the distribution spec's default
    if (auto it = json.find("expires_in"); it != json.end() && it->is_number_integer()) {
      expires_in = std::clamp<int64_t>(it->get<int64_t>(), 0, 24 * 3600);
    }
    // Renew a little early so a token never expires in flight.
    auto lifetime = std::chrono::seconds(expires_in) - std::min<std::chrono::seconds>(std::chrono::seconds(expires_in / 10),
                                                                                    std::chrono::seconds(10));
    std::lock_guard<std::mutex> lock(mu);
    tokens[key] = TokenEntry{token, Clock::now() + lifetime};
    return token;
  }

  // The Authorization header for a request to `host`, from what the host asked for before.
  Result<std::string> Authorization(const std::string& host, const std::string& scope,
                                    const std::optional<AuthConfig>& auth, const std::string& fingerprint,
                                    bool refresh = false) {
    Challenge challenge;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = challenges.find(host);
      if (it == challenges.end()) return std::string();
      challenge = it->second;
    }
    if (challenge.scheme == "bearer") {
      auto token = BearerToken(host, challenge, scope, auth, fingerprint, refresh);
      if (!token.ok()) return token.error();
      return "Bearer " + *token;
    }
    if (challenge.scheme == "basic" && auth && !auth->username.empty()) return BasicAuthorization(*auth);
    return std::string();
  }

  // Authenticated exchange with an endpoint host: anonymous or with what the host asked
  // for last time; on a 401 challenge, authenticate and retry once. 429 is retried after
  // Retry-After while the total wait stays within max_retry_after.
  Result<Response> Send(const Target& target, const Request& request, const Keychain* extra,
                        Target* final_target = nullptr) {
    const std::string& host = target.host;
    std::optional<AuthConfig> auth = CredentialsFor(host, extra);
    std::string fingerprint = FingerprintFor(host, extra);
    std::chrono::milliseconds waited{0};
    while (true) {
      auto authorization = Authorization(host, request.scope, auth, fingerprint);
      if (!authorization.ok()) return authorization.error();
      auto response = SendFollowingRedirects(target, request, *authorization, final_target);
      if (!response.ok()) return response;
      if (response->status == 401) {
        std::vector<Challenge> offered = ParseWwwAuthenticate(response->Header("WWW-Authenticate"));
        const Challenge* chosen = nullptr;
        for (const auto& c : offered) {
          if (c.scheme == "bearer") chosen = &c;
        }
        for (const auto& c : offered) {
          if (!chosen && c.scheme == "basic") chosen = &c;
        }
        bool had_credentials = auth.has_value() && !auth->empty();
        bool retry = false;
        bool refresh = false;
        if (chosen != nullptr) {
          std::lock_guard<std::mutex> lock(mu);
          auto& known = challenges[host];
          bool same_scheme = known.scheme == chosen->scheme;
          known = *chosen;
          if (authorization->empty() || !same_scheme) {
            retry = true;  // answer the challenge
          } else if (chosen->scheme == "bearer" && chosen->Param("error") != "insufficient_scope") {
            retry = refresh = true;  // the cached token was refused (expired early, key rotated): renew once
          }
          if (chosen->scheme == "basic" && !had_credentials) retry = false;
        }
        if (retry) {
          auto again = Authorization(host, request.scope, auth, fingerprint, refresh);
          if (!again.ok()) return again.error();
          if (!again->empty()) {
            response = SendFollowingRedirects(target, request, *again, final_target);
            if (!response.ok()) return response;
          }
        }
        if (response->status == 401) {
          std::vector<Challenge> last = ParseWwwAuthenticate(response->Header("WWW-Authenticate"));
          bool insufficient_scope = std::any_of(last.begin(), last.end(), [](const Challenge& c) {
            return c.Param("error") == "insufficient_scope";
          });
          if (had_credentials && insufficient_scope) {
            return Error(ErrorCode::kForbidden, host + ": the credentials for " + host + " are not allowed to " +
                                                    (request.scope.find("push") != std::string::npos ? "push to" : "pull") +
                                                    " " + target.Path());
          }
          return Error(ErrorCode::kUnauthorized,
                       host + ": 401 Unauthorized: " +
                           (had_credentials ? "the registry rejected the credentials for " + host
                                            : "authentication required and no credentials are configured for " + host));
        }
      }
      if (response->status == 429) {
        auto delay = ParseRetryAfter(response->Header("Retry-After"));
        if (!delay || waited + *delay > options.max_retry_after) {
          return Error(ErrorCode::kRateLimited,
                       host + ": 429 Too Many Requests" +
                           (delay ? " (Retry-After " + std::to_string(delay->count() / 1000) + " s exceeds the limit)" : ""));
        }
        std::this_thread::sleep_for(*delay);
        waited += *delay;
        continue;
      }
      return response;
    }
  }

  Target TargetFor(const Endpoint& endpoint, std::string_view suffix) {
    return Target{endpoint.scheme, endpoint.host, endpoint.Path(suffix)};
  }

  static std::string PullScope(const Endpoint& e) { return "repository:" + e.repository + ":pull"; }
  static std::string PushScope(const Endpoint& e) { return "repository:" + e.repository + ":pull,push"; }

  // Runs `attempt` against each pull endpoint in order; the first success wins, and the
  // last endpoint's (the default's) error is reported.
  template <typename T, typename Fn>
  Result<T> OnPullEndpoints(const Reference& ref, Fn attempt) {
    std::vector<Endpoint> endpoints = PullEndpoints(options.registries, ref);
    std::optional<Error> last;
    for (const Endpoint& endpoint : endpoints) {
      Result<T> result = attempt(endpoint);
      if (result.ok()) return result;
      if (endpoint.is_mirror) {
        log::Debug("registry mirror failed, trying the next endpoint",
                   {{"mirror", endpoint.host}, {"error", result.error().message}});
      }
      last = result.error();
    }
    return *last;
  }

  Result<FetchedManifest> GetManifestFrom(const Endpoint& endpoint, const Reference& ref, const Keychain* extra) {
    Request request;
    request.method = "GET";
    request.headers.emplace_back("Accept", media_type::kManifestAccept);
    request.scope = PullScope(endpoint);
    request.body_limit = kMaxManifestBytes;
    auto response = Send(TargetFor(endpoint, "manifests/" + ref.Identifier()), request, extra);
    if (!response.ok()) return response.error().Wrap(ref.String());
    if (response->status != 200) return StatusError(endpoint.host, "manifest " + ref.String(), *response);
    FetchedManifest fetched;
    fetched.digest = ComputeDigest(response->body);
    if (ref.HasDigest() && fetched.digest != ref.digest) {
      return Error(ErrorCode::kBadResponse, endpoint.host + ": manifest " + ref.String() + ": digest mismatch: served " +
                                                fetched.digest);
    }
    std::string served_digest = response->Header("Docker-Content-Digest");
    if (!ref.HasDigest() && served_digest.rfind("sha256:", 0) == 0 && served_digest != fetched.digest) {
      return Error(ErrorCode::kBadResponse, endpoint.host + ": manifest " + ref.String() +
                                                ": digest mismatch: Docker-Content-Digest " + served_digest.substr(0, 80) +
                                                " but the body hashes to " + fetched.digest);
    }
    fetched.media_type = ContentTypeBase(response->Header("Content-Type"));
    if (fetched.media_type.empty() || fetched.media_type == "application/json" ||
        fetched.media_type == "text/plain" || fetched.media_type == "application/octet-stream") {
      auto json = nlohmann::json::parse(response->body, nullptr, false);
      if (json.is_object() && json.contains("mediaType") && json["mediaType"].is_string()) {
        fetched.media_type = json["mediaType"].get<std::string>();
      }
    }
    fetched.bytes = std::move(response->body);
    return fetched;
  }

  Result<Descriptor> HeadManifestFrom(const Endpoint& endpoint, const Reference& ref, const Keychain* extra) {
    Request request;
    request.method = "HEAD";
    request.headers.emplace_back("Accept", media_type::kManifestAccept);
    request.scope = PullScope(endpoint);
    auto response = Send(TargetFor(endpoint, "manifests/" + ref.Identifier()), request, extra);
    if (!response.ok()) return response.error().Wrap(ref.String());
    if (response->status != 200) return StatusError(endpoint.host, "manifest " + ref.String(), *response);
    Descriptor d;
    d.digest = response->Header("Docker-Content-Digest");
    if (d.digest.empty() && ref.HasDigest()) d.digest = ref.digest;
    if (!IsValidDigest(d.digest)) {
      return Error(ErrorCode::kBadResponse,
                   endpoint.host + ": HEAD manifest " + ref.String() + " gave no usable Docker-Content-Digest");
    }
    if (ref.HasDigest() && d.digest != ref.digest) {
      return Error(ErrorCode::kBadResponse, endpoint.host + ": manifest " + ref.String() + ": digest mismatch");
    }
    d.media_type = ContentTypeBase(response->Header("Content-Type"));
    std::string length = response->Header("Content-Length");
    if (!length.empty() && length.size() < 19 &&
        std::all_of(length.begin(), length.end(), [](unsigned char c) { return std::isdigit(c); })) {
      d.size = std::stoll(length);
    }
    return d;
  }

  Result<std::string> GetBlobFrom(const Endpoint& endpoint, std::string_view digest, size_t max_bytes,
                                  const Keychain* extra, const std::string& range = "") {
    Request request;
    request.method = "GET";
    request.scope = PullScope(endpoint);
    request.body_limit = max_bytes;
    if (!range.empty()) request.headers.emplace_back("Range", range);
    auto response = Send(TargetFor(endpoint, "blobs/" + std::string(digest)), request, extra);
    if (!response.ok()) return response.error();
    if (range.empty() && response->status != 200) {
      return StatusError(endpoint.host, "blob " + std::string(digest), *response);
    }
    if (!range.empty() && response->status != 206) {
      if (response->status == 200) {
        return Error(ErrorCode::kUnsupported, endpoint.host + ": blob " + std::string(digest) +
                                                  ": the registry ignored a Range request, so it cannot be streamed");
      }
      return StatusError(endpoint.host, "blob " + std::string(digest), *response);
    }
    return std::move(response->body);
  }

  // Upload session: a session a refused mount left open, or a new one.
  Result<Target> StartUpload(const Endpoint& endpoint, std::string_view digest, const Keychain* extra) {
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = pending_uploads.find(endpoint.host + "/" + endpoint.repository + "@" + std::string(digest));
      if (it != pending_uploads.end()) {
        Target target = it->second;
        pending_uploads.erase(it);
        return target;
      }
    }
    Request request;
    request.method = "POST";
    request.scope = PushScope(endpoint);
    request.follow_redirects = false;
    Target target = TargetFor(endpoint, "blobs/uploads/");
    auto response = Send(target, request, extra);
    if (!response.ok()) return response.error();
    if (response->status != 202) return StatusError(endpoint.host, "start upload to " + endpoint.repository, *response);
    std::string location = response->Header("Location");
    if (location.empty()) return Error(ErrorCode::kBadResponse, endpoint.host + ": upload start gave no Location");
    return ResolveLocation(target, location);
  }

  Status CheckUploadTarget(const Endpoint& endpoint, const Target& upload) {
    if (upload.host != endpoint.host) {
      return Error(ErrorCode::kBadResponse,
                   endpoint.host + ": upload location points at another host (" + upload.host + ")");
    }
    return Status::Ok();
  }

  Status FinishUpload(const Endpoint& endpoint, Target upload, std::string_view digest, std::string_view bytes,
                      const Keychain* extra) {
    if (Status s = CheckUploadTarget(endpoint, upload); !s.ok()) return s;
    upload.path_and_query = AppendQuery(upload.path_and_query, "digest=" + http::UrlEncode(digest));
    Request request;
    request.method = "PUT";
    request.scope = PushScope(endpoint);
    request.follow_redirects = false;
    request.body = bytes;
    request.content_type = "application/octet-stream";
    auto response = Send(upload, request, extra);
    if (!response.ok()) return response.error();
    if (response->status != 201 && response->status != 204) {
      return StatusError(endpoint.host, "upload blob " + std::string(digest), *response);
    }
    return Status::Ok();
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

Result<FetchedManifest> Client::GetManifest(const Reference& ref, const Keychain* extra) {
  return impl_->OnPullEndpoints<FetchedManifest>(
      ref, [&](const Endpoint& endpoint) { return impl_->GetManifestFrom(endpoint, ref, extra); });
}

Result<Descriptor> Client::HeadManifest(const Reference& ref, const Keychain* extra) {
  return impl_->OnPullEndpoints<Descriptor>(
      ref, [&](const Endpoint& endpoint) { return impl_->HeadManifestFrom(endpoint, ref, extra); });
}

Result<std::string> Client::GetBlob(const Reference& repo, std::string_view digest, size_t max_bytes,
                                    const Keychain* extra) {
  if (!IsValidDigest(digest)) {
    return Error(ErrorCode::kInvalidArgument, "blob digest \"" + std::string(digest.substr(0, 80)) + "\" is not a sha256 digest");
  }
  return impl_->OnPullEndpoints<std::string>(repo, [&](const Endpoint& endpoint) -> Result<std::string> {
    auto bytes = impl_->GetBlobFrom(endpoint, digest, max_bytes, extra);
    if (!bytes.ok()) return bytes.error().Wrap(repo.Name());
    if (ComputeDigest(*bytes) != digest) {
      return Error(ErrorCode::kBadResponse,
                   endpoint.host + ": blob " + std::string(digest) + " of " + repo.Name() + ": digest mismatch");
    }
    return bytes;
  });
}

Result<bool> Client::BlobExists(const Reference& repo, std::string_view digest, const Keychain* extra) {
  if (!IsValidDigest(digest)) {
    return Error(ErrorCode::kInvalidArgument, "blob digest \"" + std::string(digest.substr(0, 80)) + "\" is not a sha256 digest");
  }
  // Existence is asked of the repository being written to: the default endpoint.
  Endpoint endpoint = PushEndpoint(impl_->options.registries, repo);
  Request request;
  request.method = "HEAD";
  request.scope = Impl::PullScope(endpoint);
  auto response = impl_->Send(impl_->TargetFor(endpoint, "blobs/" + std::string(digest)), request, extra);
  if (!response.ok()) return response.error().Wrap(repo.Name());
  if (response->status == 200) return true;
  if (response->status == 404) return false;
  return StatusError(endpoint.host, "blob " + std::string(digest) + " in " + repo.Name(), *response);
}

Result<std::string> Client::PutManifest(const Reference& ref, std::string_view media_type, std::string_view bytes,
                                        const Keychain* extra) {
  Endpoint endpoint = PushEndpoint(impl_->options.registries, ref);
  Request request;
  request.method = "PUT";
  request.scope = Impl::PushScope(endpoint);
  request.follow_redirects = false;
  request.body = bytes;
  request.content_type = std::string(media_type);
  auto response = impl_->Send(impl_->TargetFor(endpoint, "manifests/" + ref.Identifier()), request, extra);
  if (!response.ok()) return response.error().Wrap(ref.String());
  if (response->status != 201 && response->status != 200 && response->status != 202) {
    return StatusError(endpoint.host, "put manifest " + ref.String(), *response);
  }
  std::string digest = response->Header("Docker-Content-Digest");
  std::string computed = ComputeDigest(bytes);
  if (!digest.empty() && digest != computed) {
    return Error(ErrorCode::kBadResponse, endpoint.host + ": put manifest " + ref.String() + ": registry reports digest " +
                                              digest.substr(0, 80) + " for content hashing to " + computed);
  }
  return computed;
}

Result<bool> Client::MountBlob(const Reference& to_repo, std::string_view digest, const Reference& from_repo,
                               const Keychain* extra) {
  if (!IsValidDigest(digest)) {
    return Error(ErrorCode::kInvalidArgument, "blob digest \"" + std::string(digest.substr(0, 80)) + "\" is not a sha256 digest");
  }
  if (to_repo.domain != from_repo.domain) {
    return Error(ErrorCode::kInvalidArgument, "cannot mount " + std::string(digest) + " across registries (" +
                                                  from_repo.domain + " -> " + to_repo.domain + ")");
  }
  Endpoint endpoint = PushEndpoint(impl_->options.registries, to_repo);
  Request request;
  request.method = "POST";
  request.scope = Impl::PushScope(endpoint) + " repository:" + from_repo.repository + ":pull";
  request.follow_redirects = false;
  Target target = impl_->TargetFor(endpoint, "blobs/uploads/");
  target.path_and_query += "?mount=" + http::UrlEncode(digest) + "&from=" + http::UrlEncode(from_repo.repository);
  auto response = impl_->Send(target, request, extra);
  if (!response.ok()) return response.error().Wrap(to_repo.Name());
  if (response->status == 201) return true;
  if (response->status == 202) {
    // The registry opened an ordinary upload instead; keep it for the caller's fallback
    // upload of this blob rather than leaving it unused.
    std::string location = response->Header("Location");
    if (!location.empty()) {
      std::lock_guard<std::mutex> lock(impl_->mu);
      impl_->pending_uploads[endpoint.host + "/" + endpoint.repository + "@" + std::string(digest)] =
          ResolveLocation(target, location);
    }
    return false;
  }
  return StatusError(endpoint.host, "mount " + std::string(digest) + " from " + from_repo.repository + " into " +
                                        to_repo.repository, *response);
}

Status Client::UploadBlob(const Reference& repo, std::string_view digest, std::string_view bytes,
                          const Keychain* extra) {
  if (!IsValidDigest(digest)) {
    return Error(ErrorCode::kInvalidArgument, "blob digest \"" + std::string(digest.substr(0, 80)) + "\" is not a sha256 digest");
  }
  if (ComputeDigest(bytes) != digest) {
    return Error(ErrorCode::kInvalidArgument, "upload to " + repo.Name() + ": content does not match " + std::string(digest));
  }
  Endpoint endpoint = PushEndpoint(impl_->options.registries, repo);
  auto upload = impl_->StartUpload(endpoint, digest, extra);
  if (!upload.ok()) return upload.error().Wrap(repo.Name());
  Status s = impl_->FinishUpload(endpoint, *upload, digest, bytes, extra);
  if (!s.ok()) return s.error().Wrap(repo.Name());
  return Status::Ok();
}

Status Client::CopyBlob(const Reference& from_repo, const Reference& to_repo, const Descriptor& blob,
                        const Keychain* extra) {
  if (!IsValidDigest(blob.digest)) {
    return Error(ErrorCode::kInvalidArgument, "blob digest \"" + blob.digest.substr(0, 80) + "\" is not a sha256 digest");
  }
  if (blob.size <= kCopyChunkBytes) {
    auto bytes = GetBlob(from_repo, blob.digest, static_cast<size_t>(std::max<int64_t>(blob.size, 0)), extra);
    if (!bytes.ok()) return bytes.error();
    return UploadBlob(to_repo, blob.digest, *bytes, extra);
  }
  // Large blob: ranged GETs from the source, each piece PATCHed into one upload session,
  // hashed on the way; the final PUT names the digest, which the registry checks too.
  Endpoint destination = PushEndpoint(impl_->options.registries, to_repo);
  auto upload = impl_->StartUpload(destination, blob.digest, extra);
  if (!upload.ok()) return upload.error().Wrap(to_repo.Name());
  Target location = *upload;
  Sha256Stream hash;
  std::vector<Endpoint> sources = PullEndpoints(impl_->options.registries, from_repo);
  for (int64_t offset = 0; offset < blob.size; offset += kCopyChunkBytes) {
    int64_t end = std::min(blob.size, offset + kCopyChunkBytes) - 1;
    std::string range = "bytes=" + std::to_string(offset) + "-" + std::to_string(end);
    std::optional<Error> last;
    std::string piece;
    for (const Endpoint& source : sources) {
      auto got = impl_->GetBlobFrom(source, blob.digest, static_cast<size_t>(end - offset + 1), extra, range);
      if (got.ok()) {
        piece = std::move(*got);
        last.reset();
        break;
      }
      last = got.error();
    }
    if (last) return last->Wrap("copy " + blob.digest + " from " + from_repo.Name());
    if (static_cast<int64_t>(piece.size()) != end - offset + 1) {
      return Error(ErrorCode::kBadResponse, "copy " + blob.digest + " from " + from_repo.Name() + ": short range response");
    }
    hash.Update(piece);
    if (Status s = impl_->CheckUploadTarget(destination, location); !s.ok()) return s;
    Request patch;
    patch.method = "PATCH";
    patch.scope = Impl::PushScope(destination);
    patch.follow_redirects = false;
    patch.body = piece;
    patch.content_type = "application/octet-stream";
    patch.headers.emplace_back("Content-Range", std::to_string(offset) + "-" + std::to_string(end));
    auto response = impl_->Send(location, patch, extra);
    if (!response.ok()) return response.error().Wrap(to_repo.Name());
    if (response->status != 202) return StatusError(destination.host, "upload chunk of " + blob.digest, *response);
    std::string next = response->Header("Location");
    if (!next.empty()) location = ResolveLocation(location, next);
  }
  if ("sha256:" + hash.FinishHex() != blob.digest) {
    return Error(ErrorCode::kBadResponse, "copy " + blob.digest + " from " + from_repo.Name() + ": digest mismatch");
  }
  Status s = impl_->FinishUpload(destination, location, blob.digest, std::string_view(), extra);
  if (!s.ok()) return s.error().Wrap(to_repo.Name());
  return Status::Ok();
}

std::string Client::CredentialFingerprint(const Reference& ref, const Keychain* extra) const {
  std::string combined;
  for (const Endpoint& endpoint : PullEndpoints(impl_->options.registries, ref)) {
    combined += endpoint.host + "=" + impl_->FingerprintFor(endpoint.host, extra) + ";";
  }
  return Sha256Hex(combined);
}

}  // namespace archway::registry

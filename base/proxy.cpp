#include "base/proxy.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "base/encoding.h"

namespace archway::http {
namespace {

namespace ip = boost::asio::ip;

std::string Trim(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// An IP address as 16 bytes, IPv4 in its IPv4-mapped IPv6 form so that "::ffff:10.1.2.3"
// equals "10.1.2.3" (as in Go).
struct Ip {
  std::array<unsigned char, 16> bytes{};
  bool v4 = false;
};

// nullopt when `text` is no IP literal.
std::optional<Ip> ParseIp(const std::string& text) {
  boost::system::error_code ec;
  ip::address address = ip::make_address(text, ec);
  if (ec) return std::nullopt;
  Ip out;
  if (address.is_v4() || (address.is_v6() && address.to_v6().is_v4_mapped())) {
    ip::address_v4 v4 = address.is_v4() ? address.to_v4() : ip::make_address_v4(ip::v4_mapped, address.to_v6());
    out.v4 = true;
    out.bytes[10] = out.bytes[11] = 0xff;
    auto raw = v4.to_bytes();
    std::copy(raw.begin(), raw.end(), out.bytes.begin() + 12);
  } else {
    out.bytes = address.to_v6().to_bytes();
  }
  return out;
}

bool IsLoopback(const Ip& address) {
  if (address.v4) return address.bytes[12] == 127;
  std::array<unsigned char, 16> one{};
  one[15] = 1;
  return address.bytes == one;
}

// One NO_PROXY entry.
struct NoProxyRule {
  enum Kind { kCidr, kIp, kDomain } kind = kDomain;
  Ip ip;                 // kCidr, kIp
  int prefix_bits = 0;   // kCidr, counted in the 16-byte form
  std::string domain;    // kDomain: with its leading dot
  bool match_bare = false;  // kDomain: the entry had no leading dot, so the name itself matches too
  std::string port;      // "" = any port

  bool Matches(const std::string& host, const std::string& host_port, const std::optional<Ip>& host_ip) const {
    switch (kind) {
      case kCidr: {
        if (!host_ip || host_ip->v4 != ip.v4) return false;
        for (int bit = 0; bit < prefix_bits; ++bit) {
          int byte = bit / 8;
          unsigned char mask = static_cast<unsigned char>(0x80 >> (bit % 8));
          if ((host_ip->bytes[byte] & mask) != (ip.bytes[byte] & mask)) return false;
        }
        return true;
      }
      case kIp:
        return host_ip && host_ip->bytes == ip.bytes && (port.empty() || port == host_port);
      case kDomain: {
        // As Go, this also runs for IP-literal hosts (".0.1" is a suffix of "10.0.0.1").
        bool suffix = host.size() >= domain.size() && host.compare(host.size() - domain.size(), domain.size(), domain) == 0;
        bool bare = match_bare && host == std::string_view(domain).substr(1);
        return (suffix || bare) && (port.empty() || port == host_port);
      }
    }
    return false;
  }
};

std::optional<NoProxyRule> ParseCidr(const std::string& entry) {
  size_t slash = entry.find('/');
  if (slash == std::string::npos) return std::nullopt;
  std::optional<Ip> base = ParseIp(entry.substr(0, slash));
  std::string bits = entry.substr(slash + 1);
  if (!base || bits.empty() || bits.size() > 3 ||
      !std::all_of(bits.begin(), bits.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return std::nullopt;
  }
  int length = std::stoi(bits);
  // Written as IPv6 (also "::ffff:10.0.0.0/104") the prefix counts 128 bits, as in Go.
  bool written_v4 = entry.find(':') == std::string::npos;
  if (length > (written_v4 ? 32 : 128)) return std::nullopt;
  NoProxyRule rule;
  rule.kind = NoProxyRule::kCidr;
  rule.ip = *base;
  rule.prefix_bits = written_v4 ? 96 + length : length;
  return rule;
}

// Go's net.SplitHostPort, for NO_PROXY entries: "host:port", "[v6]:port"; false otherwise.
bool SplitHostPort(const std::string& entry, std::string& host, std::string& port) {
  if (!entry.empty() && entry.front() == '[') {
    size_t close = entry.find(']');
    if (close == std::string::npos || close + 1 >= entry.size() || entry[close + 1] != ':') return false;
    host = entry.substr(1, close - 1);
    port = entry.substr(close + 2);
    return port.find_first_of("[]:") == std::string::npos;
  }
  size_t colon = entry.find(':');
  if (colon == std::string::npos || entry.find(':', colon + 1) != std::string::npos) return false;
  host = entry.substr(0, colon);
  port = entry.substr(colon + 1);
  return true;
}

// Appends the rule for one trimmed, lower-cased entry; malformed ones are skipped (as Go).
void AddNoProxyEntry(const std::string& entry, std::vector<NoProxyRule>& rules) {
  if (auto cidr = ParseCidr(entry)) {
    rules.push_back(*cidr);
    return;
  }
  std::string host;
  std::string port;
  if (SplitHostPort(entry, host, port)) {
    if (host.empty()) return;
  } else {
    host = entry;
    port.clear();
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  }
  if (auto address = ParseIp(host)) {
    NoProxyRule rule;
    rule.kind = NoProxyRule::kIp;
    rule.ip = *address;
    rule.port = port;
    rules.push_back(rule);
    return;
  }
  if (host.empty()) return;
  if (host.rfind("*.", 0) == 0) host.erase(0, 1);
  NoProxyRule rule;
  rule.kind = NoProxyRule::kDomain;
  rule.match_bare = host.front() != '.';
  rule.domain = rule.match_bare ? "." + host : host;
  rule.port = port;
  rules.push_back(rule);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int high = HexValue(text[i + 1]);
    int low = HexValue(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

// The value with any userinfo replaced, for messages: "http://***@proxy.corp:3128".
std::string Redacted(const std::string& value) {
  size_t start = value.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = value.find_first_of("/?#", start);
  size_t at = value.rfind('@', end == std::string::npos ? std::string::npos : end);
  if (at == std::string::npos || at < start) return value;
  return value.substr(0, start) + "***" + value.substr(at);
}

// A proxy value as Go's parseProxy takes it: a URL, or "host[:port]" meaning http://.
Result<Proxy> ParseProxyValue(const std::string& variable, const std::string& raw) {
  const std::string value = Trim(raw);
  const std::string quoted = variable + " \"" + Redacted(value) + "\"";
  std::string rest = value;
  size_t scheme_end = value.find("://");
  if (scheme_end != std::string::npos) {
    std::string scheme = Lower(value.substr(0, scheme_end));
    if (scheme != "http") {
      return Error(ErrorCode::kInvalidArgument,
                   quoted + ": " + scheme + ":// proxies are not supported; archway speaks to proxies in plain HTTP (http://)");
    }
    rest = value.substr(scheme_end + 3);
  }
  std::string authority = rest.substr(0, rest.find_first_of("/?#"));
  Proxy proxy;
  size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    auto user = PercentDecode(userinfo.substr(0, colon));
    auto password = colon == std::string::npos ? std::optional<std::string>("") : PercentDecode(userinfo.substr(colon + 1));
    if (!user || !password) {
      return Error(ErrorCode::kInvalidArgument, quoted + ": bad percent-encoding in the user or password");
    }
    proxy.authorization = "Basic " + Base64Encode(*user + ":" + *password);
  }
  auto origin = ParseOrigin(authority, /*tls=*/false);
  if (!origin.ok()) return Error(ErrorCode::kInvalidArgument, quoted + ": " + origin.error().message);
  proxy.origin = std::move(*origin);
  return proxy;
}

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

struct ProxyConfig::Rules {
  std::optional<Result<Proxy>> https;  // nullopt: not set
  std::optional<Result<Proxy>> http;
  bool bypass_all = false;  // NO_PROXY=*
  std::vector<NoProxyRule> no_proxy;
  std::string no_proxy_text;

  // Go's useProxy: false for loopback and for what NO_PROXY lists.
  bool UseProxy(const Origin& origin) const {
    if (origin.host == "localhost") return false;
    std::optional<Ip> address = ParseIp(origin.host);
    if (address && IsLoopback(*address)) return false;
    if (bypass_all) return false;
    return std::none_of(no_proxy.begin(), no_proxy.end(), [&](const NoProxyRule& rule) {
      return rule.Matches(origin.host, origin.port, address);
    });
  }
};

ProxyEnvironment ProxyEnvironment::FromProcess() {
  ProxyEnvironment env;
  auto read = [](const char* upper, const char* lower, std::string& value, std::string* variable) {
    value = Getenv(upper);
    if (value.empty()) {
      value = Getenv(lower);
      if (!value.empty() && variable != nullptr) *variable = lower;
    }
  };
  read("HTTPS_PROXY", "https_proxy", env.https_proxy, &env.https_proxy_variable);
  read("HTTP_PROXY", "http_proxy", env.http_proxy, &env.http_proxy_variable);
  read("NO_PROXY", "no_proxy", env.no_proxy, nullptr);
  return env;
}

ProxyConfig::ProxyConfig(const ProxyEnvironment& environment) {
  auto rules = std::make_shared<Rules>();
  if (!Trim(environment.https_proxy).empty()) {
    rules->https.emplace(ParseProxyValue(environment.https_proxy_variable, environment.https_proxy));
  }
  if (!Trim(environment.http_proxy).empty()) {
    rules->http.emplace(ParseProxyValue(environment.http_proxy_variable, environment.http_proxy));
  }
  std::string_view list = environment.no_proxy;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string entry = Lower(Trim(list.substr(0, comma)));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (entry.empty()) continue;
    if (!rules->no_proxy_text.empty()) rules->no_proxy_text += ",";
    rules->no_proxy_text += entry;
    if (entry == "*") {
      rules->bypass_all = true;
      continue;
    }
    AddNoProxyEntry(entry, rules->no_proxy);
  }
  rules_ = std::move(rules);
}

Result<std::optional<Proxy>> ProxyConfig::For(const Origin& origin) const {
  if (!rules_) return std::optional<Proxy>();
  const std::optional<Result<Proxy>>& chosen = origin.tls ? rules_->https : rules_->http;
  if (!chosen || !rules_->UseProxy(origin)) return std::optional<Proxy>();
  // No connection can be made as configured: a network failure, with the reason.
  if (!chosen->ok()) return Error(ErrorCode::kNetwork, chosen->error().message);
  return std::optional<Proxy>(chosen->value());
}

std::vector<std::string> ProxyConfig::Problems() const {
  std::vector<std::string> out;
  if (!rules_) return out;
  for (const auto* proxy : {&rules_->https, &rules_->http}) {
    if (*proxy && !(*proxy)->ok()) out.push_back((*proxy)->error().message);
  }
  return out;
}

bool ProxyConfig::direct() const { return !rules_ || (!rules_->https && !rules_->http); }

std::string ProxyConfig::Describe() const {
  auto one = [](const std::optional<Result<Proxy>>& proxy) -> std::string {
    if (!proxy) return "(none)";
    if (!proxy->ok()) return "(unusable)";
    return proxy->value().Display() + (proxy->value().authorization.empty() ? "" : " (with credentials)");
  };
  if (!rules_) return "https=(none) http=(none) no_proxy=";
  return "https=" + one(rules_->https) + " http=" + one(rules_->http) + " no_proxy=" + rules_->no_proxy_text;
}

}  // namespace archway::http

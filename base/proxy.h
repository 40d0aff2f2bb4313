// Which forward proxy, if any, a connection goes through: HTTPS_PROXY / HTTP_PROXY /
// NO_PROXY read with the rules of Go's net/http (golang.org/x/net/http/httpproxy), which
// containerd, the kubelet, skopeo and buildah follow, so archway reaches a registry the way
// the nodes pulling from it do. base/http does the connecting (CONNECT, absolute-form).
//
// - https:// origins use HTTPS_PROXY, http:// origins HTTP_PROXY; neither falls back to
//   the other. Each variable is read upper case first, lower case when the upper-case one
//   is unset or empty.
// - A value is a URL or "host[:port]" (http:// assumed); the port defaults to 80. The URL's
//   userinfo ("http://user:pa%40ss@proxy.corp:3128") becomes Basic Proxy-Authorization,
//   sent to the proxy only; errors and logs name the proxy as host:port, never with it.
// - localhost and loopback IPs (127.0.0.0/8, ::1) are never proxied.
// - NO_PROXY is a comma-separated list; entries are trimmed and lower-cased:
//     *                      nothing is proxied
//     10.0.0.0/8, fd00::/8   IP-literal hosts inside the range
//     192.168.1.5, 2001:db8::1, [2001:db8::1]
//                            that IP literal; "1.2.3.4:5000", "[::1]:5000": that port only
//     example.com            example.com and all its subdomains
//     .example.com           subdomains only (also written *.example.com)
//     example.com:5000       the same, on that port only
//   Names are not resolved to be matched against IP entries, and malformed entries are
//   ignored, both as in Go.
//
// Deliberate differences from Go: a proxy value archway cannot use (an https:// or
// socks5:// proxy, or one that does not parse) makes every request it applies to fail with
// an error naming the variable, where Go silently connects directly (unparsable) or speaks
// TLS/SOCKS to the proxy; "[v6]" without a port is accepted as an IP entry; Go's CGI rule
// (REQUEST_METHOD) is not applied, archway is no CGI program; host names are not
// IDNA-converted (image references are ASCII).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/http.h"
#include "base/result.h"

namespace archway::http {

// The variables as read, and which name each came from (for messages).
struct ProxyEnvironment {
  std::string https_proxy;
  std::string http_proxy;
  std::string no_proxy;
  std::string https_proxy_variable = "HTTPS_PROXY";
  std::string http_proxy_variable = "HTTP_PROXY";

  static ProxyEnvironment FromProcess();
};

// Parsed once, then immutable and cheap to copy. Thread-safe.
class ProxyConfig {
 public:
  ProxyConfig() = default;  // no proxy for anything
  explicit ProxyConfig(const ProxyEnvironment& environment);
  static ProxyConfig FromEnvironment() { return ProxyConfig(ProxyEnvironment::FromProcess()); }

  // The proxy for a connection to `origin`, or nullopt to connect directly. kNetwork (no
  // connection can be made as configured) when the variable that applies holds a value
  // archway cannot use; the message names the variable and says why.
  Result<std::optional<Proxy>> For(const Origin& origin) const;
  // Those messages for every unusable value, for a warning at start-up.
  std::vector<std::string> Problems() const;

  // True when neither HTTPS_PROXY nor HTTP_PROXY is set.
  bool direct() const;
  // For a start-up log line: "https=proxy.corp:3128 http=(none) no_proxy=.svc,10.0.0.0/8",
  // never with credentials.
  std::string Describe() const;

 private:
  struct Rules;
  std::shared_ptr<const Rules> rules_;
};

}  // namespace archway::http

// A forward proxy on 127.0.0.1 for tests, doing what Squid does for a client behind it:
// CONNECT host:port opens a TCP tunnel, and an absolute-form request ("GET http://host/p")
// is forwarded to the origin in origin form with Proxy-Authorization and Proxy-Connection
// removed. Every request the proxy is asked is recorded, tunnels' contents are not.
//
//   LoopbackProxyOptions options;
//   options.hosts = {{"registry.archway.test", "127.0.0.1"}};   // only the proxy knows it
//   options.required_authorization = "Basic " + Base64Encode("u:p");  // else 407
//   LoopbackProxy proxy(options);
//   ... point a client at proxy.host() ...
//   EXPECT_EQ(proxy.Requests().at(0).method, "CONNECT");
//
// A name is resolved through `hosts` only (or is an IP literal): a test on a machine with no
// network then shows that the client left the resolving to the proxy.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/http_server.h"
#include "tests/support/loopback_listener.h"

namespace archway::testing {

struct LoopbackProxyOptions {
  std::string required_authorization;        // "Basic ..."; "" lets everyone through
  bool refuse = false;                       // answer 403 to every request
  std::map<std::string, std::string> hosts;  // name -> IP literal
};

class LoopbackProxy {
 public:
  explicit LoopbackProxy(LoopbackProxyOptions options = {});
  ~LoopbackProxy();
  LoopbackProxy(const LoopbackProxy&) = delete;
  LoopbackProxy& operator=(const LoopbackProxy&) = delete;

  int port() const { return listener_.port(); }
  std::string host() const { return "127.0.0.1:" + std::to_string(port()); }
  std::string url() const { return "http://" + host(); }

  // What clients asked the proxy (CONNECT and forwarded requests), in order.
  std::vector<HttpRecord> Requests() const;
  // Client connections accepted so far.
  int Connections() const { return listener_.accepted(); }

 private:
  void Serve(int fd);

  LoopbackProxyOptions options_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<HttpRecord> requests_;
  LoopbackListener listener_;
};

}  // namespace archway::testing

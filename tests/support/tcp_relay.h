// A loopback TCP relay: listens on 127.0.0.1:port() and forwards every connection, byte
// for byte, to a target "host:port". It sees traffic from outside both peers, so a test
// can observe what neither end reports:
//  - how many connections a client opened (an apiserver reusing one keep-alive
//    connection to a webhook, or not);
//  - which ALPN protocols a TLS client offered in its ClientHello (read from the
//    plaintext handshake; nothing is decrypted);
//  - and it can hold the target's answers back for a while (a slow registry or a
//    slow network in front of a real docker-registry).
//
//   TcpRelay relay(registry.host());
//   relay.SetResponseDelay(std::chrono::seconds(3));
//   ... point the client at relay.host() ...
//   EXPECT_EQ(relay.AcceptedConnections(), 1);
//   EXPECT_EQ(relay.OfferedAlpn().at(0), (std::vector<std::string>{"h2", "http/1.1"}));
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace archway::testing {

class TcpRelay {
 public:
  // `target` is "host:port" (an IPv4 literal or a name).
  explicit TcpRelay(std::string target);
  ~TcpRelay();  // closes every connection
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

  // Every chunk the target sends is forwarded this long after it arrived (0 = at once);
  // the client's bytes are never held. Applies to chunks arriving from now on.
  void SetResponseDelay(std::chrono::milliseconds delay);

  // Connections accepted since the start or the last ResetCounts().
  int AcceptedConnections() const;
  // For each accepted connection whose first bytes were a TLS ClientHello, the ALPN
  // protocols it offered, in order (empty when it offered none), in accept order.
  std::vector<std::vector<std::string>> OfferedAlpn() const;
  void ResetCounts();

 private:
  struct Connection;
  void AcceptLoop();
  void Forward(Connection* connection);
  void ForwardBack(Connection* connection);

  std::string target_host_;
  std::string target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<long long> delay_ms_{0};

  mutable std::mutex mu_;
  std::condition_variable stopped_;
  int accepted_ = 0;
  std::vector<std::vector<std::string>> alpn_;
  std::vector<Connection*> connections_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// The ALPN protocol names of a TLS ClientHello record (the first bytes a TLS client
// sends). nullopt-like: `*complete` is false while `bytes` does not yet hold the whole
// record; `*is_client_hello` is false when the bytes are not a ClientHello at all.
std::vector<std::string> ParseClientHelloAlpn(const std::string& bytes, bool* complete, bool* is_client_hello);

}  // namespace archway::testing

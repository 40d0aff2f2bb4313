#include "tests/support/tcp_relay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <stdexcept>

#include "tests/support/process.h"

namespace archway::testing {
namespace {

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

int ConnectTo(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  return fd;
}

size_t Be(const std::string& b, size_t at, int width) {
  size_t v = 0;
  for (int i = 0; i < width; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
  return v;
}

}  // namespace

std::vector<std::string> ParseClientHelloAlpn(const std::string& bytes, bool* complete, bool* is_client_hello) {
  *complete = false;
  *is_client_hello = true;
  std::vector<std::string> protocols;
  // TLS record: type 22 (handshake), version (2), length (2); handshake type 1 (ClientHello).
  if (bytes.size() >= 1 && static_cast<unsigned char>(bytes[0]) != 22) {
    *is_client_hello = false;
    *complete = true;
    return protocols;
  }
  if (bytes.size() < 5) return protocols;
  const size_t record_end = 5 + Be(bytes, 3, 2);
  if (bytes.size() < record_end) return protocols;
  *complete = true;
  const std::string b = bytes.substr(0, record_end);
  auto fail = [&] {
    *is_client_hello = false;
    return std::vector<std::string>{};
  };
  size_t p = 5;
  if (b.size() < p + 4 || static_cast<unsigned char>(b[p]) != 1) return fail();
  p += 4;       // handshake type + length
  p += 2 + 32;  // client_version, random
  if (b.size() < p + 1) return fail();
  p += 1 + Be(b, p, 1);  // session id
  if (b.size() < p + 2) return fail();
  p += 2 + Be(b, p, 2);  // cipher suites
  if (b.size() < p + 1) return fail();
  p += 1 + Be(b, p, 1);  // compression methods
  if (b.size() < p + 2) return protocols;  // no extensions
  const size_t extensions_end = std::min(b.size(), p + 2 + Be(b, p, 2));
  p += 2;
  while (p + 4 <= extensions_end) {
    const size_t type = Be(b, p, 2);
    const size_t length = Be(b, p + 2, 2);
    p += 4;
    if (p + length > extensions_end) return fail();
    if (type == 16 && length >= 2) {  // application_layer_protocol_negotiation
      size_t q = p + 2;
      const size_t list_end = std::min(p + length, p + 2 + Be(b, p, 2));
      while (q < list_end) {
        const size_t n = Be(b, q, 1);
        if (q + 1 + n > list_end) return fail();
        protocols.push_back(b.substr(q + 1, n));
        q += 1 + n;
      }
    }
    p += length;
  }
  return protocols;
}

struct TcpRelay::Connection {
  int client_fd = -1;
  std::atomic<int> upstream_fd{-1};
  std::mutex mu;
  std::condition_variable ready;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> pending;  // target -> client
  bool upstream_done = false;
};

TcpRelay::TcpRelay(std::string target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("TcpRelay: target must be host:port, not " + target);
  target_host_ = target.substr(0, colon);
  target_port_ = target.substr(colon + 1);
  listen_fd_ = ListenOnLoopback(&port_, "TcpRelay");
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TcpRelay::~TcpRelay() {
  stopping_ = true;
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Connection* c : connections_) {
      shutdown(c->client_fd, SHUT_RDWR);
      if (c->upstream_fd >= 0) shutdown(c->upstream_fd, SHUT_RDWR);
      std::lock_guard<std::mutex> connection_lock(c->mu);
      c->upstream_done = true;
      c->ready.notify_all();
    }
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  for (Connection* c : connections_) {
    close(c->client_fd);
    if (c->upstream_fd >= 0) close(c->upstream_fd);
    delete c;
  }
  close(listen_fd_);
}

void TcpRelay::SetResponseDelay(std::chrono::milliseconds delay) { delay_ms_ = delay.count(); }

int TcpRelay::AcceptedConnections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

std::vector<std::vector<std::string>> TcpRelay::OfferedAlpn() const {
  std::lock_guard<std::mutex> lock(mu_);
  return alpn_;
}

void TcpRelay::ResetCounts() {
  std::lock_guard<std::mutex> lock(mu_);
  accepted_ = 0;
  alpn_.clear();
}

void TcpRelay::AcceptLoop() {
  while (!stopping_) {
    const int fd = AcceptWithin(listen_fd_, 50);
    if (fd < 0) continue;
    auto* connection = new Connection;
    connection->client_fd = fd;
    std::lock_guard<std::mutex> lock(mu_);
    ++accepted_;
    connections_.push_back(connection);
    threads_.emplace_back([this, connection] { Forward(connection); });
  }
}

// Client -> target, reading the ClientHello on the way; starts the way back.
void TcpRelay::Forward(Connection* c) {
  c->upstream_fd = ConnectTo(target_host_, target_port_);
  if (c->upstream_fd < 0 || stopping_) {
    shutdown(c->client_fd, SHUT_RDWR);
    std::lock_guard<std::mutex> lock(c->mu);
    c->upstream_done = true;
    return;
  }
  std::thread back([this, c] { ForwardBack(c); });
  std::string hello;
  bool hello_done = false;
  char buffer[16384];
  while (true) {
    ssize_t n = recv(c->client_fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    if (!hello_done) {
      hello.append(buffer, static_cast<size_t>(n));
      bool complete = false;
      bool is_hello = false;
      auto protocols = ParseClientHelloAlpn(hello, &complete, &is_hello);
      if (complete) {
        hello_done = true;
        if (is_hello) {
          std::lock_guard<std::mutex> lock(mu_);
          alpn_.push_back(protocols);
        }
        hello.clear();
      }
    }
    if (!WriteAll(c->upstream_fd, buffer, static_cast<size_t>(n))) break;
  }
  shutdown(c->upstream_fd, SHUT_WR);
  back.join();
}

// Target -> client: a reader queues chunks with their arrival time; this thread's writer
// forwards each `delay` after it arrived.
void TcpRelay::ForwardBack(Connection* c) {
  std::thread reader([c] {
    char buffer[16384];
    while (true) {
      ssize_t n = recv(c->upstream_fd, buffer, sizeof(buffer), 0);
      std::lock_guard<std::mutex> lock(c->mu);
      if (n <= 0) {
        c->upstream_done = true;
        c->ready.notify_all();
        return;
      }
      c->pending.emplace_back(std::chrono::steady_clock::now(), std::string(buffer, static_cast<size_t>(n)));
      c->ready.notify_all();
    }
  });
  while (true) {
    std::unique_lock<std::mutex> lock(c->mu);
    c->ready.wait(lock, [c] { return !c->pending.empty() || c->upstream_done; });
    if (c->pending.empty()) break;
    auto [arrived, data] = std::move(c->pending.front());
    c->pending.pop_front();
    // Held back, but not past the relay's end (the destructor wakes this wait).
    c->ready.wait_until(lock, arrived + std::chrono::milliseconds(delay_ms_.load()), [this] { return stopping_.load(); });
    lock.unlock();
    if (stopping_ || !WriteAll(c->client_fd, data.data(), data.size())) break;
  }
  shutdown(c->client_fd, SHUT_WR);
  shutdown(c->upstream_fd, SHUT_RD);
  reader.join();
  std::lock_guard<std::mutex> lock(c->mu);
  c->upstream_done = true;
}

}  // namespace archway::testing

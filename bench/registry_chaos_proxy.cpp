// bench/webhook-chaos.sh runs this: a loopback TCP proxy in front of a real docker-registry
// whose behaviour the script switches while the webhook is under load.
//
//   registry_chaos_proxy TARGET_HOST:PORT
//
// Listens on 127.0.0.1 (a free port, printed first as "port N"), and reads one mode per
// line on stdin, answering "mode NAME N T" on stdout once it applies (N: the connections
// accepted since the previous command, i.e. during the mode left; T: when it applied, in
// microseconds since the epoch, which the script uses as the phase's start):
//   forward  every connection is relayed byte for byte to the target (the registry).
//   refuse   the listening socket is closed and every open connection reset: connecting
//            fails with ECONNREFUSED, as with a registry that is stopped.
//   hang     connections are accepted and read, never answered (a registry that hangs);
//            they stay open until the client gives up, also after the mode changes.
//   garbage  each request gets, in turn: bytes that are not HTTP; an HTTP 200 with a
//            manifest media type and a random body; an HTTP 200 whose body stops short of
//            its Content-Length; an HTTP 200 announcing 16 MiB and sending 5 MiB of junk
//            (more than any manifest may be); then the connection is closed.
// Relayed connections are closed when the mode leaves forward, so a client's keep-alive
// pool meets the new mode at once. EOF on stdin ends the program.
//
// tests/support/tcp_relay.h relays and delays but has no listener to close and no modes; a
// single-threaded asio loop here keeps every connection's state in one place.
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

enum class Mode { kForward, kRefuse, kHang, kGarbage };

// One relayed connection: client <-> target, a buffer per direction.
struct Relay : std::enable_shared_from_this<Relay> {
  Relay(tcp::socket c, net::io_context& io) : client(std::move(c)), target(io) {}
  tcp::socket client;
  tcp::socket target;
  std::array<char, 16384> up{};
  std::array<char, 16384> down{};

  void Close() {
    boost::system::error_code ignored;
    client.close(ignored);
    target.close(ignored);
  }
  void Pump(tcp::socket& from, tcp::socket& to, std::array<char, 16384>& buffer) {
    from.async_read_some(net::buffer(buffer), [self = shared_from_this(), &from, &to, &buffer](
                                                  const boost::system::error_code& ec, size_t n) {
      if (ec) return self->Close();
      net::async_write(to, net::buffer(buffer.data(), n),
                       [self, &from, &to, &buffer](const boost::system::error_code& write_ec, size_t) {
                         if (write_ec) return self->Close();
                         self->Pump(from, to, buffer);
                       });
    });
  }
};

class Proxy {
 public:
  Proxy(net::io_context& io, tcp::endpoint target) : io_(io), target_(target), input_(io, ::dup(STDIN_FILENO)) {}

  void Start() {
    Listen(0);
    std::printf("port %d\n", port_);
    std::fflush(stdout);
    ReadCommand();
  }

 private:
  void Listen(int port) {
    acceptor_.emplace(io_);
    acceptor_->open(tcp::v4());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    acceptor_->bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    acceptor_->listen();
    port_ = acceptor_->local_endpoint().port();
    Accept();
  }

  void Accept() {
    acceptor_->async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor_ || !acceptor_->is_open()) return;
      if (!ec) {
        ++accepted_;
        Serve(std::move(socket));
      }
      Accept();
    });
  }

  void Serve(tcp::socket socket) {
    switch (mode_) {
      case Mode::kForward: return Forward(std::move(socket));
      case Mode::kHang: return Hang(std::make_shared<tcp::socket>(std::move(socket)));
      case Mode::kGarbage: return Garbage(std::make_shared<tcp::socket>(std::move(socket)), variant_++ % 4);
      case Mode::kRefuse: return;  // not reached: the acceptor is closed
    }
  }

  void Forward(tcp::socket socket) {
    auto relay = std::make_shared<Relay>(std::move(socket), io_);
    relays_.remove_if([](const std::weak_ptr<Relay>& r) { return r.expired(); });
    relays_.push_back(relay);
    relay->target.async_connect(target_, [relay](const boost::system::error_code& ec) {
      if (ec) return relay->Close();
      relay->Pump(relay->client, relay->target, relay->up);
      relay->Pump(relay->target, relay->client, relay->down);
    });
  }

  // Reads and discards until the client closes.
  void Hang(std::shared_ptr<tcp::socket> socket) {
    auto buffer = std::make_shared<std::array<char, 4096>>();
    socket->async_read_some(net::buffer(*buffer), [this, socket, buffer](const boost::system::error_code& ec, size_t) {
      if (!ec) Hang(socket);
    });
  }

  std::string Junk(size_t n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(random_() & 0xff);
    return bytes;
  }

  // Waits for the request's first bytes, answers one of the four kinds of garbage, closes.
  void Garbage(std::shared_ptr<tcp::socket> socket, int variant) {
    auto buffer = std::make_shared<std::array<char, 4096>>();
    socket->async_read_some(net::buffer(*buffer), [this, socket, buffer, variant](const boost::system::error_code& ec,
                                                                                 size_t) {
      if (ec) return;
      auto answer = std::make_shared<std::string>();
      const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\n";
      switch (variant) {
        case 0: *answer = Junk(700); break;
        case 1: *answer = head + "Content-Length: 600\r\n\r\n" + Junk(600); break;
        case 2:
          *answer = head + "Content-Length: 4096\r\n\r\n" +
                    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:)";
          break;
        default: *answer = head + "Content-Length: 16777216\r\n\r\n" + Junk(5 * 1024 * 1024); break;
      }
      net::async_write(*socket, net::buffer(*answer), [socket, answer](const boost::system::error_code&, size_t) {
        boost::system::error_code ignored;
        socket->shutdown(tcp::socket::shutdown_both, ignored);
        socket->close(ignored);
      });
    });
  }

  void CloseRelays(bool reset) {
    for (auto& weak : relays_) {
      if (auto relay = weak.lock()) {
        if (reset) {
          boost::system::error_code ignored;
          relay->client.set_option(net::socket_base::linger(true, 0), ignored);  // RST, as a dead host's kernel
        }
        relay->Close();
      }
    }
    relays_.clear();
  }

  void SetMode(const std::string& name) {
    Mode next;
    if (name == "forward") {
      next = Mode::kForward;
    } else if (name == "refuse") {
      next = Mode::kRefuse;
    } else if (name == "hang") {
      next = Mode::kHang;
    } else if (name == "garbage") {
      next = Mode::kGarbage;
    } else {
      std::printf("error unknown mode %s (forward, refuse, hang, garbage)\n", name.c_str());
      std::fflush(stdout);
      return;
    }
    if (next != Mode::kForward) CloseRelays(next == Mode::kRefuse);
    if (next == Mode::kRefuse && acceptor_) {
      boost::system::error_code ignored;
      acceptor_->close(ignored);
      acceptor_.reset();
    }
    if (next != Mode::kRefuse && !acceptor_) Listen(port_);
    mode_ = next;
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    std::printf("mode %s %d %lld\n", name.c_str(), accepted_,
                static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(now).count()));
    accepted_ = 0;
    std::fflush(stdout);
  }

  void ReadCommand() {
    net::async_read_until(input_, line_, '\n', [this](const boost::system::error_code& ec, size_t) {
      if (ec) {  // EOF: the script is done
        CloseRelays(false);
        io_.stop();
        return;
      }
      std::istream in(&line_);
      std::string command;
      std::getline(in, command);
      if (!command.empty()) SetMode(command);
      ReadCommand();
    });
  }

  net::io_context& io_;
  tcp::endpoint target_;
  net::posix::stream_descriptor input_;
  net::streambuf line_;
  std::optional<tcp::acceptor> acceptor_;
  int port_ = 0;
  Mode mode_ = Mode::kForward;
  int variant_ = 0;
  int accepted_ = 0;
  std::list<std::weak_ptr<Relay>> relays_;
  std::minstd_rand random_{42};
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s TARGET_HOST:PORT   (modes on stdin: forward, refuse, hang, garbage)\n", argv[0]);
    return 2;
  }
  const std::string target = argv[1];
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "registry_chaos_proxy: the target must be HOST:PORT, not %s\n", target.c_str());
    return 2;
  }
  try {
    net::io_context io;
    tcp::resolver resolver(io);
    const tcp::endpoint endpoint = *resolver.resolve(target.substr(0, colon), target.substr(colon + 1)).begin();
    Proxy proxy(io, endpoint);
    proxy.Start();
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "registry_chaos_proxy: %s\n", e.what());
    return 1;
  }
  return 0;
}

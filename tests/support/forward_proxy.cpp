#include "tests/support/forward_proxy.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace archway::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// Copies bytes both ways until either side closes or `stopping` is set.
void Splice(int a, int b, const std::atomic<bool>& stopping) {
  char chunk[16 * 1024];
  while (!stopping) {
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    int ready = poll(fds, 2, 50);
    if (ready < 0) return;
    for (int i = 0; i < 2; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t got = read(fds[i].fd, chunk, sizeof(chunk));
      if (got <= 0) return;
      int to = i == 0 ? b : a;
      for (ssize_t sent = 0; sent < got;) {
        ssize_t n = send(to, chunk + sent, static_cast<size_t>(got - sent), MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += n;
      }
    }
  }
}

}  // namespace

LoopbackProxy::LoopbackProxy(LoopbackProxyOptions options) : options_(std::move(options)) {
  listener_.Start([this](int fd) { Serve(fd); });
}

LoopbackProxy::~LoopbackProxy() {
  stopping_ = true;
  listener_.Stop();
}

std::vector<HttpRecord> LoopbackProxy::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void LoopbackProxy::Serve(int fd) {
  asio::io_context io;
  tcp::socket client(io);
  boost::system::error_code ec;
  client.assign(tcp::v4(), fd, ec);
  beast::flat_buffer buffer;
  std::optional<tcp::socket> upstream;
  std::string upstream_authority;
  beast::flat_buffer upstream_buffer;

  // host:port -> an endpoint, through options_.hosts or as an IP literal.
  auto locate = [&](const std::string& authority) -> std::optional<tcp::endpoint> {
    std::string host;
    std::string port;
    if (!authority.empty() && authority.front() == '[') {
      size_t close = authority.find(']');
      if (close == std::string::npos || close + 1 >= authority.size()) return std::nullopt;
      host = authority.substr(1, close - 1);
      port = authority.substr(close + 2);
    } else {
      size_t colon = authority.rfind(':');
      if (colon == std::string::npos) return std::nullopt;
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    auto mapped = options_.hosts.find(LowerCase(host));
    if (mapped != options_.hosts.end()) host = mapped->second;
    boost::system::error_code bad;
    auto address = asio::ip::make_address(host, bad);
    if (bad || port.empty() || !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
      return std::nullopt;
    }
    return tcp::endpoint(address, static_cast<unsigned short>(std::stoi(port)));
  };
  auto answer = [&](bhttp::status status, const std::string& body, const std::string& authenticate = "") {
    bhttp::response<bhttp::string_body> response{status, 11};
    if (!authenticate.empty()) response.set(bhttp::field::proxy_authenticate, authenticate);
    response.set(bhttp::field::content_type, "text/plain");
    response.body() = body;
    response.keep_alive(false);
    response.prepare_payload();
    boost::system::error_code ignored;
    bhttp::write(client, response, ignored);
  };

  while (!ec && !stopping_) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    bhttp::read(client, buffer, parser, ec);
    if (ec) break;
    bhttp::request<bhttp::string_body> request = parser.release();
    HttpRecord record = RecordOf(request);
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(record);
    }
    if (options_.refuse) {
      answer(bhttp::status::forbidden, "refused by the test proxy\n");
      break;
    }
    if (!options_.required_authorization.empty() &&
        record.Header("proxy-authorization") != options_.required_authorization) {
      answer(bhttp::status::proxy_authentication_required, "proxy credentials required\n",
             "Basic realm=\"archway-test-proxy\"");
      break;
    }
    if (request.method() == bhttp::verb::connect) {
      auto endpoint = locate(record.target);
      tcp::socket tunnel(io);
      if (endpoint) tunnel.connect(*endpoint, ec);
      if (!endpoint || ec) {
        answer(bhttp::status::bad_gateway, "cannot reach " + record.target + "\n");
        break;
      }
      listener_.Track(tunnel.native_handle());
      static constexpr char kEstablished[] = "HTTP/1.1 200 Connection established\r\n\r\n";
      asio::write(client, asio::buffer(kEstablished, sizeof(kEstablished) - 1), ec);
      if (!ec && buffer.size() > 0) asio::write(tunnel, buffer.data(), ec);
      if (!ec) Splice(client.native_handle(), tunnel.native_handle(), stopping_);
      listener_.Untrack(tunnel.native_handle());
      tunnel.close(ec);
      break;
    }
    const std::string target = record.target;
    if (target.rfind("http://", 0) != 0) {
      answer(bhttp::status::bad_request, "a proxy needs an absolute-form request target\n");
      break;
    }
    size_t slash = target.find('/', 7);
    std::string authority = target.substr(7, slash == std::string::npos ? std::string::npos : slash - 7);
    if (authority.find(':') == std::string::npos || authority.back() == ']') authority += ":80";
    if (!upstream || authority != upstream_authority) {
      if (upstream) {
        listener_.Untrack(upstream->native_handle());
        upstream->close(ec);
        upstream.reset();
      }
      auto endpoint = locate(authority);
      upstream.emplace(io);
      if (endpoint) upstream->connect(*endpoint, ec);
      if (!endpoint || ec) {
        answer(bhttp::status::bad_gateway, "cannot reach " + authority + "\n");
        break;
      }
      listener_.Track(upstream->native_handle());
      upstream_authority = authority;
      upstream_buffer.clear();
    }
    request.target(slash == std::string::npos ? "/" : target.substr(slash));
    request.erase(bhttp::field::proxy_authorization);
    request.erase("Proxy-Connection");
    bhttp::write(*upstream, request, ec);
    bhttp::response_parser<bhttp::string_body> response_parser;
    response_parser.body_limit(256 * 1024 * 1024);
    if (request.method() == bhttp::verb::head) response_parser.skip(true);
    if (!ec) bhttp::read(*upstream, upstream_buffer, response_parser, ec);
    if (ec) {
      answer(bhttp::status::bad_gateway, "no answer from " + authority + "\n");
      break;
    }
    bhttp::response<bhttp::string_body> response = response_parser.release();
    const bool keep_alive = response.keep_alive() && request.keep_alive();
    if (request.method() == bhttp::verb::head) {
      bhttp::response_serializer<bhttp::string_body> serializer(response);
      bhttp::write_header(client, serializer, ec);
    } else {
      bhttp::write(client, response, ec);
    }
    if (!keep_alive) break;
  }
  if (upstream) {
    listener_.Untrack(upstream->native_handle());
    upstream->close(ec);
  }
  client.shutdown(tcp::socket::shutdown_both, ec);
  listener_.Untrack(fd);
  client.close(ec);
}

}  // namespace archway::testing

// base/http against a loopback peer (tests/support/http_server.h) that can misbehave:
// keep-alive reuse, HEAD, body bounds, a peer that hangs, streaming and interruption.
#include "base/http.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <thread>

#include "tests/support/http_server.h"

namespace archway::http {
namespace {

using archway::testing::HttpRecord;
using archway::testing::HttpReply;
using archway::testing::LoopbackHttpServer;
using std::chrono::milliseconds;

Request Req(std::string method, std::string target) {
  Request request;
  request.method = std::move(method);
  request.target = std::move(target);
  return request;
}

// A reply built field by field (designated initializers would leave members unnamed).
HttpReply Reply(int status, std::string body = "") {
  HttpReply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}
HttpReply Chunked(std::string body) {
  HttpReply reply = Reply(200, std::move(body));
  reply.chunked = true;
  return reply;
}
// Announces `declared` bytes, sends `body`, then stalls.
HttpReply Stalled(std::string body, long long declared) {
  HttpReply reply = Reply(200, std::move(body));
  reply.hang = true;
  reply.declared_length = declared;
  return reply;
}

Origin PlainOrigin(const LoopbackHttpServer& server) {
  auto origin = ParseOrigin(server.host(), false);
  EXPECT_TRUE(origin.ok());
  return *origin;
}

TEST(HttpOrigin, ParsesHostsPortsAndIpv6) {
  auto plain = ParseOrigin("Registry.Example:5000", false);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "registry.example");
  EXPECT_EQ(plain->port, "5000");
  EXPECT_EQ(plain->Authority(), "registry.example:5000");
  EXPECT_FALSE(plain->HostIsIp());

  auto tls = ParseOrigin("ghcr.io", true);
  ASSERT_TRUE(tls.ok());
  EXPECT_EQ(tls->port, "443");
  EXPECT_EQ(tls->Authority(), "ghcr.io");  // default port left out of Host
  EXPECT_EQ(tls->Key(), "https://ghcr.io:443");

  auto v6 = ParseOrigin("[::1]:5000", false);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_TRUE(v6->HostIsIp());
  EXPECT_EQ(v6->Authority(), "[::1]:5000");
  auto v6_default = ParseOrigin("[fe80::1]", true);
  ASSERT_TRUE(v6_default.ok());
  EXPECT_EQ(v6_default->port, "443");

  for (const char* bad : {"", ":5000", "host:0", "host:99999", "host:12a", "a:b:c", "[::1", "[::1]x"}) {
    auto parsed = ParseOrigin(bad, true);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument) << bad;
    }
  }
}

TEST(HttpExchange, SendsTheRequestAndKeepsTheConnectionForReuse) {
  LoopbackHttpServer server([](const HttpRecord& r) {
    HttpReply reply = Reply(201, "got " + r.body);
    reply.headers = {{"Docker-Content-Digest", "sha256:abc"}};
    return reply;
  });
  ConnectionPool pool;
  Origin origin = PlainOrigin(server);
  Request request = Req("PUT", "/v2/x/manifests/1?a=b");
  request.headers = {{"Content-Type", "text/plain"}};
  request.body = "hello";
  auto response = Exchange(pool, origin, nullptr, request, ExchangeOptions{});
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "got hello");
  EXPECT_EQ(response->Header("docker-content-digest"), "sha256:abc");
  EXPECT_EQ(response->Header("X-Absent"), "");

  auto seen = server.Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].target, "/v2/x/manifests/1?a=b");
  EXPECT_EQ(seen[0].Header("host"), server.host());
  EXPECT_EQ(seen[0].Header("content-length"), "5");

  // The connection went back to the pool and serves the next exchange.
  auto idle = pool.Take(origin);
  ASSERT_NE(idle, nullptr);
  EXPECT_TRUE(idle->used());
  pool.Return(std::move(idle));
  auto again = Exchange(pool, origin, nullptr, Req("GET", "/again"), ExchangeOptions{});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(server.Requests().size(), 2u);
}

TEST(HttpExchange, EmptyPostCarriesAZeroContentLength) {
  LoopbackHttpServer server([](const HttpRecord&) { return Reply(202); });
  ConnectionPool pool;
  auto response = Exchange(pool, PlainOrigin(server), nullptr, Req("POST", "/u/"), ExchangeOptions{});
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(server.Requests().at(0).Header("content-length"), "0");
}

TEST(HttpExchange, HeadReadsNoBodyWhateverTheContentLength) {
  LoopbackHttpServer server([](const HttpRecord&) { return Stalled("", 123456); });
  ConnectionPool pool;
  ExchangeOptions options;
  options.timeout = milliseconds(2000);
  auto response = Exchange(pool, PlainOrigin(server), nullptr, Req("HEAD", "/m"), options);
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Content-Length"), "123456");
  EXPECT_TRUE(response->body.empty());
}

TEST(HttpExchange, BodiesAboveTheLimitAreRefusedWhetherAnnouncedOrStreamed) {
  LoopbackHttpServer announced([](const HttpRecord&) { return Reply(200, std::string(5000, 'x')); });
  LoopbackHttpServer chunked([](const HttpRecord&) { return Chunked(std::string(5000, 'x')); });
  ConnectionPool pool;
  ExchangeOptions options;
  options.body_limit = 1000;
  for (auto* server : {&announced, &chunked}) {
    auto response = Exchange(pool, PlainOrigin(*server), nullptr, Req("GET", "/big"), options);
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().code, ErrorCode::kBadResponse);
    EXPECT_NE(response.error().message.find("larger than 1000 bytes"), std::string::npos) << response.error().message;
    EXPECT_EQ(pool.Take(PlainOrigin(*server)), nullptr);  // never reused mid-body
  }
  options.body_limit = 5000;
  auto exact = Exchange(pool, PlainOrigin(chunked), nullptr, Req("GET", "/big"), options);
  ASSERT_TRUE(exact.ok()) << exact.error().message;
  EXPECT_EQ(exact->body.size(), 5000u);
}

TEST(HttpExchange, APeerThatNeverAnswersTimesOutAtTheDeadline) {
  LoopbackHttpServer hanging([](const HttpRecord& r) {
    if (r.Path() == "/stall") return Stalled("part", 100);
    HttpReply hang;
    hang.hang = true;
    return hang;
  });
  ConnectionPool pool;
  ExchangeOptions options;
  options.timeout = milliseconds(300);
  for (const char* path : {"/hang", "/stall"}) {
    auto start = Clock::now();
    auto response = Exchange(pool, PlainOrigin(hanging), nullptr, Req("GET", path), options);
    auto elapsed = Clock::now() - start;
    ASSERT_FALSE(response.ok()) << path;
    EXPECT_EQ(response.error().code, ErrorCode::kTimeout) << response.error().message;
    EXPECT_NE(response.error().message.find("300 ms"), std::string::npos) << response.error().message;
    EXPECT_GE(elapsed, milliseconds(250)) << path;
    EXPECT_LT(elapsed, milliseconds(3000)) << path;
  }
}

TEST(HttpExchange, NothingListeningIsANetworkError) {
  int port;
  {
    LoopbackHttpServer gone([](const HttpRecord&) { return Reply(200); });
    port = gone.port();
  }
  ConnectionPool pool;
  auto origin = ParseOrigin("127.0.0.1:" + std::to_string(port), false);
  ASSERT_TRUE(origin.ok());
  auto response = Exchange(pool, *origin, nullptr, Req("GET", "/"), ExchangeOptions{});
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kNetwork);
  EXPECT_NE(response.error().message.find("connect to 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << response.error().message;
}

TEST(HttpConnection, ConnectTimeoutBoundsAPeerThatNeverCompletesTheHandshake) {
  // A listening socket that never accepts: once its accept queue is full the kernel drops
  // further SYNs, so a new connect neither succeeds nor fails on its own.
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 0), 0);
  socklen_t length = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  const std::string host = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  std::vector<std::unique_ptr<Connection>> fillers;
  Result<std::unique_ptr<Connection>> last = Error(ErrorCode::kInternal, "not tried");
  auto origin = ParseOrigin(host, false);
  ASSERT_TRUE(origin.ok());
  auto start = Clock::now();
  for (int i = 0; i < 8; ++i) {  // the first one or two fill the queue
    start = Clock::now();
    last = Connection::Open(*origin, nullptr, milliseconds(300));
    if (!last.ok()) break;
    fillers.push_back(std::move(*last));
  }
  auto elapsed = Clock::now() - start;
  close(listener);
  ASSERT_FALSE(last.ok()) << "every connect succeeded; the kernel never dropped a SYN";
  EXPECT_EQ(last.error().code, ErrorCode::kTimeout) << last.error().message;
  EXPECT_NE(last.error().message.find("connect to " + host + " timed out after 300 ms"), std::string::npos)
      << last.error().message;
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST(HttpConnection, StreamsABodyAsItArrives) {
  std::string body;
  for (int i = 0; i < 2000; ++i) body += "line " + std::to_string(i) + "\n";
  LoopbackHttpServer server([&](const HttpRecord&) { return Chunked(body); });
  auto conn = Connection::Open(PlainOrigin(server), nullptr, milliseconds(2000));
  ASSERT_TRUE(conn.ok()) << conn.error().message;
  auto deadline = Clock::now() + std::chrono::seconds(5);
  auto head = (*conn)->Begin(Req("GET", "/watch"), deadline);
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->status, 200);
  std::string got;
  char buffer[777];
  while (true) {
    auto n = (*conn)->ReadSome(buffer, sizeof(buffer), deadline);
    ASSERT_TRUE(n.ok()) << n.error().message;
    if (*n == 0) break;
    EXPECT_LE(*n, sizeof(buffer));
    got.append(buffer, *n);
  }
  EXPECT_EQ(got, body);
  EXPECT_TRUE((*conn)->reusable());
}

TEST(HttpConnection, InterruptFromAnotherThreadEndsABlockedRead) {
  LoopbackHttpServer server([](const HttpRecord&) { return Stalled("first", 1000); });
  auto conn = Connection::Open(PlainOrigin(server), nullptr, milliseconds(2000));
  ASSERT_TRUE(conn.ok()) << conn.error().message;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  auto head = (*conn)->Begin(Req("GET", "/w"), deadline);
  ASSERT_TRUE(head.ok()) << head.error().message;
  char buffer[64];
  std::string got;
  while (got.size() < 5) {
    auto n = (*conn)->ReadSome(buffer, sizeof(buffer), deadline);
    ASSERT_TRUE(n.ok() && *n > 0);
    got.append(buffer, *n);
  }
  EXPECT_EQ(got, "first");
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(100));
    (*conn)->Interrupt();
  });
  auto start = Clock::now();
  auto n = (*conn)->ReadSome(buffer, sizeof(buffer), deadline);
  stopper.join();
  EXPECT_FALSE(n.ok());
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE((*conn)->interrupted());
  EXPECT_FALSE((*conn)->reusable());
}

// A server that reads a request and closes the connection without answering, on a
// connection an earlier exchange left in the pool: what a keep-alive race or a crashing
// registry looks like from the client.
HttpReply CloseWithoutReply() {
  HttpReply reply;
  reply.close_without_reply = true;
  return reply;
}

TEST(HttpRetry, APostOrPatchThatMayHaveReachedTheServerIsNotSentTwice) {
  LoopbackHttpServer server([](const HttpRecord& r) { return r.Path() == "/warm" ? Reply(200) : CloseWithoutReply(); });
  ConnectionPool pool;
  for (const char* method : {"POST", "PATCH"}) {
    server.ResetRequests();
    ASSERT_TRUE(Exchange(pool, PlainOrigin(server), nullptr, Req("GET", "/warm"), ExchangeOptions{}).ok());
    Request upload = Req(method, "/v2/x/blobs/uploads/");
    upload.body = "chunk";
    auto response = Exchange(pool, PlainOrigin(server), nullptr, upload, ExchangeOptions{});
    ASSERT_FALSE(response.ok()) << method;
    EXPECT_EQ(response.error().code, ErrorCode::kNetwork);
    EXPECT_NE(response.error().message.find(std::string("the connection closed after the ") + method +
                                            " was sent: it may have reached the server, so it is not sent again"),
              std::string::npos)
        << response.error().message;
    auto seen = server.Requests();
    ASSERT_EQ(seen.size(), 2u) << method;  // /warm, then the upload exactly once
    EXPECT_EQ(seen[1].method, method);
    EXPECT_EQ(seen[1].body, "chunk");
  }
  // On a new connection nothing is retried either.
  server.ResetRequests();
  ConnectionPool empty;
  EXPECT_FALSE(Exchange(empty, PlainOrigin(server), nullptr, Req("POST", "/v2/x/blobs/uploads/"), ExchangeOptions{}).ok());
  EXPECT_EQ(server.Requests().size(), 1u);
}

TEST(HttpRetry, IdempotentRequestsInTheSameSituationAreSentAgainOnANewConnection) {
  std::mutex mu;
  std::map<std::string, int> seen_paths;
  LoopbackHttpServer server([&](const HttpRecord& r) {
    std::lock_guard<std::mutex> lock(mu);
    if (r.Path() == "/warm") return Reply(200);
    return seen_paths[r.method + " " + r.Path()]++ == 0 ? CloseWithoutReply() : Reply(200, "second " + r.method);
  });
  ConnectionPool pool;
  for (const char* method : {"GET", "HEAD", "PUT", "DELETE"}) {
    server.ResetRequests();
    ASSERT_TRUE(Exchange(pool, PlainOrigin(server), nullptr, Req("GET", "/warm"), ExchangeOptions{}).ok());
    Request request = Req(method, "/v2/x/manifests/v1");
    if (std::string(method) == "PUT") request.body = "{}";
    auto response = Exchange(pool, PlainOrigin(server), nullptr, request, ExchangeOptions{});
    ASSERT_TRUE(response.ok()) << method << ": " << response.error().message;
    EXPECT_EQ(response->status, 200);
    auto seen = server.Requests();
    ASSERT_EQ(seen.size(), 3u) << method;  // /warm, the closed attempt, the retry
    EXPECT_EQ(seen[1].method, method);
    EXPECT_EQ(seen[2].method, method);
    if (std::string(method) == "PUT") {
      EXPECT_EQ(seen[2].body, "{}");
    }
  }
}

TEST(HttpRetry, APostGoesOnANewConnectionWhenThePooledOneIsAlreadyClosed) {
  // The peer closes its side of the idle connection (a keep-alive timeout) before the POST:
  // the pool notices, so none of the POST is written to the dead connection, and it is
  // sent once, on a new one.
  LoopbackHttpServer server([](const HttpRecord& r) {
    HttpReply reply = Reply(r.method == "POST" ? 202 : 200);
    reply.close_after_reply = r.Path() == "/warm";
    return reply;
  });
  ConnectionPool pool;
  ASSERT_TRUE(Exchange(pool, PlainOrigin(server), nullptr, Req("GET", "/warm"), ExchangeOptions{}).ok());
  for (int i = 0; i < 200 && server.ClosedConnections() == 0; ++i) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_EQ(server.ClosedConnections(), 1);
  auto response = Exchange(pool, PlainOrigin(server), nullptr, Req("POST", "/v2/x/blobs/uploads/"), ExchangeOptions{});
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 202);
  ASSERT_EQ(server.Requests().size(), 2u);
  EXPECT_EQ(server.Requests()[1].method, "POST");
  EXPECT_EQ(pool.Take(PlainOrigin(server)) != nullptr, true);  // the new connection went back to the pool
}

}  // namespace
}  // namespace archway::http

// base/http_server from the outside: a keep-alive client written here on Beast (one
// connection, several requests), the independent HttpCall of tests/support, and TLS.
#include "base/http_server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "tests/support/http_server.h"
#include "tests/support/process.h"

namespace archway {
namespace {

using archway::testing::HttpCall;
using boost::asio::ip::tcp;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

// Requests over one connection, as the apiserver sends them.
template <typename Stream>
class Connection {
 public:
  template <typename... Args>
  explicit Connection(unsigned short port, Args&&... args) : stream_(io_, std::forward<Args>(args)...) {
    beast::get_lowest_layer(stream_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  Stream& stream() { return stream_; }

  bhttp::response<bhttp::string_body> Send(bhttp::verb method, const std::string& target, std::string body = "") {
    bhttp::request<bhttp::string_body> request(method, target, 11);
    request.set(bhttp::field::host, "127.0.0.1");
    request.body() = std::move(body);
    request.prepare_payload();
    bhttp::write(stream_, request);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(method == bhttp::verb::head);
    bhttp::read(stream_, buffer_, parser);
    return parser.release();
  }

 private:
  asio::io_context io_;
  Stream stream_;
  beast::flat_buffer buffer_;
};
using PlainConnection = Connection<tcp::socket>;

HttpRoute Answering(std::string path, std::vector<std::string> methods, std::string body) {
  return {std::move(path), std::move(methods),
          [body](const HttpRequest&, Respond) { return std::optional<HttpResponse>(HttpResponse{200, body}); }};
}

HttpServer Serve(std::vector<HttpRoute> routes, HttpServerOptions options = {}) {
  return HttpServer(options, {HttpListener{"test", ListenAddress{"127.0.0.1", 0}, std::move(routes), nullptr}});
}

TEST(ListenAddress, Forms) {
  auto any = ParseListenAddress(":8443");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->port, 8443);
  EXPECT_EQ(any->String(), ":8443");
  auto v6 = ParseListenAddress("[::1]:9");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->String(), "[::1]:9");
  auto named = ParseListenAddress("localhost:0");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->host, "localhost");
  EXPECT_FALSE(ParseListenAddress("8443").ok());
  EXPECT_FALSE(ParseListenAddress(":99999").ok());
  EXPECT_FALSE(ParseListenAddress(":").ok());
  EXPECT_FALSE(ParseListenAddress("[::1]9").ok());
  auto v6_unbracketed = ParseListenAddress("::1:9");
  ASSERT_FALSE(v6_unbracketed.ok());
  EXPECT_NE(v6_unbracketed.error().message.find("[ADDR]:PORT"), std::string::npos);
}

TEST(HttpServer, RoutesMethodsAndHead) {
  HttpServer server = Serve({Answering("/healthz", {"GET"}, "ok"), Answering("/mutate", {"POST"}, "done")});
  ASSERT_TRUE(server.Start().ok());
  const std::string host = "127.0.0.1:" + std::to_string(server.port(0));
  EXPECT_EQ(HttpCall(host, "GET", "/healthz?verbose").body, "ok");
  EXPECT_EQ(HttpCall(host, "GET", "/nope").status, 404);
  auto wrong = HttpCall(host, "GET", "/mutate");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(testing::ReplyHeader(wrong, "Allow"), "POST");
  EXPECT_EQ(testing::ReplyHeader(HttpCall(host, "POST", "/healthz", {}, "x"), "Allow"), "GET, HEAD");
  EXPECT_EQ(HttpCall(host, "POST", "/mutate", {}, "{}").body, "done");

  PlainConnection connection(server.port(0));
  auto head = connection.Send(bhttp::verb::head, "/healthz");
  EXPECT_EQ(head.result_int(), 200u);
  EXPECT_EQ(head[bhttp::field::content_length], "2");  // as for GET, without the body
  EXPECT_EQ(connection.Send(bhttp::verb::get, "/healthz").body(), "ok");  // the connection is still in step
}

TEST(HttpServer, CountsConnectionsNotRequests) {
  HttpServer server = Serve({Answering("/healthz", {"GET"}, "ok")});
  ASSERT_TRUE(server.Start().ok());
  {
    PlainConnection connection(server.port(0));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(connection.Send(bhttp::verb::get, "/healthz").body(), "ok");
  }
  HttpCall("127.0.0.1:" + std::to_string(server.port(0)), "GET", "/healthz");
  EXPECT_EQ(server.accepted(0), 2u);
}

// An answer given later, from another thread, reaches the right request, and the
// connection carries on.
TEST(HttpServer, AnswersLaterFromAnotherThread) {
  std::vector<std::thread> workers;
  HttpRoute slow{"/slow", {"POST"}, [&workers](const HttpRequest& request, Respond later) -> std::optional<HttpResponse> {
                   std::string body(request.body);
                   workers.emplace_back([body, later = std::move(later)] {
                     std::this_thread::sleep_for(std::chrono::milliseconds(20));
                     later(HttpResponse{201, "later:" + body});
                   });
                   return std::nullopt;
                 }};
  HttpServer server = Serve({std::move(slow), Answering("/now", {"GET"}, "now")});
  ASSERT_TRUE(server.Start().ok());
  PlainConnection connection(server.port(0));
  for (int i = 0; i < 3; ++i) {
    auto answer = connection.Send(bhttp::verb::post, "/slow", "r" + std::to_string(i));
    EXPECT_EQ(answer.result_int(), 201u);
    EXPECT_EQ(answer.body(), "later:r" + std::to_string(i));
    EXPECT_EQ(connection.Send(bhttp::verb::get, "/now").body(), "now");
  }
  server.Shutdown(std::chrono::seconds(1));
  for (auto& worker : workers) worker.join();
}

TEST(HttpServer, OversizedBodiesGet413AndTheConnectionCloses) {
  HttpServerOptions options;
  options.max_body_bytes = 16;
  HttpServer server = Serve({Answering("/mutate", {"POST"}, "done")}, options);
  ASSERT_TRUE(server.Start().ok());
  PlainConnection connection(server.port(0));
  auto answer = connection.Send(bhttp::verb::post, "/mutate", std::string(17, 'x'));
  EXPECT_EQ(answer.result_int(), 413u);
  EXPECT_FALSE(answer.keep_alive());
}

// Shutdown lets the request in flight finish, closes idle connections and refuses new ones.
TEST(HttpServer, ShutdownDrainsRequestsInFlight) {
  std::promise<Respond> parked;
  HttpRoute park{"/park", {"POST"}, [&](const HttpRequest&, Respond later) -> std::optional<HttpResponse> {
                   parked.set_value(std::move(later));
                   return std::nullopt;
                 }};
  HttpServer server = Serve({std::move(park), Answering("/healthz", {"GET"}, "ok")});
  ASSERT_TRUE(server.Start().ok());
  const unsigned short port = server.port(0);
  PlainConnection idle(port);
  EXPECT_EQ(idle.Send(bhttp::verb::get, "/healthz").body(), "ok");
  PlainConnection busy(port);
  std::future<bhttp::response<bhttp::string_body>> answer =
      std::async(std::launch::async, [&] { return busy.Send(bhttp::verb::post, "/park", "x"); });
  Respond later = parked.get_future().get();
  std::thread stopper([&] { server.Shutdown(std::chrono::seconds(5)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  later(HttpResponse{200, "finished"});
  auto finished = answer.get();
  EXPECT_EQ(finished.body(), "finished");
  EXPECT_FALSE(finished.keep_alive());  // draining: the connection is not kept
  stopper.join();
  EXPECT_ANY_THROW(idle.Send(bhttp::verb::get, "/healthz"));
  EXPECT_ANY_THROW(HttpCall("127.0.0.1:" + std::to_string(port), "GET", "/healthz"));
}

TEST(HttpServer, ErrorsNameTheListenerAndAddress) {
  HttpServer first = Serve({});
  ASSERT_TRUE(first.Start().ok());
  HttpServer second({}, {HttpListener{"metrics", ListenAddress{"127.0.0.1", first.port(0)}, {}, nullptr}});
  Status taken = second.Start();
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.error().message.find("metrics: cannot listen on 127.0.0.1:" + std::to_string(first.port(0))),
            std::string::npos)
      << taken.error().message;
  HttpServer foreign({}, {HttpListener{"", ListenAddress{"192.0.2.1", 0}, {}, nullptr}});  // TEST-NET: not ours
  EXPECT_FALSE(foreign.Start().ok());
}

TEST(HttpServer, ListensOnNamesAndEveryInterface) {
  for (const char* text : {"localhost:0", ":0"}) {
    HttpServer server({}, {HttpListener{"", *ParseListenAddress(text), {Answering("/healthz", {"GET"}, "ok")}, nullptr}});
    ASSERT_TRUE(server.Start().ok()) << text;
    EXPECT_EQ(HttpCall("127.0.0.1:" + std::to_string(server.port(0)), "GET", "/healthz").body, "ok") << text;
  }
}

TEST(HttpServer, ServesTlsWithTheContextOfEachConnection) {
  testing::TempDir dir;
  const std::string cert = dir.path() + "/tls.crt", key = dir.path() + "/tls.key";
  auto made = testing::RunCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                   "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=test"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  context->use_certificate_chain_file(cert);
  context->use_private_key_file(key, asio::ssl::context::pem);
  std::atomic<int> contexts_asked{0};
  HttpServer server({}, {HttpListener{"https", ListenAddress{"127.0.0.1", 0}, {Answering("/healthz", {"GET"}, "ok")},
                                      [&] {
                                        ++contexts_asked;
                                        return context;
                                      }}});
  ASSERT_TRUE(server.Start().ok());
  asio::ssl::context client(asio::ssl::context::tls_client);
  client.set_verify_mode(asio::ssl::verify_none);
  Connection<beast::ssl_stream<tcp::socket>> connection(server.port(0), client);
  connection.stream().handshake(asio::ssl::stream_base::client);
  EXPECT_EQ(connection.Send(bhttp::verb::get, "/healthz").body(), "ok");
  EXPECT_EQ(connection.Send(bhttp::verb::get, "/healthz").body(), "ok");
  EXPECT_EQ(contexts_asked.load(), 1);
  EXPECT_EQ(server.accepted(0), 1u);
}

}  // namespace
}  // namespace archway

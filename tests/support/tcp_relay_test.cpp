// The relay sees what a TLS client offers and how often it connects, and delays answers.
#include "tests/support/tcp_relay.h"

#include <chrono>

#include <gtest/gtest.h>

#include "tests/support/http_server.h"
#include "tests/support/process.h"

namespace archway::testing {
namespace {

TEST(TcpRelay, ForwardsCountsConnectionsAndDelaysAnswers) {
  LoopbackHttpServer server([](const HttpRecord& r) {
    HttpReply reply;
    reply.body = "hello " + r.Path();
    return reply;
  });
  TcpRelay relay(server.host());
  EXPECT_EQ(HttpCall(relay.host(), "GET", "/a").body, "hello /a");
  EXPECT_EQ(HttpCall(relay.host(), "GET", "/b").body, "hello /b");
  EXPECT_EQ(relay.AcceptedConnections(), 2);
  EXPECT_TRUE(relay.OfferedAlpn().empty()) << "plain HTTP is no ClientHello";

  relay.SetResponseDelay(std::chrono::milliseconds(400));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(HttpCall(relay.host(), "GET", "/slow").body, "hello /slow");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
  relay.ResetCounts();
  EXPECT_EQ(relay.AcceptedConnections(), 0);
}

TEST(TcpRelay, ReadsTheAlpnProtocolsOfAClientHello) {
  TempDir dir;
  auto made = RunCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-keyout", dir.File("key"), "-out", dir.File("crt"), "-days", "1", "-subj", "/CN=127.0.0.1"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  LoopbackHttpServer server([](const HttpRecord&) { return HttpReply{}; }, LoopbackTls::Files(dir.File("crt"), dir.File("key")));
  TcpRelay relay(server.host());
  for (const char* offer : {"h2,http/1.1", "http/1.1"}) {
    auto r = RunCommand({"openssl", "s_client", "-connect", relay.host(), "-alpn", offer}, std::chrono::seconds(20));
    EXPECT_NE(r.output.find("BEGIN CERTIFICATE"), std::string::npos) << r.output;
  }
  RunCommand({"openssl", "s_client", "-connect", relay.host()}, std::chrono::seconds(20));
  EXPECT_EQ(relay.OfferedAlpn(), (std::vector<std::vector<std::string>>{{"h2", "http/1.1"}, {"http/1.1"}, {}}));
}

TEST(ClientHello, IncompleteAndForeignBytes) {
  bool complete = true, hello = false;
  EXPECT_TRUE(ParseClientHelloAlpn(std::string("\x16\x03\x01", 3), &complete, &hello).empty());
  EXPECT_FALSE(complete);
  ParseClientHelloAlpn("GET / HTTP/1.1\r\n", &complete, &hello);
  EXPECT_TRUE(complete);
  EXPECT_FALSE(hello);
  // A record whose body is not a ClientHello (handshake type 2).
  ParseClientHelloAlpn(std::string("\x16\x03\x01\x00\x04\x02\x00\x00\x00", 9), &complete, &hello);
  EXPECT_TRUE(complete);
  EXPECT_FALSE(hello);
}

}  // namespace
}  // namespace archway::testing

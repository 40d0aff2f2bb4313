// Client against broken or hostile peers that a real registry cannot play: wrong digests,
// oversized and endless bodies, hanging servers, redirects to other hosts, rate limits,
// dead endpoints. Each peer is a tiny loopback HTTP server (tests/support/http_server.h).
#include <atomic>
#include <chrono>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "registry/client.h"
#include "tests/support/http_server.h"
#include "tests/support/process.h"

namespace archway::registry {
namespace {

using archway::testing::HttpRecord;
using archway::testing::HttpReply;
using archway::testing::LoopbackHttpServer;
using Clock = std::chrono::steady_clock;

Reference Ref(const std::string& text) {
  auto ref = ParseReference(text);
  EXPECT_TRUE(ref.ok()) << text;
  return *ref;
}

const std::string kIndex = std::string(R"({"schemaVersion":2,"mediaType":")") + media_type::kOciIndex + R"(","manifests":[]})";

HttpReply ManifestReply(const std::string& body, const std::string& digest_header) {
  return HttpReply{200, {{"Content-Type", media_type::kOciIndex}, {"Docker-Content-Digest", digest_header}}, body};
}

TEST(ClientHostileTest, ManifestNotMatchingItsDigestIsRejected) {
  const std::string other_digest = ComputeDigest("something else");
  LoopbackHttpServer server([&](const HttpRecord&) { return ManifestReply(kIndex, other_digest); });
  Client client{ClientOptions{}};
  auto by_tag = client.GetManifest(Ref(server.host() + "/x/y:1"));
  ASSERT_FALSE(by_tag.ok());
  EXPECT_EQ(by_tag.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(by_tag.error().message.find("digest mismatch"), std::string::npos) << by_tag.error().message;

  auto by_digest = client.GetManifest(Ref(server.host() + "/x/y@" + other_digest));
  ASSERT_FALSE(by_digest.ok());
  EXPECT_NE(by_digest.error().message.find("digest mismatch"), std::string::npos) << by_digest.error().message;

  auto head = client.HeadManifest(Ref(server.host() + "/x/y@" + ComputeDigest("a third thing")));
  ASSERT_FALSE(head.ok()) << "HEAD answering another digest than asked for";
  EXPECT_NE(head.error().message.find("digest mismatch"), std::string::npos) << head.error().message;
}

TEST(ClientHostileTest, CorrectDigestFromALoopbackServerIsAccepted) {
  LoopbackHttpServer server([&](const HttpRecord&) { return ManifestReply(kIndex, ComputeDigest(kIndex)); });
  Client client{ClientOptions{}};
  auto fetched = client.GetManifest(Ref(server.host() + "/x/y@" + ComputeDigest(kIndex)));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->bytes, kIndex);
}

TEST(ClientHostileTest, BlobNotMatchingItsDigestIsRejected) {
  LoopbackHttpServer server([&](const HttpRecord&) { return HttpReply{200, {}, "tampered"}; });
  Client client{ClientOptions{}};
  auto blob = client.GetBlob(Ref(server.host() + "/x/y"), ComputeDigest("original"), 1024);
  ASSERT_FALSE(blob.ok());
  EXPECT_NE(blob.error().message.find("digest mismatch"), std::string::npos) << blob.error().message;
}

TEST(ClientHostileTest, OversizedManifestIsRejectedBeforeBuffering) {
  std::string huge(kMaxManifestBytes + 1, ' ');
  LoopbackHttpServer server([&](const HttpRecord& r) {
    HttpReply reply{200, {{"Content-Type", media_type::kOciIndex}}, huge};
    reply.chunked = r.Path().find("chunked") != std::string::npos;
    return reply;
  });
  Client client{ClientOptions{}};
  for (const char* tag : {"announced", "chunked"}) {
    auto fetched = client.GetManifest(Ref(server.host() + "/x/y:" + tag));
    ASSERT_FALSE(fetched.ok()) << tag;
    EXPECT_EQ(fetched.error().code, ErrorCode::kBadResponse);
    EXPECT_NE(fetched.error().message.find("larger than"), std::string::npos) << fetched.error().message;
  }
  // A Content-Length far beyond the bound is refused from the headers alone: the body is
  // never sent here, so reading it would hang until the timeout.
  LoopbackHttpServer liar([&](const HttpRecord&) {
    HttpReply reply{200, {{"Content-Type", media_type::kOciIndex}}, "{"};
    reply.declared_length = 1LL << 40;
    return reply;
  });
  ClientOptions options;
  options.request_timeout = std::chrono::seconds(20);
  Client patient(options);
  auto start = Clock::now();
  auto fetched = patient.GetManifest(Ref(liar.host() + "/x/y:1"));
  ASSERT_FALSE(fetched.ok());
  EXPECT_NE(fetched.error().message.find("larger than"), std::string::npos) << fetched.error().message;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

TEST(ClientHostileTest, HangingServerTimesOutWithinTheConfiguredTimeout) {
  LoopbackHttpServer server([&](const HttpRecord& r) {
    HttpReply reply;
    if (r.Path().find("stall") != std::string::npos) {
      reply.body = "{\"schemaVersion\":";
      reply.declared_length = 1000;  // headers and half a body, then silence
    } else {
      reply.hang = true;  // accepted, never answered
    }
    return reply;
  });
  ClientOptions options;
  options.request_timeout = std::chrono::milliseconds(500);
  Client client(options);
  for (const char* tag : {"hang", "stall"}) {
    auto start = Clock::now();
    auto fetched = client.GetManifest(Ref(server.host() + "/x/y:" + tag));
    auto elapsed = Clock::now() - start;
    ASSERT_FALSE(fetched.ok()) << tag;
    EXPECT_EQ(fetched.error().code, ErrorCode::kTimeout) << tag << ": " << fetched.error().message;
    EXPECT_GE(elapsed, std::chrono::milliseconds(400)) << tag;
    EXPECT_LT(elapsed, std::chrono::seconds(3)) << tag;
  }
}

TEST(ClientHostileTest, ConnectionRefusedIsANetworkError) {
  int dead = archway::testing::FreePort();
  Client client{ClientOptions{}};
  auto fetched = client.GetManifest(Ref("127.0.0.1:" + std::to_string(dead) + "/x/y:1"));
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().code, ErrorCode::kNetwork) << fetched.error().message;
  EXPECT_NE(fetched.error().message.find("127.0.0.1:" + std::to_string(dead)), std::string::npos);
}

TEST(ClientHostileTest, ServerErrorsAreUnavailable) {
  LoopbackHttpServer server([&](const HttpRecord&) { return HttpReply{503, {}, "down"}; });
  Client client{ClientOptions{}};
  auto fetched = client.GetManifest(Ref(server.host() + "/x/y:1"));
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().code, ErrorCode::kUnavailable) << fetched.error().message;
}

// Blob storage redirects: the second host must never see the registry's credentials.
TEST(ClientHostileTest, RedirectToAnotherHostCarriesNoAuthorization) {
  const std::string blob = "layer bytes from storage";
  LoopbackHttpServer storage([&](const HttpRecord&) { return HttpReply{200, {}, blob}; });
  LoopbackHttpServer registry([&](const HttpRecord& r) {
    if (r.Header("authorization").empty()) {
      return HttpReply{401, {{"WWW-Authenticate", R"(Basic realm="test")"}}, "{}"};
    }
    if (r.Path().find("/blobs/") != std::string::npos) {
      return HttpReply{307, {{"Location", storage.url() + "/bucket/blob?signature=abc"}}, ""};
    }
    return HttpReply{404, {}, "{}"};
  });
  ClientOptions options;
  options.keychain.Add(registry.host(), AuthConfig{"ci", "hunter2", "", ""});
  Client client(options);
  auto got = client.GetBlob(Ref(registry.host() + "/x/y"), ComputeDigest(blob), 1024);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, blob);

  auto registry_requests = registry.Requests();
  ASSERT_EQ(registry_requests.size(), 2u) << "anonymous, then with Basic after the challenge";
  EXPECT_EQ(registry_requests[1].Header("authorization"), "Basic " + Base64Encode("ci:hunter2"));
  auto storage_requests = storage.Requests();
  ASSERT_EQ(storage_requests.size(), 1u);
  EXPECT_EQ(storage_requests[0].target, "/bucket/blob?signature=abc");
  EXPECT_FALSE(storage_requests[0].HasHeader("authorization")) << storage_requests[0].Header("authorization");
}

TEST(ClientHostileTest, RedirectLoopsAreBounded) {
  std::unique_ptr<LoopbackHttpServer> server;
  server = std::make_unique<LoopbackHttpServer>([&](const HttpRecord&) {
    return HttpReply{302, {{"Location", "/v2/x/y/blobs/again"}}, ""};
  });
  Client client{ClientOptions{}};
  auto got = client.GetBlob(Ref(server->host() + "/x/y"), ComputeDigest("x"), 1024);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message.find("redirects"), std::string::npos) << got.error().message;
  EXPECT_LE(server->Requests().size(), 6u);
}

TEST(ClientHostileTest, TooManyRequestsHonoursRetryAfter) {
  std::atomic<int> calls{0};
  LoopbackHttpServer server([&](const HttpRecord&) {
    if (calls++ == 0) return HttpReply{429, {{"Retry-After", "1"}}, "{}"};
    return ManifestReply(kIndex, ComputeDigest(kIndex));
  });
  Client client{ClientOptions{}};
  auto start = Clock::now();
  auto fetched = client.GetManifest(Ref(server.host() + "/x/y:1"));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(950));
  EXPECT_EQ(server.Requests().size(), 2u);
}

TEST(ClientHostileTest, RetryAfterBeyondTheLimitIsRateLimited) {
  LoopbackHttpServer server([&](const HttpRecord&) { return HttpReply{429, {{"Retry-After", "3600"}}, "{}"}; });
  ClientOptions options;
  options.max_retry_after = std::chrono::seconds(2);
  Client client(options);
  auto start = Clock::now();
  auto fetched = client.GetManifest(Ref(server.host() + "/x/y:1"));
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().code, ErrorCode::kRateLimited) << fetched.error().message;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1)) << "no pointless wait";
  EXPECT_EQ(server.Requests().size(), 1u);
}

TEST(ClientHostileTest, EveryManifestRequestCarriesTheExplicitAccept) {
  LoopbackHttpServer server([&](const HttpRecord&) { return ManifestReply(kIndex, ComputeDigest(kIndex)); });
  Client client{ClientOptions{}};
  ASSERT_TRUE(client.GetManifest(Ref(server.host() + "/x/y:1")).ok());
  ASSERT_TRUE(client.HeadManifest(Ref(server.host() + "/x/y:1")).ok());
  auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& r : requests) EXPECT_EQ(r.Header("accept"), media_type::kManifestAccept) << r.method;
}

TEST(ClientHostileTest, PutManifestSendsTheMediaTypeAndBytesExactly) {
  LoopbackHttpServer server([&](const HttpRecord& r) {
    return HttpReply{201, {{"Docker-Content-Digest", ComputeDigest(r.body)}}, ""};
  });
  Client client{ClientOptions{}};
  auto digest = client.PutManifest(Ref(server.host() + "/x/y:1"), media_type::kDockerList, kIndex);
  ASSERT_TRUE(digest.ok()) << digest.error().message;
  auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].Header("content-type"), media_type::kDockerList) << "no charset or other decoration";
  EXPECT_EQ(requests[0].body, kIndex);
  EXPECT_EQ(*digest, ComputeDigest(kIndex));
}

TEST(ClientHostileTest, RegistryReportingAnotherDigestForAPutIsAnError) {
  LoopbackHttpServer server([&](const HttpRecord&) {
    return HttpReply{201, {{"Docker-Content-Digest", ComputeDigest("other")}}, ""};
  });
  Client client{ClientOptions{}};
  auto digest = client.PutManifest(Ref(server.host() + "/x/y:1"), media_type::kOciIndex, kIndex);
  ASSERT_FALSE(digest.ok());
  EXPECT_EQ(digest.error().code, ErrorCode::kBadResponse);
}

// A bearer token the registry stops accepting (key rotated, expired early) is renewed
// once instead of failing the request.
TEST(ClientHostileTest, RefusedBearerTokenIsRenewedOnce) {
  std::atomic<int> tokens_issued{0};
  std::atomic<int> valid_token{1};
  LoopbackHttpServer token_server([&](const HttpRecord&) {
    return HttpReply{200, {}, R"({"token":"t)" + std::to_string(++tokens_issued) + R"(","expires_in":300})"};
  });
  LoopbackHttpServer registry([&](const HttpRecord& r) {
    std::string challenge = "Bearer realm=\"" + token_server.url() + "/token\",service=\"s\"";
    if (r.Header("authorization") != "Bearer t" + std::to_string(valid_token.load())) {
      if (!r.Header("authorization").empty()) challenge += ",error=\"invalid_token\"";
      return HttpReply{401, {{"WWW-Authenticate", challenge}}, "{}"};
    }
    return ManifestReply(kIndex, ComputeDigest(kIndex));
  });
  Client client{ClientOptions{}};
  ASSERT_TRUE(client.GetManifest(Ref(registry.host() + "/x/y:1")).ok());
  EXPECT_EQ(tokens_issued.load(), 1);
  valid_token = 2;  // the registry no longer accepts the cached token
  registry.ResetRequests();
  auto fetched = client.GetManifest(Ref(registry.host() + "/x/y:1"));
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(tokens_issued.load(), 2);
  EXPECT_EQ(registry.Requests().size(), 2u);
  valid_token = 99;  // never accepted again: one renewal, then a clear error
  auto refused = client.GetManifest(Ref(registry.host() + "/x/y:1"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(tokens_issued.load(), 3);
}

}  // namespace
}  // namespace archway::registry

// End to end: the `archway webhook` binary over HTTPS against a real docker-registry
// holding buildah-made images, with the fake API server for pull secrets, Nodes and
// Events. Reviews are POSTed with a Beast TLS client; the base64 JSON Patch in each
// answer is decoded and applied to the pod.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "kube/client.h"
#include "kube/resource.h"
#include "tests/fakeapi/fake_api_server.h"
#include "tests/support/fixtures.h"
#include "tests/support/http_server.h"
#include "tests/support/process.h"
#include "tests/support/registry_server.h"
#include "tests/support/tcp_relay.h"

namespace archway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using testing::TempDir;

// --- certificates ---------------------------------------------------------------------

void MakeCertificate(const std::string& cert, const std::string& key, const std::string& cn) {
  auto result = testing::RunCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days",
                                     "1", "-subj", "/CN=" + cn, "-addext", "subjectAltName=IP:127.0.0.1"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
}

std::string DigestOf(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string FileCertDigest(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return "";
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!cert) return "";
  std::string digest = DigestOf(cert);
  X509_free(cert);
  return digest;
}

// --- an HTTPS client that keeps its connection ----------------------------------------

class TlsClient {
 public:
  explicit TlsClient(int port, std::string alpn = std::string("\x02h2\x08http/1.1", 12)) : port_(port), alpn_(alpn) {
    ctx_.set_verify_mode(ssl::verify_none);
  }

  void Connect() {
    stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io_, ctx_);
    SSL_set_alpn_protos(stream_->native_handle(), reinterpret_cast<const unsigned char*>(alpn_.data()),
                        static_cast<unsigned>(alpn_.size()));
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(*stream_).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    stream_->handshake(ssl::stream_base::client);
    ++connects_;
  }

  http::response<http::string_body> Request(http::verb verb, const std::string& target, const std::string& body = "") {
    if (!stream_) Connect();
    http::request<http::string_body> request(verb, target, 11);
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::user_agent, "kube-apiserver-admission");
    request.set(http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(20));
    http::write(*stream_, request);
    http::response<http::string_body> response;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(*stream_, buffer_, parser);
    response = parser.release();
    if (!response.keep_alive()) stream_.reset();
    return response;
  }

  http::response<http::string_body> Post(const std::string& body) {
    return Request(http::verb::post, "/mutate?timeout=5s", body);
  }

  // Sends only the header (and a little body) of an oversized request, as a client does
  // that waits for the server's verdict; returns the status answered.
  unsigned PostOversizedHeaderOnly(size_t declared) {
    if (!stream_) Connect();
    std::string head = "POST /mutate?timeout=5s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       "Content-Length: " + std::to_string(declared) + "\r\n\r\n{\"kind\":";
    net::write(*stream_, net::buffer(head));
    http::response<http::string_body> response;
    http::read(*stream_, buffer_, response);
    stream_.reset();
    return response.result_int();
  }

  std::string Alpn() {
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(stream_->native_handle(), &data, &len);
    return std::string(reinterpret_cast<const char*>(data), len);
  }
  std::string PeerDigest() {
    X509* cert = SSL_get1_peer_certificate(stream_->native_handle());
    std::string digest = DigestOf(cert);
    X509_free(cert);
    return digest;
  }
  int connects() const { return connects_; }

 private:
  int port_;
  std::string alpn_;
  net::io_context io_;
  ssl::context ctx_{ssl::context::tls_client};
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
  int connects_ = 0;
};

// --- the webhook process ----------------------------------------------------------------

class WebhookProcess {
 public:
  WebhookProcess(const std::string& config_yaml, const std::vector<std::string>& flags, const TempDir& dir,
                 const std::string& name = "webhook")
      : log_path_(dir.File(name + ".log")) {
    https_port_ = testing::FreePort();
    metrics_port_ = testing::FreePort();
    const std::string config_path = dir.File(name + ".yaml");
    testing::WriteFile(config_path, config_yaml);
    std::vector<std::string> args = {ARCHWAY_BINARY, "webhook", "--config", config_path,
                                     "--listen", "127.0.0.1:" + std::to_string(https_port_),
                                     "--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port_)};
    args.insert(args.end(), flags.begin(), flags.end());
    pid_ = fork();
    if (pid_ == 0) {
      FILE* log = std::fopen(log_path_.c_str(), "w");
      if (log) {
        dup2(fileno(log), 1);
        dup2(fileno(log), 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~WebhookProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Waits for /healthz over TLS; false (with the log in the failure) after `timeout`.
  bool WaitHealthy(std::chrono::seconds timeout = std::chrono::seconds(20)) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      try {
        TlsClient client(https_port_);
        if (client.Request(http::verb::get, "/healthz").result_int() == 200) return true;
      } catch (const std::exception&) {
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // SIGTERM, then the exit code (-1 if it did not exit within `timeout`).
  int Terminate(std::chrono::seconds timeout) {
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  // SIGKILL, as a node failure or the OOM killer would: nothing is released or flushed.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string Log() const { return testing::ReadFile(log_path_); }
  int https_port() const { return https_port_; }
  std::string metrics_host() const { return "127.0.0.1:" + std::to_string(metrics_port_); }

 private:
  std::string log_path_;
  int https_port_ = 0;
  int metrics_port_ = 0;
  pid_t pid_ = -1;
};

bool CarriesGateOf(const Json& pod) {
  for (const auto& gate : pod.value("spec", Json::object()).value("schedulingGates", Json::array())) {
    if (gate.value("name", "") == "archway.dev/platforms") return true;
  }
  return false;
}

// --- reviews ----------------------------------------------------------------------------

Json Review(const std::string& uid, const std::string& ns, const std::vector<std::string>& init_images,
            const std::vector<std::string>& images, const std::vector<std::string>& pull_secrets = {},
            bool dry_run = false) {
  Json pod = {{"kind", "Pod"},
              {"apiVersion", "v1"},
              {"metadata", {{"name", "pod-" + uid}, {"namespace", ns}, {"creationTimestamp", nullptr}}},
              {"spec", {{"containers", Json::array()}, {"restartPolicy", "Always"}}},
              {"status", Json::object()}};
  for (size_t i = 0; i < init_images.size(); ++i) {
    pod["spec"]["initContainers"].push_back({{"name", "init" + std::to_string(i)}, {"image", init_images[i]}});
  }
  for (size_t i = 0; i < images.size(); ++i) {
    pod["spec"]["containers"].push_back({{"name", "c" + std::to_string(i)}, {"image", images[i]}});
  }
  for (const auto& name : pull_secrets) pod["spec"]["imagePullSecrets"].push_back({{"name", name}});
  return {{"kind", "AdmissionReview"},
          {"apiVersion", "admission.k8s.io/v1"},
          {"request",
           {{"uid", uid},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"name", "pod-" + uid},
            {"namespace", ns},
            {"operation", "CREATE"},
            {"object", pod},
            {"oldObject", nullptr},
            {"dryRun", dry_run}}}};
}

struct Answer {
  Json response;
  Json pod;  // the review's pod with the patch applied
  std::string Warnings() const { return response.value("warnings", Json::array()).dump(); }
  Json Terms() const {
    auto pointer =
        "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer;
    return pod.contains(pointer) ? pod.at(pointer) : Json();
  }
  std::string Annotation(const std::string& key) const {
    return pod.contains("metadata") && pod["metadata"].contains("annotations") &&
                   pod["metadata"]["annotations"].contains(key)
               ? pod["metadata"]["annotations"][key].get<std::string>()
               : "<none>";
  }
};

Answer Decode(const Json& review, const http::response<http::string_body>& http_response) {
  EXPECT_EQ(http_response.result_int(), 200u) << http_response.body();
  Answer answer;
  Json body = Json::parse(http_response.body());
  EXPECT_EQ(body["kind"], "AdmissionReview");
  answer.response = body["response"];
  EXPECT_EQ(answer.response["uid"], review["request"]["uid"]);
  answer.pod = review["request"]["object"];
  if (answer.response.contains("patch")) {
    EXPECT_EQ(answer.response["patchType"], "JSONPatch");
    auto patch = Base64Decode(answer.response["patch"].get<std::string>());
    EXPECT_TRUE(patch.has_value());
    answer.pod = answer.pod.patch(Json::parse(*patch));
  }
  return answer;
}

Json Arch(const std::vector<std::string>& archs) {
  return Json::array({Json{{"matchExpressions",
                            {{{"key", "kubernetes.io/os"}, {"operator", "In"}, {"values", {"linux"}}},
                             {{"key", "kubernetes.io/arch"}, {"operator", "In"}, {"values", archs}}}}}});
}

const char* kNoClusterConfig = R"(
tls: {certFile: CERT, keyFile: KEY}
budget: 1s
noCommonPlatform: pending
skipNamespaces: [kube-system]
registries: {configFile: /nonexistent/registries.yaml, dockerConfig: /nonexistent/config.json}
globalPullSecret: {namespace: archway-system, name: archway-pull}
kubeconfig: ""
)";

std::string ConfigWith(const std::string& cert, const std::string& key, const std::string& extra = "") {
  std::string text = kNoClusterConfig;
  text.replace(text.find("CERT"), 4, cert);
  text.replace(text.find("KEY"), 3, key);
  return text + extra;
}

// A kubeconfig for the fake API server, in `dir`.
std::string FakeApiKubeconfig(const fakeapi::FakeApiServer& api, TempDir& dir) {
  // One per fake API server: a test may run two.
  const std::string kubeconfig = dir.File("kubeconfig-" + std::to_string(api.port()));
  testing::WriteFile(kubeconfig, "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " +
                                     api.url() +
                                     "\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: c\n  context: {cluster: fake, "
                                     "user: u}\ncurrent-context: c\n");
  return kubeconfig;
}

// /readyz answers 200 within 20s (the caches of the API have synced).
bool WaitReady(TlsClient& client) {
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (client.Request(http::verb::get, "/readyz").result_int() != 200 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return client.Request(http::verb::get, "/readyz").result_int() == 200;
}

// One registry with buildah-made fixtures for the whole suite (buildah is slow).
class WebhookE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new testing::RegistryServer();
    testing::Buildah buildah;
    amd64_only_ = registry_->host() + "/e2e/amd64-only:1";
    multi_ = registry_->host() + "/e2e/multi:1";
    arm64_only_ = registry_->host() + "/e2e/arm64-only:1";
    buildah.Push(buildah.Build("linux/amd64"), *registry_, "e2e/amd64-only:1");
    buildah.Push(buildah.Build("linux/arm64"), *registry_, "e2e/arm64-only:1");
    buildah.PushList(*registry_, "e2e/multi:1", {"linux/amd64", "linux/arm64"});
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }

  void SetUp() override {
    cert_ = dir_.File("tls.crt");
    key_ = dir_.File("tls.key");
    MakeCertificate(cert_, key_, "archway-webhook");
  }

  TempDir dir_{"archway-webhook-e2e"};
  std::string cert_;
  std::string key_;
  static testing::RegistryServer* registry_;
  static std::string amd64_only_, multi_, arm64_only_;
};

testing::RegistryServer* WebhookE2E::registry_ = nullptr;
std::string WebhookE2E::amd64_only_, WebhookE2E::multi_, WebhookE2E::arm64_only_;

TEST_F(WebhookE2E, MutatesPodsOverOneKeepAliveConnectionWithoutH2) {
  WebhookProcess webhook(ConfigWith(cert_, key_), {}, dir_);
  ASSERT_TRUE(webhook.WaitHealthy()) << webhook.Log();

  TlsClient client(webhook.https_port());  // offers h2 and http/1.1, as the apiserver does
  const Json amd = Review("u1", "team", {}, {amd64_only_});
  Answer a = Decode(amd, client.Post(amd.dump()));
  EXPECT_EQ(client.Alpn(), "http/1.1");
  EXPECT_EQ(a.Terms(), Arch({"amd64"})) << a.response.dump();
  EXPECT_EQ(a.Annotation("archway.dev/platforms"), "linux/amd64");

  const Json multi = Review("u2", "team", {}, {multi_});
  Answer m = Decode(multi, client.Post(multi.dump()));
  EXPECT_EQ(m.Terms(), Arch({"amd64", "arm64"})) << m.response.dump();

  // An init container that only runs on amd64 narrows the list's platforms.
  const Json narrowed = Review("u3", "team", {amd64_only_}, {multi_});
  Answer n = Decode(narrowed, client.Post(narrowed.dump()));
  EXPECT_EQ(n.Terms(), Arch({"amd64"})) << n.response.dump();

  // No common platform (pending): the pod waits visibly.
  const Json none = Review("u4", "team", {amd64_only_}, {arm64_only_});
  Answer p = Decode(none, client.Post(none.dump()));
  EXPECT_TRUE(p.response["allowed"].get<bool>());
  EXPECT_NE(p.Terms().dump().find("archway.dev/no-common-platform"), std::string::npos) << p.response.dump();
  EXPECT_NE(p.Warnings().find("no platform in common"), std::string::npos);

  EXPECT_EQ(client.connects(), 1) << "every review must reuse the first connection";
  EXPECT_EQ(client.Request(http::verb::get, "/readyz").result_int(), 200u);

  auto metrics = testing::HttpCall(webhook.metrics_host(), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("archway_admission_requests_total{result=\"mutated\"} 3"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("archway_admission_latency_seconds_count"), std::string::npos);
  EXPECT_NE(metrics.body.find("archway_registry_requests_total{registry=\"" + registry_->host()), std::string::npos);
  EXPECT_NE(metrics.body.find("archway_cache_misses_total"), std::string::npos);

  // Connections are counted per port: more reviews on the kept connection add none, each
  // scrape (a new connection) adds one.
  auto connections = [](const std::string& body, const std::string& listener) {
    const std::string series = "archway_webhook_connections_total{listener=\"" + listener + "\"} ";
    const auto at = body.find(series);
    return at == std::string::npos ? -1.0 : std::stod(body.substr(at + series.size()));
  };
  const double https_before = connections(metrics.body, "https");
  const double scrapes_before = connections(metrics.body, "metrics");
  EXPECT_GE(https_before, 1.0) << metrics.body;
  EXPECT_GE(scrapes_before, 1.0) << metrics.body;
  for (const char* uid : {"u5", "u6"}) {
    const Json review = Review(uid, "team", {}, {multi_});
    EXPECT_EQ(Decode(review, client.Post(review.dump())).Terms(), Arch({"amd64", "arm64"}));
  }
  auto again = testing::HttpCall(webhook.metrics_host(), "GET", "/metrics");
  EXPECT_EQ(connections(again.body, "https"), https_before) << again.body;
  EXPECT_EQ(connections(again.body, "metrics"), scrapes_before + 1) << again.body;
}

TEST_F(WebhookE2E, BadRequestsGetErrorsNotCrashes) {
  WebhookProcess webhook(ConfigWith(cert_, key_), {}, dir_);
  ASSERT_TRUE(webhook.WaitHealthy()) << webhook.Log();
  TlsClient client(webhook.https_port());
  EXPECT_EQ(client.Post("{not json").result_int(), 400u);
  EXPECT_EQ(client.Post(R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"})").result_int(), 400u);
  EXPECT_EQ(client.Request(http::verb::get, "/mutate").result_int(), 405u);
  EXPECT_EQ(client.Request(http::verb::get, "/nope").result_int(), 404u);
  // Not a Pod: allowed, unchanged.
  Json deployment = Review("d1", "team", {}, {amd64_only_});
  deployment["request"]["kind"]["kind"] = "Deployment";
  deployment["request"]["kind"]["group"] = "apps";
  Answer d = Decode(deployment, client.Post(deployment.dump()));
  EXPECT_TRUE(d.response["allowed"].get<bool>());
  EXPECT_FALSE(d.response.contains("patch"));
  // Malformed pod fields: allowed with a warning.
  Json broken = Review("b1", "team", {}, {amd64_only_});
  broken["request"]["object"]["spec"]["containers"] = "nope";
  Answer b = Decode(broken, client.Post(broken.dump()));
  EXPECT_TRUE(b.response["allowed"].get<bool>());
  EXPECT_NE(b.Warnings().find("not a list"), std::string::npos);
  // Skipped namespace: untouched.
  Json system = Review("s1", "kube-system", {}, {amd64_only_});
  EXPECT_FALSE(Decode(system, client.Post(system.dump())).response.contains("patch"));
  EXPECT_EQ(client.PostOversizedHeaderOnly(4 << 20), 413u);
  // Still serving after all that.
  Json ok = Review("ok", "team", {}, {amd64_only_});
  EXPECT_EQ(Decode(ok, client.Post(ok.dump())).Terms(), Arch({"amd64"}));
}

TEST_F(WebhookE2E, BrokenRegistriesAnswerWithinBudget) {
  testing::LoopbackHttpServer hanging([](const testing::HttpRecord&) {
    testing::HttpReply reply;
    reply.hang = true;
    return reply;
  });
  testing::LoopbackHttpServer garbage([](const testing::HttpRecord&) {
    testing::HttpReply reply;
    reply.status = 200;
    reply.headers = {{"Content-Type", "application/vnd.oci.image.index.v1+json"}};
    reply.body = "\x01\x02 this is not a manifest";
    return reply;
  });
  const std::string down = "127.0.0.1:" + std::to_string(testing::FreePort());

  WebhookProcess webhook(ConfigWith(cert_, key_), {}, dir_);  // budget 1s
  ASSERT_TRUE(webhook.WaitHealthy()) << webhook.Log();

  struct Case {
    std::string image;
    std::string warning;
  };
  for (const Case& c : {Case{down + "/x/down:1", "could not inspect"},
                        Case{hanging.host() + "/x/hang:1", "did not finish within the time budget"},
                        Case{garbage.host() + "/x/garbage:1", "could not inspect"}}) {
    TlsClient client(webhook.https_port());
    const Json review = Review("r", "team", {}, {c.image, amd64_only_});
    const auto start = Clock::now();
    Answer answer = Decode(review, client.Post(review.dump()));
    const auto elapsed = Clock::now() - start;
    EXPECT_LT(elapsed, std::chrono::milliseconds(1800)) << c.image;
    EXPECT_TRUE(answer.response["allowed"].get<bool>());
    EXPECT_EQ(answer.Terms(), Json()) << "an uninspectable image must never give an affinity: " << answer.response.dump();
    EXPECT_NE(answer.Warnings().find(c.warning), std::string::npos) << c.image << ": " << answer.Warnings();
  }

  // A hanging look-up on one connection does not hold up a cached pod on another.
  auto slow = std::async(std::launch::async, [&] {
    TlsClient client(webhook.https_port());
    const Json review = Review("slow", "team", {}, {hanging.host() + "/x/hang2:1"});
    return client.Post(review.dump()).result_int();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  TlsClient fast_client(webhook.https_port());
  const Json fast = Review("fast", "team", {}, {amd64_only_});
  const auto start = Clock::now();
  Answer f = Decode(fast, fast_client.Post(fast.dump()));
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(900));  // the hanging one takes >= 1 s
  EXPECT_EQ(f.Terms(), Arch({"amd64"}));
  EXPECT_EQ(slow.get(), 200u);
}

TEST_F(WebhookE2E, CertificateRotationReachesTheNextHandshake) {
  WebhookProcess webhook(ConfigWith(cert_, key_), {}, dir_);
  ASSERT_TRUE(webhook.WaitHealthy()) << webhook.Log();
  TlsClient before(webhook.https_port());
  EXPECT_EQ(before.Request(http::verb::get, "/healthz").result_int(), 200u);
  EXPECT_EQ(before.PeerDigest(), FileCertDigest(cert_));

  const std::string new_cert = dir_.File("new.crt");
  const std::string new_key = dir_.File("new.key");
  MakeCertificate(new_cert, new_key, "archway-webhook-rotated");
  ASSERT_NE(FileCertDigest(new_cert), FileCertDigest(cert_));
  const std::string expected = FileCertDigest(new_cert);
  ASSERT_EQ(std::rename(new_key.c_str(), key_.c_str()), 0);
  ASSERT_EQ(std::rename(new_cert.c_str(), cert_.c_str()), 0);

  TlsClient after(webhook.https_port());
  EXPECT_EQ(after.Request(http::verb::get, "/healthz").result_int(), 200u);
  EXPECT_EQ(after.PeerDigest(), expected);
  // The connection made before the rotation keeps working.
  EXPECT_EQ(before.Request(http::verb::get, "/healthz").result_int(), 200u);
  EXPECT_EQ(before.connects(), 1);
}

TEST_F(WebhookE2E, GracefulShutdownDrainsRequestsInFlight) {
  testing::LoopbackHttpServer hanging([](const testing::HttpRecord&) {
    testing::HttpReply reply;
    reply.hang = true;
    return reply;
  });
  WebhookProcess webhook(ConfigWith(cert_, key_), {"--budget", "1500ms"}, dir_);
  ASSERT_TRUE(webhook.WaitHealthy()) << webhook.Log();
  auto in_flight = std::async(std::launch::async, [&] {
    TlsClient client(webhook.https_port());
    const Json review = Review("drain", "team", {}, {hanging.host() + "/x/hang:1"});
    auto response = client.Post(review.dump());
    return std::make_pair(response.result_int(), response.body());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int exit_code = webhook.Terminate(std::chrono::seconds(15));
  auto [status, body] = in_flight.get();
  EXPECT_EQ(status, 200u);
  EXPECT_NE(body.find("did not finish within the time budget"), std::string::npos) << body;
  EXPECT_EQ(exit_code, 0) << webhook.Log();
}

// Private registry (htpasswd): credentials come only from the pod's imagePullSecrets,
// read from the fake API server's Secret through the webhook's watch cache.
TEST_F(WebhookE2E, PullSecretsNodesAndEventsFromTheApi) {
  testing::RegistryServer private_registry(testing::RegistryServerOptions::Htpasswd({{"ci", "s3cret"}}));
  testing::Buildah buildah;
  buildah.Push(buildah.Build("linux/arm64"), private_registry, "team/private:1");
  const std::string private_image = private_registry.host() + "/team/private:1";

  fakeapi::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  const std::string docker_config =
      Json{{"auths", {{private_registry.host(), {{"auth", Base64Encode("ci:s3cret")}}}}}}.dump();
  api.Put(kube::resources::kSecrets, {{"apiVersion", "v1"},
                                      {"kind", "Secret"},
                                      {"metadata", {{"name", "regcred"}, {"namespace", "team"}}},
                                      {"type", "kubernetes.io/dockerconfigjson"},
                                      {"data", {{".dockerconfigjson", Base64Encode(docker_config)}}}});
  // A Secret of another type is never needed and must not be used.
  api.Put(kube::resources::kSecrets, {{"apiVersion", "v1"},
                                      {"kind", "Secret"},
                                      {"metadata", {{"name", "opaque"}, {"namespace", "team"}}},
                                      {"type", "Opaque"},
                                      {"data", {{".dockerconfigjson", Base64Encode(docker_config)}}}});
  api.Put(kube::resources::kNodes,
          {{"apiVersion", "v1"},
           {"kind", "Node"},
           {"metadata", {{"name", "amd-01"}, {"labels", {{"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", "amd64"}}}}},
           {"status", {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}});
  const std::string kubeconfig = FakeApiKubeconfig(api, dir_);

  WebhookProcess webhook(ConfigWith(cert_, key_), {"--kubeconfig", kubeconfig, "--budget", "5s"}, dir_);
  ASSERT_TRUE(webhook.WaitHealthy()) << webhook.Log();
  TlsClient client(webhook.https_port());
  ASSERT_TRUE(WaitReady(client)) << webhook.Log();

  const Json with_secret = Review("p1", "team", {}, {private_image}, {"regcred"});
  Answer a = Decode(with_secret, client.Post(with_secret.dump()));
  EXPECT_EQ(a.Terms(), Arch({"arm64"})) << a.response.dump();
  // The only Ready node is amd64.
  EXPECT_NE(a.Warnings().find("no Ready node"), std::string::npos) << a.Warnings();

  const Json without_secret = Review("p2", "team", {}, {private_image}, {"opaque"});
  Answer b = Decode(without_secret, client.Post(without_secret.dump()));
  EXPECT_EQ(b.Terms(), Json());
  EXPECT_NE(b.Warnings().find("could not inspect"), std::string::npos) << b.Warnings();

  // Another namespace's pod cannot use team's secret.
  const Json other_ns = Review("p3", "other", {}, {private_image}, {"regcred"});
  EXPECT_EQ(Decode(other_ns, client.Post(other_ns.dump())).Terms(), Json());

  // No common platform: an Event, but not for the dry run.
  const Json dry = Review("dry", "team", {amd64_only_}, {private_image}, {"regcred"}, /*dry_run=*/true);
  Decode(dry, client.Post(dry.dump()));
  const Json real = Review("real", "team", {amd64_only_}, {private_image}, {"regcred"});
  Answer r = Decode(real, client.Post(real.dump()));
  EXPECT_NE(r.Terms().dump().find("archway.dev/no-common-platform"), std::string::npos);
  auto events = [&] {
    auto list = api.Objects(kube::resources::kEvents, "team");
    auto core = api.Objects(kube::resources::kCoreEvents, "team");
    list.insert(list.end(), core.begin(), core.end());
    return list;
  };
  const auto event_deadline = Clock::now() + std::chrono::seconds(10);
  while (events().empty() && Clock::now() < event_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto recorded = events();
  ASSERT_EQ(recorded.size(), 1u) << webhook.Log();
  EXPECT_NE(recorded[0].dump().find("pod-real"), std::string::npos) << recorded[0].dump();
  EXPECT_EQ(recorded[0].dump().find("pod-dry"), std::string::npos);
}

double MetricValue(const WebhookProcess& webhook, const std::string& line_prefix) {
  const auto metrics = testing::HttpCall(webhook.metrics_host(), "GET", "/metrics");
  const size_t at = metrics.body.find("\n" + line_prefix + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.body.substr(at + line_prefix.size() + 2));
}

// A registry slower than the budget: the webhook answers with its gate, the pod is created
// as the apiserver would create it (the patch applied), the webhook is killed (SIGKILL:
// no Lease released) while the look-up is under way, and a fresh process takes the Lease
// over when it expires and places the pod.
TEST_F(WebhookE2E, AGatedPodIsPlacedByTheNextWebhookWhenOneIsKilledMidWay) {
  fakeapi::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  auto admin = kube::NewHttpClient(api.ClusterConfig()).value();
  testing::TcpRelay slow(registry_->host());
  slow.SetResponseDelay(std::chrono::seconds(3));
  const std::string image = slow.host() + "/e2e/multi:1";
  const std::vector<std::string> flags = {"--kubeconfig", FakeApiKubeconfig(api, dir_), "--budget", "300ms",
                                          "--gate-lease-duration", "1s", "--gate-timeout", "1m"};
  auto first = std::make_unique<WebhookProcess>(ConfigWith(cert_, key_), flags, dir_, "first");
  ASSERT_TRUE(first->WaitHealthy()) << first->Log();

  Json review = Review("gated", "team", {}, {image});
  review["request"]["object"]["metadata"]["labels"] = {{"app", "web"}};
  TlsClient client(first->https_port());
  const auto asked = Clock::now();
  Answer answer = Decode(review, client.Post(review.dump()));
  EXPECT_LT(Clock::now() - asked, std::chrono::seconds(2)) << "answered within the budget";
  EXPECT_NE(answer.Warnings().find("SchedulingGated"), std::string::npos) << answer.Warnings();
  ASSERT_EQ(answer.pod["spec"].value("schedulingGates", Json()), Json::parse(R"([{"name":"archway.dev/platforms"}])"));
  EXPECT_EQ(answer.pod["metadata"]["labels"], Json::parse(R"({"app":"web","archway.dev/gated":"true"})"));
  EXPECT_EQ(answer.Terms(), Json());
  Json pod = answer.pod;
  pod["metadata"].erase("creationTimestamp");
  pod.erase("status");
  ASSERT_TRUE(admin->Create(kube::resources::kPods, "team", pod).ok());

  // The first webhook's controller holds the pod; it dies before its look-up ends.
  const auto held_deadline = Clock::now() + std::chrono::seconds(10);
  while (MetricValue(*first, "archway_gated_pods") != 1 && Clock::now() < held_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(MetricValue(*first, "archway_gated_pods"), 1) << first->Log();
  first->Kill();
  ASSERT_TRUE(CarriesGateOf(api.Peek(kube::resources::kPods, "team", "pod-gated").value_or(Json())));

  WebhookProcess second(ConfigWith(cert_, key_), flags, dir_, "second");
  ASSERT_TRUE(second.WaitHealthy()) << second.Log();
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  Json stored;
  while (Clock::now() < deadline) {
    stored = api.Peek(kube::resources::kPods, "team", "pod-gated").value_or(Json());
    if (!CarriesGateOf(stored)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(CarriesGateOf(stored)) << second.Log();
  EXPECT_EQ(stored["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                  ["nodeSelectorTerms"],
            Arch({"amd64", "arm64"}));
  EXPECT_EQ(stored["metadata"]["labels"], Json::parse(R"({"app":"web"})"));
  EXPECT_EQ(stored["metadata"]["annotations"].value("archway.dev/platforms", ""), "linux/amd64,linux/arm64");
  EXPECT_NE(second.Log().find("gated pod released"), std::string::npos) << second.Log();
  EXPECT_EQ(MetricValue(second, "archway_gate_outcomes_total{result=\"placed\"}"), 1);
}

// onMiss: admit keeps what the webhook did before gates: no gate, a warning.
TEST_F(WebhookE2E, OnMissAdmitAdmitsWithoutAffinity) {
  fakeapi::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  testing::TcpRelay slow(registry_->host());
  slow.SetResponseDelay(std::chrono::seconds(2));
  WebhookProcess webhook(ConfigWith(cert_, key_),
                         {"--kubeconfig", FakeApiKubeconfig(api, dir_), "--budget", "300ms", "--on-miss", "admit"}, dir_,
                         "admit");
  ASSERT_TRUE(webhook.WaitHealthy()) << webhook.Log();
  TlsClient client(webhook.https_port());
  const Json review = Review("admitted", "team", {}, {slow.host() + "/e2e/multi:1"});
  Answer answer = Decode(review, client.Post(review.dump()));
  EXPECT_FALSE(answer.pod["spec"].contains("schedulingGates")) << answer.response.dump();
  EXPECT_NE(answer.Warnings().find("did not finish within the time budget"), std::string::npos) << answer.Warnings();
}

// A DaemonSet whose look-up misses the budget is admitted unchanged, and its stored template
// is patched through the API once the look-up finishes (with the SkipsNodes Event); a pod
// that DaemonSet makes is answered from its template, with no registry request.
TEST_F(WebhookE2E, DaemonSetMissedTheBudgetIsPatchedAfterwardsAndItsPodsAreNotLookedUp) {
  fakeapi::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  for (const auto& [name, arch] : {std::pair{"amd-01", "amd64"}, std::pair{"pi-01", "arm64"}}) {
    api.Put(kube::resources::kNodes,
            {{"apiVersion", "v1"},
             {"kind", "Node"},
             {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", arch}}}}},
             {"status", {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}});
  }
  testing::TcpRelay slow(registry_->host());
  slow.SetResponseDelay(std::chrono::milliseconds(1500));  // budget 1s
  const std::string image = slow.host() + "/e2e/amd64-only:1";
  Json daemon_set = {{"apiVersion", "apps/v1"}, {"kind", "DaemonSet"}, {"metadata", {{"name", "exporter"}, {"namespace", "team"}}}};
  daemon_set["spec"]["selector"]["matchLabels"]["app"] = "exporter";
  daemon_set["spec"]["template"]["metadata"]["labels"]["app"] = "exporter";
  daemon_set["spec"]["template"]["spec"]["containers"] = Json::array({{{"name", "c"}, {"image", image}}});
  const Json stored = api.Put(kube::resources::kDaemonSets, daemon_set);  // as the apiserver stores it after the answer

  const std::string kubeconfig = FakeApiKubeconfig(api, dir_);
  WebhookProcess webhook(ConfigWith(cert_, key_), {"--kubeconfig", kubeconfig}, dir_);
  ASSERT_TRUE(webhook.WaitHealthy()) << webhook.Log();
  TlsClient client(webhook.https_port());
  ASSERT_TRUE(WaitReady(client)) << webhook.Log();

  Json review = {{"kind", "AdmissionReview"},
                 {"apiVersion", "admission.k8s.io/v1"},
                 {"request",
                  {{"uid", "ds-1"},
                   {"kind", {{"group", "apps"}, {"version", "v1"}, {"kind", "DaemonSet"}}},
                   {"resource", {{"group", "apps"}, {"version", "v1"}, {"resource", "daemonsets"}}},
                   {"name", "exporter"},
                   {"namespace", "team"},
                   {"operation", "CREATE"},
                   {"object", daemon_set},
                   {"oldObject", nullptr},
                   {"dryRun", false}}}};
  const auto start = Clock::now();
  Answer answer = Decode(review, client.Post(review.dump()));
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500)) << "answered within the budget";
  EXPECT_TRUE(answer.response.value("allowed", false));
  // No affinity (only archway.dev/skipped-reason, as for a pod), and a warning saying what follows.
  EXPECT_FALSE(answer.pod["spec"]["template"]["spec"].contains("affinity")) << answer.pod.dump();
  EXPECT_NE(answer.Warnings().find("once the look-up finishes"), std::string::npos) << answer.Warnings();

  const auto template_terms = [&] {
    Json now = api.Peek(kube::resources::kDaemonSets, "team", "exporter").value_or(Json());
    const auto pointer =
        "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer;
    return now.contains(pointer) ? now.at(pointer) : Json();
  };
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (template_terms().is_null() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(template_terms(), Arch({"amd64"})) << webhook.Log();
  const Json patched = api.Peek(kube::resources::kDaemonSets, "team", "exporter").value_or(Json());
  EXPECT_EQ(patched["spec"]["template"]["metadata"]["annotations"].value("archway.dev/platforms", ""), "linux/amd64");
  EXPECT_EQ(patched["metadata"].value("generation", 0), stored["metadata"].value("generation", 0) + 1) << "one rollout";
  const auto event_deadline = Clock::now() + std::chrono::seconds(10);
  auto skips = [&] {
    std::string notes;
    for (const auto& e : api.Objects(kube::resources::kEvents, "team")) {
      if (e.value("reason", "") == "SkipsNodes") notes += e.value("note", "");
    }
    return notes;
  };
  while (skips().empty() && Clock::now() < event_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(skips(), "skips 1 linux/arm64 node: image " + image + " has no linux/arm64 build");

  // The DaemonSet's pod, as its controller makes it: the template's annotation, its node
  // in matchFields. An image nobody looked up, so a look-up would reach the registry.
  const int requests = registry_->CountRequests("GET", ".*") + registry_->CountRequests("HEAD", ".*");
  Json pod_review = Review("ds-pod", "team", {}, {multi_});
  Json& pod = pod_review["request"]["object"];
  pod["metadata"]["annotations"]["archway.dev/platforms"] = "linux/amd64";
  pod["metadata"]["ownerReferences"] = Json::array(
      {{{"apiVersion", "apps/v1"}, {"kind", "DaemonSet"}, {"name", "exporter"}, {"uid", patched["metadata"]["uid"]},
        {"controller", true}, {"blockOwnerDeletion", true}}});
  pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] =
      Json::array({{{"matchFields", {{{"key", "metadata.name"}, {"operator", "In"}, {"values", {"amd-01"}}}}}}});
  Answer from_template = Decode(pod_review, client.Post(pod_review.dump()));
  EXPECT_TRUE(from_template.response.value("allowed", false));
  EXPECT_FALSE(from_template.response.contains("patch")) << from_template.response.dump();
  EXPECT_EQ(registry_->CountRequests("GET", ".*") + registry_->CountRequests("HEAD", ".*"), requests);
}

}  // namespace
}  // namespace archway

namespace archway {
namespace {

// The arm rules (webhook/platform_terms.h) read the Node cache: with no node labelled by
// the node labeler the old terms stay, with a warning and a metric; once a node carries
// archway.dev/arm-variant, an arm/v7-only image gets the variant and 32-bit-arm terms.
TEST_F(WebhookE2E, ArmTermsFollowTheNodeLabelsInTheCache) {
  testing::Buildah buildah;
  buildah.Push(buildah.Build("linux/arm/v7"), *registry_, "e2e/armv7-only:1");
  const std::string armv7_only = registry_->host() + "/e2e/armv7-only:1";

  fakeapi::FakeApiServer api;
  ASSERT_TRUE(api.Start().ok());
  auto node = [](const std::string& name, const std::string& arch, const Json& extra_labels) {
    Json labels{{"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", arch}};
    labels.update(extra_labels);
    return Json{{"apiVersion", "v1"},
                {"kind", "Node"},
                {"metadata", {{"name", name}, {"labels", labels}}},
                {"status", {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  };
  api.Put(kube::resources::kNodes, node("pi3", "arm", Json::object()));
  const std::string kubeconfig = FakeApiKubeconfig(api, dir_);
  WebhookProcess webhook(ConfigWith(cert_, key_), {"--kubeconfig", kubeconfig, "--budget", "5s"}, dir_);
  ASSERT_TRUE(webhook.WaitHealthy()) << webhook.Log();
  TlsClient client(webhook.https_port());
  ASSERT_TRUE(WaitReady(client)) << webhook.Log();

  const Json unlabelled = Review("u1", "team", {}, {armv7_only});
  Answer a = Decode(unlabelled, client.Post(unlabelled.dump()));
  EXPECT_EQ(a.Terms(), Arch({"arm"})) << a.response.dump();
  EXPECT_NE(a.Warnings().find("no node carries the label archway.dev/arm-variant"), std::string::npos) << a.Warnings();
  auto metrics = testing::HttpCall(webhook.metrics_host(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("archway_arm_labels_missing_total 1"), std::string::npos) << metrics.body;

  api.Put(kube::resources::kNodes, node("pi3", "arm", {{"archway.dev/arm-variant", "v7"}}));
  api.Put(kube::resources::kNodes, node("pi4", "arm64", {{"archway.dev/arm-variant", "v8"}, {"archway.dev/arm32", "v8"}}));
  // The informer delivers the labels asynchronously: ask until the answer uses them.
  const Json labelled = Review("l1", "team", {}, {armv7_only});
  Answer b = Decode(labelled, client.Post(labelled.dump()));
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (b.Terms().dump().find("archway.dev/arm32") == std::string::npos && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    b = Decode(labelled, client.Post(labelled.dump()));
  }
  const Json expected = Json::parse(R"([
    {"matchExpressions":[{"key":"kubernetes.io/os","operator":"In","values":["linux"]},
                         {"key":"kubernetes.io/arch","operator":"In","values":["arm"]},
                         {"key":"archway.dev/arm-variant","operator":"In","values":["v7","v8"]}]},
    {"matchExpressions":[{"key":"kubernetes.io/os","operator":"In","values":["linux"]},
                         {"key":"kubernetes.io/arch","operator":"In","values":["arm64"]},
                         {"key":"archway.dev/arm32","operator":"In","values":["v8"]}]}])");
  EXPECT_EQ(b.Terms(), expected) << b.response.dump();
  EXPECT_EQ(b.Warnings().find("archway.dev/arm-variant"), std::string::npos) << b.Warnings();
}

}  // namespace
}  // namespace archway

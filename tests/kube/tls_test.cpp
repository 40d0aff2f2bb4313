// The client's TLS handling against the fake API server over HTTPS: CA bundles, IP and
// host name verification, insecure-skip-tls-verify, client certificates (mTLS).
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

namespace fs = std::filesystem;

// Certificates made with the openssl CLI for each run: a CA, a server certificate for
// 127.0.0.1 (and one for a DNS name only), a client certificate, and an unrelated CA.
class Pki {
 public:
  Pki() {
    dir_ = fs::temp_directory_path() / ("kube-tls-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const std::string d = dir_.string();
    const std::string key = "openssl ecparam -name prime256v1 -genkey -noout -out ";
    auto run = [&](const std::string& cmd) { ok_ = ok_ && std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; };
    for (const char* name : {"ca", "other-ca", "server", "dns-server", "client"}) run(key + d + "/" + name + ".key");
    run("openssl req -x509 -new -key " + d + "/ca.key -subj /CN=fake-ca -days 1 -out " + d + "/ca.crt");
    run("openssl req -x509 -new -key " + d + "/other-ca.key -subj /CN=other-ca -days 1 -out " + d + "/other-ca.crt");
    auto sign = [&](const std::string& name, const std::string& ext) {
      run("openssl req -new -key " + d + "/" + name + ".key -subj /CN=" + name + " -out " + d + "/" + name + ".csr");
      std::ofstream(d + "/" + name + ".ext") << ext << "\n";
      run("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/ca.crt -CAkey " + d +
          "/ca.key -CAcreateserial -days 1 -extfile " + d + "/" + name + ".ext -out " + d + "/" + name + ".crt");
    };
    sign("server", "subjectAltName=IP:127.0.0.1");
    sign("dns-server", "subjectAltName=DNS:kubernetes.default.svc");
    sign("client", "extendedKeyUsage=clientAuth");
  }
  ~Pki() { fs::remove_all(dir_); }
  bool ok() const { return ok_; }
  std::string Read(const std::string& name) const { return ReadPath((dir_ / name).string()); }

 private:
  static std::string ReadPath(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path dir_;
  bool ok_ = true;
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new Pki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(pki_->ok()) << "openssl could not make the test certificates"; }

  std::unique_ptr<fakeapi::FakeApiServer> Serve(const std::string& cert, bool require_client_cert = false) {
    fakeapi::FakeApiOptions options;
    options.tls_cert_pem = pki_->Read(cert + ".crt");
    options.tls_key_pem = pki_->Read(cert + ".key");
    if (require_client_cert) options.client_ca_pem = pki_->Read("ca.crt");
    auto server = std::make_unique<fakeapi::FakeApiServer>(options);
    EXPECT_TRUE(server->Start().ok());
    return server;
  }

  static Result<Json> GetVersionlessNode(const ClusterConfig& config) {
    auto client = NewHttpClient(config, testing::FastOptions());
    if (!client.ok()) return client.error();
    auto got = (*client)->Get(resources::kNodes, "", "pi-01");
    if (!got.ok() && IsNotFound(got.error())) return Json("reached the API");
    return got;
  }

  static Pki* pki_;
};

Pki* TlsTest::pki_ = nullptr;

TEST_F(TlsTest, VerifiesTheServerAgainstTheConfiguredCaBundle) {
  auto server = Serve("server");
  ClusterConfig config = server->ClusterConfig();
  ASSERT_EQ(config.server.rfind("https://", 0), 0u);
  // A bundle: an unrelated CA first, the right one second (k3s bundles look like this).
  config.ca_pem = pki_->Read("other-ca.crt") + pki_->Read("ca.crt");
  auto reached = GetVersionlessNode(config);
  EXPECT_TRUE(reached.ok()) << reached.error().message;

  config.ca_pem = pki_->Read("other-ca.crt");
  auto refused = GetVersionlessNode(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kNetwork);
  EXPECT_NE(refused.error().message.find("TLS handshake"), std::string::npos) << refused.error().message;

  config.insecure = true;  // insecure-skip-tls-verify
  EXPECT_TRUE(GetVersionlessNode(config).ok());
}

TEST_F(TlsTest, RejectsACertificateForAnotherName) {
  auto server = Serve("dns-server");  // valid chain, but not for 127.0.0.1
  ClusterConfig config = server->ClusterConfig();
  config.ca_pem = pki_->Read("ca.crt");
  auto refused = GetVersionlessNode(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("TLS handshake"), std::string::npos) << refused.error().message;
}

TEST_F(TlsTest, PresentsTheClientCertificate) {
  auto server = Serve("server", /*require_client_cert=*/true);
  ClusterConfig config = server->ClusterConfig();
  config.ca_pem = pki_->Read("ca.crt");
  EXPECT_FALSE(GetVersionlessNode(config).ok());  // no client certificate: refused
  config.client_cert_pem = pki_->Read("client.crt") + pki_->Read("ca.crt");
  config.client_key_pem = pki_->Read("client.key");  // SEC1 "EC PRIVATE KEY", as k3s writes it
  auto reached = GetVersionlessNode(config);
  EXPECT_TRUE(reached.ok()) << reached.error().message;
}

TEST_F(TlsTest, WatchWorksOverTls) {
  auto server = Serve("server");
  ClusterConfig config = server->ClusterConfig();
  config.ca_pem = pki_->Read("ca.crt");
  auto client = NewHttpClient(config, testing::FastOptions());
  ASSERT_TRUE(client.ok());
  server->Put(resources::kNodes, {{"metadata", {{"name", "pi-01"}}}});
  int added = 0;
  Status s = (*client)->Watch(resources::kNodes, "", {.resource_version = "0", .timeout_seconds = 1},
                              [&](const WatchEvent& e) {
                                added += e.type == WatchEvent::Type::kAdded;
                                return false;  // one is enough
                              }, std::stop_token());
  EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(added, 1);
}

}  // namespace
}  // namespace archway::kube

// Kubeconfig and in-cluster configuration.
#include "kube/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/kube/test_util.h"

namespace archway::kube {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("kube-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& content) {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return (path_ / name).string();
  }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

int CountCerts(const std::string& pem) {
  int n = 0;
  for (size_t p = 0; (p = pem.find("-----BEGIN CERTIFICATE-----", p)) != std::string::npos; ++p) ++n;
  return n;
}

TEST(KubeconfigTest, ParsesTheK3sGeneratedFile) {
  TempDir dir;
  auto path = dir.Write("k3s.yaml", testing::Testdata("kubeconfig-k3s-generated-sample.yaml"));
  auto config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_EQ(config->context, "default");
  EXPECT_FALSE(config->insecure);
  EXPECT_EQ(CountCerts(config->ca_pem), 1);
  EXPECT_EQ(CountCerts(config->client_cert_pem), 2);  // client cert + the client CA, as k3s writes it
  EXPECT_NE(config->client_key_pem.find("-----BEGIN EC PRIVATE KEY-----"), std::string::npos);
  EXPECT_TRUE(config->token.empty());
  // The TLS material is usable: the client accepts the 2-cert chain and the SEC1 EC key.
  auto client = NewHttpClient(*config);
  EXPECT_TRUE(client.ok()) << client.error().message;
}

TEST(KubeconfigTest, NamedContextFilesRelativeToTheKubeconfigAndTokens) {
  TempDir dir;
  dir.Write("ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  dir.Write("token", "from-file\n");
  auto path = dir.Write("config", R"(apiVersion: v1
kind: Config
current-context: one
contexts:
- name: one
  context: {cluster: c1, user: u1}
- name: two
  context: {cluster: c2, user: u2, namespace: builds}
clusters:
- name: c1
  cluster: {server: "https://one.example:6443/", insecure-skip-tls-verify: true}
- name: c2
  cluster: {server: "https://two.example", certificate-authority: ca.crt}
users:
- name: u1
  user: {token: static-token}
- name: u2
  user: {tokenFile: token}
)");
  auto one = LoadKubeconfig(path);
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(one->server, "https://one.example:6443");
  EXPECT_TRUE(one->insecure);
  EXPECT_EQ(one->token, "static-token");
  EXPECT_EQ(CurrentToken(*one).value(), "static-token");
  auto two = LoadKubeconfig(path, "two");
  ASSERT_TRUE(two.ok()) << two.error().message;
  EXPECT_EQ(two->default_namespace, "builds");
  EXPECT_NE(two->ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(CurrentToken(*two).value(), "from-file");
  dir.Write("token", "rotated\n");
  EXPECT_EQ(CurrentToken(*two).value(), "rotated");
  auto missing = LoadKubeconfig(path, "three");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no context named \"three\""), std::string::npos);
}

TEST(KubeconfigTest, ExecPluginIsAClearUnsupportedError) {
  auto config = ParseKubeconfig(R"(
current-context: eks
contexts: [{name: eks, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: "https://x.eks.amazonaws.com"}}]
users:
- name: u
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token]}
)");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(config.error().message.find("exec credential plugin (aws)"), std::string::npos) << config.error().message;
}

TEST(KubeconfigTest, MalformedInputGivesInvalidArgument) {
  const char* cases[] = {
      "",
      "just a string",
      "current-context: [",
      "current-context: x\ncontexts: 5\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: ftp://x}}]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: {a: b}}}]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'https://a', certificate-authority-data: '!!!notbase64'}}]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://a'}}]\nusers: [{name: u, user: {client-certificate-data: 'YQ=='}}]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'https://a', certificate-authority: /nonexistent/ca.crt}}]\n",
  };
  for (const char* text : cases) {
    auto config = ParseKubeconfig(text);
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument) << text << " -> " << config.error().message;
  }
}

TEST(InClusterTest, ReadsServiceAccountFilesAndEnvironment) {
  TempDir dir;
  dir.Write("token", "sa-token\n");
  dir.Write("ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  dir.Write("namespace", "archway-system");
  ::setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto config = LoadInCluster(dir.path().string());
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->default_namespace, "archway-system");
  EXPECT_EQ(CurrentToken(*config).value(), "sa-token");
  auto outside = LoadInCluster(dir.path().string());
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().code, ErrorCode::kNotFound);
}

TEST(InClusterTest, LoadDefaultFallsBackToKubeconfigEnv) {
  TempDir dir;
  auto path = dir.Write("k3s.yaml", testing::Testdata("kubeconfig-k3s-generated-sample.yaml"));
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::setenv("KUBECONFIG", (path + ":/other/config").c_str(), 1);
  auto config = LoadDefault("");
  ::unsetenv("KUBECONFIG");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  auto explicit_missing = LoadDefault("/nonexistent/kubeconfig");
  EXPECT_FALSE(explicit_missing.ok());
}

}  // namespace
}  // namespace archway::kube

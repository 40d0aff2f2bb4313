#include "tests/support/envtest.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "base/encoding.h"
#include "kube/errors.h"

namespace archway::testing {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

bool Executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

std::string SearchPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && Executable(dir + "/" + name)) return dir + "/" + name;
  }
  return "";
}

void Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, std::chrono::seconds(30));
  if (r.exit_code != 0) throw std::runtime_error("openssl " + args[0] + " failed: " + r.output);
}

// A P-256 key and a certificate for `subject` signed by the CA in `dir`, with `extensions`.
void SignedCertificate(const std::string& dir, const std::string& cert, const std::string& key,
                       const std::string& subject, const std::string& extensions) {
  const std::string csr = cert + ".csr";
  const std::string ext = cert + ".ext";
  WriteFile(ext, extensions);
  Openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
           "-subj", subject, "-out", csr});
  Openssl({"x509", "-req", "-in", csr, "-CA", dir + "/ca.crt", "-CAkey", dir + "/ca.key", "-CAcreateserial",
           "-days", "2", "-extfile", ext, "-out", cert});
}

std::string MakeEtcdDir() {
  // etcd fsyncs every write: on tmpfs a test's hundreds of writes cost nothing.
  for (std::string base : {std::string("/dev/shm"), std::string()}) {
    if (base.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    if (access(base.c_str(), W_OK) != 0) continue;
    std::string pattern = base + "/archway-etcd-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) return pattern;
  }
  throw std::runtime_error("cannot create a directory for etcd");
}

}  // namespace

EnvtestBinaries FindEnvtestBinaries() {
  EnvtestBinaries b;
  const char* assets = std::getenv("KUBEBUILDER_ASSETS");
  if (assets != nullptr && *assets != '\0') {
    const std::string dir = assets;
    b.source = "KUBEBUILDER_ASSETS=" + dir;
    b.kube_apiserver = dir + "/kube-apiserver";
    b.etcd = dir + "/etcd";
    if (Executable(dir + "/kube-controller-manager")) b.kube_controller_manager = dir + "/kube-controller-manager";
    b.kubectl = Executable(dir + "/kubectl") ? dir + "/kubectl" : SearchPath("kubectl");
    if (!Executable(b.kube_apiserver)) b.missing = "no executable kube-apiserver in KUBEBUILDER_ASSETS=" + dir;
    else if (!Executable(b.etcd)) b.missing = "no executable etcd in KUBEBUILDER_ASSETS=" + dir;
    return b;
  }
  const std::string shared = (std::filesystem::path(ARCHWAY_SOURCE_DIR).parent_path() / "shared" / "envtest").string();
  b.source = shared + " and PATH";
  b.kube_apiserver = shared + "/kube-apiserver";
  b.etcd = SearchPath("etcd");
  if (Executable(shared + "/kube-controller-manager")) b.kube_controller_manager = shared + "/kube-controller-manager";
  b.kubectl = SearchPath("kubectl");
  if (!Executable(b.kube_apiserver)) {
    b.missing = "no kube-apiserver: set KUBEBUILDER_ASSETS or put the envtest binaries in " + shared;
  } else if (b.etcd.empty()) {
    b.missing = "no etcd on PATH (Debian package etcd-server; scripts/install-deps.sh installs it)";
  }
  return b;
}

Envtest::Envtest(const EnvtestBinaries& binaries, EnvtestOptions options)
    : binaries_(binaries), options_(std::move(options)), dir_("archway-envtest") {
  if (!binaries_.missing.empty()) throw std::runtime_error("envtest: " + binaries_.missing);
  WriteCertificates();
  etcd_dir_ = MakeEtcdDir();
  http::TlsOptions admin;
  admin.ca_file = ca_file_;
  admin.cert_file = dir_.File("admin.crt");
  admin.key_file = dir_.File("admin.key");
  auto admin_tls = http::TlsContext::New(admin);
  http::TlsOptions token;
  token.ca_file = ca_file_;
  auto token_tls = http::TlsContext::New(token);
  if (!admin_tls.ok() || !token_tls.ok()) {
    throw std::runtime_error("envtest: TLS set-up: " + (admin_tls.ok() ? token_tls.error() : admin_tls.error()).message);
  }
  admin_tls_ = *admin_tls;
  token_tls_ = *token_tls;

  std::string failure;
  for (int attempt = 0; attempt < 3; ++attempt) {
    StartOnce(attempt);
    if (WaitReady(&failure)) break;
    failure += "\n" + LogTails();
    controller_manager_.reset();
    apiserver_.reset();
    etcd_.reset();
    if (attempt == 2) {
      Stop();
      throw std::runtime_error("envtest: the apiserver did not become ready: " + failure);
    }
  }
  InstallCrds();
  if (options_.controller_manager && !binaries_.kube_controller_manager.empty()) {
    controller_manager_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{binaries_.kube_controller_manager, "--kubeconfig=" + admin_kubeconfig_,
                                 "--controllers=" + [&] {
                                   std::string joined;
                                   for (const auto& c : options_.controllers) joined += (joined.empty() ? "" : ",") + c;
                                   return joined;
                                 }(),
                                 "--use-service-account-credentials=false",
                                 "--service-account-private-key-file=" + dir_.File("sa.key"),
                                 "--root-ca-file=" + ca_file_, "--leader-elect=false", "--secure-port=0"},
        dir_.File("kube-controller-manager.log"));
    // Its service-account controller makes "default" in every namespace: wait for the first.
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Call("GET", "/api/v1/namespaces/default/serviceaccounts/default").status != 200) {
      if (!controller_manager_->Running() || Clock::now() > deadline) {
        const std::string logs = LogTails();
        Stop();
        throw std::runtime_error("envtest: kube-controller-manager did not start: " + logs);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

Envtest::~Envtest() { Stop(); }

void Envtest::InstallCrds() {
  for (const Json& crd : options_.crds) {
    const std::string name = crd["metadata"].value("name", "");
    auto applied = Apply(crd, /*dry_run=*/false);
    if (!applied.ok()) {
      Stop();
      throw std::runtime_error("envtest: CRD " + name + ": " + applied.error().message);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (true) {
      Json stored = Json::parse(Call("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name).body,
                                nullptr, false);
      bool established = false;
      if (stored.is_object()) {
        for (const auto& c : stored.value("status", Json::object()).value("conditions", Json::array())) {
          established |= c.value("type", "") == "Established" && c.value("status", "") == "True";
        }
      }
      if (established) break;
      if (Clock::now() > deadline) {
        Stop();
        throw std::runtime_error("envtest: CRD " + name + " not established within 30 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

void Envtest::WriteCertificates() {
  const std::string d = dir_.path();
  ca_file_ = d + "/ca.crt";
  Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
           d + "/ca.key", "-out", ca_file_, "-days", "2", "-subj", "/CN=archway-envtest-ca"});
  SignedCertificate(d, d + "/serving.crt", d + "/serving.key", "/CN=127.0.0.1",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
  SignedCertificate(d, d + "/admin.crt", d + "/admin.key", "/O=system:masters/CN=archway-envtest-admin",
                    "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n");
  Openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", d + "/sa.key"});
  Openssl({"pkey", "-in", d + "/sa.key", "-pubout", "-out", d + "/sa.pub"});
  WriteFile(d + "/audit-policy.yaml",
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [\"RequestReceived\"]\nrules:\n- level: Metadata\n");
}

void Envtest::StartOnce(int attempt) {
  const int etcd_client = FreePort();
  const int etcd_peer = FreePort();
  apiserver_port_ = FreePort();
  const std::string client_url = "http://127.0.0.1:" + std::to_string(etcd_client);
  const std::string peer_url = "http://127.0.0.1:" + std::to_string(etcd_peer);
  etcd_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{binaries_.etcd, "--name=envtest", "--data-dir=" + etcd_dir_ + "/" + std::to_string(attempt),
                               "--listen-client-urls=" + client_url, "--advertise-client-urls=" + client_url,
                               "--listen-peer-urls=" + peer_url, "--initial-advertise-peer-urls=" + peer_url,
                               "--initial-cluster=envtest=" + peer_url, "--initial-cluster-state=new",
                               "--logger=zap", "--log-level=warn"},
      dir_.File("etcd.log"));
  const std::string d = dir_.path();
  std::vector<std::string> args = {binaries_.kube_apiserver,
                                   "--etcd-servers=" + client_url,
                                   "--bind-address=127.0.0.1",
                                   "--advertise-address=127.0.0.1",
                                   "--secure-port=" + std::to_string(apiserver_port_),
                                   "--cert-dir=" + d + "/apiserver-certs",
                                   "--tls-cert-file=" + d + "/serving.crt",
                                   "--tls-private-key-file=" + d + "/serving.key",
                                   "--client-ca-file=" + ca_file_,
                                   "--authorization-mode=Node,RBAC",
                                   // As kubeadm and k3s run it (the default is false): builder
                                   // Jobs run privileged containers.
                                   "--allow-privileged=true",
                                   "--service-cluster-ip-range=10.96.0.0/12",
                                   "--endpoint-reconciler-type=none",
                                   "--service-account-key-file=" + d + "/sa.pub",
                                   "--service-account-signing-key-file=" + d + "/sa.key",
                                   "--service-account-issuer=https://archway-envtest.local",
                                   "--audit-policy-file=" + d + "/audit-policy.yaml",
                                   "--audit-log-path=" + d + "/audit.log"};
  args.insert(args.end(), options_.apiserver_flags.begin(), options_.apiserver_flags.end());
  apiserver_ = std::make_unique<ChildProcess>(args, dir_.File("kube-apiserver.log"));

  admin_kubeconfig_ = d + "/admin.kubeconfig";
  WriteFile(admin_kubeconfig_, "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: " + url() +
                                   "\n    certificate-authority: " + ca_file_ +
                                   "\nusers:\n- name: admin\n  user:\n    client-certificate: " + d +
                                   "/admin.crt\n    client-key: " + d +
                                   "/admin.key\ncontexts:\n- name: envtest\n  context: {cluster: envtest, user: "
                                   "admin}\ncurrent-context: envtest\n");
}

bool Envtest::WaitReady(std::string* why) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    if (!etcd_->Running()) {
      *why = "etcd exited with code " + std::to_string(etcd_->exit_code());
      return false;
    }
    if (!apiserver_->Running()) {
      *why = "kube-apiserver exited with code " + std::to_string(apiserver_->exit_code());
      return false;
    }
    http::Response ready = Call("GET", "/readyz");
    if (ready.status == 200 && ready.body == "ok") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  *why = "not ready within 60 s";
  return false;
}

std::string Envtest::Stop() {
  if (stopped_) return "";
  stopped_ = true;
  std::string left;
  for (ChildProcess* p : {controller_manager_.get(), apiserver_.get(), etcd_.get()}) {
    if (p == nullptr) continue;
    p->Stop(std::chrono::seconds(10));
    if (!p->GroupGone()) left += "process group " + std::to_string(p->pid()) + " (" + p->log_path() + ") still has processes\n";
  }
  std::error_code ignored;
  if (!etcd_dir_.empty()) std::filesystem::remove_all(etcd_dir_, ignored);
  return left;
}

std::string Envtest::ca_pem() const { return ReadFile(ca_file_); }

kube::ClusterConfig Envtest::AdminConfig() const {
  kube::ClusterConfig config;
  config.server = url();
  config.ca_pem = ca_pem();
  config.client_cert_pem = ReadFile(dir_.File("admin.crt"));
  config.client_key_pem = ReadFile(dir_.File("admin.key"));
  config.context = "envtest-admin";
  return config;
}

std::unique_ptr<kube::Client> Envtest::AdminClient() const {
  kube::ClientOptions options;
  options.qps = 200;
  options.burst = 400;
  options.user_agent = "archway-test";
  auto client = kube::NewHttpClient(AdminConfig(), options);
  if (!client.ok()) throw std::runtime_error("envtest: admin client: " + client.error().message);
  return std::move(*client);
}

std::string Envtest::WriteTokenKubeconfig(const std::string& path, const std::string& token, const std::string& user) const {
  WriteFile(path, "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: " + url() +
                      "\n    certificate-authority-data: " + Base64Encode(ca_pem()) + "\nusers:\n- name: " + user +
                      "\n  user:\n    token: " + token + "\ncontexts:\n- name: envtest\n  context: {cluster: envtest, user: " +
                      user + "}\ncurrent-context: envtest\n");
  return path;
}

void Envtest::IssueServingCertificate(const std::string& cert_file, const std::string& key_file) const {
  SignedCertificate(dir_.path(), cert_file, key_file, "/CN=127.0.0.1",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
}

http::Response Envtest::Call(const std::string& method, const std::string& target, const std::string& body,
                             const std::string& content_type, const std::string& token,
                             const std::vector<std::pair<std::string, std::string>>& headers) const {
  http::Origin origin{true, "127.0.0.1", std::to_string(apiserver_port_)};
  http::Request request;
  request.method = method;
  request.target = target;
  request.headers = {{"Accept", "application/json"}, {"User-Agent", "archway-test"}};
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    request.headers.emplace_back("Content-Type", content_type);
  }
  if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
  request.headers.insert(request.headers.end(), headers.begin(), headers.end());
  request.body = body;
  http::ExchangeOptions exchange;
  exchange.timeout = std::chrono::seconds(30);
  auto response = token.empty() ? http::Exchange(admin_pool_, origin, admin_tls_, request, exchange)
                                : http::Exchange(token_pool_, origin, token_tls_, request, exchange);
  if (!response.ok()) {
    http::Response failed;
    failed.body = response.error().message;  // status 0: the transport failed
    return failed;
  }
  return std::move(*response);
}

void Envtest::CreateNamespace(const std::string& name, const std::map<std::string, std::string>& labels) const {
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
  if (!labels.empty()) ns["metadata"]["labels"] = labels;
  http::Response created = Call("POST", "/api/v1/namespaces", ns.dump());
  if (created.status != 201) throw std::runtime_error("envtest: namespace " + name + ": " + created.body);
  const std::string sa_path = "/api/v1/namespaces/" + name + "/serviceaccounts";
  if (!has_controller_manager()) {
    Json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "default"}}}};
    http::Response made = Call("POST", sa_path, sa.dump());
    if (made.status != 201) throw std::runtime_error("envtest: default ServiceAccount in " + name + ": " + made.body);
    return;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Call("GET", sa_path + "/default").status != 200) {
    if (Clock::now() > deadline) throw std::runtime_error("envtest: no default ServiceAccount in " + name + " after 30 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string Envtest::ServiceAccountToken(const std::string& ns, const std::string& name, int expiration_seconds) const {
  Json request = {{"apiVersion", "authentication.k8s.io/v1"},
                  {"kind", "TokenRequest"},
                  {"spec", {{"expirationSeconds", expiration_seconds}}}};
  http::Response r = Call("POST", "/api/v1/namespaces/" + ns + "/serviceaccounts/" + name + "/token", request.dump());
  if (r.status != 201) throw std::runtime_error("envtest: TokenRequest for " + ns + "/" + name + ": " + r.body);
  return Json::parse(r.body).at("status").at("token").get<std::string>();
}

Result<Envtest::Discovered> Envtest::Discover(const std::string& api_version, const std::string& kind) const {
  // Fresh each time: a CRD applied a moment ago appears in discovery when it is established.
  const std::string path = api_version == "v1" ? "/api/v1" : "/apis/" + api_version;
  http::Response r = Call("GET", path);
  if (r.status != 200) return kube::ErrorFromResponse(r.status, r.body, "discovery " + path);
  Json list = Json::parse(r.body, nullptr, false);
  for (const auto& resource : list.value("resources", Json::array())) {
    const std::string name = resource.value("name", "");
    if (resource.value("kind", "") == kind && name.find('/') == std::string::npos) {
      return Discovered{name, resource.value("namespaced", true)};
    }
  }
  return Error(ErrorCode::kNotFound, "discovery: " + api_version + " serves no kind " + kind);
}

Result<Json> Envtest::Apply(const Json& object, bool dry_run, const std::string& field_manager) const {
  const std::string api_version = object.value("apiVersion", "");
  const std::string kind = object.value("kind", "");
  const Json metadata = object.value("metadata", Json::object());
  const std::string name = metadata.value("name", "");
  auto discovered = Discover(api_version, kind);
  if (!discovered.ok()) return discovered.error();
  std::string path = api_version == "v1" ? "/api/v1" : "/apis/" + api_version;
  if (discovered->namespaced) path += "/namespaces/" + metadata.value("namespace", std::string("default"));
  path += "/" + discovered->resource + "/" + name;
  path += "?fieldManager=" + http::UrlEncode(field_manager) + "&force=true&fieldValidation=Strict";
  if (dry_run) path += "&dryRun=All";
  http::Response r = Call("PATCH", path, object.dump(), "application/apply-patch+yaml");
  if (r.status != 200 && r.status != 201) return kube::ErrorFromResponse(r.status, r.body, kind + "/" + name);
  Json stored = Json::parse(r.body, nullptr, false);
  if (stored.is_discarded()) return Error(ErrorCode::kBadResponse, kind + "/" + name + ": apply answered no JSON");
  return stored;
}

std::vector<Json> Envtest::AuditEvents() const {
  std::vector<Json> events;
  std::ifstream in(dir_.File("audit.log"));
  std::string line;
  while (std::getline(in, line)) {
    Json event = Json::parse(line, nullptr, false);  // the last line may be half written
    if (!event.is_discarded() && event.value("stage", "") == "ResponseComplete") events.push_back(std::move(event));
  }
  return events;
}

std::string Envtest::LogTails() const {
  std::string out;
  for (const auto& [name, p] : {std::pair<const char*, ChildProcess*>{"etcd", etcd_.get()},
                                {"kube-apiserver", apiserver_.get()},
                                {"kube-controller-manager", controller_manager_.get()}}) {
    if (p != nullptr) out += std::string("--- ") + name + " log:\n" + p->LogTail(3000) + "\n";
  }
  return out;
}

}  // namespace archway::testing

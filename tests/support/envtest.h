// A real Kubernetes control plane for tests, as controller-runtime's envtest runs one:
// etcd, kube-apiserver and (optionally) kube-controller-manager on free loopback ports,
// with a generated CA, a serving certificate for 127.0.0.1, a service-account key pair and
// an admin client certificate (group system:masters), RBAC enforced
// (--authorization-mode=Node,RBAC) and an audit log of every request.
//
//   EnvtestBinaries binaries = FindEnvtestBinaries();
//   if (!binaries.missing.empty()) GTEST_SKIP() << binaries.missing;
//   Envtest cluster(binaries);                 // ready (/readyz ok) when this returns
//   auto admin = cluster.AdminClient();        // kube::Client as system:masters
//   cluster.CreateNamespace("team");           // waits for its default ServiceAccount
//   std::string token = cluster.ServiceAccountToken("archway-system", "archway-webhook");
//   cluster.WriteTokenKubeconfig(path, token); // for `archway webhook --kubeconfig path`
//   cluster.Apply(object, /*dry_run=*/true);   // kubectl apply --server-side --dry-run=server
//   EXPECT_EQ(cluster.Stop(), "");             // every process gone
//
// Binaries are found as envtest finds them: $KUBEBUILDER_ASSETS (kube-apiserver, etcd,
// optionally kube-controller-manager and kubectl), otherwise <repo>/../shared/envtest for
// the Kubernetes binaries and etcd (and kubectl) on PATH. Start-up takes about 2-3 s on a
// 2-core machine (etcd's data lives in /dev/shm when it exists: etcd fsyncs every write).
// Each process runs in its own process group and dies with the thread that started it
// (child_process.h), so start the cluster from the main thread (a gtest Environment).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/http.h"
#include "base/result.h"
#include "kube/client.h"
#include "kube/config.h"
#include "tests/support/child_process.h"
#include "tests/support/process.h"

namespace archway::testing {

struct EnvtestBinaries {
  std::string kube_apiserver;
  std::string etcd;
  std::string kube_controller_manager;  // "" when absent (no garbage collection, no default ServiceAccounts)
  std::string kubectl;                  // "" when absent
  std::string source;                   // where they were found, for logs
  std::string missing;                  // one line saying why the cluster cannot start; "" when it can
};
EnvtestBinaries FindEnvtestBinaries();

struct EnvtestOptions {
  // Run kube-controller-manager (when found) with these controllers.
  bool controller_manager = true;
  std::vector<std::string> controllers = {"serviceaccount", "namespace", "garbagecollector", "root-ca-cert-publisher"};
  // Added to kube-apiserver's flags (e.g. "--enable-admission-plugins=...").
  std::vector<std::string> apiserver_flags;
  // CustomResourceDefinitions applied, and established, before the controller manager
  // starts (as envtest installs CRDs): its garbage collector discovers resources when it
  // starts and again only every 30 s, and never collects what an unknown owner owns.
  std::vector<nlohmann::json> crds = {};
};

class Envtest {
 public:
  // Starts the processes and waits until the apiserver is ready (and the controller
  // manager has made the "default" ServiceAccount). Throws std::runtime_error with the
  // processes' logs when that fails.
  explicit Envtest(const EnvtestBinaries& binaries, EnvtestOptions options = {});
  ~Envtest();  // Stop()
  Envtest(const Envtest&) = delete;
  Envtest& operator=(const Envtest&) = delete;

  // Stops the controller manager, the apiserver and etcd, in that order, and removes their
  // files. Answers "" when every process group is gone, else what was left. Idempotent.
  std::string Stop();

  std::string url() const { return "https://" + host(); }
  std::string host() const { return "127.0.0.1:" + std::to_string(apiserver_port_); }
  const EnvtestBinaries& binaries() const { return binaries_; }
  bool has_controller_manager() const { return controller_manager_ != nullptr; }
  const std::string& ca_file() const { return ca_file_; }
  std::string ca_pem() const;
  // A directory that lives as long as the cluster (for test files).
  const TempDir& dir() const { return dir_; }

  // Admin access (client certificate in group system:masters).
  kube::ClusterConfig AdminConfig() const;
  std::unique_ptr<kube::Client> AdminClient() const;
  const std::string& admin_kubeconfig() const { return admin_kubeconfig_; }
  // Writes a kubeconfig for this cluster that authenticates with `token`; answers `path`.
  std::string WriteTokenKubeconfig(const std::string& path, const std::string& token, const std::string& user = "test") const;
  // A serving certificate (chain) and key for 127.0.0.1, signed by the cluster CA: a
  // server the apiserver calls (a webhook) is then verified with caBundle = ca_pem().
  void IssueServingCertificate(const std::string& cert_file, const std::string& key_file) const;

  // One HTTP request to the apiserver, as admin (token "") or with a bearer token, with
  // any more headers (e.g. admin's Impersonate-User).
  http::Response Call(const std::string& method, const std::string& target, const std::string& body = "",
                      const std::string& content_type = "application/json", const std::string& token = "",
                      const std::vector<std::pair<std::string, std::string>>& headers = {}) const;

  // Creates the namespace and waits until its "default" ServiceAccount exists (the
  // controller manager makes it; without one, this does): until then the apiserver
  // refuses pods there.
  void CreateNamespace(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
  // A token of ServiceAccount ns/name (TokenRequest, POST .../serviceaccounts/NAME/token).
  std::string ServiceAccountToken(const std::string& ns, const std::string& name, int expiration_seconds = 3600) const;

  // What `kubectl apply --server-side [--dry-run=server]` does for one object: discovery
  // maps its kind to a resource, then PATCH application/apply-patch+yaml with
  // fieldManager (and dryRun=All). Answers the stored (or would-be) object, or the API's
  // error (kube/errors.h wording).
  Result<nlohmann::json> Apply(const nlohmann::json& object, bool dry_run,
                               const std::string& field_manager = "archway-test") const;

  // The audit log (policy: every request at level Metadata): the ResponseComplete events,
  // in order. Each has user.username, verb, requestURI, objectRef, responseStatus.code.
  std::vector<nlohmann::json> AuditEvents() const;

  // The last lines of every process's log, for failure messages.
  std::string LogTails() const;

 private:
  struct Discovered {
    std::string resource;
    bool namespaced = true;
  };
  void WriteCertificates();
  void StartOnce(int attempt);
  void InstallCrds();
  bool WaitReady(std::string* why);
  Result<Discovered> Discover(const std::string& api_version, const std::string& kind) const;

  EnvtestBinaries binaries_;
  EnvtestOptions options_;
  TempDir dir_;
  std::string etcd_dir_;
  std::string ca_file_;
  std::string admin_kubeconfig_;
  int apiserver_port_ = 0;
  std::unique_ptr<ChildProcess> etcd_;
  std::unique_ptr<ChildProcess> apiserver_;
  std::unique_ptr<ChildProcess> controller_manager_;
  std::shared_ptr<http::TlsContext> admin_tls_;
  std::shared_ptr<http::TlsContext> token_tls_;
  // Separate pools: a connection made with the admin certificate authenticates as admin
  // whatever token a request carries.
  mutable http::ConnectionPool admin_pool_;
  mutable http::ConnectionPool token_pool_;
  bool stopped_ = false;
};

}  // namespace archway::testing

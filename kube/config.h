// Where the Kubernetes API is and how to authenticate to it: in-cluster service-account
// settings or a kubeconfig file (the shape k3s writes to /etc/rancher/k3s/k3s.yaml).
#pragma once

#include <string>

#include "base/result.h"

namespace archway::kube {

struct ClusterConfig {
  std::string server{};         // "https://10.43.0.1:443"; no trailing slash
  std::string ca_pem{};         // trusted CA bundle (may hold several certificates); "" = system roots
  bool insecure = false;      // insecure-skip-tls-verify
  std::string token{};          // static bearer token
  std::string token_file{};     // re-read as it rotates (service-account tokens); wins over `token`
  std::string client_cert_pem{};  // client certificate chain (PEM)
  std::string client_key_pem{};   // its private key (PEM: PKCS#8, PKCS#1 or SEC1 EC)
  std::string context{};        // the kubeconfig context used ("" in-cluster); for messages
  std::string default_namespace{};  // context namespace, or the pod's namespace in-cluster; may be ""
};

// Parses kubeconfig text. `context` "" = current-context. Inline *-data fields and
// file references (relative to `base_dir`) are both read. A user with an `exec` or
// `auth-provider` plugin gets kUnsupported; malformed YAML or missing entries get
// kInvalidArgument naming the field.
Result<ClusterConfig> ParseKubeconfig(const std::string& yaml_text, const std::string& context = "",
                                      const std::string& base_dir = "");

// Reads and parses the kubeconfig file at `path`.
Result<ClusterConfig> LoadKubeconfig(const std::string& path, const std::string& context = "");

// In-cluster: KUBERNETES_SERVICE_HOST/PORT, the token file and ca.crt under
// /var/run/secrets/kubernetes.io/serviceaccount (`sa_dir` overrides, for tests).
// kNotFound when not running in a pod.
Result<ClusterConfig> LoadInCluster(const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// What servers use: a non-empty `kubeconfig_path` is loaded; "" means in-cluster, then
// $KUBECONFIG (first entry), then ~/.kube/config. kNotFound when none applies, so the
// caller can run without the API (and log it once).
Result<ClusterConfig> LoadDefault(const std::string& kubeconfig_path);

// The bearer token to send now: the token file's current content (trimmed) when
// token_file is set, else `token`. Errors when the file cannot be read.
Result<std::string> CurrentToken(const ClusterConfig& config);

}  // namespace archway::kube

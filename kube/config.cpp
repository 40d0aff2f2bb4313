#include "kube/config.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <yaml-cpp/yaml.h>

#include "base/encoding.h"

namespace archway::kube {
namespace {

// Kubeconfigs, certificates and tokens are small; the bound keeps a path such as
// /dev/zero from exhausting memory.
constexpr size_t kMaxFileBytes = 4 << 20;

Result<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kNotFound, "cannot read " + what + " " + path);
  std::string content;
  char buf[16384];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    content.append(buf, static_cast<size_t>(in.gcount()));
    if (content.size() > kMaxFileBytes) break;
  }
  if (content.size() > kMaxFileBytes) return Error(ErrorCode::kInvalidArgument, what + " " + path + " is larger than 4 MiB");
  return content;
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

// A scalar field of a YAML map, or "" when absent. Throws (caught by the caller) on a
// non-scalar.
std::string Scalar(const YAML::Node& map, const char* key) {
  if (!map.IsMap()) return "";
  YAML::Node node = map[key];
  if (!node || node.IsNull()) return "";
  if (!node.IsScalar()) throw std::runtime_error(std::string("field ") + key + " must be a string");
  return node.Scalar();
}

// Finds the entry named `name` in a kubeconfig list (clusters, users, contexts) and
// returns its `field` (cluster, user, context) map.
Result<YAML::Node> Named(const YAML::Node& root, const char* list, const char* field, const std::string& name) {
  YAML::Node entries = root[list];
  if (entries && entries.IsSequence()) {
    for (const auto& entry : entries) {
      if (entry.IsMap() && Scalar(entry, "name") == name) {
        YAML::Node value = entry[field];
        if (!value || !value.IsMap()) {
          // An empty user ({}) is valid: anonymous.
          if (!value || value.IsNull()) return YAML::Node(YAML::NodeType::Map);
          return Error(ErrorCode::kInvalidArgument,
                       std::string("kubeconfig: ") + list + " entry \"" + name + "\" has no " + field + " map");
        }
        return value;
      }
    }
  }
  return Error(ErrorCode::kInvalidArgument,
               std::string("kubeconfig: no ") + field + " named \"" + name + "\" in " + list);
}

// "<field>-data" (base64 inline) wins over "<field>" (a file path).
Result<std::string> DataOrFile(const YAML::Node& map, const std::string& field, const std::string& base_dir) {
  std::string data = Scalar(map, (field + "-data").c_str());
  if (!data.empty()) {
    auto decoded = Base64Decode(data);
    if (!decoded) return Error(ErrorCode::kInvalidArgument, "kubeconfig: " + field + "-data is not valid base64");
    return *decoded;
  }
  std::string file = Scalar(map, field.c_str());
  if (file.empty()) return std::string();
  auto content = ReadFile(Resolve(base_dir, file), field);
  if (!content.ok()) return Error(ErrorCode::kInvalidArgument, "kubeconfig: " + content.error().message);
  return content.value();
}

Result<ClusterConfig> Parse(const std::string& yaml_text, const std::string& context_name,
                            const std::string& base_dir) {
  YAML::Node root = YAML::Load(yaml_text);
  if (!root.IsMap()) return Error(ErrorCode::kInvalidArgument, "kubeconfig: not a YAML map");
  std::string name = context_name.empty() ? Scalar(root, "current-context") : context_name;
  if (name.empty()) return Error(ErrorCode::kInvalidArgument, "kubeconfig: no current-context and no context given");
  auto context = Named(root, "contexts", "context", name);
  if (!context.ok()) return context.error();
  std::string cluster_name = Scalar(*context, "cluster");
  std::string user_name = Scalar(*context, "user");
  if (cluster_name.empty()) return Error(ErrorCode::kInvalidArgument, "kubeconfig: context \"" + name + "\" names no cluster");

  ClusterConfig config;
  config.context = name;
  config.default_namespace = Scalar(*context, "namespace");

  auto cluster = Named(root, "clusters", "cluster", cluster_name);
  if (!cluster.ok()) return cluster.error();
  config.server = Scalar(*cluster, "server");
  if (config.server.empty()) return Error(ErrorCode::kInvalidArgument, "kubeconfig: cluster \"" + cluster_name + "\" has no server");
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0)
    return Error(ErrorCode::kInvalidArgument, "kubeconfig: server \"" + config.server + "\" is not an http(s) URL");
  while (config.server.size() > 8 && config.server.back() == '/') config.server.pop_back();
  std::string insecure = Scalar(*cluster, "insecure-skip-tls-verify");
  config.insecure = insecure == "true";
  auto ca = DataOrFile(*cluster, "certificate-authority", base_dir);
  if (!ca.ok()) return ca.error();
  config.ca_pem = ca.value();

  if (!user_name.empty()) {
    auto user = Named(root, "users", "user", user_name);
    if (!user.ok()) return user.error();
    if ((*user)["exec"] && !(*user)["exec"].IsNull()) {
      std::string command = (*user)["exec"].IsMap() ? Scalar((*user)["exec"], "command") : "";
      return Error(ErrorCode::kUnsupported,
                   "kubeconfig: user \"" + user_name + "\" uses an exec credential plugin (" + command +
                       "), which archway does not run; use a token, a client certificate, or in-cluster config");
    }
    if ((*user)["auth-provider"] && !(*user)["auth-provider"].IsNull())
      return Error(ErrorCode::kUnsupported,
                   "kubeconfig: user \"" + user_name + "\" uses an auth-provider plugin, which archway does not support");
    if (!Scalar(*user, "username").empty() || !Scalar(*user, "password").empty())
      return Error(ErrorCode::kUnsupported,
                   "kubeconfig: user \"" + user_name + "\" uses basic auth (username/password), which Kubernetes no longer supports");
    config.token = Scalar(*user, "token");
    std::string token_file = Scalar(*user, "tokenFile");
    if (!token_file.empty()) config.token_file = Resolve(base_dir, token_file);
    auto cert = DataOrFile(*user, "client-certificate", base_dir);
    if (!cert.ok()) return cert.error();
    auto key = DataOrFile(*user, "client-key", base_dir);
    if (!key.ok()) return key.error();
    config.client_cert_pem = cert.value();
    config.client_key_pem = key.value();
    if (config.client_cert_pem.empty() != config.client_key_pem.empty())
      return Error(ErrorCode::kInvalidArgument,
                   "kubeconfig: user \"" + user_name + "\" has a client certificate without its key, or a key without its certificate");
  }
  return config;
}

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Result<ClusterConfig> ParseKubeconfig(const std::string& yaml_text, const std::string& context,
                                      const std::string& base_dir) {
  try {
    return Parse(yaml_text, context, base_dir);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("kubeconfig: malformed: ") + e.what());
  }
}

Result<ClusterConfig> LoadKubeconfig(const std::string& path, const std::string& context) {
  auto text = ReadFile(path, "kubeconfig");
  if (!text.ok()) return text.error();
  auto config = ParseKubeconfig(text.value(), context, DirOf(path));
  if (!config.ok()) return config.error().Wrap(path);
  return config;
}

Result<ClusterConfig> LoadInCluster(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return Error(ErrorCode::kNotFound, "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset)");
  ClusterConfig config;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 literal
  config.server = "https://" + h + ":" + port;
  config.token_file = sa_dir + "/token";
  auto token = ReadFile(config.token_file, "service-account token");
  if (!token.ok()) return token.error();
  auto ca = ReadFile(sa_dir + "/ca.crt", "service-account CA");
  if (!ca.ok()) return ca.error();
  config.ca_pem = ca.value();
  auto ns = ReadFile(sa_dir + "/namespace", "service-account namespace");
  if (ns.ok()) config.default_namespace = Trim(ns.value());
  return config;
}

Result<ClusterConfig> LoadDefault(const std::string& kubeconfig_path) {
  if (!kubeconfig_path.empty()) return LoadKubeconfig(kubeconfig_path);
  auto in_cluster = LoadInCluster();
  if (in_cluster.ok() || in_cluster.error().code != ErrorCode::kNotFound) return in_cluster;
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::string first = env;
    first = first.substr(0, first.find(':'));
    if (!first.empty()) return LoadKubeconfig(first);
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    std::string path = std::string(home) + "/.kube/config";
    if (std::ifstream(path)) return LoadKubeconfig(path);
  }
  return Error(ErrorCode::kNotFound,
               "no Kubernetes configuration: not in a cluster, $KUBECONFIG unset and no ~/.kube/config");
}

Result<std::string> CurrentToken(const ClusterConfig& config) {
  if (config.token_file.empty()) return config.token;
  auto token = ReadFile(config.token_file, "token file");
  if (!token.ok()) return token.error();
  return Trim(token.value());
}

}  // namespace archway::kube

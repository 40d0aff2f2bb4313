#include "webhook/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "base/duration.h"

namespace archway::webhook {
namespace {

Error Invalid(const std::string& message) { return Error(ErrorCode::kInvalidArgument, message); }

std::vector<std::string> SplitComma(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Scalar at `node`, or an error naming `key`.
Result<std::string> Scalar(const YAML::Node& node, const std::string& key) {
  if (node.IsNull()) return std::string();
  if (!node.IsScalar()) return Invalid("config key \"" + key + "\": expected a string");
  return node.as<std::string>();
}

Status CheckKeys(const YAML::Node& map, const std::set<std::string>& known, const std::string& where) {
  for (const auto& entry : map) {
    const std::string key = entry.first.as<std::string>();
    if (!known.count(key)) return Invalid("config: unknown key \"" + where + key + "\"");
  }
  return Status::Ok();
}

Result<SecretRef> ParseSecretRef(const std::string& text) {
  if (text.empty()) return SecretRef{};
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() ||
      text.find('/', slash + 1) != std::string::npos) {
    return Invalid("global pull secret \"" + text + "\": expected NAMESPACE/NAME");
  }
  return SecretRef{text.substr(0, slash), text.substr(slash + 1)};
}

}  // namespace

const char* PolicyName(NoCommonPlatformPolicy policy) {
  switch (policy) {
    case NoCommonPlatformPolicy::kPending: return "pending";
    case NoCommonPlatformPolicy::kDeny: return "deny";
    case NoCommonPlatformPolicy::kIgnore: return "ignore";
  }
  return "pending";
}

Result<NoCommonPlatformPolicy> ParsePolicy(const std::string& text) {
  if (text == "pending") return NoCommonPlatformPolicy::kPending;
  if (text == "deny") return NoCommonPlatformPolicy::kDeny;
  if (text == "ignore") return NoCommonPlatformPolicy::kIgnore;
  return Invalid("noCommonPlatform \"" + text + "\": expected pending, deny or ignore");
}

Result<WebhookConfig> ParseWebhookConfig(const std::string& yaml_text) {
  WebhookConfig config;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Invalid(std::string("config: not valid YAML: ") + e.what());
  }
  if (root.IsNull()) return config;
  if (!root.IsMap()) return Invalid("config: expected a mapping at the top level");
  try {
    if (auto s = CheckKeys(root, {"listen", "tls", "metricsListen", "budget", "noCommonPlatform", "skipNamespaces",
                                  "registries", "globalPullSecret", "kubeconfig"},
                           "");
        !s.ok()) {
      return s.error();
    }
    auto scalar_into = [&](const YAML::Node& node, const std::string& key, std::string& out) -> Status {
      if (!node) return Status::Ok();
      auto value = Scalar(node, key);
      if (!value.ok()) return value.error();
      out = *value;
      return Status::Ok();
    };
    if (auto s = scalar_into(root["listen"], "listen", config.listen); !s.ok()) return s.error();
    if (auto s = scalar_into(root["metricsListen"], "metricsListen", config.metrics_listen); !s.ok()) return s.error();
    if (auto s = scalar_into(root["kubeconfig"], "kubeconfig", config.kubeconfig); !s.ok()) return s.error();
    if (const auto tls = root["tls"]) {
      if (!tls.IsMap()) return Invalid("config key \"tls\": expected a mapping");
      if (auto s = CheckKeys(tls, {"certFile", "keyFile"}, "tls."); !s.ok()) return s.error();
      if (auto s = scalar_into(tls["certFile"], "tls.certFile", config.tls_cert_file); !s.ok()) return s.error();
      if (auto s = scalar_into(tls["keyFile"], "tls.keyFile", config.tls_key_file); !s.ok()) return s.error();
    }
    if (const auto budget = root["budget"]) {
      auto text = Scalar(budget, "budget");
      if (!text.ok()) return text.error();
      auto parsed = ParseDuration(*text);
      if (!parsed.ok()) return parsed.error().Wrap("config key \"budget\"");
      config.budget = *parsed;
    }
    if (const auto policy = root["noCommonPlatform"]) {
      auto text = Scalar(policy, "noCommonPlatform");
      if (!text.ok()) return text.error();
      auto parsed = ParsePolicy(*text);
      if (!parsed.ok()) return parsed.error();
      config.no_common_platform = *parsed;
    }
    if (const auto skip = root["skipNamespaces"]) {
      if (!skip.IsSequence() && !skip.IsNull()) return Invalid("config key \"skipNamespaces\": expected a list");
      config.skip_namespaces.clear();
      for (const auto& item : skip) {
        if (!item.IsScalar()) return Invalid("config key \"skipNamespaces\": expected a list of names");
        config.skip_namespaces.push_back(item.as<std::string>());
      }
    }
    if (const auto registries = root["registries"]) {
      if (!registries.IsMap()) return Invalid("config key \"registries\": expected a mapping");
      if (auto s = CheckKeys(registries, {"configFile", "dockerConfig"}, "registries."); !s.ok()) return s.error();
      if (auto s = scalar_into(registries["configFile"], "registries.configFile", config.registries_config_file);
          !s.ok()) {
        return s.error();
      }
      if (auto s = scalar_into(registries["dockerConfig"], "registries.dockerConfig", config.docker_config); !s.ok()) {
        return s.error();
      }
    }
    if (const auto secret = root["globalPullSecret"]) {
      if (secret.IsNull()) {
        config.global_pull_secret = {};
      } else {
        if (!secret.IsMap()) return Invalid("config key \"globalPullSecret\": expected {namespace, name}");
        if (auto s = CheckKeys(secret, {"namespace", "name"}, "globalPullSecret."); !s.ok()) return s.error();
        SecretRef ref;
        if (auto s = scalar_into(secret["namespace"], "globalPullSecret.namespace", ref.ns); !s.ok()) return s.error();
        if (auto s = scalar_into(secret["name"], "globalPullSecret.name", ref.name); !s.ok()) return s.error();
        if (!ref.name.empty() && ref.ns.empty()) return Invalid("config key \"globalPullSecret.namespace\" is empty");
        config.global_pull_secret = ref;
      }
    }
  } catch (const YAML::Exception& e) {
    return Invalid(std::string("config: ") + e.what());
  }
  if (auto s = ParseListenAddress(config.listen); !s.ok()) return s.error().Wrap("config key \"listen\"");
  if (auto s = ParseListenAddress(config.metrics_listen); !s.ok()) return s.error().Wrap("config key \"metricsListen\"");
  return config;
}

Result<WebhookConfig> LoadWebhookConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(ErrorCode::kNotFound, "config file " + path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  auto config = ParseWebhookConfig(text.str());
  if (!config.ok()) return config.error().Wrap(path);
  return config;
}

Status ApplyFlags(WebhookConfig& config, const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    if (!flag.starts_with("--")) return Invalid("unexpected argument \"" + flag + "\"");
    if (const auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else {
      if (i + 1 >= args.size()) return Invalid(flag + ": missing value");
      value = args[++i];
    }
    // The config file's own key spellings work too (--metricsListen, --tls.certFile, ...).
    static const std::map<std::string, std::string> kAliases = {
        {"--metricsListen", "--metrics-listen"},
        {"--tls.certFile", "--tls-cert-file"},
        {"--tls.keyFile", "--tls-key-file"},
        {"--noCommonPlatform", "--no-common-platform"},
        {"--skipNamespaces", "--skip-namespaces"},
        {"--registries.configFile", "--registries-config-file"},
        {"--registries.dockerConfig", "--docker-config"},
        {"--globalPullSecret", "--global-pull-secret"},
    };
    if (auto alias = kAliases.find(flag); alias != kAliases.end()) flag = alias->second;
    if (flag == "--config") {
      continue;  // read by the caller before the flags are applied
    } else if (flag == "--listen") {
      if (auto s = ParseListenAddress(value); !s.ok()) return s.error().Wrap(flag);
      config.listen = value;
    } else if (flag == "--tls-cert-file" || flag == "--tls-cert") {
      config.tls_cert_file = value;
    } else if (flag == "--tls-key-file" || flag == "--tls-key") {
      config.tls_key_file = value;
    } else if (flag == "--metrics-listen") {
      if (auto s = ParseListenAddress(value); !s.ok()) return s.error().Wrap(flag);
      config.metrics_listen = value;
    } else if (flag == "--budget") {
      auto parsed = ParseDuration(value);
      if (!parsed.ok()) return parsed.error().Wrap(flag);
      config.budget = *parsed;
    } else if (flag == "--no-common-platform") {
      auto parsed = ParsePolicy(value);
      if (!parsed.ok()) return parsed.error().Wrap(flag);
      config.no_common_platform = *parsed;
    } else if (flag == "--skip-namespaces") {
      config.skip_namespaces = SplitComma(value);
    } else if (flag == "--registries-config-file" || flag == "--registries") {
      config.registries_config_file = value;
    } else if (flag == "--docker-config") {
      config.docker_config = value;
    } else if (flag == "--global-pull-secret") {
      auto parsed = ParseSecretRef(value);
      if (!parsed.ok()) return parsed.error().Wrap(flag);
      config.global_pull_secret = *parsed;
    } else if (flag == "--kubeconfig") {
      config.kubeconfig = value;
    } else {
      return Invalid("unknown flag " + flag + " (see --help)");
    }
  }
  return Status::Ok();
}

std::string FlagsHelp() {
  return "usage: archway webhook [--config FILE] [flags]\n"
         "Every flag overrides the config key of the same name:\n"
         "  --listen ADDR                 HTTPS admission address (listen, default \":8443\")\n"
         "  --tls-cert-file FILE          server certificate chain (tls.certFile; alias --tls-cert)\n"
         "  --tls-key-file FILE           its private key (tls.keyFile; alias --tls-key)\n"
         "  --metrics-listen ADDR         plain-HTTP /metrics address (metricsListen, default \":9090\")\n"
         "  --budget DURATION             answer within this time (budget, default 2s)\n"
         "  --no-common-platform POLICY   pending | deny | ignore (noCommonPlatform)\n"
         "  --skip-namespaces A,B         namespaces never mutated (skipNamespaces)\n"
         "  --registries-config-file FILE k3s registries.yaml (registries.configFile; alias --registries)\n"
         "  --docker-config FILE          Docker config.json (registries.dockerConfig)\n"
         "  --global-pull-secret NS/NAME  pull secret used for every pod, \"\" for none (globalPullSecret)\n"
         "  --kubeconfig FILE             \"\" = in-cluster (kubeconfig)\n";
}

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  std::string host;
  std::string port_text;
  if (text.starts_with("[")) {
    const auto close = text.find("]:");
    if (close == std::string::npos) return Invalid("listen address \"" + text + "\": expected [ADDR]:PORT");
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return Invalid("listen address \"" + text + "\": expected HOST:PORT or :PORT");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return Invalid("listen address \"" + text + "\": write IPv6 addresses as [ADDR]:PORT");
    }
  }
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos || std::stoul(port_text) > 65535) {
    return Invalid("listen address \"" + text + "\": bad port \"" + port_text + "\"");
  }
  return ListenAddress{host, static_cast<unsigned short>(std::stoul(port_text))};
}

}  // namespace archway::webhook

#include "operator/config.h"

#include <cctype>
#include <fstream>
#include <functional>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "base/duration.h"

namespace archway::op {
namespace {

// Setters by key path, so the YAML file and the flags share one table.
using Setter = std::function<Status(OperatorConfig&, const std::string&)>;

Status SetBool(bool& out, const std::string& key, const std::string& value) {
  if (value == "true" || value == "True" || value == "1") out = true;
  else if (value == "false" || value == "False" || value == "0") out = false;
  else return Error(ErrorCode::kInvalidArgument, key + ": expected true or false, got \"" + value + "\"");
  return Status::Ok();
}

const std::vector<std::pair<std::string, Setter>>& Keys() {
  static const std::vector<std::pair<std::string, Setter>> keys = {
      {"kubeconfig", [](OperatorConfig& c, const std::string& v) { c.kubeconfig = v; return Status::Ok(); }},
      {"metricsListen", [](OperatorConfig& c, const std::string& v) { c.metrics_listen = v; return Status::Ok(); }},
      {"healthListen", [](OperatorConfig& c, const std::string& v) { c.health_listen = v; return Status::Ok(); }},
      {"leaderElection.enabled",
       [](OperatorConfig& c, const std::string& v) { return SetBool(c.leader_election_enabled, "leaderElection.enabled", v); }},
      {"leaderElection.namespace",
       [](OperatorConfig& c, const std::string& v) { c.leader_election_namespace = v; return Status::Ok(); }},
      {"leaderElection.leaseName",
       [](OperatorConfig& c, const std::string& v) { c.leader_election_lease_name = v; return Status::Ok(); }},
      {"resync",
       [](OperatorConfig& c, const std::string& v) -> Status {
         auto d = ParseDuration(v);
         if (!d.ok()) return d.error().Wrap("resync");
         if (d->count() <= 0) return Error(ErrorCode::kInvalidArgument, "resync: must be positive");
         c.resync = *d;
         return Status::Ok();
       }},
      {"registries.configFile",
       [](OperatorConfig& c, const std::string& v) { c.registries_config_file = v; return Status::Ok(); }},
      {"registries.dockerConfig",
       [](OperatorConfig& c, const std::string& v) { c.registries_docker_config = v; return Status::Ok(); }},
      {"builder.buildahImage", [](OperatorConfig& c, const std::string& v) { c.buildah_image = v; return Status::Ok(); }},
      {"builder.buildkitImage", [](OperatorConfig& c, const std::string& v) { c.buildkit_image = v; return Status::Ok(); }},
      {"builder.gitImage", [](OperatorConfig& c, const std::string& v) { c.git_image = v; return Status::Ok(); }},
      {"builder.binfmtImage", [](OperatorConfig& c, const std::string& v) { c.binfmt_image = v; return Status::Ok(); }},
      {"baseImages.minRebuildInterval",
       [](OperatorConfig& c, const std::string& v) -> Status {
         auto d = ParseDuration(v);
         if (!d.ok()) return d.error().Wrap("baseImages.minRebuildInterval");
         if (d->count() < 0) return Error(ErrorCode::kInvalidArgument, "baseImages.minRebuildInterval: must not be negative");
         c.min_base_rebuild_interval = *d;
         return Status::Ok();
       }},
  };
  return keys;
}

// "leaderElection.enabled", "leader-election-enabled", "leaderelection.enabled" -> "leaderelectionenabled"
std::string Squash(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '-' || ch == '.' || ch == '_') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return out;
}

Status Walk(OperatorConfig& config, const YAML::Node& node, const std::string& prefix) {
  if (!node.IsMap()) return Error(ErrorCode::kInvalidArgument, (prefix.empty() ? "config" : prefix) + ": expected a map");
  for (const auto& entry : node) {
    std::string key = prefix.empty() ? entry.first.as<std::string>() : prefix + "." + entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (value.IsMap()) {
      Status s = Walk(config, value, key);
      if (!s.ok()) return s;
      continue;
    }
    if (value.IsNull()) continue;  // "key:" with nothing keeps the default
    if (!value.IsScalar()) return Error(ErrorCode::kInvalidArgument, key + ": expected a single value");
    bool known = false;
    for (const auto& [name, set] : Keys()) {
      if (name != key) continue;
      known = true;
      Status s = set(config, value.Scalar());
      if (!s.ok()) return s;
    }
    if (!known) return Error(ErrorCode::kInvalidArgument, key + ": unknown key in the operator config");
  }
  return Status::Ok();
}

}  // namespace

Result<OperatorConfig> ParseOperatorConfig(std::string_view yaml_text) {
  OperatorConfig config;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("operator config: ") + e.what());
  }
  if (root.IsNull()) return config;  // an empty file means all defaults
  try {
    Status s = Walk(config, root, "");
    if (!s.ok()) return s.error();
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("operator config: ") + e.what());
  }
  return config;
}

Result<OperatorConfig> LoadOperatorConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(ErrorCode::kNotFound, path + ": cannot read the operator config");
  std::stringstream ss;
  ss << in.rdbuf();
  auto config = ParseOperatorConfig(ss.str());
  if (!config.ok()) return config.error().Wrap(path);
  return config;
}

Status ApplyConfigFlag(OperatorConfig& config, std::string_view flag, std::string_view value) {
  std::string want = Squash(flag);
  for (const auto& [name, set] : Keys()) {
    if (Squash(name) == want) return set(config, std::string(value));
  }
  return Error(ErrorCode::kInvalidArgument, "unknown flag --" + std::string(flag));
}

Status ApplyConfigFlags(OperatorConfig& config, const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) return Error(ErrorCode::kInvalidArgument, "unexpected argument \"" + arg + "\"");
    std::string name = arg.substr(2), value;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= args.size()) return Error(ErrorCode::kInvalidArgument, "--" + name + " needs a value");
      value = args[++i];
    }
    if (name == "config") continue;
    Status s = ApplyConfigFlag(config, name, value);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace archway::op

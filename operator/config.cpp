#include "operator/config.h"

#include "base/config_keys.h"
#include "base/duration.h"

namespace archway::op {
namespace {

Result<std::chrono::milliseconds> PositiveDuration(const std::string& value) {
  auto parsed = ParseDuration(value);
  if (!parsed.ok()) return parsed.error();
  if (parsed->count() <= 0) return Error(ErrorCode::kInvalidArgument, "must be positive");
  return *parsed;
}

// Every key of the file (docs/design.md "Names users see"), bound to `c`.
std::vector<ConfigKey> Keys(OperatorConfig& c) {
  return {
      {.name = "kubeconfig", .set = ConfigSetter(c.kubeconfig, ConfigText)},
      {.name = "metricsListen", .set = ConfigSetter(c.metrics_listen, ConfigText)},
      {.name = "healthListen", .set = ConfigSetter(c.health_listen, ConfigText)},
      {.name = "leaderElection.enabled", .set = ConfigSetter(c.leader_election_enabled, ParseConfigBool)},
      {.name = "leaderElection.namespace", .set = ConfigSetter(c.leader_election_namespace, ConfigText)},
      {.name = "leaderElection.leaseName", .set = ConfigSetter(c.leader_election_lease_name, ConfigText)},
      {.name = "resync", .set = ConfigSetter(c.resync, PositiveDuration)},
      {.name = "registries.configFile", .set = ConfigSetter(c.registries_config_file, ConfigText)},
      {.name = "registries.dockerConfig", .set = ConfigSetter(c.registries_docker_config, ConfigText)},
      {.name = "builder.buildahImage", .set = ConfigSetter(c.buildah_image, ConfigText)},
      {.name = "builder.buildkitImage", .set = ConfigSetter(c.buildkit_image, ConfigText)},
      {.name = "builder.gitImage", .set = ConfigSetter(c.git_image, ConfigText)},
  };
}

}  // namespace

Result<OperatorConfig> ParseOperatorConfig(std::string_view yaml_text) {
  OperatorConfig config;
  if (Status s = ApplyConfigYaml(yaml_text, Keys(config)); !s.ok()) return s.error().Wrap("operator");
  return config;
}

Result<OperatorConfig> LoadOperatorConfig(const std::string& path) {
  auto text = ReadConfigFile(path);
  if (!text.ok()) return text.error();
  auto config = ParseOperatorConfig(*text);
  if (!config.ok()) return config.error().Wrap(path);
  return config;
}

Status ApplyConfigFlags(OperatorConfig& config, const std::vector<std::string>& args) {
  return archway::ApplyConfigFlags(args, Keys(config));
}

}  // namespace archway::op

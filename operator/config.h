// The operator's configuration file (docs/design.md "Names users see"): every key has a
// default; a command-line flag of the same name overrides it. Flags may be written as the
// key (`--metricsListen :9091`, `--leaderElection.enabled=false`) or in kebab case
// (`--metrics-listen`, `--leader-election-enabled`).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace archway::op {

struct OperatorConfig {
  std::string kubeconfig;  // "" = in-cluster
  std::string metrics_listen = ":9091";
  std::string health_listen = ":8081";
  bool leader_election_enabled = true;
  std::string leader_election_namespace = "archway-system";
  std::string leader_election_lease_name = "archway-operator";
  std::chrono::milliseconds resync{std::chrono::minutes(10)};
  std::string registries_config_file = "/etc/archway/registries.yaml";
  std::string registries_docker_config = "/etc/archway/docker/config.json";
  std::string buildah_image = "quay.io/buildah/stable:v1.37";
  std::string buildkit_image = "moby/buildkit:v0.16.0-rootless";
  // The init container that clones spec.build.git (needs git and sh). Not in the design's
  // example file; an addition with a default, like every key.
  std::string git_image = "alpine/git:2.45.2";
};

// Parses the YAML text over the defaults, with base/config_keys.h's rules (the webhook's
// file follows the same ones): unknown keys and wrong types are errors naming the key, so
// a typo does not silently fall back to a default.
Result<OperatorConfig> ParseOperatorConfig(std::string_view yaml_text);
// Reads and parses the file.
Result<OperatorConfig> LoadOperatorConfig(const std::string& path);

// Applies `--key value` / `--key=value` pairs; `--config` is skipped (the caller read it).
Status ApplyConfigFlags(OperatorConfig& config, const std::vector<std::string>& args);

}  // namespace archway::op

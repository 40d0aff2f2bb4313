#include "cmd/registry_options.h"

#include <string_view>

#include "base/log.h"
#include "registry/credentials.h"
#include "registry/registries_config.h"

namespace archway::cmd {

const char* const kRegistryFlagsHelp =
    "  --registries FILE     k3s registries.yaml: mirrors, credentials, TLS\n"
    "                        (default /etc/rancher/k3s/registries.yaml when it exists)\n"
    "  --docker-config FILE  Docker config.json with credentials\n"
    "                        (default $DOCKER_CONFIG/config.json, else ~/.docker/config.json)\n"
    "  -v, --verbose         log every registry request to stderr\n";

namespace {

// Accepts "--flag VALUE" and "--flag=VALUE".
Result<bool> ConsumeValue(const std::vector<std::string>& args, size_t& i, std::string_view flag, std::string& out) {
  const std::string& arg = args[i];
  if (arg == flag) {
    if (i + 1 >= args.size()) return Error(ErrorCode::kInvalidArgument, std::string(flag) + " needs a value");
    out = args[++i];
    return true;
  }
  if (arg.size() > flag.size() && arg.compare(0, flag.size(), flag) == 0 && arg[flag.size()] == '=') {
    out = arg.substr(flag.size() + 1);
    return true;
  }
  return false;
}

}  // namespace

Result<bool> ConsumeRegistryFlag(const std::vector<std::string>& args, size_t& i, RegistryFlags& flags) {
  if (args[i] == "-v" || args[i] == "--verbose") {
    flags.verbose = true;
    return true;
  }
  for (auto [flag, target] : {std::pair<std::string_view, std::string*>{"--registries", &flags.registries_file},
                              std::pair<std::string_view, std::string*>{"--docker-config", &flags.docker_config}}) {
    auto consumed = ConsumeValue(args, i, flag, *target);
    if (!consumed.ok() || *consumed) return consumed;
  }
  return false;
}

Result<registry::ClientOptions> BuildClientOptions(const RegistryFlags& flags,
                                                   std::shared_ptr<std::atomic<int>> request_count) {
  registry::ClientOptions options;
  std::string registries_path = flags.registries_file.empty() ? registry::DefaultRegistriesPath() : flags.registries_file;
  if (!registries_path.empty()) {
    auto registries = registry::LoadRegistriesYaml(registries_path);
    if (!registries.ok()) return registries.error().Wrap(registries_path);
    options.registries = std::move(*registries);
  }
  std::string docker_path = flags.docker_config.empty() ? registry::Keychain::DefaultDockerConfigPath() : flags.docker_config;
  registry::Keychain docker;
  if (!docker_path.empty()) {
    auto loaded = registry::Keychain::FromDockerConfigFile(docker_path);
    if (!loaded.ok()) return loaded.error().Wrap(docker_path);
    docker = std::move(*loaded);
  }
  options.keychain = docker.MergedOver(options.registries.ToKeychain());

  if (flags.verbose) {
    log::SetSink(log::TextStderrSink());
    log::SetMinLevel(log::Level::kDebug);
  }
  if (flags.verbose || request_count) {
    bool verbose = flags.verbose;
    options.observer = [verbose, request_count](const registry::RequestEvent& event) {
      if (request_count) request_count->fetch_add(1, std::memory_order_relaxed);
      if (verbose) {
        log::Debug("registry request", {{"registry", event.registry},
                                        {"method", event.method},
                                        {"path", event.path},
                                        {"status", std::to_string(event.status)},
                                        {"ms", std::to_string(event.latency.count() / 1000.0)}});
      }
    };
  }
  return options;
}

std::string DescribeError(const Error& error) {
  // Input errors already say what is wrong with the input ("invalid reference ...").
  if (error.code == ErrorCode::kInvalidArgument) return error.message;
  std::string kind = ErrorCodeName(error.code);
  if (error.message.compare(0, kind.size(), kind) == 0) return error.message;
  return kind + ": " + error.message;
}

}  // namespace archway::cmd

// Flags shared by the commands that talk to registries (inspect, publish, and the
// servers' registry settings): where registries.yaml and Docker's config.json are, and
// how verbose to be. One place builds the registry Client options from them, so every
// command finds credentials, mirrors and TLS settings the same way.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "registry/client.h"

namespace archway::cmd {

struct RegistryFlags {
  std::string registries_file;    // --registries; "" = /etc/rancher/k3s/registries.yaml when it exists
  std::string docker_config;      // --docker-config; "" = $DOCKER_CONFIG/config.json or ~/.docker/config.json
  bool verbose = false;           // -v / --verbose: log every registry request to stderr
};

// Help text for the flags above, one per line, indented for a usage message.
extern const char* const kRegistryFlagsHelp;

// If args[i] is one of the shared flags, consumes it (and its value, advancing i) and
// returns true; false when it is not one of them. kInvalidArgument when a value is missing.
Result<bool> ConsumeRegistryFlag(const std::vector<std::string>& args, size_t& i, RegistryFlags& flags);

// Client options: registries.yaml (mirrors, TLS, auth) and the Docker config's
// credentials, which win over registries.yaml's for the same host (they are the
// invoking user's own `docker login`). With verbose, installs a stderr log sink and
// counts requests into `request_count` (may be null).
Result<registry::ClientOptions> BuildClientOptions(const RegistryFlags& flags,
                                                   std::shared_ptr<std::atomic<int>> request_count = nullptr);

// "not found: manifest unknown" — the error class, then the message (without repeating
// the class when the message already starts with it).
std::string DescribeError(const Error& error);

}  // namespace archway::cmd

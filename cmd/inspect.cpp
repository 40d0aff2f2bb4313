// archway inspect IMAGE: which platforms does an image run on?
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmd/command.h"
#include "cmd/registry_options.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/resolver.h"

namespace archway::cmd {
namespace {

constexpr const char* kUsage =
    "usage: archway inspect IMAGE [--json] [--platform-only] [--registries FILE]\n"
    "\n"
    "Prints the platforms (os/arch[/variant]) IMAGE runs on, the digest it resolves to and\n"
    "its media type. Exit status 1 when the image cannot be resolved, 2 on a usage error.\n"
    "\n"
    "  --json                one JSON object: reference, digest, mediaType, platforms, dataOnly\n"
    "  --platform-only       only the platforms, one per line\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "archway: inspect: %s\n%s%s", problem.c_str(), kUsage, kRegistryFlagsHelp);
  return 2;
}

int Inspect(const std::vector<std::string>& args) {
  RegistryFlags registry_flags;
  bool json = false;
  bool platform_only = false;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::printf("%s%s", kUsage, kRegistryFlagsHelp);
      return 0;
    }
    auto consumed = ConsumeRegistryFlag(args, i, registry_flags);
    if (!consumed.ok()) return Usage(consumed.error().message);
    if (*consumed) continue;
    if (arg == "--json") {
      json = true;
    } else if (arg == "--platform-only") {
      platform_only = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return Usage("unknown flag " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 1) return Usage(positional.empty() ? "missing IMAGE" : "exactly one IMAGE expected");
  if (json && platform_only) return Usage("--json and --platform-only exclude each other");
  const std::string& image = positional[0];

  auto fail = [&](const Error& error) {
    std::fprintf(stderr, "archway: inspect %s: %s\n", image.c_str(), DescribeError(error).c_str());
    return 1;
  };
  auto ref = registry::ParseReference(image);
  if (!ref.ok()) return fail(ref.error());
  auto requests = std::make_shared<std::atomic<int>>(0);
  auto client_options = BuildClientOptions(registry_flags, requests);
  if (!client_options.ok()) return fail(client_options.error());

  registry::Client client(std::move(*client_options));
  registry::Resolver resolver(client, registry::ResolverOptions{});
  auto resolved = resolver.Resolve(*ref);
  if (!resolved.ok()) return fail(resolved.error());

  if (json) {
    nlohmann::ordered_json out;
    out["reference"] = ref->String();
    out["digest"] = resolved->digest;
    out["mediaType"] = resolved->media_type;
    nlohmann::ordered_json platforms = nlohmann::ordered_json::array();
    for (const auto& platform : resolved->platforms) platforms.push_back(platform.String());
    out["platforms"] = std::move(platforms);
    out["dataOnly"] = resolved->data_only;
    out["registryRequests"] = requests->load();
    std::printf("%s\n", out.dump(2).c_str());
  } else if (platform_only) {
    for (const auto& platform : resolved->platforms) std::printf("%s\n", platform.String().c_str());
  } else {
    std::printf("reference   %s\n", ref->String().c_str());
    std::printf("digest      %s\n", resolved->digest.c_str());
    std::printf("media type  %s\n", resolved->media_type.c_str());
    if (resolved->data_only) std::printf("platforms   none declared: a data-only artifact, fits every platform\n");
    for (const auto& platform : resolved->platforms) {
      std::printf("platform    %s\n", platform.String().c_str());
    }
  }
  if (registry_flags.verbose) std::fprintf(stderr, "registry requests: %d\n", requests->load());
  return 0;
}

CommandRegistration registration("inspect", "which platforms does an image run on", Inspect);

}  // namespace
}  // namespace archway::cmd

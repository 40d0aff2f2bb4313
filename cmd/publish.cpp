// archway publish TARGET SOURCE...: assemble and push a manifest list / OCI image index.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmd/command.h"
#include "cmd/registry_options.h"
#include "registry/client.h"
#include "registry/platform.h"
#include "registry/publisher.h"
#include "registry/reference.h"

namespace archway::cmd {
namespace {

constexpr const char* kUsage =
    "usage: archway publish TARGET SOURCE... [--format oci|docker] [--annotation k=v]...\n"
    "                       [--platform os/arch[/variant]]... [--dry-run] [--json] [--registries FILE]\n"
    "\n"
    "Publishes TARGET as a multi-platform list of the SOURCE images (each a single-platform\n"
    "image, whose platform is read from its config, or a list whose entries are taken).\n"
    "Blobs are mounted or copied into TARGET's repository as needed; a re-run with the same\n"
    "inputs writes nothing and gives the same digest. Prints the digest of the list.\n"
    "\n"
    "  --format oci|docker   OCI image index (default) or Docker manifest list\n"
    "  --annotation k=v      annotation on the index (OCI only; repeatable)\n"
    "  --platform P          keep only these platforms from the sources (repeatable)\n"
    "  --dry-run             compute the list and its digest, write nothing\n"
    "  --json                one JSON object: reference, digest, mediaType, entries, writes\n"
    "  -q, --quiet           print only the digest\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "archway: publish: %s\n%s%s", problem.c_str(), kUsage, kRegistryFlagsHelp);
  return 2;
}

// "--flag VALUE" or "--flag=VALUE"; true when args[i] is that flag.
bool FlagValue(const std::vector<std::string>& args, size_t& i, const std::string& flag, std::string& value, bool& missing) {
  const std::string& arg = args[i];
  if (arg == flag) {
    if (i + 1 >= args.size()) {
      missing = true;
      return true;
    }
    value = args[++i];
    return true;
  }
  if (arg.rfind(flag + "=", 0) == 0) {
    value = arg.substr(flag.size() + 1);
    return true;
  }
  return false;
}

int Publish(const std::vector<std::string>& args) {
  RegistryFlags registry_flags;
  registry::PublishOptions options;
  bool json = false;
  bool quiet = false;
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
    std::string value;
    bool missing = false;
    if (FlagValue(args, i, "--format", value, missing)) {
      if (missing) return Usage("--format needs a value: oci or docker");
      if (value == "oci") {
        options.format = registry::ListFormat::kOci;
      } else if (value == "docker") {
        options.format = registry::ListFormat::kDocker;
      } else {
        return Usage("--format must be oci or docker, not \"" + value + "\"");
      }
    } else if (FlagValue(args, i, "--annotation", value, missing)) {
      size_t eq = value.find('=');
      if (missing || eq == std::string::npos || eq == 0) return Usage("--annotation needs key=value");
      options.annotations[value.substr(0, eq)] = value.substr(eq + 1);
    } else if (FlagValue(args, i, "--platform", value, missing)) {
      if (missing) return Usage("--platform needs os/arch[/variant]");
      auto platform = registry::ParsePlatform(value);
      if (!platform.ok()) return Usage(platform.error().message);
      options.platforms.push_back(*platform);
    } else if (arg == "--dry-run") {
      options.dry_run = true;
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "-q" || arg == "--quiet") {
      quiet = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return Usage("unknown flag " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() < 2) return Usage(positional.empty() ? "missing TARGET and SOURCE" : "missing SOURCE");

  const std::string& target_text = positional[0];
  auto fail = [&](const Error& error) {
    std::fprintf(stderr, "archway: publish %s: %s\n", target_text.c_str(), DescribeError(error).c_str());
    return 1;
  };
  auto target = registry::ParseReference(target_text);
  if (!target.ok()) return fail(target.error());
  std::vector<registry::Reference> sources;
  for (size_t i = 1; i < positional.size(); ++i) {
    auto source = registry::ParseReference(positional[i]);
    if (!source.ok()) return fail(source.error());
    sources.push_back(std::move(*source));
  }
  auto client_options = BuildClientOptions(registry_flags);
  if (!client_options.ok()) return fail(client_options.error());

  registry::Client client(std::move(*client_options));
  registry::Publisher publisher(client);
  auto published = publisher.Publish(*target, sources, options);
  if (!published.ok()) return fail(published.error());

  if (json) {
    nlohmann::ordered_json out;
    out["reference"] = target->String();
    out["digest"] = published->digest;
    out["mediaType"] = published->media_type;
    nlohmann::ordered_json entries = nlohmann::ordered_json::array();
    for (const auto& entry : published->entries) {
      entries.push_back(nlohmann::ordered_json{{"platform", entry.platform.String()},
                                               {"digest", entry.digest},
                                               {"mediaType", entry.media_type},
                                               {"size", entry.size},
                                               {"source", entry.source}});
    }
    out["entries"] = std::move(entries);
    out["dryRun"] = options.dry_run;
    out["writes"] = published->writes;
    out["manifestsPushed"] = published->manifests_pushed;
    out["blobsMounted"] = published->blobs_mounted;
    out["blobsCopied"] = published->blobs_copied;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (!quiet) {
    for (const auto& entry : published->entries) {
      std::fprintf(stderr, "  %-14s %s  from %s\n", entry.platform.String().c_str(), entry.digest.c_str(),
                   entry.source.c_str());
    }
    if (options.dry_run) {
      std::fprintf(stderr, "dry run: %s would be %s (nothing written)\n", target->String().c_str(),
                   published->media_type.c_str());
    } else if (published->writes == 0) {
      std::fprintf(stderr, "%s is already up to date (no writes)\n", target->String().c_str());
    } else {
      std::fprintf(stderr, "published %s: %d manifests pushed, %d blobs mounted, %d blobs copied\n",
                   target->String().c_str(), published->manifests_pushed, published->blobs_mounted,
                   published->blobs_copied);
    }
  }
  std::printf("%s\n", published->digest.c_str());
  return 0;
}

CommandRegistration registration("publish", "assemble and push a multi-platform image list", Publish);

}  // namespace
}  // namespace archway::cmd

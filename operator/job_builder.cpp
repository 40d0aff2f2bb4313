#include "operator/job_builder.h"

#include <algorithm>
#include <vector>

#include "base/encoding.h"
#include "base/utf8.h"

namespace archway::op {
namespace {

// Runs `buildah build` with the argv after the script, then pushes the result. The argv
// is passed as "$@" so build args never go through shell word splitting. Then it writes
// the base of the final stage, as buildah annotated the image, to the termination message
// (base_images.h); that step never fails the build: what it cannot say, it writes as an
// "error" the operator turns into a condition. Only characters of image references and
// digests pass into the JSON, so nothing needs escaping and it stays far below 4096 bytes.
constexpr const char* kBuildahScript =
    "set -eu\n"
    "buildah build \"$@\"\n"
    "buildah push \"$ARCHWAY_IMAGE\" \"docker://$ARCHWAY_IMAGE\"\n"
    "report() {\n"
    "  if ! annotations=$(buildah inspect --type image --format "
    "'{{range $k, $v := .ImageAnnotations}}{{$k}}={{$v}}{{println}}{{end}}' \"$ARCHWAY_IMAGE\" 2>/dev/null); then\n"
    "    echo '{\"error\":\"buildah inspect of the built image failed\"}'; return\n"
    "  fi\n"
    "  if ! printf '%s\\n' \"$annotations\" | grep -q '^org\\.opencontainers\\.image\\.base\\.name='; then\n"
    "    echo '{\"error\":\"buildah recorded no org.opencontainers.image.base.name annotation (images of format: "
    "docker carry none)\"}'; return\n"
    "  fi\n"
    "  name=$(printf '%s\\n' \"$annotations\" | sed -n 's/^org\\.opencontainers\\.image\\.base\\.name=//p')\n"
    "  digest=$(printf '%s\\n' \"$annotations\" | sed -n 's/^org\\.opencontainers\\.image\\.base\\.digest=//p')\n"
    "  if [ -z \"$name\" ] && [ -z \"$digest\" ]; then echo '{\"baseImages\":[]}'; return; fi\n"
    "  case \"$name\" in ''|*[!A-Za-z0-9._:/@-]*) echo '{\"error\":\"the base image name buildah recorded is not a "
    "reference\"}'; return;; esac\n"
    "  case \"$digest\" in sha256:*) ;; *) echo '{\"error\":\"the base image digest buildah recorded is not "
    "sha256\"}'; return;; esac\n"
    "  case \"${digest#sha256:}\" in ''|*[!0-9a-f]*) echo '{\"error\":\"the base image digest buildah recorded is "
    "not sha256\"}'; return;; esac\n"
    "  if [ ${#name} -gt 1024 ] || [ ${#digest} -ne 71 ]; then echo '{\"error\":\"the base image buildah recorded is "
    "too long\"}'; return; fi\n"
    "  printf '{\"baseImages\":[{\"name\":\"%s\",\"digest\":\"%s\"}]}\\n' \"$name\" \"$digest\"\n"
    "}\n"
    "report > \"${ARCHWAY_TERMINATION_LOG:-/dev/termination-log}\" || echo 'archway: could not write the base-image "
    "report' >&2\n";

// Emulated Jobs: before the build, checks that the node can run the platform's code:
// natively, or through a QEMU handler in binfmt_misc (the node's, mounted read-only)
// that is enabled and has the F flag (the emulator is opened at registration, so it
// works inside the build's chroot). A Dockerfile without RUN needs none. On failure it
// writes why to its termination message and exits 3: the Job fails, and the operator
// shows that message as the platform's EmulationUnavailable reason.
constexpr const char* kEmulationCheckScript =
    "set -u\n"
    "log=${ARCHWAY_TERMINATION_LOG:-/dev/termination-log}\n"
    "dir=${ARCHWAY_BINFMT_DIR:-/host/binfmt_misc}\n"
    "node=${NODE_NAME:-this node}\n"
    "machine=$(uname -m)\n"
    "fix=\"register QEMU with the F flag on the node (e.g. docker run --privileged --rm tonistiigi/binfmt --install "
    "$ARCHWAY_QEMU_ARCH, or Debian's qemu-user-static package), set the operator's builder.binfmtImage to have archway "
    "register it, or add a native $ARCHWAY_PLATFORM builder node\"\n"
    "fail() { printf '%s' \"$1\" > \"$log\"; echo \"archway: $1\" >&2; exit 3; }\n"
    "for m in $ARCHWAY_NATIVE_MACHINES; do\n"
    "  if [ \"$machine\" = \"$m\" ]; then echo \"archway: $node ($machine) runs $ARCHWAY_PLATFORM code natively\"; exit 0; fi\n"
    "done\n"
    "if [ -f \"$ARCHWAY_DOCKERFILE\" ] && ! grep -Eiq '^[[:space:]]*RUN([[:space:]]|$)' \"$ARCHWAY_DOCKERFILE\"; then\n"
    "  echo \"archway: $ARCHWAY_DOCKERFILE has no RUN step: $ARCHWAY_PLATFORM builds without emulation\"; exit 0\n"
    "fi\n"
    "[ -e \"$dir/status\" ] || fail \"node $node ($machine) cannot emulate $ARCHWAY_PLATFORM: binfmt_misc is not mounted "
    "there (/proc/sys/fs/binfmt_misc/status is missing); $fix\"\n"
    "handler=\"$dir/$ARCHWAY_QEMU_HANDLER\"\n"
    "[ -e \"$handler\" ] || fail \"node $node ($machine) has no QEMU handler for $ARCHWAY_PLATFORM "
    "(/proc/sys/fs/binfmt_misc/$ARCHWAY_QEMU_HANDLER is missing); $fix\"\n"
    "read -r first < \"$handler\" || first=\n"
    "[ \"$first\" = enabled ] || fail \"node $node ($machine): the QEMU handler $ARCHWAY_QEMU_HANDLER for "
    "$ARCHWAY_PLATFORM is disabled; $fix\"\n"
    "grep -q '^flags:.*F' \"$handler\" || fail \"node $node ($machine): the QEMU handler $ARCHWAY_QEMU_HANDLER for "
    "$ARCHWAY_PLATFORM was registered without the F flag, so the build's chroot cannot find the emulator; $fix\"\n"
    "echo \"archway: $node ($machine) emulates $ARCHWAY_PLATFORM with $ARCHWAY_QEMU_HANDLER\"\n";

constexpr const char* kBinfmtHostPath = "/proc/sys/fs/binfmt_misc";
constexpr const char* kBinfmtMountPath = "/host/binfmt_misc";

// QEMU's binfmt_misc handler name for an architecture (as tonistiigi/binfmt and Debian's
// qemu-user-static register them), and `uname -m` values that run it without emulation;
// arm also on aarch64 machines, most of which run 32-bit ARM code themselves.
struct Emulator {
  const char* architecture;
  const char* handler;
  const char* native_machines;
};
constexpr Emulator kEmulators[] = {
    {"amd64", "qemu-x86_64", "x86_64"},
    {"arm64", "qemu-aarch64", "aarch64 arm64"},
    {"arm", "qemu-arm", "armv5l armv5tel armv6l armv7l armv8l aarch64"},
    {"386", "qemu-i386", "i386 i486 i586 i686 x86_64"},
    {"ppc64le", "qemu-ppc64le", "ppc64le"},
    {"s390x", "qemu-s390x", "s390x"},
    {"riscv64", "qemu-riscv64", "riscv64"},
    {"mips64le", "qemu-mips64el", "mips64"},
    {"mips64", "qemu-mips64", "mips64"},
    {"loong64", "qemu-loongarch64", "loongarch64"},
};

const Emulator* EmulatorFor(const registry::Platform& platform) {
  for (const auto& e : kEmulators) {
    if (platform.architecture == e.architecture) return &e;
  }
  return nullptr;
}

constexpr const char* kCloneScript =
    "set -eu\n"
    "git clone --quiet \"$GIT_URL\" /workspace/src\n"
    "if [ -n \"$GIT_REVISION\" ]; then git -C /workspace/src checkout --quiet \"$GIT_REVISION\"; fi\n";

Json EnvVar(const std::string& name, const std::string& value) { return Json{{"name", name}, {"value", value}}; }

Json NodeNameEnv() {
  return Json{{"name", "NODE_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "spec.nodeName"}}}}}};
}

std::string WorkingDir(const BuildSpec& build) {
  std::string dir = build.context_dir;
  while (dir.rfind("./", 0) == 0) dir = dir.substr(2);
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  if (dir.empty() || dir == ".") return kWorkspaceDir;
  return std::string(kWorkspaceDir) + "/" + dir;
}

// Build args of the build, with the platform's overrides on top.
std::map<std::string, std::string> BuildArgs(const BuildSpec& build, const registry::Platform& platform) {
  auto args = build.build_args;
  auto it = build.platform_overrides.find(platform.String());
  if (it != build.platform_overrides.end()) {
    for (const auto& [k, v] : it->second.build_args) args[k] = v;
  }
  return args;
}

std::string Dockerfile(const BuildSpec& build, const registry::Platform& platform) {
  auto it = build.platform_overrides.find(platform.String());
  if (it != build.platform_overrides.end() && !it->second.dockerfile.empty()) return it->second.dockerfile;
  return build.dockerfile;
}

Json BuildahContainer(const MultiArchImage& mai, const registry::Platform& platform, const std::string& child,
                      const std::string& image) {
  const BuildSpec& build = *mai.spec.build;
  Json command = Json::array({"/bin/sh", "-c", kBuildahScript, "archway-build", "--platform", platform.String()});
  if (mai.spec.docker_format) {
    command.push_back("--format");
    command.push_back("docker");
  }
  command.push_back("-f");
  command.push_back(Dockerfile(build, platform));
  for (const auto& [k, v] : BuildArgs(build, platform)) {
    command.push_back("--build-arg");
    command.push_back(k + "=" + v);
  }
  command.push_back("-t");
  command.push_back(child);
  command.push_back(".");
  Json env = Json::array({EnvVar("ARCHWAY_IMAGE", child), EnvVar("STORAGE_DRIVER", "vfs"),
                          EnvVar("BUILDAH_ISOLATION", "chroot")});
  if (!mai.spec.push_secret.empty()) env.push_back(EnvVar("REGISTRY_AUTH_FILE", std::string(kPushAuthDir) + "/config.json"));
  return Json{{"name", "build"},
              {"image", image},
              {"command", command},
              {"env", env},
              {"workingDir", WorkingDir(build)},
              {"terminationMessagePolicy", "File"},
              {"securityContext", {{"privileged", true}}}};
}

Json BuildkitContainer(const MultiArchImage& mai, const registry::Platform& platform, const std::string& child,
                       const std::string& image) {
  const BuildSpec& build = *mai.spec.build;
  std::string dockerfile = Dockerfile(build, platform);
  std::string dockerfile_dir = ".", filename = dockerfile;
  if (auto slash = dockerfile.rfind('/'); slash != std::string::npos) {
    dockerfile_dir = dockerfile.substr(0, slash);
    filename = dockerfile.substr(slash + 1);
  }
  Json command = Json::array({"buildctl-daemonless.sh", "build", "--frontend", "dockerfile.v0", "--local", "context=.",
                              "--local", "dockerfile=" + dockerfile_dir, "--opt", "filename=" + filename, "--opt",
                              "platform=" + platform.String()});
  for (const auto& [k, v] : BuildArgs(build, platform)) {
    command.push_back("--opt");
    command.push_back("build-arg:" + k + "=" + v);
  }
  command.push_back("--output");
  command.push_back("type=image,name=" + child + ",push=true,oci-mediatypes=" +
                    (mai.spec.docker_format ? "false" : "true"));
  Json env = Json::array({EnvVar("BUILDKITD_FLAGS", "--oci-worker-no-process-sandbox")});
  if (!mai.spec.push_secret.empty()) env.push_back(EnvVar("DOCKER_CONFIG", kPushAuthDir));
  return Json{{"name", "build"},
              {"image", image},
              {"command", command},
              {"env", env},
              {"workingDir", WorkingDir(build)},
              {"securityContext",
               {{"runAsUser", 1000}, {"runAsGroup", 1000}, {"seccompProfile", {{"type", "Unconfined"}}},
                {"appArmorProfile", {{"type", "Unconfined"}}}}}};
}

// The init containers of an emulated Job after `clone`: the opt-in QEMU registration,
// then the check. Nothing for an architecture QEMU has no handler for.
std::vector<Json> EmulationContainers(const MultiArchImage& mai, const registry::Platform& platform,
                                      const OperatorConfig& config) {
  const Emulator* emulator = EmulatorFor(platform);
  if (emulator == nullptr) return {};
  std::vector<Json> out;
  if (!config.binfmt_image.empty()) {
    out.push_back({{"name", "binfmt-install"},
                   {"image", config.binfmt_image},
                   {"args", Json::array({"--install", platform.architecture})},
                   {"securityContext", {{"privileged", true}}}});
  }
  Json env = Json::array({EnvVar("ARCHWAY_PLATFORM", platform.String()), EnvVar("ARCHWAY_QEMU_ARCH", platform.architecture),
                          EnvVar("ARCHWAY_QEMU_HANDLER", emulator->handler),
                          EnvVar("ARCHWAY_NATIVE_MACHINES", emulator->native_machines),
                          EnvVar("ARCHWAY_DOCKERFILE", Dockerfile(*mai.spec.build, platform)), NodeNameEnv()});
  out.push_back({{"name", "emulation-check"},
                 {"image", config.git_image},
                 {"command", Json::array({"/bin/sh", "-c", kEmulationCheckScript})},
                 {"env", env},
                 {"workingDir", WorkingDir(*mai.spec.build)},
                 {"terminationMessagePolicy", "File"},
                 {"volumeMounts", Json::array({{{"name", "workspace"}, {"mountPath", "/workspace"}},
                                               {{"name", "binfmt-misc"}, {"mountPath", kBinfmtMountPath},
                                                {"readOnly", true}}})}});
  return out;
}

}  // namespace

std::string SpecHash(const Json& spec) { return Sha256Hex(spec.dump()).substr(0, 8); }

std::string RunHash(const Json& spec, const std::vector<std::string>& base_digests) {
  if (base_digests.empty()) return SpecHash(spec);
  std::vector<std::string> sorted = base_digests;
  std::sort(sorted.begin(), sorted.end());
  std::string input = spec.dump();
  for (const auto& d : sorted) input += "\n" + d;
  return Sha256Hex(input).substr(0, 8);
}

std::string JobName(const std::string& resource_name, const registry::Platform& platform,
                    const std::string& spec_hash) {
  std::string suffix = "-" + PlatformSlug(platform) + "-" + spec_hash;
  std::string prefix = resource_name;
  if (prefix.size() + suffix.size() > 63) {
    prefix = TruncateUtf8(prefix, 63 > suffix.size() ? 63 - suffix.size() : 0);
    while (!prefix.empty() && (prefix.back() == '-' || prefix.back() == '.')) prefix.pop_back();
  }
  return prefix + suffix;
}

std::string BuilderImage(const MultiArchImage& mai, const OperatorConfig& config, const registry::Platform& platform) {
  const BuildSpec& build = *mai.spec.build;
  auto it = build.platform_overrides.find(platform.String());
  if (it != build.platform_overrides.end() && !it->second.builder_image.empty()) return it->second.builder_image;
  // A platform that overrides the strategy gets that strategy's image, not the build's.
  const bool own_strategy = it != build.platform_overrides.end() && !it->second.strategy.empty();
  if (!build.builder_image.empty() && !own_strategy) return build.builder_image;
  return build.StrategyFor(platform) == "buildkit" ? config.buildkit_image : config.buildah_image;
}

registry::Reference ChildImage(const registry::Reference& image, const registry::Platform& platform) {
  return image.WithTag(image.tag + "-" + PlatformSlug(platform));
}

Json BuildJob(const MultiArchImage& mai, const registry::Platform& platform, const OperatorConfig& config,
              bool emulated, const std::string& run_hash) {
  const BuildSpec& build = *mai.spec.build;
  const std::string hash = SpecHash(mai.spec_json);
  const std::string name = JobName(mai.name, platform, run_hash.empty() ? hash : run_hash);
  const std::string child = ChildImage(mai.spec.image, platform).String();
  const std::string slug = PlatformSlug(platform);

  Json labels = {{kManagedByLabel, "archway"}, {kResourceLabel, mai.name}, {kPlatformLabel, slug}, {kSpecHashLabel, hash}};
  Json node_selector = Json::object();
  for (const auto& [k, v] : build.node_selector) node_selector[k] = v;
  node_selector["kubernetes.io/os"] = platform.os;
  if (!emulated) node_selector["kubernetes.io/arch"] = platform.architecture;

  const std::string image = BuilderImage(mai, config, platform);
  Json container = build.StrategyFor(platform) == "buildkit" ? BuildkitContainer(mai, platform, child, image)
                                                             : BuildahContainer(mai, platform, child, image);
  Json mounts = Json::array({{{"name", "workspace"}, {"mountPath", "/workspace"}}});
  Json volumes = Json::array({{{"name", "workspace"}, {"emptyDir", Json::object()}}});
  if (!mai.spec.push_secret.empty()) {
    mounts.push_back({{"name", "push-auth"}, {"mountPath", kPushAuthDir}, {"readOnly", true}});
    volumes.push_back({{"name", "push-auth"},
                       {"secret",
                        {{"secretName", mai.spec.push_secret},
                         {"items", Json::array({{{"key", ".dockerconfigjson"}, {"path", "config.json"}}})}}}});
  }
  container["volumeMounts"] = mounts;
  if (!build.resources.empty()) container["resources"] = build.resources;

  Json clone = {{"name", "clone"},
                {"image", config.git_image},
                {"command", Json::array({"/bin/sh", "-c", kCloneScript})},
                {"env", Json::array({EnvVar("GIT_URL", build.git_url), EnvVar("GIT_REVISION", build.git_revision)})},
                {"volumeMounts", Json::array({{{"name", "workspace"}, {"mountPath", "/workspace"}}})}};

  Json init_containers = Json::array({clone});
  if (emulated) {
    std::vector<Json> emulation = EmulationContainers(mai, platform, config);
    for (auto& c : emulation) init_containers.push_back(std::move(c));
    if (!emulation.empty())
      volumes.push_back({{"name", "binfmt-misc"}, {"hostPath", {{"path", kBinfmtHostPath}, {"type", "Directory"}}}});
  }
  Json pod_spec = {{"restartPolicy", "Never"},
                   {"nodeSelector", node_selector},
                   {"initContainers", init_containers},
                   {"containers", Json::array({container})},
                   {"volumes", volumes}};
  if (!build.service_account.empty()) pod_spec["serviceAccountName"] = build.service_account;

  Json annotations = {{kChildImageAnnotation, child}};
  if (emulated) annotations[kEmulatedAnnotation] = "true";

  return Json{{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata",
               {{"name", name},
                {"namespace", mai.ns},
                {"labels", labels},
                {"annotations", annotations},
                {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                                  {"kind", kKind},
                                                  {"name", mai.name},
                                                  {"uid", mai.uid},
                                                  {"controller", true},
                                                  {"blockOwnerDeletion", true}}})}}},
              {"spec",
               {{"backoffLimit", 2},
                {"ttlSecondsAfterFinished", 3600},
                {"template", {{"metadata", {{"labels", labels}, {"annotations", annotations}}}, {"spec", pod_spec}}}}}};
}

}  // namespace archway::op

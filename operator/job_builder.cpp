#include "operator/job_builder.h"

#include "base/encoding.h"

namespace archway::op {
namespace {

// Runs `buildah build` with the argv after the script, then pushes the result. The argv
// is passed as "$@" so build args never go through shell word splitting.
constexpr const char* kBuildahScript =
    "set -eu\n"
    "buildah build \"$@\"\n"
    "buildah push \"$ARCHWAY_IMAGE\" \"docker://$ARCHWAY_IMAGE\"\n";

constexpr const char* kCloneScript =
    "set -eu\n"
    "git clone --quiet \"$GIT_URL\" /workspace/src\n"
    "if [ -n \"$GIT_REVISION\" ]; then git -C /workspace/src checkout --quiet \"$GIT_REVISION\"; fi\n";

Json EnvVar(const std::string& name, const std::string& value) { return Json{{"name", name}, {"value", value}}; }

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

}  // namespace

std::string SpecHash(const Json& spec) { return Sha256Hex(spec.dump()).substr(0, 8); }

std::string JobName(const std::string& resource_name, const registry::Platform& platform,
                    const std::string& spec_hash) {
  std::string suffix = "-" + PlatformSlug(platform) + "-" + spec_hash;
  std::string prefix = resource_name;
  if (prefix.size() + suffix.size() > 63) {
    prefix = prefix.substr(0, 63 > suffix.size() ? 63 - suffix.size() : 0);
    while (!prefix.empty() && (prefix.back() == '-' || prefix.back() == '.')) prefix.pop_back();
  }
  return prefix + suffix;
}

registry::Reference ChildImage(const registry::Reference& image, const registry::Platform& platform) {
  return image.WithTag(image.tag + "-" + PlatformSlug(platform));
}

Json BuildJob(const MultiArchImage& mai, const registry::Platform& platform, const OperatorConfig& config,
              bool emulated) {
  const BuildSpec& build = *mai.spec.build;
  const std::string hash = SpecHash(mai.spec_json);
  const std::string name = JobName(mai.name, platform, hash);
  const std::string child = ChildImage(mai.spec.image, platform).String();
  const std::string slug = PlatformSlug(platform);

  Json labels = {{kManagedByLabel, "archway"}, {kResourceLabel, mai.name}, {kPlatformLabel, slug}, {kSpecHashLabel, hash}};
  Json node_selector = Json::object();
  for (const auto& [k, v] : build.node_selector) node_selector[k] = v;
  node_selector["kubernetes.io/os"] = platform.os;
  if (!emulated) node_selector["kubernetes.io/arch"] = platform.architecture;

  std::string image = build.builder_image;
  if (image.empty()) image = build.strategy == "buildkit" ? config.buildkit_image : config.buildah_image;
  Json container = build.strategy == "buildkit" ? BuildkitContainer(mai, platform, child, image)
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

  Json pod_spec = {{"restartPolicy", "Never"},
                   {"nodeSelector", node_selector},
                   {"initContainers", Json::array({clone})},
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

// Builder Jobs: a pure function from (MultiArchImage, platform, config) to the batch/v1
// Job that builds that platform and pushes `<tag>-<os>-<arch>[-<variant>]`.
//
// Shape of a Job (see tests/operator/testdata/job-created.json for what the API stores):
//  - name `<resource>-<os>-<arch>[-<variant>]-<hash8>`, at most 63 characters; hash8 is
//    the run's hash: the first 8 hex digits of SHA-256 over the spec, and for a run a
//    changed base image started, over the spec and the base digests it is built for
//    (RunHash). A changed spec (a new generation) or base gets new Jobs, and an operator
//    restart finds the same names again;
//  - labels app.kubernetes.io/managed-by=archway, archway.dev/multiarchimage=<name>,
//    archway.dev/platform=<slug>, archway.dev/spec-hash=<hash8>; ownerReference to the
//    resource with controller=true and blockOwnerDeletion=true (deleting the resource
//    deletes its Jobs);
//  - init container `clone` (config builder.gitImage): git clone of spec.build.git.url
//    at its revision into the `workspace` emptyDir (/workspace/src);
//  - container `build`, working directory /workspace/src/<contextDir>, by the platform's
//    strategy (platformOverrides may give a platform its own strategy and builderImage):
//      buildah:  sh -c 'buildah build "$@" && buildah push ... && report' with argv
//                --platform P [--format docker] -f DOCKERFILE --build-arg K=V... -t CHILD .
//                (STORAGE_DRIVER=vfs, BUILDAH_ISOLATION=chroot, privileged); the report is
//                the final stage's base image, written to the termination message
//                (format: base_images.h; ARCHWAY_TERMINATION_LOG overrides the path)
//      buildkit: buildctl-daemonless.sh build --frontend dockerfile.v0 ... --output
//                type=image,name=CHILD,push=true (rootless, no process sandbox)
//    push credentials: the pushSecretRef Secret's .dockerconfigjson mounted as
//    /var/run/archway/push/config.json, named by REGISTRY_AUTH_FILE (buildah) and
//    DOCKER_CONFIG (buildkit);
//  - nodeSelector kubernetes.io/os + kubernetes.io/arch plus the user's selector. An
//    emulated Job (emulation: Allow, no native node) keeps only kubernetes.io/os and the
//    user's selector: it runs on any Linux node and builds the foreign platform with the
//    builder's `--platform`, which executes RUN steps through QEMU. That needs
//    qemu-user-static registered in binfmt_misc on the node (with the F flag, e.g. the
//    tonistiigi/binfmt installer); COPY-only Dockerfiles need no emulation at all. So an
//    emulated Job has two more init containers: `binfmt-install` (only when the config
//    names builder.binfmtImage: privileged, `--install <arch>`) and `emulation-check`
//    (config.gitImage, the node's /proc/sys/fs/binfmt_misc mounted read-only by hostPath),
//    which fails the pod with a termination message saying what the node lacks.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/config.h"
#include "operator/spec.h"
#include "registry/platform.h"
#include "registry/reference.h"

namespace archway::op {

inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr const char* kResourceLabel = "archway.dev/multiarchimage";
inline constexpr const char* kPlatformLabel = "archway.dev/platform";
inline constexpr const char* kSpecHashLabel = "archway.dev/spec-hash";
inline constexpr const char* kEmulatedAnnotation = "archway.dev/emulated";
inline constexpr const char* kChildImageAnnotation = "archway.dev/image";
inline constexpr const char* kWorkspaceDir = "/workspace/src";
inline constexpr const char* kPushAuthDir = "/var/run/archway/push";

// First 8 hex digits of SHA-256 over the spec (canonical JSON: sorted keys).
std::string SpecHash(const Json& spec);
// The hash of a build run: SpecHash for the first run of a spec; for a run a base image
// change started, over the spec and `base_digests` ("image platform digest", any order).
std::string RunHash(const Json& spec, const std::vector<std::string>& base_digests);

// `<name>-<slug>-<hash8>`, the resource name shortened so the whole fits 63 characters.
std::string JobName(const std::string& resource_name, const registry::Platform& platform,
                    const std::string& spec_hash);

// The image of the `build` container for `platform`: its override's builderImage, else
// spec.build.builderImage (unless the override names its own strategy), else the
// platform's strategy's image from the config.
std::string BuilderImage(const MultiArchImage& mai, const OperatorConfig& config, const registry::Platform& platform);

// The per-platform image a Job pushes: spec.image with tag `<tag>-<slug>`.
registry::Reference ChildImage(const registry::Reference& image, const registry::Platform& platform);

// The Job building `platform` of `mai` in the run `run_hash` ("" = SpecHash, the first
// run of the spec). `emulated` = no native node: schedule on any Linux node and let the
// builder emulate the platform.
Json BuildJob(const MultiArchImage& mai, const registry::Platform& platform, const OperatorConfig& config,
              bool emulated, const std::string& run_hash = "");

}  // namespace archway::op

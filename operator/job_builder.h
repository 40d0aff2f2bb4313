// Builder Jobs: a pure function from (MultiArchImage, platform, config) to the batch/v1
// Job that builds that platform and pushes `<tag>-<os>-<arch>[-<variant>]`.
//
// Shape of a Job (see tests/operator/testdata/job-created.json for what the API stores):
//  - name `<resource>-<os>-<arch>[-<variant>]-<hash8>`, at most 63 characters; hash8 is
//    the first 8 hex digits of SHA-256 over the spec, so a changed spec (a new
//    generation) gets new Jobs and an operator restart finds the same names again;
//  - labels app.kubernetes.io/managed-by=archway, archway.dev/multiarchimage=<name>,
//    archway.dev/platform=<slug>, archway.dev/spec-hash=<hash8>; ownerReference to the
//    resource with controller=true and blockOwnerDeletion=true (deleting the resource
//    deletes its Jobs);
//  - init container `clone` (config builder.gitImage): git clone of spec.build.git.url
//    at its revision into the `workspace` emptyDir (/workspace/src);
//  - container `build`, working directory /workspace/src/<contextDir>, by strategy:
//      buildah:  sh -c 'buildah build "$@" && buildah push ...' with argv
//                --platform P [--format docker] -f DOCKERFILE --build-arg K=V... -t CHILD .
//                (STORAGE_DRIVER=vfs, BUILDAH_ISOLATION=chroot, privileged)
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
//    tonistiigi/binfmt installer); COPY-only Dockerfiles need no emulation at all.
#pragma once

#include <string>

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

// `<name>-<slug>-<hash8>`, the resource name shortened so the whole fits 63 characters.
std::string JobName(const std::string& resource_name, const registry::Platform& platform,
                    const std::string& spec_hash);

// The per-platform image a Job pushes: spec.image with tag `<tag>-<slug>`.
registry::Reference ChildImage(const registry::Reference& image, const registry::Platform& platform);

// The Job building `platform` of `mai`. `emulated` = no native node: schedule on any
// Linux node and let the builder emulate the platform.
Json BuildJob(const MultiArchImage& mai, const registry::Platform& platform, const OperatorConfig& config,
              bool emulated);

}  // namespace archway::op

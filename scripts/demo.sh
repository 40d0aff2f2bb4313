#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine (as root, or with sudo),
# installs what archway needs, builds it, and shows the main job end to end without a
# cluster:
#   1. starts a throw-away Docker registry on a free loopback port,
#   2. builds three tiny single-platform images with buildah (linux/amd64, linux/arm64,
#      linux/arm/v7), each pushed to its own repository,
#   3. `archway publish` assembles them into one multi-arch image,
#   4. `archway inspect` shows the platforms it supports (as text, then as JSON).
# Everything lives in a temp dir that is removed at the end, with the registry stopped.
# ARCHWAY=/path/to/archway skips the install and build steps (for development).
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$(pwd)

# Bold headings on a terminal only; plain text in logs and CI.
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }

if [ -n "${ARCHWAY:-}" ]; then
  archway="$ARCHWAY"  # an already built binary (development): skip installing and building
else
  step "Installing dependencies (Debian packages; nothing when already present)"
  scripts/install-deps.sh
  step "Building archway (release)"
  scripts/build.sh release
  archway="$root_dir/build/archway"
fi

work=$(mktemp -d /tmp/archway-demo.XXXXXX)
source "$root_dir/scripts/lib/local-registry.sh"
cleanup() {
  local_registry_stop
  rm -rf "$work"
}
trap cleanup EXIT

step "Starting a local registry"
local_registry_start
echo "registry listening on $registry (data in $work)"

step "Building three single-platform images with buildah"
sources=()
for platform in linux/amd64 linux/arm64 linux/arm/v7; do
  IFS=/ read -r _ arch variant <<<"$platform"
  image="$registry/demo-${arch}${variant:+-$variant}:1.0"
  push_scratch_image "$platform" "$image" --label org.opencontainers.image.title=archway-demo
  echo "pushed $image ($platform)"
  sources+=("$image")
done

target="$registry/demo:1.0"
step "archway publish $target ${sources[*]}"
digest=$("$archway" publish "$target" "${sources[@]}")

step "Publishing again with the same inputs (same digest, no writes)"
again=$("$archway" publish "$target" "${sources[@]}")
[ "$again" = "$digest" ] || { echo "demo: the second publish gave $again, expected $digest" >&2; exit 1; }

step "archway inspect $target"
"$archway" inspect "$target"

step "archway inspect $target --json"
"$archway" inspect "$target" --json

platforms=$("$archway" inspect "$target" --platform-only | paste -sd ' ')
cat <<SUMMARY

What happened:
  * buildah pushed three single-platform images to a registry on $registry.
  * archway publish read each image's platform from its config blob, mounted the blobs
    into the demo repository, pushed the three manifests byte for byte and then an
    OCI image index: $target@$digest.
  * Publishing the same inputs again gave the same digest and wrote nothing.
  * archway inspect resolves the list to its platforms: $platforms.
    This is the answer archway's webhook uses to pin pods to nodes that can run them.
The registry is stopped and $work removed on exit.
SUMMARY

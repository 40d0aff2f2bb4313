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
registry_pid=""
cleanup() {
  if [ -n "$registry_pid" ] && kill -0 "$registry_pid" 2>/dev/null; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "Starting a local registry"
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: info, formatter: text, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $work/registry-data}, delete: {enabled: true}}
http: {addr: "127.0.0.1:0"}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
port=""
for _ in $(seq 1 100); do  # the registry picks a free port and logs it
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/registry.log" | head -1 | sed 's/.*://' || true)
  [ -n "$port" ] && break
  kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; exit 1; }
  sleep 0.05
done
[ -n "$port" ] || { echo "demo: the registry did not start" >&2; cat "$work/registry.log" >&2; exit 1; }
registry="127.0.0.1:$port"
echo "registry listening on $registry (data in $work)"

step "Building three single-platform images with buildah"
buildah_cmd=(buildah --root "$work/buildah/root" --runroot "$work/buildah/runroot" --storage-driver vfs)
echo "hello from archway's demo" >"$work/hello.txt"
sources=()
for platform in linux/amd64 linux/arm64 linux/arm/v7; do
  IFS=/ read -r os arch variant <<<"$platform"
  container=$("${buildah_cmd[@]}" from scratch)
  "${buildah_cmd[@]}" copy "$container" "$work/hello.txt" /hello.txt >/dev/null
  "${buildah_cmd[@]}" config --os "$os" --arch "$arch" ${variant:+--variant "$variant"} \
    --label org.opencontainers.image.title=archway-demo "$container"
  image="$registry/demo-${arch}${variant:+-$variant}:1.0"
  "${buildah_cmd[@]}" commit -q --tls-verify=false "$container" "docker://$image" >/dev/null
  "${buildah_cmd[@]}" rm "$container" >/dev/null
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

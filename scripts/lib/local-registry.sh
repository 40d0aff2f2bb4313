# Sourced by scripts/demo.sh and bench/*.sh: a throwaway docker-registry on a free loopback
# port and tiny buildah images, all under "$work" (which the caller creates and removes).
#   local_registry_start   starts the registry; sets $registry (127.0.0.1:PORT), $registry_pid,
#                          access log in $work/registry.log
#   local_registry_stop    stops it (safe to call when it never started)
#   push_scratch_image PLATFORM REF [buildah config args...]
#                          a one-file image for PLATFORM (os/arch[/variant]) pushed to REF
# buildah runs on its own storage under $work, so nothing touches the machine's images.

registry_pid=""

local_registry_start() {
  cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: info, formatter: text, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $work/registry-data}, delete: {enabled: true}}
http: {addr: "127.0.0.1:0"}
YAML
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  local port=""
  for _ in $(seq 1 100); do  # the registry picks a free port and logs it
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/registry.log" | head -1 | sed 's/.*://' || true)
    [ -n "$port" ] && break
    kill -0 "$registry_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "the local registry did not start:" >&2
    cat "$work/registry.log" >&2
    return 1
  fi
  registry="127.0.0.1:$port"
}

local_registry_stop() {
  if [ -n "$registry_pid" ] && kill -0 "$registry_pid" 2>/dev/null; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
}

buildah_cmd=(buildah --root "$work/buildah/root" --runroot "$work/buildah/runroot" --storage-driver vfs)

push_scratch_image() {
  local platform="$1" ref="$2" os arch variant container
  shift 2
  IFS=/ read -r os arch variant <<<"$platform"
  echo "archway test image for $platform" >"$work/payload.txt"
  container=$("${buildah_cmd[@]}" from scratch)
  "${buildah_cmd[@]}" copy "$container" "$work/payload.txt" /payload.txt >/dev/null
  "${buildah_cmd[@]}" config --os "$os" --arch "$arch" ${variant:+--variant "$variant"} "$@" "$container"
  "${buildah_cmd[@]}" commit -q --tls-verify=false "$container" "docker://$ref" >/dev/null
  "${buildah_cmd[@]}" rm "$container" >/dev/null
}

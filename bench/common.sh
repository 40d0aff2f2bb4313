# Shared by the bench/ scripts (sourced): a throw-away registry on a free loopback port
# and tiny single-platform images built by buildah, all in one temp dir removed on exit.
set -euo pipefail

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
archway="${ARCHWAY:-$bench_root/build/archway}"
[ -x "$archway" ] || { echo "bench: $archway not found; run scripts/build.sh release first (or set ARCHWAY)" >&2; exit 1; }
for tool in docker-registry buildah skopeo hyperfine; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing; run scripts/install-deps.sh" >&2; exit 1; }
done

work=$(mktemp -d /tmp/archway-bench.XXXXXX)
registry_pid=""
bench_cleanup() {
  if [ -n "$registry_pid" ] && kill -0 "$registry_pid" 2>/dev/null; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap bench_cleanup EXIT

buildah_cmd=(buildah --root "$work/buildah/root" --runroot "$work/buildah/runroot" --storage-driver vfs)

# Starts docker-registry with its access log in $work/registry.log; sets $registry.
start_registry() {
  cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: info, formatter: text, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $work/registry-data}, delete: {enabled: true}}
http: {addr: "127.0.0.1:0"}
YAML
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  local port=""
  for _ in $(seq 1 100); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/registry.log" | head -1 | sed 's/.*://' || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "bench: the registry did not start" >&2; cat "$work/registry.log" >&2; exit 1; }
  registry="127.0.0.1:$port"
}

# build_image PLATFORM REF: a one-file image for PLATFORM pushed to REF.
build_image() {
  local os arch variant container
  IFS=/ read -r os arch variant <<<"$1"
  echo "archway bench $1" >"$work/payload.txt"
  container=$("${buildah_cmd[@]}" from scratch)
  "${buildah_cmd[@]}" copy "$container" "$work/payload.txt" /payload.txt >/dev/null
  "${buildah_cmd[@]}" config --os "$os" --arch "$arch" ${variant:+--variant "$variant"} "$container"
  "${buildah_cmd[@]}" commit -q --tls-verify=false "$container" "docker://$2" >/dev/null
  "${buildah_cmd[@]}" rm "$container" >/dev/null
}

# Requests the registry has served so far (its access log has one line per request).
access_lines() { grep -cE 'HTTP/1\.1" [0-9]{3} ' "$work/registry.log" || true; }

# mean_ms CSV_FILE ROW: hyperfine's mean (seconds) of row ROW (1-based) in milliseconds.
mean_ms() { awk -F, -v row="$2" 'NR == row + 1 { printf "%.2f", $2 * 1000 }' "$1"; }
# cpu_ms CSV_FILE ROW: user + system CPU time (less sensitive to other load than wall time).
cpu_ms() { awk -F, -v row="$2" 'NR == row + 1 { printf "%.2f", ($5 + $6) * 1000 }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

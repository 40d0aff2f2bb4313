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
source "$bench_root/scripts/lib/local-registry.sh"
bench_cleanup() {
  local_registry_stop
  rm -rf "$work"
}
trap bench_cleanup EXIT

start_registry() { local_registry_start; }
# build_image PLATFORM REF: a one-file image for PLATFORM pushed to REF.
build_image() { push_scratch_image "$1" "$2"; }

# Requests the registry has served so far (its access log has one line per request).
access_lines() { grep -cE 'HTTP/1\.1" [0-9]{3} ' "$work/registry.log" || true; }

# mean_ms CSV_FILE ROW: hyperfine's mean (seconds) of row ROW (1-based) in milliseconds.
mean_ms() { awk -F, -v row="$2" 'NR == row + 1 { printf "%.2f", $2 * 1000 }' "$1"; }
# cpu_ms CSV_FILE ROW: user + system CPU time (less sensitive to other load than wall time).
cpu_ms() { awk -F, -v row="$2" 'NR == row + 1 { printf "%.2f", ($5 + $6) * 1000 }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

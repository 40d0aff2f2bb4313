#!/usr/bin/env bash
# bench/inspect.sh: `archway inspect` against `skopeo inspect --raw` on the same local
# registry, same images (a 3-platform list and a single-platform image), same run.
# Prints the wall time of cold processes (the tool's binary and shared libraries evicted
# from the page cache before each run, as after a reboot or on a fresh CI runner) and of
# warm processes (hyperfine), the ratios archway/skopeo (target <= 0.4) and the registry
# requests per resolution counted from the registry's own access log.
source "$(dirname "$0")/common.sh"

start_registry
echo "registry: $registry"
for platform in linux/amd64 linux/arm64 linux/arm/v7; do
  IFS=/ read -r _ arch variant <<<"$platform"
  build_image "$platform" "$registry/bench-${arch}${variant:+-$variant}:1"
done
# The list is made by an independent tool, not by archway.
"${buildah_cmd[@]}" manifest create bench-list >/dev/null
for repo in bench-amd64 bench-arm64 bench-arm-v7; do
  "${buildah_cmd[@]}" manifest add --tls-verify=false bench-list "docker://$registry/$repo:1" >/dev/null
done
"${buildah_cmd[@]}" manifest push -q --all --tls-verify=false bench-list "docker://$registry/bench:list" >/dev/null

list="$registry/bench:list"
single="$registry/bench-amd64:1"

# requests CMD...: registry requests one run of CMD causes.
requests() {
  local before after
  before=$(access_lines)
  "$@" >/dev/null
  sleep 0.2  # the access log is written after the response
  after=$(access_lines)
  echo $((after - before))
}
# A cold process: before each timed run, the files a tool loads (its binary and the shared
# libraries ldd names) are dropped from the page cache (posix_fadvise DONTNEED; pages that
# running processes map, libc's, stay).
sync
cat >"$work/evict.py" <<'PY'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY
files_of() {  # files_of BINARY: the binary and its shared libraries
  echo "$1"
  ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' || true
}
evict_archway="python3 $work/evict.py $(files_of "$archway" | tr '\n' ' ')"
evict_skopeo="python3 $work/evict.py $(files_of "$(command -v skopeo)" | tr '\n' ' ')"
cold_runs="${COLD_RUNS:-7}"

printf '\n%-8s %-8s %12s %10s %12s %10s %9s %10s %10s\n' image tool "cold mean" "cold vs" "warm mean" "cpu" requests "wall vs" "cpu vs"
for kind in list single; do
  ref=${!kind}
  archway_cmd=("$archway" inspect "$ref")
  skopeo_cmd=(skopeo inspect --raw --tls-verify=false "docker://$ref")
  hyperfine -N --runs "$cold_runs" --export-csv "$work/$kind-cold.csv" --style none \
    --prepare "$evict_archway" "${archway_cmd[*]}" --prepare "$evict_skopeo" "${skopeo_cmd[*]}" >/dev/null
  a_cold=$(mean_ms "$work/$kind-cold.csv" 1)
  s_cold=$(mean_ms "$work/$kind-cold.csv" 2)
  a_req=$(requests "${archway_cmd[@]}")
  s_req=$(requests "${skopeo_cmd[@]}")
  hyperfine -N --warmup 5 --runs "${RUNS:-40}" --export-csv "$work/$kind.csv" --style none \
    "${archway_cmd[*]}" "${skopeo_cmd[*]}" >/dev/null
  a_warm=$(mean_ms "$work/$kind.csv" 1)
  s_warm=$(mean_ms "$work/$kind.csv" 2)
  a_cpu=$(cpu_ms "$work/$kind.csv" 1)
  s_cpu=$(cpu_ms "$work/$kind.csv" 2)
  printf '%-8s %-8s %9s ms %10s %9s ms %7s ms %9s %10s %10s\n' "$kind" archway "$a_cold" "$(ratio "$a_cold" "$s_cold")x" \
    "$a_warm" "$a_cpu" "$a_req" "$(ratio "$a_warm" "$s_warm")x" "$(ratio "$a_cpu" "$s_cpu")x"
  printf '%-8s %-8s %9s ms %10s %9s ms %7s ms %9s %10s %10s\n' "$kind" skopeo "$s_cold" "1.00x" "$s_warm" "$s_cpu" "$s_req" \
    "1.00x" "1.00x"
done
# skopeo --raw never reads a single image's config blob, so it never learns the platform;
# `skopeo inspect` without --raw does the same work as archway (manifest + config blob).
hyperfine -N --warmup 5 --runs "${RUNS:-40}" --export-csv "$work/same-work.csv" --style none \
  "$archway inspect $single" "skopeo inspect --tls-verify=false docker://$single" >/dev/null
a_warm=$(mean_ms "$work/same-work.csv" 1)
s_warm=$(mean_ms "$work/same-work.csv" 2)
printf '%-8s %-8s %12s %10s %9s ms %10s %9s %10s  (skopeo inspect without --raw: manifest + config, as archway)\n' \
  single skopeo "" "" "$s_warm" "" "" "$(ratio "$a_warm" "$s_warm")x"
echo
echo "cold mean: hyperfine, $cold_runs runs, each after the tool's binary and shared libraries were dropped from the page cache;"
echo "warm mean: hyperfine, ${RUNS:-40} runs after 5 warm-ups; cpu: user + system time of those runs;"
echo "requests: lines in the registry's access log per run; uptime: $(uptime | sed 's/.*load/load/')"
echo "target: archway <= 0.40x skopeo's wall time."

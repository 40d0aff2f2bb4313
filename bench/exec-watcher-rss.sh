#!/usr/bin/env bash
# bench/exec-watcher-rss.sh [N] — resident memory of the exec-format-error watcher's Pod
# cache with N pods (default 10000) in the fake API server (in process), next to a plain
# Pod informer keeping whole objects (the peer) and the floor (the same list read through
# and dropped). Each mode runs in its own process; figures are RSS and malloc's in-use
# bytes after the cache synced, minus before it started, and per pod
# (bench/exec_watcher_rss.cpp, where the figures measured are).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
program="${PROGRAM:-$root/build/bench/exec_watcher_rss_bench}"
[ -x "$program" ] || { echo "bench: no $program (scripts/build.sh release builds it)" >&2; exit 1; }
pods="${1:-10000}"
sample="$root/tests/kube/testdata/watch-pods.jsonl"

declare -A rss in_use
for mode in none watcher whole; do
  line="$("$program" "$mode" "$pods" "$sample" 2>/dev/null | grep '^mode=')"
  echo "$line"
  rss[$mode]="$(sed -E 's/.* delta_kib=([-0-9]+).*/\1/' <<<"$line")"
  in_use[$mode]="$(sed -E 's/.* in_use_delta_kib=([-0-9]+).*/\1/' <<<"$line")"
done
awk -v n="$pods" -v fw="${rss[none]}" -v w="${rss[watcher]}" -v h="${rss[whole]}" \
    -v uw="${in_use[watcher]}" -v uh="${in_use[whole]}" 'BEGIN {
  printf "floor (list read and dropped): RSS +%.1f MiB\n", fw / 1024
  printf "watcher cache (CachedPod): RSS +%.1f MiB, %.1f MiB over the floor (%.0f bytes/pod); in use %.1f MiB (%.0f bytes/pod)\n", w / 1024, (w - fw) / 1024, (w - fw) * 1024 / n, uw / 1024, uw * 1024 / n
  printf "whole objects (Informer):      RSS +%.1f MiB, %.1f MiB over the floor (%.0f bytes/pod); in use %.1f MiB (%.0f bytes/pod)\n", h / 1024, (h - fw) / 1024, (h - fw) * 1024 / n, uh / 1024, uh * 1024 / n
  printf "ratio watcher/whole: RSS over the floor %.3fx, in use %.3fx\n", (w - fw) / (h - fw), uw / uh
}'

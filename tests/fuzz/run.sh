#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD_DIR SECONDS — runs every libFuzzer target built in BUILD_DIR
# for SECONDS each, starting from the seed corpus in tests/fuzz/corpus/<target>.
set -euo pipefail
build="$1"; seconds="$2"
here="$(cd "$(dirname "$0")" && pwd)"
found=0
for fuzzer in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$fuzzer" ] || continue
  found=1
  name="$(basename "$fuzzer")"
  work="$(mktemp -d)"
  seeds="$here/corpus/${name#fuzz_}"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  "$fuzzer" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work" 2>&1 | tail -n 3
  rm -rf "$work"
done
[ "$found" = 1 ] || { echo "fuzz: no fuzz targets found in $build" >&2; exit 1; }

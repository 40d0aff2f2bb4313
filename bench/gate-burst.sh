#!/usr/bin/env bash
# bench/gate-burst.sh [ARCHWAY_BINARY] — a burst of pods on a cold cache and a slow
# registry: `archway webhook` with onMiss gate, and in the same run with onMiss admit
# (what archway did before scheduling gates) as the peer. bench/gate_burst.cpp says what
# runs; PODS (200), IMAGES (10), DELAY_MS (300: every registry answer held back by a TCP
# relay) and BUDGET (500ms, the webhook's inline budget) change the burst.
#
# Targets: 0 pods admitted unpinned with gate; one manifest GET per image and one config
# GET per single-platform image (shared by all pods); admission p99 within the budget;
# every gated pod released with the right affinity. Prints create -> ungated p50/p99 and
# the webhook's RSS.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
bin="${1:-${ARCHWAY_BINARY:-$root/build/archway}}"
bench="${GATE_BURST_BENCH:-$(dirname "$bin")/bench/gate_burst_bench}"
[ -x "$bin" ] || { echo "bench: no archway binary at $bin (pass it as the first argument)" >&2; exit 1; }
[ -x "$bench" ] || { echo "bench: no $bench (cmake --build build --target gate_burst_bench)" >&2; exit 1; }
for tool in docker-registry openssl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
exec "$bench" "$bin"

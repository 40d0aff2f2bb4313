#!/usr/bin/env bash
# bench/webhook-instructions.sh [BINARY [BASELINE_BINARY]] — instructions the webhook
# executes per cached admission, counted by valgrind's callgrind: the same count for the
# same binary and input however busy this machine is, where req/s drifts by tens of
# percent. A second binary is measured the same way and the ratio printed (e.g. a build
# of main against a change).
#
# The webhook answers REQUESTS (default 3000) POSTs of bench/webhook_review.json (one image,
# an amd64+arm64 list made by buildah, already cached) over one keep-alive TLS connection;
# counting starts after the first, cache-filling request (callgrind_control -z / -d).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
binaries=("${1:-$root/build/archway}")
[ -n "${2:-}" ] && binaries+=("$2")
requests="${REQUESTS:-3000}"
for tool in valgrind callgrind_control docker-registry buildah openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (apt-get install valgrind; scripts/install-deps.sh)" >&2; exit 1; }
done
for binary in "${binaries[@]}"; do
  [ -x "$binary" ] || { echo "bench: no archway binary at $binary" >&2; exit 1; }
done

work="$(mktemp -d /tmp/archway-bench-instructions.XXXXXX)"
source "$root/scripts/lib/local-registry.sh"
valgrind_pid=""
cleanup() {
  if [ -n "$valgrind_pid" ]; then kill -9 "$valgrind_pid" 2>/dev/null || true; fi
  local_registry_stop
  rm -rf "$work"
}
trap cleanup EXIT

local_registry_start
for platform in linux/amd64 linux/arm64; do push_scratch_image "$platform" "$registry/bench/web-${platform#*/}:1"; done
"${buildah_cmd[@]}" manifest create web-list >/dev/null
for arch in amd64 arm64; do
  "${buildah_cmd[@]}" manifest add --tls-verify=false web-list "docker://$registry/bench/web-$arch:1" >/dev/null
done
"${buildah_cmd[@]}" manifest push -q --all --tls-verify=false web-list "docker://$registry/bench/web:1.4"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/tls.key" \
  -out "$work/tls.crt" -days 1 -subj /CN=bench -addext subjectAltName=IP:127.0.0.1 2>/dev/null
python3 - "$here/webhook_review.json" "$registry/bench/web:1.4" > "$work/review.json" <<'PY'
import json, sys
review = json.load(open(sys.argv[1]))
review["request"]["object"]["spec"]["containers"][0]["image"] = sys.argv[2]
print(json.dumps(review, separators=(",", ":")))
PY
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
metrics_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
cat > "$work/webhook.yaml" <<YAML
listen: "127.0.0.1:$port"
tls: {certFile: $work/tls.crt, keyFile: $work/tls.key}
metricsListen: "127.0.0.1:$metrics_port"
registries: {configFile: $work/none.yaml, dockerConfig: $work/none.json}
kubeconfig: ""
YAML

# count BINARY -> instructions per admission
count() {
  local out="$work/callgrind.out"
  rm -f "$out"*
  valgrind --tool=callgrind --callgrind-out-file="$out" "$1" webhook --config "$work/webhook.yaml" \
    >"$work/webhook.log" 2>&1 &
  valgrind_pid=$!
  for _ in $(seq 1 300); do curl -sk -o /dev/null "https://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  curl -sk -o "$work/answer.json" -H 'Content-Type: application/json' --data-binary @"$work/review.json" \
    "https://127.0.0.1:$port/mutate"
  grep -q '"patch"' "$work/answer.json" || { echo "bench: the warm-up answer has no patch" >&2; cat "$work/answer.json" >&2; exit 1; }
  callgrind_control -z "$valgrind_pid" >/dev/null 2>&1
  python3 - "$port" "$work/review.json" "$requests" <<'PY'
import http.client, ssl, sys
connection = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ssl._create_unverified_context())
body = open(sys.argv[2], "rb").read()
for _ in range(int(sys.argv[3])):
    connection.request("POST", "/mutate?timeout=5s", body, {"Content-Type": "application/json"})
    answer = connection.getresponse().read()
    assert b'"patch"' in answer, answer
PY
  callgrind_control -d "$valgrind_pid" >/dev/null 2>&1
  kill -9 "$valgrind_pid" 2>/dev/null || true
  wait "$valgrind_pid" 2>/dev/null || true
  valgrind_pid=""
  local dump
  dump="$(ls -S "$out".* | head -1)"
  callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print int($1 / '"$requests"') }'
}

echo "bench: $requests cached admissions under callgrind per binary (about a minute each)..." >&2
first=""
for binary in "${binaries[@]}"; do
  n="$(count "$binary")"
  printf 'instructions per cached admission: %8d  %s\n' "$n" "$binary"
  if [ -z "$first" ]; then first="$n"; else awk -v a="$first" -v b="$n" 'BEGIN { printf "ratio first/second: %.2fx\n", a / b }'; fi
done

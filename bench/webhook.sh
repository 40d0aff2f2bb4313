#!/usr/bin/env bash
# bench/webhook.sh [ARCHWAY_BINARY] — admission throughput and latency of `archway webhook`
# against nginx, both over TLS on this machine, in the same run.
#
#  1. A real docker-registry on loopback with buildah-made images (single-platform images
#     and an amd64+arm64 list).
#  2. Warm cache: wrk -t2 -c32 POSTing a realistic ~2 KB AdmissionReview (bench/webhook_review.json)
#     over TLS keep-alive to /mutate, then the same against nginx answering a constant JSON
#     body over TLS, taking turns for ROUNDS rounds (default 3) of WRK_DURATION (default 5s).
#     Prints the medians of req/s and p99 for both and the medians of each round's ratios
#     (targets: archway >= 0.5x nginx's req/s, p99 <= 2x nginx's p99), and the webhook's RSS
#     after the run (target <= 30 MiB).
#     Also prints the CPU time each server spent per request (from /proc: utime+stime of
#     the webhook, of nginx's workers), which the other processes on a busy machine
#     disturb far less than req/s.
#  3. Cold cache: latency of a pod with 3 uncached images vs 1 (target <= 1.5x), each
#     image a distinct single-platform image (manifest + config blob fetched); the median
#     of COLD_SAMPLES pods of each size (default 7: single cold requests are noisy).
#     Next to it, the registry's own floor for the same work: a minimal client (Python
#     http.client, one thread and connection per image) making the same two requests per
#     image for the same image sets. docker-registry spends milliseconds of CPU per
#     request here, so three parallel resolutions on two cores take longer than one
#     whatever the client does; archway's ratio is read against that one.
#
# PERF_DATA=FILE records `perf record -g` of the webhook during its wrk run into FILE
# (for finding hot spots; the figures of that run are slower than usual).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
bin="${1:-${ARCHWAY_BINARY:-$root/build/archway}}"
duration="${WRK_DURATION:-5s}"
cold_samples="${COLD_SAMPLES:-7}"
[ -x "$bin" ] || { echo "bench: no archway binary at $bin (pass it as the first argument)" >&2; exit 1; }
for tool in docker-registry buildah wrk nginx openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done

tmp="$(mktemp -d /tmp/archway-bench-webhook.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

source "$root/scripts/lib/loopback.sh"  # free_port, wait_for

# --- registry + fixtures ---------------------------------------------------------------
reg_port="$(free_port)"
registry="127.0.0.1:$reg_port"
cat > "$tmp/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $tmp/storage}}
http: {addr: $registry, secret: bench}
YAML
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
pids+=($!)
wait_for "http://$registry/v2/"

bh() { buildah --root "$tmp/bh/root" --runroot "$tmp/bh/runroot" --storage-driver vfs "$@"; }
build_image() {  # build_image NAME PLATFORM: a tiny image with unique content
  local name="$1" os="${2%%/*}" arch="${2#*/}" c
  echo "$name $RANDOM $RANDOM" > "$tmp/content"
  c="$(bh from scratch)"
  bh copy "$c" "$tmp/content" /content.txt >/dev/null
  bh config --os "$os" --arch "$arch" "$c"
  bh commit -q "$c" "localhost/$name" >/dev/null
  bh rm "$c" >/dev/null
}
echo "bench: building fixtures with buildah..." >&2
for i in $(seq 1 $((cold_samples * 4))); do
  build_image "cold$i" linux/amd64
  bh push -q --tls-verify=false "localhost/cold$i" "docker://$registry/bench/cold$i:1"
done
bh manifest create localhost/web-list >/dev/null
for p in linux/amd64 linux/arm64; do
  build_image "web-${p#*/}" "$p"
  bh manifest add localhost/web-list "localhost/web-${p#*/}" >/dev/null
done
bh manifest push -q --all --tls-verify=false localhost/web-list "docker://$registry/bench/web:1.4"

# --- TLS material, review bodies ---------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$tmp/tls.key" \
  -out "$tmp/tls.crt" -days 1 -subj /CN=bench -addext subjectAltName=IP:127.0.0.1 2>/dev/null
review_with() {  # review_with IMAGE... -> AdmissionReview JSON with one container per image
  python3 - "$here/webhook_review.json" "$@" <<'PY'
import json, sys
review = json.load(open(sys.argv[1]))
template = review["request"]["object"]["spec"]["containers"][0]
review["request"]["object"]["spec"]["containers"] = [dict(template, name="c%d" % i, image=img) for i, img in enumerate(sys.argv[2:])]
print(json.dumps(review, separators=(",", ":")))
PY
}
review_with "$registry/bench/web:1.4" > "$tmp/review.json"
echo "bench: review body $(wc -c < "$tmp/review.json") bytes" >&2
cat > "$tmp/post.lua" <<LUA
local f = io.open("$tmp/review.json", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA

# --- archway webhook ---------------------------------------------------------------------
wh_port="$(free_port)"; metrics_port="$(free_port)"
cat > "$tmp/webhook.yaml" <<YAML
listen: "127.0.0.1:$wh_port"
tls: {certFile: $tmp/tls.crt, keyFile: $tmp/tls.key}
metricsListen: "127.0.0.1:$metrics_port"
budget: 2s
registries: {configFile: $tmp/none.yaml, dockerConfig: $tmp/none.json}
kubeconfig: ""
YAML
"$bin" webhook --config "$tmp/webhook.yaml" 2>"$tmp/webhook.log" &
wh_pid=$!
pids+=($wh_pid)
wait_for "https://127.0.0.1:$wh_port/healthz" -k
post() {  # post FILE -> seconds from the request sent to the answer's first byte (no TLS handshake)
  curl -sk -o "$tmp/answer.json" -w '%{time_pretransfer} %{time_starttransfer}' -H 'Content-Type: application/json' \
    --data-binary @"$1" "https://127.0.0.1:$wh_port/mutate?timeout=5s" | awk '{ printf "%.6f", $2 - $1 }'
}
post "$tmp/review.json" >/dev/null  # warm the cache
grep -q '"patch"' "$tmp/answer.json" || { echo "bench: warm-up answer has no patch:" >&2; cat "$tmp/answer.json" >&2; exit 1; }

# --- nginx ---------------------------------------------------------------------------------
ng_port="$(free_port)"
mkdir -p "$tmp/nginx/logs"
body="$(cat "$tmp/answer.json")"
cat > "$tmp/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$ng_port ssl;
    ssl_certificate $tmp/tls.crt;
    ssl_certificate_key $tmp/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      default_type application/json;
      return 200 '$body';
    }
  }
}
NGINX
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
ng_pid=$!
pids+=($ng_pid)
wait_for "https://127.0.0.1:$ng_port/mutate" -k

# --- warm-cache throughput ------------------------------------------------------------------
cpu_ticks() {  # cpu_ticks PID... -> utime+stime of those processes, in clock ticks
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo "$total"
}
run_wrk() {  # run_wrk "PID..." URL [wrk flags] -> "req/s p99_ms cpu_us_per_request" (POSTs the review unless flags say otherwise)
  local server_pids="$1" url="$2"; shift 2
  local before after
  # shellcheck disable=SC2086
  before="$(cpu_ticks $server_pids)"
  wrk -t2 -c32 -d"$duration" --latency "${@:--s$tmp/post.lua}" "$url" > "$tmp/wrk.out"
  # shellcheck disable=SC2086
  after="$(cpu_ticks $server_pids)"
  python3 - "$tmp/wrk.out" "$((after - before))" "$(getconf CLK_TCK)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
cpu_seconds = int(sys.argv[2]) / int(sys.argv[3])
requests = int(re.search(r"(\d+) requests in", text).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors: sys.stderr.write("bench: %s non-2xx answers\n" % errors.group(1))
print("%.0f %.2f %.1f" % (rps, p99, cpu_seconds * 1e6 / max(requests, 1)))
PY
}
# archway and nginx take turns, ROUNDS times: this VM's speed drifts by tens of percent
# within a minute, so each round's ratio compares two runs seconds apart, and the figures
# are the medians over the rounds.
rounds="${ROUNDS:-3}"
wh_runs=(); ng_runs=()
for round in $(seq 1 "$rounds"); do
  echo "bench: round $round/$rounds: wrk -t2 -c32 -d$duration against archway webhook, then nginx..." >&2
  if [ -n "${PERF_DATA:-}" ] && [ "$round" = 1 ]; then
    perf record ${PERF_RECORD_FLAGS:--g} -o "$PERF_DATA" -p "$wh_pid" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  wh_runs+=("$(run_wrk "$wh_pid" "https://127.0.0.1:$wh_port/mutate?timeout=5s")")
  if [ -n "${PERF_DATA:-}" ] && [ "$round" = 1 ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  ng_runs+=("$(run_wrk "$(pgrep -P "$ng_pid" | tr '\n' ' ')" "https://127.0.0.1:$ng_port/mutate?timeout=5s")")
done
wh_rss_kib="$(ps -o rss= -p "$wh_pid" | tr -d ' ')"
# The same server answering GET /healthz: its TLS + HTTP cost without any admission work,
# which tells how much of the gap to nginx is the admission itself.
echo "bench: wrk -t2 -c32 -d$duration against archway /healthz..." >&2
read -r hz_rps hz_p99 hz_cpu < <(run_wrk "$wh_pid" "https://127.0.0.1:$wh_port/healthz" --timeout=5s)

# --- cold-cache latency: 3 uncached images vs 1 -----------------------------------------------
# peer_ms IMAGE...: wall time (s) of the minimal client resolving the images in parallel.
cat > "$tmp/peer.py" <<'PY'
import http.client, json, sys, threading, time
accept = ", ".join(["application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json"])
def resolve(image):
    host, rest = image.split("/", 1)
    repo, tag = rest.rsplit(":", 1)
    connection = http.client.HTTPConnection(host)
    connection.request("GET", "/v2/%s/manifests/%s" % (repo, tag), headers={"Accept": accept})
    manifest = json.loads(connection.getresponse().read())
    connection.request("GET", "/v2/%s/blobs/%s" % (repo, manifest["config"]["digest"]))
    config = json.loads(connection.getresponse().read())
    assert config["architecture"]
start = time.perf_counter()
threads = [threading.Thread(target=resolve, args=(image,)) for image in sys.argv[1:]]
for thread in threads: thread.start()
for thread in threads: thread.join()
print("%.6f" % (time.perf_counter() - start))
PY
peer_ms() { python3 "$tmp/peer.py" "$@"; }
one_ms=(); three_ms=(); peer_one_ms=(); peer_three_ms=()
for s in $(seq 0 $((cold_samples - 1))); do  # images 4s+1 (alone), 4s+2..4s+4 (together)
  review_with "$registry/bench/cold$((4 * s + 1)):1" > "$tmp/cold1.json"
  review_with "$registry/bench/cold$((4 * s + 2)):1" "$registry/bench/cold$((4 * s + 3)):1" \
    "$registry/bench/cold$((4 * s + 4)):1" > "$tmp/cold3.json"
  one_ms+=("$(post "$tmp/cold1.json")")
  grep -q '"patch"' "$tmp/answer.json" || { echo "bench: cold answer has no patch" >&2; cat "$tmp/answer.json" >&2; }
  three_ms+=("$(post "$tmp/cold3.json")")
  grep -q '"patch"' "$tmp/answer.json" || { echo "bench: cold answer has no patch" >&2; cat "$tmp/answer.json" >&2; }
  peer_one_ms+=("$(peer_ms "$registry/bench/cold$((4 * s + 1)):1")")
  peer_three_ms+=("$(peer_ms "$registry/bench/cold$((4 * s + 2)):1" "$registry/bench/cold$((4 * s + 3)):1" \
    "$registry/bench/cold$((4 * s + 4)):1")")
done

python3 - "$(printf '%s,' "${wh_runs[@]}")" "$(printf '%s,' "${ng_runs[@]}")" "$wh_rss_kib" "$hz_rps" "$hz_p99" "$hz_cpu" \
  "${one_ms[*]}" "${three_ms[*]}" "${peer_one_ms[*]}" "${peer_three_ms[*]}" <<'PY'
import statistics, sys
def runs(arg): return [tuple(map(float, run.split())) for run in arg.split(",") if run]
wh, ng = runs(sys.argv[1]), runs(sys.argv[2])
rss_kib, hz_rps, hz_p99, hz_cpu = map(float, sys.argv[3:7])
ones = [float(x) for x in sys.argv[7].split()]
threes = [float(x) for x in sys.argv[8].split()]
peer_ones = [float(x) for x in sys.argv[9].split()]
peer_threes = [float(x) for x in sys.argv[10].split()]
def verdict(ok): return "ok" if ok else "MISSED"
from statistics import median
print("webhook bench (wrk -t2 -c32, TLS keep-alive, warm cache; %d rounds of archway then nginx, medians)" % len(wh))
for name, figures in (("archway webhook", wh), ("nginx (const)  ", ng)):
    print("  %s: %8.0f req/s  p99 %7.2f ms  server CPU %5.1f us/request   (rounds: %s req/s)"
          % (name, median([f[0] for f in figures]), median([f[1] for f in figures]), median([f[2] for f in figures]),
             " ".join("%.0f" % f[0] for f in figures)))
print("  archway GET /healthz (TLS+HTTP only, for reference): %8.0f req/s  p99 %7.2f ms  server CPU %5.1f us/request"
      % (hz_rps, hz_p99, hz_cpu))
rps_ratios = [a[0] / b[0] for a, b in zip(wh, ng)]
p99_ratios = [a[1] / b[1] for a, b in zip(wh, ng)]
print("  req/s ratio archway/nginx: %.2fx (target >= 0.5x) %s   (rounds: %s)"
      % (median(rps_ratios), verdict(median(rps_ratios) >= 0.5), " ".join("%.2f" % r for r in rps_ratios)))
print("  p99 ratio   archway/nginx: %.2fx (target <= 2x)   %s   (rounds: %s)"
      % (median(p99_ratios), verdict(median(p99_ratios) <= 2), " ".join("%.2f" % r for r in p99_ratios)))
print("  webhook RSS after the run: %.1f MiB (target <= 30 MiB) %s" % (rss_kib / 1024, verdict(rss_kib / 1024 <= 30)))
one = statistics.median(ones) * 1000
three = statistics.median(threes) * 1000
print("cold cache (median of %d pods each): 1 image %.1f ms, 3 images %.1f ms: %.2fx (target <= 1.5x) %s"
      % (len(ones), one, three, three / one, verdict(three / one <= 1.5)))
peer_one = statistics.median(peer_ones) * 1000
peer_three = statistics.median(peer_threes) * 1000
print("  the registry's floor, same images, minimal client (manifest + config blob, a thread per image):"
      " 1 image %.1f ms, 3 images %.1f ms: %.2fx" % (peer_one, peer_three, peer_three / peer_one))
PY

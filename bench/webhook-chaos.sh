#!/usr/bin/env bash
# bench/webhook-chaos.sh [ARCHWAY_BINARY] — `archway webhook` under a steady load while its
# registry fails in every way we can make it, and while its certificate is rotated. All
# on loopback, bounded (7 phases x PHASE_SECONDS, default 10 s, plus ~45 s of set-up).
#
#  - A real docker-registry on a free loopback port with three images: chaos/amd64 (an
#    amd64-only image), chaos/arm64 (arm64-only) and chaos/multi (an amd64+arm64 list),
#    each under its tag "1" and under enough tags "u<n>" that no tag is asked twice.
#  - The webhook reaches it only through bench/registry_chaos_proxy.cpp, switched between
#    forward / refuse / hang / garbage.
#  - wrk (bench/webhook-chaos.lua) POSTs pod AdmissionReviews over TLS at RATE (200/s) on
#    CONNS (16) connections: UNCACHED_CONNS (4) of them at UNCACHED_RATE (25/s) in all with
#    a tag never asked before (the webhook must ask the registry), the others with the
#    cached tag "1", but every 50th of theirs is bad input (a review cut in half: 400
#    expected). Every 25th request of a connection closes it (new TLS handshakes).
#    Each answer is checked in Lua: HTTP 200, an AdmissionReview with the request's uid,
#    allowed, and either no affinity or exactly the image's (as answered at warm-up, when
#    the registry was sound). An amd64-only image never gets arm64, whatever happens.
#  - Phases: normal; stopped (the registry process killed, the proxy refusing
#    connections); restarted (a new registry process on the same port and storage);
#    hang (connections accepted, never answered); garbage (non-HTTP bytes, HTTP 200 with
#    random or truncated bodies, a 16 MiB announcement); rotated (a new CA and serving
#    certificate written over the files the webhook reads, key first then certificate, as
#    cert-manager does; then checked with openssl s_client and curl --cacert: the new
#    certificate is served, the old CA no longer verifies it); normal again.
#  - Halfway through the normal and the hang phases, 5 pods at once name chaos/amd64 at the
#    registry's own address (not through the proxy: a sound registry) with new tags: does
#    a hanging registry delay look-ups at another one? (Printed, not part of the verdict.)
#
# Prints per phase: requests sent (and rate), answered 200, bad input answered 400, other
# statuses, requests
# unanswered or answered later than the API server would wait (budget + 2 s), cached and
# uncached answers with/without affinity, wrong answers, p50/p99 latency of cached and
# uncached requests, the proxy's connections and the webhook's RSS (VmRSS) at the phase's
# end. Then one verdict line, PASS when: every request answered in time with 200 (400 for
# the bad input), no wrong
# affinity (nor any answer of another shape), every cached request pinned in every phase,
# the new certificate served after the rotation, and the last RSS within 1.2x of the first
# phase's. Exits 1 on FAIL.
#
# RATE, CONNS, UNCACHED_CONNS, UNCACHED_RATE, PHASE_SECONDS, BUDGET (the webhook's, 1s)
# change the run; KEEP=1 keeps the temp dir (records, webhook log) for a look afterwards.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
bin="${1:-${ARCHWAY_BINARY:-$root/build/archway}}"
proxy_bin="${CHAOS_PROXY:-$(dirname "$bin")/bench/registry_chaos_proxy}"
rate="${RATE:-200}"
conns="${CONNS:-16}"
uncached_conns="${UNCACHED_CONNS:-4}"
uncached_rate="${UNCACHED_RATE:-25}"
phase_seconds="${PHASE_SECONDS:-10}"
budget="${BUDGET:-1s}"
[ -x "$bin" ] || { echo "bench: no archway binary at $bin (pass it as the first argument)" >&2; exit 1; }
[ -x "$proxy_bin" ] || { echo "bench: no $proxy_bin (cmake --build build --target registry_chaos_proxy)" >&2; exit 1; }
for tool in docker-registry buildah wrk openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
budget_ms="$(python3 -c 'import sys; t=sys.argv[1]; print(int(float(t[:-2])) if t.endswith("ms") else int(float(t[:-1]) * 1000))' "$budget")"
api_timeout_s=$(( (budget_ms + 999) / 1000 + 2 ))  # what the chart gives the API server: budget + 2 s

tmp="$(mktemp -d /tmp/archway-bench-chaos.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "${registry_pid:-}" ] && kill "$registry_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$root/scripts/lib/loopback.sh"  # free_port, wait_for

# --- registry (restartable on the same port) and images -------------------------------------
reg_port="$(free_port)"
direct="127.0.0.1:$reg_port"
cat > "$tmp/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $tmp/storage}}
http: {addr: $direct, secret: bench}
YAML
registry_pid=""
start_registry() {
  docker-registry serve "$tmp/registry.yml" >>"$tmp/registry.log" 2>&1 &
  registry_pid=$!
  wait_for "http://$direct/v2/"
}
stop_registry() { kill "$registry_pid"; wait "$registry_pid" 2>/dev/null || true; registry_pid=""; }
start_registry

bh() { buildah --root "$tmp/bh/root" --runroot "$tmp/bh/runroot" --storage-driver vfs "$@"; }
build_image() {  # build_image NAME PLATFORM
  local name="$1" os="${2%%/*}" arch="${2#*/}" c
  echo "$name $RANDOM" > "$tmp/content"
  c="$(bh from scratch)"
  bh copy "$c" "$tmp/content" /content.txt >/dev/null
  bh config --os "$os" --arch "$arch" "$c"
  bh commit -q "$c" "localhost/$name" >/dev/null
  bh rm "$c" >/dev/null
}
echo "bench: building images with buildah..." >&2
for arch in amd64 arm64; do
  build_image "$arch" "linux/$arch"
  bh push -q --tls-verify=false "localhost/$arch" "docker://$direct/chaos/$arch:1"
  build_image "multi-$arch" "linux/$arch"
done
bh manifest create localhost/multi >/dev/null
for arch in amd64 arm64; do bh manifest add localhost/multi "localhost/multi-$arch" >/dev/null; done
bh manifest push -q --all --tls-verify=false localhost/multi "docker://$direct/chaos/multi:1"

# Tags never asked twice: one per uncached request of the run, and a margin.
total_seconds=$((7 * phase_seconds))
tags=$(( uncached_rate * total_seconds * 12 / 10 / 3 + 20 ))
echo "bench: tagging each image $tags more times..." >&2
python3 - "$direct" "$tags" <<'PY'
import http.client, sys, threading
registry, tags = sys.argv[1], int(sys.argv[2])
accept = ", ".join(["application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.docker.distribution.manifest.v2+json"])
def tag(repo):
    c = http.client.HTTPConnection(registry)
    c.request("GET", "/v2/chaos/%s/manifests/1" % repo, headers={"Accept": accept})
    r = c.getresponse()
    manifest, media_type = r.read(), r.getheader("Content-Type")
    for n in ["probe"] + ["side%d" % i for i in range(10)] + ["u%d" % i for i in range(tags)]:
        c.request("PUT", "/v2/chaos/%s/manifests/%s" % (repo, n), body=manifest, headers={"Content-Type": media_type})
        r = c.getresponse(); r.read()
        assert r.status == 201, (repo, n, r.status)
threads = [threading.Thread(target=tag, args=(repo,)) for repo in ("amd64", "arm64", "multi")]
for t in threads: t.start()
for t in threads: t.join()
PY

# --- the proxy the webhook reaches the registry through -----------------------------------
coproc PROXY { exec "$proxy_bin" "$direct" 2>>"$tmp/proxy.log"; }
pids+=("$PROXY_PID")
proxy_out="${PROXY[0]}"; proxy_in="${PROXY[1]}"
read -r word proxy_port <&"$proxy_out"
[ "$word" = port ] || { echo "bench: the proxy did not start: $word $proxy_port" >&2; exit 1; }
registry="127.0.0.1:$proxy_port"
proxy_mode() {  # proxy_mode MODE: switches; echoes the connections of the mode left and when it switched (us)
  local ack
  echo "$1" >&"$proxy_in"
  read -r ack <&"$proxy_out"
  case "$ack" in "mode $1 "*) echo "${ack#mode $1 }" ;; *) echo "bench: proxy: $ack" >&2; exit 1 ;; esac
}

# --- TLS: a CA and a serving certificate now, another pair for the rotation ------------------
make_pair() {  # make_pair NAME: NAME-ca.crt, NAME.crt, NAME.key (IP 127.0.0.1)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$tmp/$1-ca.key" \
    -out "$tmp/$1-ca.crt" -days 1 -subj "/CN=chaos $1 CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$tmp/$1.key" -out "$tmp/$1.csr" \
    -subj /CN=archway-webhook 2>/dev/null
  openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/$1-ca.crt" -CAkey "$tmp/$1-ca.key" -CAcreateserial -days 1 \
    -extfile <(echo subjectAltName=IP:127.0.0.1) -out "$tmp/$1.crt" 2>/dev/null
}
make_pair first
make_pair second
mkdir -p "$tmp/tls"
cp "$tmp/first.crt" "$tmp/tls/tls.crt"
cp "$tmp/first.key" "$tmp/tls/tls.key"
fingerprint() { openssl x509 -noout -fingerprint -sha256 | cut -d= -f2; }

# --- the webhook ---------------------------------------------------------------------------
wh_port="$(free_port)"; metrics_port="$(free_port)"
cat > "$tmp/webhook.yaml" <<YAML
listen: "127.0.0.1:$wh_port"
tls: {certFile: $tmp/tls/tls.crt, keyFile: $tmp/tls/tls.key}
metricsListen: "127.0.0.1:$metrics_port"
budget: $budget
registries: {configFile: $tmp/none.yaml, dockerConfig: $tmp/none.json}
kubeconfig: ""
YAML
env -u KUBECONFIG -u KUBERNETES_SERVICE_HOST HOME="$tmp" "$bin" webhook --config "$tmp/webhook.yaml" 2>"$tmp/webhook.log" &
wh_pid=$!
pids+=("$wh_pid")
wait_for "https://127.0.0.1:$wh_port/healthz" --cacert "$tmp/first-ca.crt"

# --- warm-up: each image's affinity, with the registry sound -------------------------------
python3 - "$here/webhook_review.json" > "$tmp/template.json" <<'PY'
import json, sys
review = json.load(open(sys.argv[1]))
review["request"]["uid"] = "@UID@"
pod = review["request"]["object"]
pod["spec"]["containers"] = [dict(pod["spec"]["containers"][0], name="app", image="@IMAGE@")]
pod["spec"].pop("initContainers", None)
print(json.dumps(review, separators=(",", ":")))
PY
expected_patch() {  # expected_patch IMAGE-NAME TAG ARCHS: the answer's patch (base64), checked to pin ARCHS
  sed -e "s|@UID@|warm-$1-$2|" -e "s|@IMAGE@|$registry/chaos/$1:$2|" "$tmp/template.json" > "$tmp/warm.json"
  curl -s --cacert "$tmp/first-ca.crt" -H 'Content-Type: application/json' --data-binary @"$tmp/warm.json" \
    "https://127.0.0.1:$wh_port/mutate?timeout=${api_timeout_s}s" > "$tmp/warm-answer.json"
  python3 - "$tmp/warm-answer.json" "$3" <<'PY'
import base64, json, sys
answer = json.load(open(sys.argv[1]))["response"]
patch = json.loads(base64.b64decode(answer["patch"]))
archs = sorted({v for op in patch for v in json.dumps(op.get("value")).split('"') if v in ("amd64", "arm64", "arm")})
assert archs == sys.argv[2].split(","), "warm-up affinity %s, wanted %s: %s" % (archs, sys.argv[2], patch)
print(answer["patch"])
PY
}
patches=()
i=1
for spec in amd64:amd64 arm64:arm64 multi:amd64,arm64; do
  name="${spec%%:*}" archs="${spec#*:}"
  patch="$(expected_patch "$name" 1 "$archs")"
  [ "$(expected_patch "$name" probe "$archs")" = "$patch" ] || { echo "bench: the patch depends on the tag" >&2; exit 1; }
  patches+=("$patch")
  export "CHAOS_PATCH_$i=$patch"
  i=$((i + 1))
done

# --- the run ------------------------------------------------------------------------------
mkdir -p "$tmp/records"
export CHAOS_REGISTRY="$registry" CHAOS_RECORDS="$tmp/records" CHAOS_TEMPLATE="$tmp/template.json" \
  CHAOS_CONNS="$conns" CHAOS_UNCACHED_CONNS="$uncached_conns" CHAOS_RATE="$rate" CHAOS_UNCACHED_RATE="$uncached_rate" \
  CHAOS_CLOSE_EVERY=25 CHAOS_BAD_EVERY=50 CHAOS_TIMEOUT="${api_timeout_s}s"
# wrk runs past the last phase by more than an answer may take, so every request sent in a
# phase is answered (or not) before wrk stops.
wrk_seconds=$((total_seconds + api_timeout_s + 3))
echo "bench: wrk -t$conns -c$conns at $rate req/s ($uncached_rate/s uncached) for ${total_seconds}s of phases..." >&2
wrk -t"$conns" -c"$conns" -d"${wrk_seconds}s" --timeout 20s -s "$here/webhook-chaos.lua" \
  "https://127.0.0.1:$wh_port/mutate" > "$tmp/wrk.out" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
sleep 1  # wrk connected and pacing

: > "$tmp/phases"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$wh_pid/status"; }
# switch_phase NAME MODE: the proxy switches to MODE, and phase NAME starts when it did
# (the proxy's clock: no gap in which requests of one phase meet the mode of another).
switch_phase() {
  local count at
  read -r count at < <(proxy_mode "$2")
  connections+=("$count")
  echo "$1 $at" >> "$tmp/phases"
  phase_began=$(( at * 1000 ))
}
phase_end() {  # phase_end CONNECTIONS: sleeps out the phase, records RSS and the proxy's count
  local left=$(( phase_seconds * 1000000000 - ($(date +%s%N) - phase_began) ))
  [ "$left" -gt 0 ] && sleep "$(awk -v ns="$left" 'BEGIN { printf "%.3f", ns / 1e9 }')"
  kill -0 "$wh_pid" 2>/dev/null || { echo "bench: the webhook exited:" >&2; tail -20 "$tmp/webhook.log" >&2; exit 1; }
  echo "$(rss) $(awk '/^VmHWM:/ { print $2 }' "/proc/$wh_pid/status")" >> "$tmp/rss"
}
# side_probe PHASE FIRST: 5 pods at once naming chaos/amd64 at the registry's own address
# (no proxy: a sound registry) with tags not asked before (side<FIRST>..): in the hang
# phase, do they wait behind the look-ups hung on the proxy? The normal phase is the control.
side_probe() {
  local k probes=()
  for k in $(seq "$2" $(($2 + 4))); do
    sed -e "s|@UID@|side-$k|" -e "s|@IMAGE@|$direct/chaos/amd64:side$k|" "$tmp/template.json" > "$tmp/side$k.json"
    ( t="$(curl -s --cacert "$tmp/first-ca.crt" -o "$tmp/side$k.answer" -w '%{time_total}' -H 'Content-Type: application/json' \
        --data-binary @"$tmp/side$k.json" "https://127.0.0.1:$wh_port/mutate?timeout=${api_timeout_s}s")"
      python3 -c 'import json, sys; print(sys.argv[3], sys.argv[4], "aff" if json.load(open(sys.argv[1]))["response"].get("patch") == sys.argv[2] else "none")' \
        "$tmp/side$k.answer" "${patches[0]}" "$1" "$t" >> "$tmp/side" ) &
    probes+=($!)
  done
  wait "${probes[@]}"
}
: > "$tmp/side"
connections=()  # the proxy's, per phase (the first entry: warm-up)
echo "bench: phase normal" >&2
switch_phase normal forward; sleep $(( phase_seconds / 2 )); side_probe normal 0; phase_end
echo "bench: phase stopped (registry killed, proxy refusing)" >&2
switch_phase stopped refuse; stop_registry; phase_end
echo "bench: phase restarted" >&2
start_registry; switch_phase restarted forward; phase_end
echo "bench: phase hang" >&2
switch_phase hang hang
sleep $(( phase_seconds / 2 )); side_probe hang 5
phase_end
echo "bench: phase garbage" >&2
switch_phase garbage garbage; phase_end
echo "bench: phase rotated (new CA and certificate)" >&2
switch_phase rotated forward
new_print="$(fingerprint < "$tmp/second.crt")"
cp "$tmp/second.key" "$tmp/tls/tls.key.new" && mv "$tmp/tls/tls.key.new" "$tmp/tls/tls.key"
sleep 0.3  # handshakes in between meet a key that does not match the certificate: the old pair serves
cp "$tmp/second.crt" "$tmp/tls/tls.crt.new" && mv "$tmp/tls/tls.crt.new" "$tmp/tls/tls.crt"
rotated_at=$(date +%s%N)
tls_checks=0; tls_new=0; tls_old_ca_rejected=0; first_new_ms=""
for _ in $(seq 1 $(( phase_seconds / 2 ))); do
  served="$(openssl s_client -connect "127.0.0.1:$wh_port" -CAfile "$tmp/second-ca.crt" -verify_return_error \
    </dev/null 2>/dev/null | fingerprint || true)"
  tls_checks=$((tls_checks + 1))
  if [ "$served" = "$new_print" ] && curl -sf -o /dev/null --cacert "$tmp/second-ca.crt" "https://127.0.0.1:$wh_port/healthz"; then
    tls_new=$((tls_new + 1))
    [ -z "$first_new_ms" ] && first_new_ms=$(( ($(date +%s%N) - rotated_at) / 1000000 ))
  fi
  curl -s -o /dev/null --cacert "$tmp/first-ca.crt" "https://127.0.0.1:$wh_port/healthz" || tls_old_ca_rejected=$((tls_old_ca_rejected + 1))
  sleep 1
done
phase_end
echo "bench: phase normal (again)" >&2
switch_phase normal-again forward; phase_end
switch_phase end forward
wait "$wrk_pid" || { echo "bench: wrk failed:" >&2; cat "$tmp/wrk.out" >&2; exit 1; }
curl -s "http://127.0.0.1:$metrics_port/metrics" > "$tmp/metrics.txt" || true

python3 - "$tmp" "${connections[*]:1}" "$((budget_ms + 2000))" "$tls_checks" "$tls_new" "$tls_old_ca_rejected" \
  "${first_new_ms:--}" "$rate" "$uncached_rate" "$budget" <<'PY'
import glob, re, sys
tmp, connections, late_ms = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
tls_checks, tls_new, tls_old_rejected = map(int, sys.argv[4:7])
first_new_ms, rate, uncached_rate, budget = sys.argv[7], sys.argv[8], sys.argv[9], sys.argv[10]
phases = [line.split() for line in open(tmp + "/phases")]
names = [p[0] for p in phases[:-1]]
starts = [int(p[1]) for p in phases]
rss = [tuple(int(x) for x in line.split()) for line in open(tmp + "/rss")]
sent, answer = {}, {}
for path in glob.glob(tmp + "/records/t*"):
    for line in open(path):
        f = line.split()
        if len(f) < 5: continue  # a line cut by wrk's exit
        if f[0] == "S": sent[f[1]] = (int(f[2]), f[4])
        elif f[0] == "R": answer[f[1]] = (int(f[2]), int(f[3]), f[4])
def phase_of(t):
    if t < starts[0] or t >= starts[-1]: return None
    return max(i for i in range(len(names)) if starts[i] <= t)
def pct(values, p):
    if not values: return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p * (len(values) - 1) + 0.5))]
rows, totals = [], dict(sent=0, non200=0, missing=0, wrong=0, cached_none=0)
for i, name in enumerate(names):
    row = dict(sent=0, ok=0, rejected=0, non200=0, missing=0, caff=0, cnone=0, uaff=0, unone=0, wrong=0, clat=[], ulat=[])
    for uid, (t, kind) in sent.items():
        if phase_of(t) != i: continue
        row["sent"] += 1
        a = answer.get(uid)
        if a is None:
            row["missing"] += 1
            continue
        latency_ms = (a[0] - t) / 1000
        if latency_ms > late_ms: row["missing"] += 1
        cls = a[2]
        if kind == "b":  # bad input: 400 expected; 200 would be a wrong answer
            if cls == "rejected": row["rejected"] += 1
            elif cls == "accepted": row["wrong"] += 1
            else: row["non200"] += 1
            continue
        if a[1] != 200:
            row["non200"] += 1
        else:
            row["ok"] += 1
        (row["clat"] if kind == "c" else row["ulat"]).append(latency_ms)
        if cls == "aff": row["caff" if kind == "c" else "uaff"] += 1
        elif cls == "none": row["cnone" if kind == "c" else "unone"] += 1
        elif not cls.startswith("http"): row["wrong"] += 1  # wrong, mismatch, bad, denied
    rows.append(row)
    totals["sent"] += row["sent"]; totals["non200"] += row["non200"]; totals["missing"] += row["missing"]
    totals["wrong"] += row["wrong"]; totals["cached_none"] += row["cnone"]
seconds = [(starts[i + 1] - starts[i]) / 1e6 for i in range(len(names))]
print("webhook chaos (wrk: %s req/s, %s/s of them with a tag never asked; budget %s; late = over %d ms)"
      % (rate, uncached_rate, budget, late_ms))
header = ("phase", "s", "sent", "req/s", "200", "bad->400", "other", "late/lost", "cached aff/none", "uncached aff/none",
          "wrong", "cached p50/p99 ms", "uncached p50/p99 ms", "proxy conns", "RSS MiB")
lines = []
for i, (name, row) in enumerate(zip(names, rows)):
    lines.append((name, "%.1f" % seconds[i], str(row["sent"]), "%.0f" % (row["sent"] / seconds[i]), str(row["ok"]),
                  str(row["rejected"]), str(row["non200"]), str(row["missing"]), "%d/%d" % (row["caff"], row["cnone"]),
                  "%d/%d" % (row["uaff"], row["unone"]), str(row["wrong"]),
                  "%.1f/%.1f" % (pct(row["clat"], .5), pct(row["clat"], .99)),
                  "%.0f/%.0f" % (pct(row["ulat"], .5), pct(row["ulat"], .99)),
                  connections[i] if i < len(connections) else "-", "%.1f" % (rss[i][0] / 1024)))
widths = [max(len(h), *(len(l[c]) for l in lines)) for c, h in enumerate(header)]
print("  " + "  ".join(h.rjust(w) for h, w in zip(header, widths)))
for l in lines: print("  " + "  ".join(v.rjust(w) for v, w in zip(l, widths)))
wrong_lines = open(tmp + "/records/wrong").read().splitlines() if glob.glob(tmp + "/records/wrong") else []
for l in wrong_lines[:5]: print("  WRONG: " + l)
results = {}
for m in re.finditer(r'^archway_admission_requests_total\{result="([a-z_]+)"\} (\S+)', open(tmp + "/metrics.txt").read(), re.M):
    if float(m.group(2)): results[m.group(1)] = int(float(m.group(2)))
# Why pods went without affinity, by phase, as the webhook logged it (image names and
# numbers folded, so alike reasons count together).
import collections, datetime, json
reasons = [collections.Counter() for _ in names]
for line in open(tmp + "/webhook.log"):
    try: entry = json.loads(line)
    except ValueError: continue
    if entry.get("msg") != "pod admitted without platform affinity": continue
    t = datetime.datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    i = phase_of(int(t.timestamp() * 1e6))
    if i is None: continue
    text = entry.get("warnings", "").replace("archway: node affinity not set: ", "")
    text = re.sub(r"127\.0\.0\.1:\d+/chaos/[a-z0-9]+:[a-z0-9]+", "IMAGE", text)
    text = re.sub(r"/v2/chaos/[a-z0-9]+/manifests/[a-z0-9]+", "/v2/.../manifests/TAG", text)
    reasons[i][re.sub(r"127\.0\.0\.1:\d+", "REGISTRY", text)[:130]] += 1
print("  why pods got no affinity (the webhook's log; side probes included):")
for name, counter in zip(names, reasons):
    for text, count in counter.most_common(4): print("    %-12s %4d x %s" % (name, count, text))
print("  the webhook's archway_admission_requests_total by result: %s" % ", ".join("%s %d" % kv for kv in sorted(results.items())))
side = [line.split() for line in open(tmp + "/side")]
print("  5 pods at once naming a sound registry (its own address, not the proxy; new tags): "
      + "; ".join("%s phase p50 %.0f ms, %d/%d with affinity"
                  % (phase, pct([float(s[1]) * 1000 for s in side if s[0] == phase], .5),
                     sum(1 for s in side if s[0] == phase and s[2] == "aff"), sum(1 for s in side if s[0] == phase))
                  for phase in ("normal", "hang")))
print("  TLS after the rotation: %d/%d handshakes served the new certificate and verified with the new CA "
      "(first %s ms after the files changed); the old CA refused %d/%d"
      % (tls_new, tls_checks, first_new_ms, tls_old_rejected, tls_checks))
wrk_text = open(tmp + "/wrk.out").read()
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", wrk_text)
socket_errors = sum(map(int, m.groups())) if m else 0
print("  wrk: %s" % (m.group(0) if m else "no socket errors (connect, read, write, timeout)"))
base, last = rss[0][0], rss[-1][0]
print("  RSS: first phase %.1f MiB, last %.1f MiB (%.2fx; peak VmHWM %.1f MiB)" % (base / 1024, last / 1024, last / base, rss[-1][1] / 1024))
checks = [("every request answered", totals["missing"] == 0 and socket_errors == 0), ("no unexpected status", totals["non200"] == 0),
          ("no wrong answer", totals["wrong"] == 0), ("cached pinned", totals["cached_none"] == 0),
          ("new certificate", tls_new == tls_checks and tls_old_rejected == tls_checks), ("RSS flat", last <= 1.2 * base)]
failed = [name for name, ok in checks if not ok]
print("%s: %d requests in %d phases, %d unexpected statuses, %d late or lost, %d wrong, %d cached without affinity, "
      "TLS %d/%d new, RSS %.2fx%s"
      % ("PASS" if not failed else "FAIL", totals["sent"], len(names), totals["non200"], totals["missing"], totals["wrong"],
         totals["cached_none"], tls_new, tls_checks, last / base, "" if not failed else " (failed: " + ", ".join(failed) + ")"))
sys.exit(1 if failed else 0)
PY

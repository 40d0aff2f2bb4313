#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine (as root, or with sudo),
# installs what archway needs, builds it, and shows the main job end to end without a
# cluster:
#   1. starts a throw-away Docker registry on a free loopback port,
#   2. builds three tiny single-platform images with buildah (linux/amd64, linux/arm64,
#      linux/arm/v7), each pushed to its own repository,
#   3. `archway publish` assembles them into one multi-arch image,
#   4. `archway inspect` shows the platforms it supports (as text, then as JSON),
#   5. `archway check` says which workloads of a multi-document manifest can run on
#      linux/amd64, linux/arm64 and linux/arm/v7, and what the webhook would add,
#   6. `archway webhook` runs on loopback with a generated certificate (no cluster), and an
#      AdmissionReview for a pod is posted to it: its JSON Patch, decoded, and the pod's
#      resulting node affinity are printed.
# Everything lives in a temp dir that is removed at the end, with the registry stopped.
# ARCHWAY=/path/to/archway skips the install and build steps (for development).
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$(pwd)

# Bold headings on a terminal only; plain text in logs and CI.
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }

if [ -n "${ARCHWAY:-}" ]; then
  archway="$ARCHWAY"  # an already built binary (development): skip installing and building
else
  step "Installing dependencies (Debian packages; nothing when already present)"
  scripts/install-deps.sh
  step "Building archway (release)"
  scripts/build.sh release
  archway="$root_dir/build/archway"
fi

work=$(mktemp -d /tmp/archway-demo.XXXXXX)
source "$root_dir/scripts/lib/local-registry.sh"
webhook_pid=""
cleanup() {
  if [ -n "$webhook_pid" ]; then kill "$webhook_pid" 2>/dev/null || true; wait "$webhook_pid" 2>/dev/null || true; fi
  local_registry_stop
  rm -rf "$work"
}
trap cleanup EXIT

step "Starting a local registry"
local_registry_start
echo "registry listening on $registry (data in $work)"

step "Building three single-platform images with buildah"
sources=()
for platform in linux/amd64 linux/arm64 linux/arm/v7; do
  IFS=/ read -r _ arch variant <<<"$platform"
  image="$registry/demo-${arch}${variant:+-$variant}:1.0"
  push_scratch_image "$platform" "$image" --label org.opencontainers.image.title=archway-demo
  echo "pushed $image ($platform)"
  sources+=("$image")
done

target="$registry/demo:1.0"
step "archway publish $target ${sources[*]}"
digest=$("$archway" publish "$target" "${sources[@]}")

step "Publishing again with the same inputs (same digest, no writes)"
again=$("$archway" publish "$target" "${sources[@]}")
[ "$again" = "$digest" ] || { echo "demo: the second publish gave $again, expected $digest" >&2; exit 1; }

step "archway inspect $target"
"$archway" inspect "$target"

step "archway inspect $target --json"
"$archway" inspect "$target" --json

platforms=$("$archway" inspect "$target" --platform-only | paste -sd ' ')

# What archway check reads: a multi-document file as `helm template` prints it.
amd_only="$registry/demo-amd64:1.0"
cat >"$work/app.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: $target}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy, namespace: shop}
spec:
  selector: {matchLabels: {app: legacy}}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers:
      - {name: app, image: $amd_only}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: node-agent}}
  template:
    metadata: {labels: {app: node-agent}}
    spec:
      initContainers:
      - {name: setup, image: $target}
      containers:
      - {name: agent, image: $registry/demo-arm64:1.0}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80}]}
YAML
no_credentials=(--docker-config "$work/absent.json" --registries "$work/absent.yaml")

step "archway check -f app.yaml --platforms linux/amd64,linux/arm64,linux/arm/v7 --show-affinity"
check_rc=0
"$archway" check -f "$work/app.yaml" --platforms linux/amd64,linux/arm64,linux/arm/v7 --show-affinity \
  "${no_credentials[@]}" >"$work/check.txt" 2>"$work/check.err" || check_rc=$?
cat "$work/check.txt" "$work/check.err"
echo "exit status: $check_rc (1: some workload cannot run on some target platform)"
[ "$check_rc" = 1 ] || { echo "demo: archway check exited $check_rc, expected 1" >&2; exit 1; }

step "Starting archway webhook on loopback (generated certificate, no cluster)"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/webhook.key" -out "$work/webhook.crt" 2>/dev/null
# No kubeconfig and no in-cluster service account: the webhook serves without a cluster.
env -u KUBECONFIG -u KUBERNETES_SERVICE_HOST HOME="$work" "$archway" webhook --listen 127.0.0.1:0 \
  --metrics-listen 127.0.0.1:0 --tls-cert-file "$work/webhook.crt" --tls-key-file "$work/webhook.key" \
  "${no_credentials[@]}" 2>"$work/webhook.log" &
webhook_pid=$!
webhook_port=""
for _ in $(seq 1 100); do
  webhook_port=$(grep -o '"https_port":"[0-9]*"' "$work/webhook.log" | grep -o '[0-9]\+' || true)
  [ -n "$webhook_port" ] && break
  kill -0 "$webhook_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$webhook_port" ] || { echo "demo: the webhook did not start:" >&2; cat "$work/webhook.log" >&2; exit 1; }
echo "webhook serving https://127.0.0.1:$webhook_port/mutate"

step "POST an AdmissionReview for a pod of $target"
cat >"$work/review.json" <<JSON
{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
 "request": {"uid": "demo-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
  "operation": "CREATE", "namespace": "shop",
  "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"},
   "spec": {"containers": [{"name": "web", "image": "$target"}]}}}}
JSON
curl -sS --fail --cacert "$work/webhook.crt" -H 'Content-Type: application/json' \
  --data-binary @"$work/review.json" "https://127.0.0.1:$webhook_port/mutate" >"$work/answer.json"
jq '.response | {uid, allowed, patchType, warnings}' "$work/answer.json"
echo "the JSON Patch, decoded:"
jq -r '.response.patch' "$work/answer.json" | base64 -d | jq . | tee "$work/patch.json"
echo "the pod's node affinity after the patch:"
affinity=$(jq -c '.[] | select(.path == "/spec/affinity") | .value.nodeAffinity' "$work/patch.json")
echo "$affinity" | jq .
[ -n "$affinity" ] || { echo "demo: the webhook added no affinity" >&2; exit 1; }
archs=$(echo "$affinity" | jq -r '[.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[]
  | select(.key == "kubernetes.io/arch") | .values[]] | join(", ")')
cat <<SUMMARY

What happened:
  * buildah pushed three single-platform images to a registry on $registry.
  * archway publish read each image's platform from its config blob, mounted the blobs
    into the demo repository, pushed the three manifests byte for byte and then an
    OCI image index: $target@$digest.
  * Publishing the same inputs again gave the same digest and wrote nothing.
  * archway inspect resolves the list to its platforms: $platforms.
    This is the answer archway's webhook uses to pin pods to nodes that can run them.
  * archway check read app.yaml (3 workloads, 1 Service ignored) before anything was deployed:
$(sed 's/^/      /' "$work/check.txt")
    In a cluster of amd64, arm64 and 32-bit Pi nodes: web runs everywhere; legacy only on
    amd64 nodes; node-agent's DaemonSet pods would start only where its arm64-only agent
    runs, so the amd64 and arm/v7 nodes would get no agent. It exited 1, as a CI gate would.
  * archway webhook answered the AdmissionReview for pod web-1 with a patch requiring
    kubernetes.io/arch in ($archs): a cluster would schedule that pod only on nodes of
    those architectures, and it says so in the annotation archway.dev/platforms.
The registry and the webhook are stopped and $work removed on exit.
SUMMARY

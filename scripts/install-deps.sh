#!/usr/bin/env bash
# Installs every Debian package archway's build, tests, demo and benchmarks use.
# Idempotent: does nothing when all are present. Runs apt as root, or through sudo.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev
  # libraries (found with find_package)
  nlohmann-json3-dev libssl-dev libyaml-cpp-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libboost-dev libboost-system-dev
  # real peers for the tests and benchmarks (etcd-server: the real-apiserver suite's etcd,
  # beside the kube-apiserver of ../shared/envtest)
  docker-registry skopeo buildah apache2-utils openssl curl ca-certificates jq
  wrk nginx-light hyperfine procps iproute2 etcd-server
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages enable system services we do not want running in the background:
# the tests start their own registry, nginx and etcd on free loopback ports.
for service in docker-registry nginx etcd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done

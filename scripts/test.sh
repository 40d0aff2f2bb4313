#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
#   1. installs the Debian packages it needs (scripts/install-deps.sh),
#   2. builds with g++ -Werror and runs every test (unit + integration against real
#      docker-registry, buildah, skopeo),
#   3. builds with clang + ASan/UBSan and runs every test again,
#   4. runs each libFuzzer target for a bounded time.
# Set ARCHWAY_SKIP_ASAN=1 for a quick local loop (CI never sets it).
#
# The real-apiserver suite (ctest label apiserver) finds its binaries the envtest way:
# $KUBEBUILDER_ASSETS when set, else this script makes one from ../shared/envtest
# (kube-apiserver, kube-controller-manager) and PATH (etcd, and kubectl when there is
# one). Without them it is skipped, with the reason, and so are the chart tests without
# helm or ../shared/tools/chart-render.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

export ARCHWAY_TEST_TMP="${ARCHWAY_TEST_TMP:-$(mktemp -d /tmp/archway-test.XXXXXX)}"
ctest_args=(--output-on-failure --timeout 600 -j "${ARCHWAY_TEST_JOBS:-2}")

if [ -z "${KUBEBUILDER_ASSETS:-}" ] && [ -x ../shared/envtest/kube-apiserver ]; then
  assets="$ARCHWAY_TEST_TMP/kubebuilder-assets"
  mkdir -p "$assets"
  ln -sf "$(readlink -f ../shared/envtest/kube-apiserver)" "$assets/kube-apiserver"
  if [ -x ../shared/envtest/kube-controller-manager ]; then
    ln -sf "$(readlink -f ../shared/envtest/kube-controller-manager)" "$assets/kube-controller-manager"
  fi
  for tool in etcd kubectl; do
    if command -v "$tool" >/dev/null 2>&1; then ln -sf "$(command -v "$tool")" "$assets/$tool"; fi
  done
  export KUBEBUILDER_ASSETS="$assets"
  echo "== KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS ($(ls "$assets" | tr '\n' ' '))"
fi

# How many tests of the apiserver suite ran (each of its binaries is one ctest test).
report_apiserver() {
  awk '/^[0-9]+\/[0-9]+ Testing: / { name = $3 }
       name ~ /^apiserver_/ && /^\[  PASSED  \] [0-9]+ test/ { passed += $4 }
       name ~ /^apiserver_/ && /^archway-suite-skipped: / { print "apiserver suite skipped: " substr($0, 24); skipped = 1 }
       END { if (!skipped) print "apiserver suite: " passed + 0 " tests passed on the real kube-apiserver" }' \
    "$1/Testing/Temporary/LastTest.log"
}

echo "== release build (g++, -Werror)"
scripts/build.sh release
echo "== tests (release)"
(cd build && ctest "${ctest_args[@]}")
report_apiserver build

if [ "${ARCHWAY_SKIP_ASAN:-0}" != 1 ]; then
  echo "== sanitizer build (clang, ASan + UBSan)"
  scripts/build.sh asan
  echo "== tests (ASan + UBSan)"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  # No suppressions: since cpprestsdk left, no library leaks or trips UBSan at exit.
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd build-asan && ctest "${ctest_args[@]}")
  report_apiserver build-asan
  echo "== fuzzing (bounded)"
  tests/fuzz/run.sh build-asan "${ARCHWAY_FUZZ_SECONDS:-20}"
fi
echo "== all tests passed"

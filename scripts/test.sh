#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
#   1. installs the Debian packages it needs (scripts/install-deps.sh),
#   2. builds with g++ -Werror and runs every test (unit + integration against real
#      docker-registry, buildah, skopeo),
#   3. builds with clang + ASan/UBSan and runs every test again,
#   4. runs each libFuzzer target for a bounded time.
# Set ARCHWAY_SKIP_ASAN=1 for a quick local loop (CI never sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

export ARCHWAY_TEST_TMP="${ARCHWAY_TEST_TMP:-$(mktemp -d /tmp/archway-test.XXXXXX)}"
ctest_args=(--output-on-failure --timeout 600 -j "${ARCHWAY_TEST_JOBS:-2}")

echo "== release build (g++, -Werror)"
scripts/build.sh release
echo "== tests (release)"
(cd build && ctest "${ctest_args[@]}")

if [ "${ARCHWAY_SKIP_ASAN:-0}" != 1 ]; then
  echo "== sanitizer build (clang, ASan + UBSan)"
  scripts/build.sh asan
  echo "== tests (ASan + UBSan)"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  # No suppressions: since cpprestsdk left, no library leaks or trips UBSan at exit.
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd build-asan && ctest "${ctest_args[@]}")
  echo "== fuzzing (bounded)"
  tests/fuzz/run.sh build-asan "${ARCHWAY_FUZZ_SECONDS:-20}"
fi
echo "== all tests passed"

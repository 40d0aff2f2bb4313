#!/usr/bin/env bash
# scripts/build.sh [release|asan] — configures and builds the whole tree.
#   release: g++, -O2, -Werror, into build/ (no debug info: it only slows the 2-core CI)
#   asan:    clang, AddressSanitizer + UndefinedBehaviorSanitizer + libFuzzer targets, into build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-release}"
jobs="${ARCHWAY_JOBS:-$(nproc)}"
case "$mode" in
  release)
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
      -DARCHWAY_WERROR=ON >/dev/null
    cmake --build build -j "$jobs"
    ;;
  asan)
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_CXX_COMPILER=clang++ -DARCHWAY_SANITIZE=ON -DARCHWAY_FUZZ=ON -DARCHWAY_WERROR=ON \
      -DCMAKE_CXX_FLAGS="-O1" -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only" >/dev/null
    cmake --build build-asan -j "$jobs"
    ;;
  *) echo "usage: scripts/build.sh [release|asan]" >&2; exit 2 ;;
esac

# archway: one multi-arch image for `archway webhook`, `archway operator`, `inspect`, `publish`.
#
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 \
#     -t registry.lan/archway:0.1.0 --push .
#
# Why a cross-compiling build stage: the C++ compile is the slow part, and under QEMU it
# is many times slower (hours for arm/v7). So the build stage runs on the build machine's
# own platform ($BUILDPLATFORM) and cross-compiles for $TARGETARCH with Debian's cross
# toolchains (crossbuild-essential-<arch>) and the target's -dev packages installed
# through dpkg multiarch (libssl-dev:arm64, ...). When the target is the build
# machine's own architecture, the native g++ is used. The runtime stage is the target's
# debian:12-slim; its only RUN is one apt-get (which a buildx builder for foreign
# platforms runs under QEMU: `docker run --privileged --rm tonistiigi/binfmt --install all`
# once on the build machine).
#
# Supported targets: linux/amd64, linux/arm64, linux/arm/v7 (Debian armhf).

ARG DEBIAN_RELEASE=12

FROM --platform=$BUILDPLATFORM debian:${DEBIAN_RELEASE} AS build
ARG TARGETARCH
ARG TARGETVARIANT
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]

# Docker platform -> Debian architecture and GNU triplet.
RUN case "${TARGETARCH}${TARGETVARIANT:+/${TARGETVARIANT}}" in \
      amd64*)          echo "amd64 x86_64-linux-gnu x86_64" ;; \
      arm64*)          echo "arm64 aarch64-linux-gnu aarch64" ;; \
      arm/v7|arm)      echo "armhf arm-linux-gnueabihf armv7l" ;; \
      *) echo "archway: unsupported target platform ${TARGETARCH}${TARGETVARIANT:+/${TARGETVARIANT}} (use linux/amd64, linux/arm64 or linux/arm/v7)" >&2; exit 1 ;; \
    esac > /etc/archway-target

# The toolchain for the target and the target's libraries (the same -dev packages as
# scripts/install-deps.sh, without the test peers).
RUN read -r debarch triplet _ < /etc/archway-target; \
    if [[ "$debarch" == "$(dpkg --print-architecture)" ]]; then toolchain=(g++); \
    else dpkg --add-architecture "$debarch"; toolchain=("crossbuild-essential-$debarch"); fi; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake ninja-build pkg-config file "${toolchain[@]}" nlohmann-json3-dev \
      "libssl-dev:$debarch" "libyaml-cpp-dev:$debarch" \
      "prometheus-cpp-dev:$debarch" "libboost-dev:$debarch" "libboost-system-dev:$debarch"; \
    rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# -DARCHWAY_WERROR=OFF: warnings are enforced by CI on amd64 (g++ and clang); a 32-bit
# target's extra warnings must not break a user's image build.
RUN read -r debarch triplet processor < /etc/archway-target; \
    cross=(); \
    if [[ "$debarch" != "$(dpkg --print-architecture)" ]]; then \
      cross=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="$processor" \
             -DCMAKE_CXX_COMPILER="$triplet-g++" \
             -DCMAKE_LIBRARY_ARCHITECTURE="$triplet" \
             -DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER); \
      export PKG_CONFIG_LIBDIR="/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig"; \
    fi; \
    cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DARCHWAY_TESTS=OFF -DARCHWAY_WERROR=OFF "${cross[@]}"; \
    cmake --build /build --target archway -j"$(nproc)"; \
    strip_tool=strip; [[ -z "${cross[*]}" ]] || strip_tool="$triplet-strip"; \
    install -D -m 0755 /build/archway /out/archway; \
    "$strip_tool" --strip-unneeded /out/archway; \
    file /out/archway

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# Only the shared libraries the binary links (apt adds their own dependencies) and the
# CA certificates for registries; tests/chart checks this list against `ldd archway`.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates \
      libyaml-cpp0.7 \
      libprometheus-cpp-core1.0 \
      libssl3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*
COPY --from=build /out/archway /usr/local/bin/archway
# The chart runs as this UID too (runAsUser 65532, readOnlyRootFilesystem).
USER 65532:65532
# webhook HTTPS, webhook metrics, operator metrics, operator health
EXPOSE 8443 9090 9091 8081
ENTRYPOINT ["/usr/local/bin/archway"]
CMD ["--help"]

# syntax=docker/dockerfile:1
#
# One image for both Tidewater binaries: the operator's Deployment runs
# `tidewater-operator run ...`, the broker pods run `tidewater-broker start ...`.
# No ENTRYPOINT: each pod spec names the binary it runs.
#
#   docker build -t ghcr.io/tidewater-io/tidewater:0.1.0 --build-arg VERSION=0.1.0 .
#
# Base images are pinned by tag (the e2e suite builds this file with buildah, making
# these two bases locally: see e2e/image).
ARG RUST_VERSION=1.95.0
ARG DEBIAN_VERSION=12.15

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds (BuildKit); the binaries
# are copied out of the cached target dir because cache mounts are not in the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release -p tidewater-broker -p tidewater-operator \
    && mkdir -p /out \
    && cp target/release/tidewater-broker target/release/tidewater-operator /out/

FROM debian:${DEBIAN_VERSION}-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="tidewater" \
      org.opencontainers.image.description="Tidewater Kafka-compatible broker and Kubernetes operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# ca-certificates: TLS to endpoints outside the cluster's own CA bundle.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 tidewater \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin tidewater
COPY --from=builder /out/tidewater-broker /out/tidewater-operator /usr/local/bin/
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532

# syntax=docker/dockerfile:1
# The images of the two in-cluster binaries: each one static binary on a distroless base, running
# as non-root. One build stage makes both; pick the image with --target:
#
#   docker build --target extcluster-webhook    -t ghcr.io/extcluster/extcluster-webhook:v0.1.0 .
#   docker build --target extcluster-controller -t ghcr.io/extcluster/extcluster-controller:v0.1.0 .
#
# The binaries are linked statically against musl: the crates' only C code is ring's, which
# musl-gcc compiles, and nothing is loaded at run time, so the images need no libc at all.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# The caches only speed up rebuilds; the binaries are copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl \
      -p extcluster-webhook -p extcluster-controller \
 && cp target/x86_64-unknown-linux-musl/release/extcluster-webhook \
       target/x86_64-unknown-linux-musl/release/extcluster-controller /

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
USER 65532:65532

FROM runtime AS extcluster-controller
COPY --from=build /extcluster-controller /extcluster-controller
# 8080: plain HTTP, /healthz, /readyz, /metrics.
EXPOSE 8080
ENTRYPOINT ["/extcluster-controller"]

# Last, so a build without --target makes the webhook's image, as it always has.
FROM runtime AS extcluster-webhook
COPY --from=build /extcluster-webhook /extcluster-webhook
# 8443: TLS, POST /validate. 8080: plain HTTP, /healthz, /readyz, /metrics.
EXPOSE 8443 8080
ENTRYPOINT ["/extcluster-webhook"]

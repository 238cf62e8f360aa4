# mediamtx-exporter container image.
#
#   docker build -t mediamtx-exporter .
#   docker run --rm -p 9977:9977 -e MEDIAMTX_API_URL=http://mediamtx:9997 \
#       -e REDIS_URL=none mediamtx-exporter
#
# Two stages on Debian 12 (bookworm): the build stage has the compiler and the -dev
# packages; the runtime stage has only the shared libraries the binary links
# (libcurl, hiredis, libmicrohttpd, zlib) and CA certificates for an https:// API URL.
# The process runs as the unprivileged user mediamtxmon (uid/gid 10001).
# Configuration: environment variables (MEDIAMTX_API_URL, REDIS_URL, POLL_INTERVAL, ...,
# see docs/deployment.md) or flags appended to `docker run`.

ARG DEBIAN_IMAGE=debian:12.11-slim

FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libcurl4-openssl-dev libhiredis-dev libmicrohttpd-dev zlib1g-dev libjsmn-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the executable needs (.dockerignore keeps everything else out of the context).
COPY CMakeLists.txt ./
COPY include/ include/
COPY exporter/ exporter/
COPY cmake/ cmake/
# .git is not in the context: pass the revision for the build_info label, e.g.
#   docker build --build-arg MXE_REVISION=$(git rev-parse --short=12 HEAD) .
ARG MXE_REVISION=unknown
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMXE_BUILD_TESTS=OFF \
        -DMXE_REVISION="${MXE_REVISION}" \
 && cmake --build build -j"$(nproc)" \
 && strip build/mediamtx-exporter \
 && ./build/mediamtx-exporter --version

FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libcurl4 libhiredis0.14 libmicrohttpd12 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mediamtxmon \
 && useradd --system --uid 10001 --gid mediamtxmon --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin mediamtxmon \
 && install -d -o mediamtxmon -g mediamtxmon -m 0750 /var/lib/mediamtx-exporter
COPY --from=build /src/build/mediamtx-exporter /usr/local/bin/mediamtx-exporter

# The JSON mirror goes to a directory the user owns (mount a volume there to keep it);
# /tmp would be lost with a read-only root filesystem.
ENV LISTEN_ADDRESS=:9977 \
    JSON_OUTPUT_PATH=/var/lib/mediamtx-exporter/streams.json
EXPOSE 9977
USER 10001:10001

# Healthy when /readyz answers 200 (a poll succeeded within three poll intervals).
# No curl in the image: deploy/healthcheck.sh sends one HTTP/1.0 request through bash's
# /dev/tcp to the address in LISTEN_ADDRESS, which keeps the runtime image to the libraries
# the exporter itself needs. It reads the settings from the environment, not from flags;
# with HTTPS (WEB_TLS_CERT_FILE) or basic auth (WEB_USERS_FILE) it can only check that the
# exporter is alive, not ready (docs/deployment.md, "The container image").
COPY deploy/healthcheck.sh /usr/local/lib/mediamtx-exporter/healthcheck
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/lib/mediamtx-exporter/healthcheck"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/mediamtx-exporter"]

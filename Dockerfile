# syntax=docker/dockerfile:1
#
# The `convo` binary in a small Debian image. Used by docker-compose.yml; on its own:
#
#   docker build -t convo .
#   docker run --rm convo --help
#
# The image's entrypoint is the binary, so `docker run convo <subcommand> ...` (and
# `docker compose run --rm convo <subcommand> ...`) runs any subcommand; the default is `serve`.

# --- build --------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder

# rdkafka builds librdkafka from source with its configure script and make (C and C++), linking the
# system zlib. No OpenSSL: neither rdkafka nor sqlx is built with TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# sqlx checks its queries at compile time against the committed `.sqlx/` data, not a live database.
ENV SQLX_OFFLINE=true

# The cache mounts keep the crate registry and the build directory between builds (BuildKit, the
# default builder of current Docker); the binary is copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release -p convo --locked \
    && install -m 0755 target/release/convo /usr/local/bin/convo

# --- run ----------------------------------------------------------------------------------------
FROM debian:bookworm-slim

# The binary links only glibc, libgcc_s and zlib (zlib1g is part of the base image): no TLS
# libraries or CA certificates are needed.
COPY --from=builder /usr/local/bin/convo /usr/local/bin/convo

RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin convo
USER convo

# In a container the API has to listen on every interface to be reachable at all.
ENV CONVO_LISTEN=0.0.0.0:8080
EXPOSE 8080

# `convo serve` stops cleanly on SIGTERM (`docker stop`): the API drains, consumers commit, the
# relay stores its position.
ENTRYPOINT ["convo"]
CMD ["serve"]

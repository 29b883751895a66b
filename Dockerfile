# syntax=docker/dockerfile:1
#
# remedy container image.
#   docker build -t remedy:0.1.0 .
#   docker run --rm -p 8080:8080 \
#     -e REMEDY_DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/remedy \
#     -e REMEDY_JWT_SECRET=change-me remedy:0.1.0
# The entrypoint is the binary itself; pass another subcommand as the command, e.g.
#   docker run --rm remedy:0.1.0 migrate up

# ---- build --------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /app

# The whole workspace (see .dockerignore): every member's manifest, sources, assets, tests and
# Cargo.lock are needed for `--locked` to resolve the workspace.
COPY . .

# The cache mounts keep the crates.io index and downloaded crates between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    cargo build --release --locked -p remedy

# ---- runtime ------------------------------------------------------------------------------
# glibc, libgcc, CA certificates and a nonroot user; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=builder /app/target/release/remedy /usr/local/bin/remedy

USER 65532:65532

# Listen on all interfaces inside the container (the binary's default is 127.0.0.1:8080).
# REMEDY_DATABASE_URL, REMEDY_JWT_SECRET and the other settings come from the environment at
# run time (the Helm chart sets them, including REMEDY_LOG_FORMAT=json).
ENV REMEDY_LISTEN=0.0.0.0:8080

EXPOSE 8080

# `remedy serve` drains for up to 30 s on SIGTERM (the chart's terminationGracePeriodSeconds is 40).
ENTRYPOINT ["/usr/local/bin/remedy"]
CMD ["serve"]

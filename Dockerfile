# Multi-stage build: the demo with Node, the server with Rust, a small non-root runtime.

FROM node:20-bookworm-slim AS demo
WORKDIR /src/client-demo
COPY client-demo/package.json client-demo/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY client-demo/ ./
RUN npm run build

FROM rust:1.95-slim-bookworm AS server
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY server ./server
COPY tests ./tests
COPY bench ./bench
COPY vendor ./vendor
RUN cargo build --release --locked -p iorelay

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app iorelay
COPY --from=server /src/target/release/iorelay /usr/local/bin/iorelay
COPY --from=demo /src/client-demo/dist /app/client-demo
COPY deploy/healthcheck.sh /usr/local/bin/iorelay-healthcheck
USER iorelay
WORKDIR /app
EXPOSE 3000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/iorelay"]

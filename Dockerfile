# Multi-stage build: compile in the Rust image, run from a slim Debian with a non-root user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY assets ./assets
# Cargo.toml declares the benchmark target; cargo wants its file present to read the manifest.
COPY benches ./benches
RUN cargo build --release --locked --bin logi

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin logi \
    && mkdir -p /app/data /app/config && chown -R logi:logi /app
COPY --from=build /src/target/release/logi /usr/local/bin/logi
COPY config/default.toml /app/config/default.toml
WORKDIR /app
USER logi
ENV LOGI_BIND=0.0.0.0:8080 LOGI_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/app/data"]
ENTRYPOINT ["logi"]
CMD ["serve"]

# Builds the same artifacts as scripts/build-site, then ships the binaries and
# the site in a slim image. (Not exercised by CI: no Docker engine there.)
#
# The image runs `shakedown SUBCOMMAND ...`; without arguments, `serve`:
#   docker run -p 3000:3000 -v shakedown-data:/data IMAGE            # the web server
#   docker run -e SHAKEDOWN_AGENT_TOKEN IMAGE agent --server URL     # a load agent
#   docker run --rm IMAGE check /app/examples/step3.toml             # any other subcommand
# deploy/README.md has the details (what each needs, Kubernetes manifests).

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-unknown-unknown
COPY Cargo.toml Cargo.lock ./
COPY app app
COPY engine engine
COPY server server
COPY sut sut
COPY style style
COPY public public
COPY scripts scripts
# wasm-split-cli at scripts/lib.sh's WASM_SPLIT_VERSION (keep the two equal).
RUN WB="$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)" \
 && cargo install wasm-bindgen-cli --version "=$WB" --root /usr/local \
 && cargo install wasm_split_cli_support --version "=0.2.4" --features build-binary --root /usr/local \
 && apt-get update && apt-get install -y --no-install-recommends python3
RUN PATH="/usr/local/bin:$PATH" ./scripts/build-site --release

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/target/release/shakedown /usr/local/bin/shakedown
COPY --from=build /src/target/release/shakedown-sut /usr/local/bin/shakedown-sut
COPY --from=build /src/target/site /app/site
COPY examples /app/examples
ENV LEPTOS_SITE_ROOT=/app/site \
    SHAKEDOWN_ADDR=0.0.0.0:3000 \
    SHAKEDOWN_DATA_DIR=/data \
    SHAKEDOWN_PLANS_DIR=/app/examples
VOLUME /data
EXPOSE 3000
ENTRYPOINT ["shakedown"]
CMD ["serve"]

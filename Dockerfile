# ain-sre in a container: a static-enough release binary on a slim Debian base.
#
#   docker build -t ain-sre .
#   docker run --rm ain-sre follow --node http://<node>:8081/json-rpc --to 100
#
# Needs a registry for the two base images, so it is not built or tested here. Without a registry
# (and what CI builds and tests): deploy/image/build.sh, a FROM-scratch image of a binary built
# on the host plus its shared libraries (README, "Deploying a fleet").
# The WASM tier runs unprivileged inside the container; the namespaced-process tier needs the
# host to allow user namespaces (or --privileged, which defeats its purpose), and the container
# tier needs access to a Docker engine: run those tiers on the host instead.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ain-sre --bin ain-sre-jail \
 && strip target/release/ain-sre target/release/ain-sre-jail

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --create-home --shell /usr/sbin/nologin sre
COPY --from=build /src/target/release/ain-sre /usr/local/bin/ain-sre
# The process tier's helper must sit next to ain-sre (or be named by AIN_SRE_JAIL).
COPY --from=build /src/target/release/ain-sre-jail /usr/local/bin/ain-sre-jail
USER sre
WORKDIR /home/sre
# JSON-RPC and event handler of the built-in chain (`ain-sre devnet` / `ain-sre dev`).
EXPOSE 8081 5100
ENTRYPOINT ["ain-sre"]
CMD ["--help"]

# The image a sweep's Kubernetes Indexed Job runs (docs/sweep.md): the one binary, the shipped
# scenarios beside it, a non-root user. The catalogs are compiled into the binary.
#
#   docker build -t REGISTRY/autoscale-sim:TAG .
#   docker push REGISTRY/autoscale-sim:TAG

# Build with the toolchain the project is tested on (rust-version in Cargo.toml is the floor).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin autoscale-sim \
 && strip target/release/autoscale-sim

# Run on a small Debian base: the binary links glibc dynamically, nothing else.
FROM debian:bookworm-slim
RUN useradd --uid 10001 --home-dir /work --create-home sim
COPY --from=build /src/target/release/autoscale-sim /usr/local/bin/autoscale-sim
COPY --from=build /src/scenarios /opt/autoscale-sim/scenarios
USER 10001
WORKDIR /work
ENTRYPOINT ["autoscale-sim"]
CMD ["--help"]

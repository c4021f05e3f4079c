# Multi-stage build of the sync-server image. The build stage runs the same commands as the
# README (build the admin app with the pinned trunk, then the server, which embeds it), so what
# is tested on a development machine is what ships.
#
#   docker build -t sync-server .
#   docker run --rm -it --volume "$(pwd):/data" --publish 127.0.0.1:9999:9999 --publish 127.0.0.1:9980:9980 \
#       --user $UID sync-server --model /data/objectbox-model.json --unsecured-no-authentication --admin-bind 0.0.0.0:9980

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN ./scripts/setup-web.sh --no-browser && cargo build --release --locked -p sync-server

FROM debian:bookworm-slim
# A fixed non-root user; `docker run --user $UID` overrides it so files in /data belong to you.
RUN useradd --system --uid 10001 --home-dir /data sync-server \
    && mkdir -p /data && chown sync-server /data
COPY --from=build /src/target/release/sync-server /usr/local/bin/sync-server
USER 10001
WORKDIR /data
# 9999: sync (WebSocket); 9980: admin HTTP (bind it to 0.0.0.0 inside the container).
EXPOSE 9999 9980
ENTRYPOINT ["sync-server"]

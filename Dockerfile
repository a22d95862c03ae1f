# One image for the origin, proxy and editor roles: the container command
# picks the role (`origin ...`, `proxy ...` or `editor ...`). The vodapi
# Lambda is not an image: `make lambda` builds its zip. An origin bound to
# 0.0.0.0 says where proxies and other nodes reach it (its heartbeat in the
# store carries that address).
#
#   docker build -t rewind .
#   docker run --rm rewind origin --rtmp-addr 0.0.0.0:1935 --http-addr 0.0.0.0:8080 \
#     --advertise-rtmp 10.0.0.5:1935 --advertise-http 10.0.0.5:8080 --store s3://bucket

# Build stage: cgo against Debian bookworm's FFmpeg 5.1 (the editor's libav).
FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config \
      libavformat-dev libavcodec-dev libavutil-dev libswscale-dev \
      libswresample-dev libavfilter-dev libavdevice-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags='-s -w' -o /out/rewind ./cmd/rewind

# Run stage: the shared libraries the binary links, CA certificates for
# S3/SQS/webhooks, and an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
      libavformat59 libavcodec59 libavutil57 libswscale6 \
      libswresample4 libavfilter8 libavdevice59 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 rewind \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/rewind --create-home rewind \
 && mkdir -p /spool && chown rewind:rewind /spool
COPY --from=build /out/rewind /usr/local/bin/rewind
USER 65532:65532
WORKDIR /var/lib/rewind
# RTMP, origin HTTP (health, metrics, live play), editor HTTP.
EXPOSE 1935 8080 8082
ENTRYPOINT ["rewind"]
CMD ["help"]

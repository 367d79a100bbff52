# syntax=docker/dockerfile:1
#
# One build stage compiles both programs; each runtime stage is a distroless
# "static" image that runs as the nonroot user (uid 65532) and holds a single
# static binary, no shell and no package manager.
#
#   docker build -t autorefresh .                       # the server (last stage)
#   docker build --target upstream -t autorefresh-upstream .
#
# docker-compose.yml builds both targets. Nothing secret is copied in:
# .dockerignore lets only the Go sources into the build context, and the
# example upstream's secret, if any, comes from the environment at run time.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
# The build context has no .git: the version comes in as build arguments,
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg REVISION=$(git rev-parse HEAD) .
ARG VERSION=unknown REVISION=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/ ./cmd/server ./cmd/example-upstream
# An empty data directory for the server, to be copied owned by nonroot: the
# runtime image has no shell to create it with.
RUN mkdir -p /out/data

# The example upstream: answers the webhook at /sync, liveness at /healthz.
FROM gcr.io/distroless/static-debian12:nonroot AS upstream
COPY --from=build /out/example-upstream /example-upstream
USER nonroot:nonroot
EXPOSE 9000
ENTRYPOINT ["/example-upstream"]
# The default, 127.0.0.1:9000, is unreachable from other containers.
CMD ["--addr", ":9000"]

# The server. Last, so that a plain `docker build .` builds it.
# No HEALTHCHECK: the image has no shell or HTTP client to run one with;
# probe GET /healthz (liveness) and GET /readyz (readiness) from outside.
FROM gcr.io/distroless/static-debian12:nonroot AS server
COPY --from=build /out/server /server
# Caches and items are kept here across restarts (bbolt). Mount a volume on
# it; a new named volume takes the directory's nonroot ownership.
COPY --from=build --chown=65532:65532 /out/data /var/lib/autorefresh
ENV AUTOREFRESH_DATA_DIR=/var/lib/autorefresh
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/server"]
CMD ["--addr", ":8080"]

# holdfast in a container: a static binary on an empty base, running as an unprivileged user.
#   docker build -t holdfast --build-arg VERSION=1.2.3 .
#   docker run -v /etc/holdfast:/etc/holdfast:ro -v holdfast-state:/var/lib/holdfast holdfast
# The config's state_dir must be /var/lib/holdfast (the volume) and control.listen must not
# be a loopback address if status is queried from outside the container.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.0.0+docker
# The same flags as packaging/build: static, no paths, no build ID.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X main.version=${VERSION}" -o /out/holdfast ./daemon \
 && mkdir -p /out/state

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/holdfast /usr/bin/holdfast
COPY --from=build --chown=65532:65532 /out/state /var/lib/holdfast
COPY packaging/config.toml /etc/holdfast/config.toml
USER 65532:65532
WORKDIR /var/lib/holdfast
VOLUME ["/var/lib/holdfast"]
ENTRYPOINT ["/usr/bin/holdfast"]
CMD ["run", "--config", "/etc/holdfast/config.toml"]

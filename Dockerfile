# diskidle_exporter container image.
#
#   podman build -t diskidle_exporter .      (or docker build)
#   podman run --rm --pid=host --cap-drop=ALL --cap-add=BPF --cap-add=PERFMON \
#     --security-opt seccomp=deploy/seccomp/diskidle-exporter.json --read-only \
#     -p 9436:9436 diskidle_exporter
#
# The build stage is Debian 12; the runtime stage is empty (scratch) plus the
# exporter, exactly the shared libraries it loads (copied from the build stage,
# so they are the ones it linked against), and CA certificates: no shell, no
# package manager. See docs/kubernetes.md for what each capability is for.

ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim

# ---- build: compile the BPF object, its skeleton and the exporter ----------
FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clang llvm bpftool libbpf-dev \
      cmake make g++ pkg-config \
      prometheus-cpp-dev libcivetweb-dev libyaml-cpp-dev libabsl-dev \
      libssl-dev libcrypt-dev \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the exporter build reads (tests, docs and dashboards stay out; see
# .dockerignore), so editing them does not invalidate this layer.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY bpf/ bpf/
COPY exporter/ exporter/
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DDISKIDLE_BUILD_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build --prefix /out/usr --strip --component exporter
# The runtime root file system: the binary, every shared library ldd says it
# loads (the dynamic loader included; cp -L copies the files behind the
# soname links), and the CA bundle (for TLS client-certificate CAs given as
# system paths). glibc 2.36 has the files/dns NSS modules built in, so nothing
# is loaded by dlopen that ldd cannot see.
RUN mkdir -p /rootfs/usr/bin /rootfs/etc/ssl/certs \
 && cp /out/usr/bin/diskidle_exporter /rootfs/usr/bin/ \
 && ldd /out/usr/bin/diskidle_exporter \
      | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' \
      | xargs -r -I{} cp -L --parents {} /rootfs/ \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/

# ---- runtime: the binary and its shared libraries, nothing else -------------
FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="diskidle_exporter" \
      org.opencontainers.image.description="Prometheus exporter attributing block I/O (including zero-byte flushes) to process, syscall, op and size with eBPF, next to /proc/diskstats" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.documentation="docs/kubernetes.md"
COPY --from=build /rootfs/ /
# Smoke test at build time: every shared library resolves and the binary runs.
RUN ["/usr/bin/diskidle_exporter", "--version"]
# Root only because loading BPF programs needs CAP_BPF and CAP_PERFMON, and
# container runtimes hand added capabilities to uid 0 only (another user would
# need ambient or file capabilities). Run it with every other capability
# dropped and a read-only root file system (docs/kubernetes.md).
USER 0:0
EXPOSE 9436
# Exec form: there is no shell in the image. Without arguments the exporter
# starts with its built-in defaults (:9436, /metrics, both collectors).
ENTRYPOINT ["/usr/bin/diskidle_exporter"]

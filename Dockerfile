# diskidle_exporter container image.
#
#   podman build -t diskidle_exporter .      (or docker build)
#   podman run --rm --pid=host --cap-drop=ALL --cap-add=BPF --cap-add=PERFMON \
#     --security-opt seccomp=deploy/seccomp/diskidle-exporter.json --read-only \
#     -p 9436:9436 diskidle_exporter
#
# Both stages use Debian 12 packages only, so the runtime libraries are exactly
# the ones the build linked against. See docs/kubernetes.md for what each
# capability is for.

ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim

# ---- build: compile the BPF object, its skeleton and the exporter ----------
FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clang llvm bpftool libbpf-dev \
      cmake make g++ pkg-config \
      prometheus-cpp-dev libcivetweb-dev libyaml-cpp-dev libabsl-dev \
      libssl-dev libcrypt-dev \
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
 && cmake --install /build --prefix /out/usr --strip

# ---- runtime: the binary and its shared libraries, nothing else -------------
FROM ${DEBIAN_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="diskidle_exporter" \
      org.opencontainers.image.description="Prometheus exporter attributing block I/O (including zero-byte flushes) to process, syscall, op and size with eBPF, next to /proc/diskstats" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim" \
      org.opencontainers.image.documentation="docs/kubernetes.md"
# libssl3 serves TLS (web config); libcrypt1 checks bcrypt passwords.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libbpf1 libelf1 zlib1g \
      libprometheus-cpp-core1.0 \
      libyaml-cpp0.7 libabsl20220623 libcrypt1 libssl3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
# /usr/bin/diskidle_exporter.
COPY --from=build /out/usr/ /usr/
# Smoke test at build time: every shared library resolves and the binary runs.
RUN ["/usr/bin/diskidle_exporter", "--version"]
# Root only because loading BPF programs needs CAP_BPF and CAP_PERFMON, and
# container runtimes hand added capabilities to uid 0 only (another user would
# need ambient or file capabilities). Run it with every other capability
# dropped and a read-only root file system (docs/kubernetes.md).
USER 0:0
EXPOSE 9436
# Exec form: no shell is involved at run time. Without arguments the exporter
# starts with its built-in defaults (:9436, /metrics, both collectors).
ENTRYPOINT ["/usr/bin/diskidle_exporter"]

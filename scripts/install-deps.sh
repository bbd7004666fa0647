#!/usr/bin/env bash
# Installs what diskidle_exporter needs from Debian 12 packages. Idempotent:
# only missing packages are installed.
#   scripts/install-deps.sh build   what building and running the exporter needs
#   scripts/install-deps.sh test    that, plus everything the test suite uses
set -euo pipefail

BUILD_PACKAGES=(
  cmake g++ make pkg-config clang llvm bpftool
  libbpf-dev libelf-dev zlib1g-dev libcrypt-dev libssl-dev
  prometheus-cpp-dev libcivetweb-dev libyaml-cpp-dev libabsl-dev
  libgtest-dev libgmock-dev
)
TEST_PACKAGES=(
  python3 python3-yaml util-linux e2fsprogs xfsprogs btrfs-progs fio bpftrace wrk curl openssl
  sqlite3  # test_writeback.py: a WAL database whose journal commits the exporter must name
  # test_real_programs.py: PostgreSQL under pgbench and a JVM (the source launcher
  # needs the JDK's compiler). Installing postgresql-15 also creates and starts
  # Debian's default cluster on port 5432; the test runs its own on a free port.
  postgresql-15 openjdk-17-jdk-headless
  mariadb-server  # test_real_programs.py: InnoDB's io_uring page writes and redo log flushes
  strace  # test_syscalls.py reads what the exporter asked of bpf() and what the kernel answered
  prometheus prometheus-alertmanager apache2-utils libclang-rt-14-dev
  jsonnet  # deploy/mixin/generate.sh: the committed rules and dashboards are checked against it
  podman runc debootstrap
  dpkg-dev systemd   # dpkg-shlibdeps and dpkg-scanpackages (the .deb), systemd-analyze (the unit)
  chromium           # test_landing_page: the page at / in a real headless browser
  # tests/kernel: Debian kernels booted under qemu, a busybox initramfs (cpio),
  # modules that may ship zstd-compressed
  qemu-system-x86 busybox-static cpio zstd
  linux-libc-dev debian-archive-keyring  # tests/arch: x86_64's syscall numbers; arm64 fetches verified
)

mode="${1:-build}"
case "$mode" in
  build) wanted=("${BUILD_PACKAGES[@]}") ;;
  test) wanted=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
# Node.js runs the offline checks (dashboards, manifests); use the machine's if it has one.
if [ "$mode" = test ] && ! command -v node >/dev/null 2>&1; then
  wanted+=(nodejs npm)
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get install)" >&2
  exit 1
fi

missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

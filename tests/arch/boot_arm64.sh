#!/usr/bin/env bash
# By hand, not part of CI (downloads ~100 MB, cross-builds the exporter, boots
# an emulated arm64 machine): cross-builds the exporter for arm64 against
# Debian's arm64 libraries, boots Debian's arm64 kernel under
# qemu-system-aarch64 (software emulation) with it, and checks what
# tests/arch/arm64_guest_init.sh reports:
#  - the bio program attaches as tp_btf and as raw_tp (and the disk latency
#    program with it), and the exporter exits 0 on SIGTERM;
#  - 200 fsyncs of an unchanged file on an ext4 loop device: at least 200
#    zero-byte flush bios under the workload's pid, comm and syscall="fsync";
#  - 20 O_DIRECT pwrites of 64 KiB: exactly 20 x 65536 bytes, syscall="pwrite";
#  - the loop device's diskstats (flushes, writes) and utilization gauge;
#  - the syscall collector (attach auto) counts the syscall mix exactly.
#
#   tests/arch/boot_arm64.sh [KERNEL_METAPACKAGE ...]
#                                       default linux-image-arm64 (6.1) and
#                                       linux-image-6.12-arm64; work directory DISKIDLE_ARM64_WORK
#                                       (default /var/tmp/diskidle-arm64), kept
#                                       between runs (sysroot, build, kernel)
#   DISKIDLE_ARM64_BUILD=DIR            an arm64 build to use instead of building
# Needs: g++-aarch64-linux-gnu, qemu-system-arm, cpio, e2fsprogs, cmake, clang,
# bpftool. The arm64 libraries and busybox come from Debian's arm64 archive
# through a private apt configuration (tests/arch/apt_arm64.sh): `apt-get
# install --download-only` against an empty status file gives the whole
# dependency closure, `dpkg-deb -x` unpacks it into a sysroot. Nothing is
# installed for arm64 and dpkg's architecture list is not touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${DISKIDLE_ARM64_WORK:-/var/tmp/diskidle-arm64}
die() { echo "boot_arm64: $*" >&2; exit 1; }
for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-readelf qemu-system-aarch64 cpio mkfs.ext4 cmake; do
  command -v $tool >/dev/null || die "missing $tool (apt-get install g++-aarch64-linux-gnu qemu-system-arm cpio e2fsprogs cmake)"
done
mkdir -p "$work"
sysroot=$work/sysroot

. "$here/apt_arm64.sh"
arm64_apt_init "$work/apt" || die "no package lists"
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(linux-image-arm64 linux-image-6.12-arm64)
packages=(libbpf-dev libelf-dev zlib1g-dev libssl-dev libcrypt-dev prometheus-cpp-dev
  libcivetweb-dev libyaml-cpp-dev libabsl-dev libgtest-dev libgmock-dev libstdc++-12-dev
  libc6-dev busybox-static "${kernels[@]}")
echo "== arm64 packages"
rm -f "$work"/apt/archives/linux-image-*.deb  # boot only the kernels asked for this time
apt-get "${arm64_apt[@]}" -y install --download-only --no-install-recommends "${packages[@]}" \
  > "$work/download.log" 2>&1 || die "download failed: $(tail -3 "$work/download.log")"
rm -rf "$sysroot" "$work"/kernels; mkdir -p "$sysroot" "$work/kernels"
for deb in "$work"/apt/archives/*.deb; do
  case $(basename "$deb") in
    linux-image-*) dpkg-deb -x "$deb" "$work/kernels/$(basename "$deb" .deb)" ;;
    *) dpkg-deb -x "$deb" "$sysroot" ;;
  esac
done
# Debian's .so links may be absolute (/lib/aarch64-linux-gnu/...): make them
# point into the sysroot, or the cross linker follows them to the host's files.
find "$sysroot" -type l -lname '/*' | while read -r link; do
  ln -sfn "$sysroot$(readlink "$link")" "$link"
done
ls "$work"/kernels/*/boot/vmlinuz-* >/dev/null 2>&1 || die "no arm64 kernel image"

build=${DISKIDLE_ARM64_BUILD:-$work/build}
if [ -z "${DISKIDLE_ARM64_BUILD:-}" ]; then
  echo "== cross build"
  cat > "$work/toolchain.cmake" <<TOOLCHAIN
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_SYSROOT $sysroot)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH $sysroot)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_SYSROOT_DIR} $sysroot)
set(ENV{PKG_CONFIG_LIBDIR} $sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig)
TOOLCHAIN
  launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$work/toolchain.cmake" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" > "$work/cmake.log" 2>&1 ||
    die "cmake failed: $(tail -5 "$work/cmake.log")"
  cmake --build "$build" -j"$(nproc)" --target diskidle_exporter diskidle-iogen > "$work/build.log" 2>&1 ||
    die "build failed: $(grep -m3 error "$work/build.log")"
fi
exporter=$build/exporter/diskidle_exporter iogen=$build/tests/diskidle-iogen

echo "== initramfs"
dir=$work/initramfs
rm -rf "$dir"; mkdir -p "$dir"/{bin,proc,sys,tmp,dev,work,mods,lib}
cp "$sysroot/bin/busybox" "$dir/bin/busybox"  # busybox-static: no libraries
# The shared libraries the two binaries need, transitively, from the sysroot.
copy_libs() {
  local lib path
  for lib in $(aarch64-linux-gnu-readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -e "$dir/lib/$lib" ] && continue
    path=$(find "$sysroot/lib/aarch64-linux-gnu" "$sysroot/usr/lib/aarch64-linux-gnu" -maxdepth 1 -name "$lib" | head -1)
    [ -n "$path" ] || die "no $lib in the sysroot"
    cp -L "$path" "$dir/lib/$lib"
    copy_libs "$dir/lib/$lib"
  done
}
for binary in "$exporter" "$iogen"; do
  cp "$binary" "$dir/work/"
  copy_libs "$binary"
done
cp -L "$sysroot/lib/ld-linux-aarch64.so.1" "$dir/lib/"
# The dynamic loader looks in /lib/aarch64-linux-gnu and /usr/lib/...: one place.
mkdir -p "$dir/usr"; ln -s ../lib "$dir/usr/lib"; ln -s . "$dir/lib/aarch64-linux-gnu"
truncate -s 64M "$dir/img.ext4"; mkfs.ext4 -q -F "$dir/img.ext4"
cp "$here/arm64_guest_init.sh" "$dir/init"; chmod +x "$dir/init"

failed=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "  ok: $1"; else echo "  FAILED: $1"; failed=1; fi
}
has() { grep -qE "$1" "$work/guest.log"; }
# value MODE METRIC LABEL=VALUE...: the value of the series of METRIC that has
# all these labels (in any order), empty if none.
value() {
  local mode=$1 metric=$2 lines label; shift 2
  lines=$(grep -F "GUEST [$mode] M $metric{" "$work/guest.log" || true)
  for label in "$@"; do
    lines=$(printf '%s\n' "$lines" | grep -E "[{,]${label%%=*}=\"${label#*=}\"[,}]" || true)
  done
  printf '%s\n' "$lines" | awk 'NF {print $NF}' | head -1
}
at_least() { local v; v=$(value "${@:2}"); [ -n "$v" ] && awk -v v="$v" -v n="$1" 'BEGIN {exit !(v >= n)}'; }
exactly() { local v; v=$(value "${@:2}"); [ -n "$v" ] && awk -v v="$v" -v n="$1" 'BEGIN {exit !(v == n)}'; }
for tree in "$work"/kernels/*/; do
  vmlinuz=$(ls "$tree"boot/vmlinuz-* 2>/dev/null | head -1 || true)
  [ -n "$vmlinuz" ] || continue  # a metapackage
  rm -rf "$dir/mods"; mkdir -p "$dir/mods"
  for module in crc16 crc32c_generic mbcache jbd2 ext4 loop; do
    ko=$(find "$tree/lib/modules" -name "$module.ko*" | head -1)
    [ -n "$ko" ] || continue  # built in
    case $ko in *.xz) xz -dc "$ko" > "$dir/mods/$module.ko" ;; *) cp "$ko" "$dir/mods/$module.ko" ;; esac
  done
  (cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"
  echo "== boot $(basename "$vmlinuz") (qemu-system-aarch64, TCG)"
  timeout 900 qemu-system-aarch64 -M virt -cpu cortex-a72 -accel tcg -m 1024 -smp 2 -nographic \
    -nodefaults -no-reboot -serial stdio -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyAMA0 quiet panic=-1" > "$work/console.log" 2>&1 || true
  grep -a "^GUEST" "$work/console.log" | tr -d '\r' > "$work/guest.log" || true
  check "the guest is arm64" has "^GUEST kernel .* aarch64$"
  check "the guest ran to the end" has "^GUEST done"
  iogen=(workload=1 comm=diskidle-iogen device=loop0)
  for attach in tp_btf raw_tp; do
    check "$attach: the bio program attached" has "^GUEST \[$attach\] LOG .*BPF program attached: $attach/block_bio_queue"
    check "$attach: the disk latency program attached" \
      has "^GUEST \[$attach\] LOG .*BPF program attached: $attach/block_rq_complete"
    check "$attach: exit 0 on SIGTERM" has "^GUEST \[$attach\] exit=0$"
    check "$attach: >= 200 flushes under the fsync workload's pid, comm, syscall=fsync" at_least 200 \
      $attach diskidle_process_zero_byte_bios_total "${iogen[@]}" syscall=fsync op=flush
    check "$attach: O_DIRECT pwrite: exactly 20 x 64 KiB under syscall=pwrite" exactly 1310720 \
      $attach diskidle_process_bio_bytes_total workload=2 comm=diskidle-iogen device=loop0 syscall=pwrite op=write
    check "$attach: loop0's flush requests in diskstats" at_least 200 $attach diskidle_disk_flush_requests_total device=loop0
    check "$attach: loop0's utilization gauge" at_least 0 $attach diskidle_disk_utilization_ratio device=loop0
  done
  check "syscalls: the collector attached" has "^GUEST \[syscalls\] LOG .*syscall collector attached"
  check "syscalls: exit 0 on SIGTERM" has "^GUEST \[syscalls\] exit=0$"
  check "syscalls: 50 + 1 fsyncs" exactly 51 syscalls diskidle_syscall_duration_seconds_count "${iogen[@]}" syscall=fsync
  check "syscalls: 20 zero-byte writes" exactly 20 \
    syscalls diskidle_syscall_write_bytes_bucket "${iogen[@]}" syscall=write le=0
  check "syscalls: 7 failed writevs" exactly 7 syscalls diskidle_syscall_errors_total "${iogen[@]}" syscall=writev
  if [ $failed -ne 0 ]; then
    die "failed on $(basename "$vmlinuz"): the guest's lines are in $work/guest.log, its console in $work/console.log"
  fi
  echo "  all checks passed on $(sed -n 's/^GUEST kernel //p' "$work/guest.log")"
  echo "  ($(grep -o 'syscall collector attached: [^"]*' "$work/guest.log" | cut -c1-160))"
done
echo "boot_arm64: all kernels OK"

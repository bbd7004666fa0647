#!/usr/bin/env bash
# Checks the syscall collector's fentry/fexit path on real Debian kernels,
# booted under qemu (software emulation), because our CI VMs refuse fentry
# (EPERM) and only ever run the tracepoint path. x86_64 only. Not part of CI
# (the kernel label, tests/kernel, boots the same kernels for the bio program
# only; this adds three boots per kernel). Run it by hand (as root) after a change to bpf/syscall_stats.bpf.c or
# exporter/bpf/syscall_program.cc:
#
#   tests/qemu/check_fentry.sh [kernel ...]      # kernels of tests/kernel/kernels.py
#
# Default kernels: 6.1, 6.12 and 7.3, fetched and cached exactly as the kernel
# label does (tests/kernel/kernels.py: a private apt, /var/cache/diskidle-test-kernels).
# Needs: qemu-system-x86, busybox-static, cpio, e2fsprogs, and a build
# (DISKIDLE_BUILD_DIR, default ./build).
#
# Per kernel it boots an initramfs holding the exporter, diskidle-iogen and
# busybox (tests/qemu/guest_init.sh), and fails unless:
#  - auto and fentry both attach fentry/fexit (the log line says so);
#  - the same workloads counted by fentry/fexit and by the tracepoints give
#    exactly the same series (sums and duration buckets left out: times
#    differ), for all of
#    write, pwrite, writev, fsync, fdatasync, sync_file_range, syncfs, sync
#    and msync, device labels included;
#  - the syscall-mix workload's counts are the test's (500 fsyncs after one
#    set-up fsync, 200 zero-byte writes, 100 + 1 pwrites, 7 failed writevs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${DISKIDLE_BUILD_DIR:-$root/build}
exporter=$build/exporter/diskidle_exporter
iogen=$build/tests/diskidle-iogen

die() { echo "check_fentry: $*" >&2; exit 1; }
[ "$(uname -m)" = x86_64 ] || die "x86_64 only"
for tool in qemu-system-x86_64 busybox cpio mkfs.ext4 apt-get dpkg-deb; do
  command -v $tool >/dev/null || die "missing $tool (apt-get install qemu-system-x86 busybox-static cpio e2fsprogs)"
done
busybox_bin=$(command -v busybox)
# The initramfs has no libraries for busybox: it must be the static one.
if ldd "$busybox_bin" >/dev/null 2>&1; then die "busybox must be static (busybox-static)"; fi
[ -x "$exporter" ] && [ -x "$iogen" ] || die "no build in $build (scripts/build.sh)"

kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12 7.3)

work=$(mktemp -d /tmp/diskidle-qemu-XXXXXX)
trap 'rm -rf "$work"' EXIT

initramfs() {  # initramfs PREPARED_KERNEL_DIR OUT
  local kernel=$1 out=$2 dir=$work/initramfs
  rm -rf "$dir"; mkdir -p "$dir"/{bin,proc,sys,tmp,dev,work,mods}
  cp "$busybox_bin" "$dir/bin/busybox"
  for binary in "$exporter" "$iogen"; do
    cp "$binary" "$dir/work/"
    for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
      mkdir -p "$dir$(dirname "$lib")"; cp -L "$lib" "$dir$lib"
    done
  done
  # The kernel test's prepared modules (decompressed), in their insmod order.
  cp "$kernel"/modules/*.ko "$dir/mods/" 2>/dev/null || true
  cp "$kernel/modules.order" "$dir/mods/order"
  truncate -s 64M "$dir/img.ext4"; mkfs.ext4 -q -F "$dir/img.ext4"
  cp "$here/guest_init.sh" "$dir/init"; chmod +x "$dir/init"
  (cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
}

failed=0
for kernel in "${kernels[@]}"; do
  echo "== $kernel"
  kdir=$work/$kernel; mkdir -p "$kdir"
  prepared=$(python3 "$root/tests/kernel/kernels.py" "$kernel") || die "no kernel $kernel"
  image=$prepared/vmlinux; [ -e "$image" ] || image=$prepared/vmlinuz
  initramfs "$prepared" "$kdir/initrd.gz"
  timeout 600 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic -nodefaults \
    -no-reboot -serial stdio -kernel "$image" -initrd "$kdir/initrd.gz" \
    -append "console=ttyS0 quiet panic=-1" > "$kdir/console.log" 2>&1 || true
  grep -a "^GUEST" "$kdir/console.log" | tr -d '\r' > "$kdir/guest.log" || true
  check() {  # check DESCRIPTION COMMAND...
    if "${@:2}"; then echo "  ok: $1"; else echo "  FAILED: $1"; failed=1; fi
  }
  # A mode's series; the duration buckets left out (times differ from run to
  # run), their _count kept.
  series() {
    grep "^GUEST \[$1\] M " "$kdir/guest.log" | sed "s/^GUEST \[$1\] M //" |
      grep -v "^diskidle_syscall_duration_seconds_bucket" | sort
  }
  check "the guest ran to the end" grep -q "^GUEST done" "$kdir/guest.log"
  for mode in auto fentry; do
    check "$mode attaches fentry/fexit" grep -q "^GUEST \[$mode\] LOG .*syscall collector attached: fentry/fexit" "$kdir/guest.log"
  done
  check "tracepoint attaches the tracepoints" grep -q "^GUEST \[tracepoint\] LOG .*syscall collector attached: syscall tracepoints" "$kdir/guest.log"
  for mode in auto fentry tracepoint; do
    check "$mode exits 0" grep -q "^GUEST \[$mode\] exit=0" "$kdir/guest.log"
  done
  check "fentry/fexit and the tracepoints count the same series" \
    diff <(series fentry) <(series tracepoint)
  check "auto counts the same series" diff <(series auto) <(series tracepoint)
  mix() { series fentry | grep -xF "$1" >/dev/null; }  # not -q: sort would get SIGPIPE
  check "500 + 1 fsyncs on loop0" mix 'diskidle_syscall_duration_seconds_count{comm="diskidle-iogen",device="loop0",workload="1",syscall="fsync"} 501'
  check "200 zero-byte writes" mix 'diskidle_syscall_write_bytes_bucket{comm="diskidle-iogen",device="loop0",workload="1",syscall="write",le="0"} 200'
  check "100 + 1 pwrites of 4 KiB" mix 'diskidle_syscall_write_bytes_bucket{comm="diskidle-iogen",device="loop0",workload="1",syscall="pwrite",le="4096"} 101'
  check "7 failed writevs" mix 'diskidle_syscall_errors_total{comm="diskidle-iogen",device="loop0",workload="1",syscall="writev"} 7'
  check "5 syncs" mix 'diskidle_syscall_duration_seconds_count{comm="diskidle-iogen",workload="2",syscall="sync"} 5'
  check "5 msyncs" mix 'diskidle_syscall_duration_seconds_count{comm="diskidle-iogen",workload="4",syscall="msync"} 5'
  if [ $failed -ne 0 ]; then
    echo "  guest log: kept in $kdir/guest.log"; trap - EXIT
  fi
done
[ $failed -eq 0 ] && echo "check_fentry: all kernels OK" || die "failed (see above)"

#!/bin/busybox sh
# /init of the initramfs that check_fentry.sh boots: loads loop and ext4, runs
# the syscall collector with attach auto, fentry and tracepoint in turn, the
# same workloads each time on an ext4 loop device, and prints every line for
# the host to compare, prefixed "GUEST".
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
echo "GUEST kernel $(uname -r)"
# The modules the host prepared (tests/kernel/kernels.py), dependencies first.
while read -r m; do
  insmod /mods/$m.ko || echo "GUEST insmod $m failed"
done < /mods/order
i=0
while [ ! -e /dev/loop0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mkdir -p /mnt
losetup /dev/loop0 /img.ext4 && mount -t ext4 /dev/loop0 /mnt && echo "GUEST mounted loop0"

run_mode() {
  mode=$1
  printf 'collectors:\n  bio:\n    enabled: false\n  syscalls:\n    enabled: true\n    attach: %s\n' \
    "$mode" > /tmp/config.yaml
  /work/diskidle_exporter --config.file=/tmp/config.yaml --web.listen-address=127.0.0.1:9436 \
    > /tmp/log-$mode 2>&1 &
  exporter=$!
  i=0
  while ! grep -q "syscall collector attached\|diskidle_exporter:" /tmp/log-$mode && [ $i -lt 600 ]; do
    sleep 0.1; i=$((i + 1))
  done
  sed "s/^/GUEST [$mode] LOG /" /tmp/log-$mode
  if ! kill -0 $exporter 2>/dev/null; then
    wait $exporter; echo "GUEST [$mode] exit=$?"; return
  fi
  pids=""
  for workload in "syscall-mix 500 200 100 7" "sync 5" "syncfs 5" "msync 5" \
                  "sync-file-range 5" "pwrite-fdatasync 5" "direct-writev 5"; do
    set -- $workload
    name=$1; shift
    /work/diskidle-iogen $name /mnt/$mode-$name "$@" > /tmp/iogen.out || echo "GUEST iogen $name failed"
    pid=$(sed -n 's/pid=\([0-9]*\) ready/\1/p' /tmp/iogen.out)
    pids="$pids $pid"
    echo "GUEST [$mode] workload $name pid=$pid"
  done
  wget -q -O /tmp/metrics http://127.0.0.1:9436/metrics
  # Each workload's series, its pid replaced by the workload's place in the list.
  n=0
  for pid in $pids; do
    n=$((n + 1))
    grep "pid=\"$pid\"" /tmp/metrics | grep -v '_sum' | sed "s/pid=\"$pid\"/workload=\"$n\"/; s/^/GUEST [$mode] M /"
  done
  grep "^diskidle_syscall_events_dropped_total" /tmp/metrics | sed "s/^/GUEST [$mode] M /"
  kill -TERM $exporter; wait $exporter; echo "GUEST [$mode] exit=$?"
}
run_mode auto
run_mode fentry
run_mode tracepoint
echo "GUEST done"
poweroff -f

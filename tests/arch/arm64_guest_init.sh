#!/bin/busybox sh
# /init of the initramfs that tests/arch/boot_arm64.sh boots on Debian's arm64
# kernel under qemu-system-aarch64: the cross-built exporter on an ext4 loop
# device, the bio program attached as tp_btf and then as raw_tp, the syscall
# collector with attach auto. Every line for the host starts with "GUEST".
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
echo "GUEST kernel $(uname -r) $(uname -m)"
for m in crc16 crc32c_generic mbcache jbd2 ext4 loop; do
  [ -f /mods/$m.ko ] && insmod /mods/$m.ko
done
i=0
while [ ! -e /dev/loop0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mkdir -p /mnt
losetup /dev/loop0 /img.ext4 && mount -t ext4 /dev/loop0 /mnt && echo "GUEST mounted loop0"

# run NAME CONFIG READY WORKLOAD...: the exporter with CONFIG until its log
# matches READY (attached), each workload ("mode args") once, then the
# workloads' series with the pid replaced by the workload's place in the list,
# and the loop device's diskstats.
run() {
  name=$1 config=$2 ready=$3; shift 3
  printf "$config" > /tmp/config.yaml
  /work/diskidle_exporter --config.file=/tmp/config.yaml --web.listen-address=127.0.0.1:9436 \
    > /tmp/log-$name 2>&1 &
  exporter=$!
  i=0
  while ! grep -q "$ready" /tmp/log-$name && kill -0 $exporter 2>/dev/null && [ $i -lt 600 ]; do
    sleep 0.1; i=$((i + 1))
  done
  if ! kill -0 $exporter 2>/dev/null; then
    sed "s/^/GUEST [$name] LOG /" /tmp/log-$name
    wait $exporter; echo "GUEST [$name] exit=$?"; return
  fi
  pids=""
  for workload in "$@"; do
    set -- $workload
    mode=$1; shift
    /work/diskidle-iogen $mode /mnt/$name-$mode "$@" > /tmp/iogen.out || echo "GUEST iogen $mode failed"
    pid=$(sed -n 's/pid=\([0-9]*\) ready/\1/p' /tmp/iogen.out)
    pids="$pids $pid"
    echo "GUEST [$name] workload $mode pid=$pid"
  done
  # The utilization gauge needs the sampler's trailing window: poll for it.
  i=0
  while [ $i -lt 100 ]; do
    wget -q -O /tmp/metrics http://127.0.0.1:9436/metrics
    grep -q '^diskidle_disk_utilization_ratio{device="loop0"}' /tmp/metrics && break
    sleep 0.1; i=$((i + 1))
  done
  n=0
  for pid in $pids; do
    n=$((n + 1))
    grep "pid=\"$pid\"" /tmp/metrics | sed "s/pid=\"$pid\"/workload=\"$n\"/; s/^/GUEST [$name] M /"
  done
  grep -E '^diskidle_disk_(flush_requests_total|writes_completed_total|utilization_ratio)\{device="loop0"\}' \
    /tmp/metrics | sed "s/^/GUEST [$name] M /"
  sed "s/^/GUEST [$name] LOG /" /tmp/log-$name
  kill -TERM $exporter; wait $exporter; echo "GUEST [$name] exit=$?"
}
for attach in tp_btf raw_tp; do
  run $attach \
    "collectors:\n  bio:\n    attach: $attach\n  disk_latency:\n    enabled: true\n    attach: $attach\n" \
    "BPF program attached: $attach/block_bio_queue" "fsync-loop 200" "direct-pwrite 20"
done
run syscalls "collectors:\n  bio:\n    enabled: false\n  syscalls:\n    enabled: true\n    attach: auto\n" \
  "syscall collector attached" "syscall-mix 50 20 10 7"
echo "GUEST done"
poweroff -f

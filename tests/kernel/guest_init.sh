#!/bin/busybox sh
# /init of a kernel-test guest (tests/kernel/test_kernel.py builds the
# initramfs and boots it under qemu). It loads the modules the host listed in
# /modules.order, mounts the virtio disk's ext4 at /disk and a loop device
# backed by /disk/loop.img at /loop, then runs the exporter once per attach
# mode with the same workloads on both disks (and again with tp_btf: "hooks_off"
# with both attribution hook groups turned off, "journal_off" with only the
# journal hooks off). It asserts nothing itself: every
# fact goes to the console as one line starting "DISKIDLE", for the host to
# check (better failure messages than a shell could give).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
say() { echo "DISKIDLE $*"; }
echo  # the firmware's "Booting from ROM.." has no newline
say kernel "$(uname -r)"

while read -r module; do
  insmod "/modules/$module.ko" || say "insmod $module failed"
done < /modules.order

# Devices appear asynchronously after their driver loads: poll, with a deadline.
wait_for() {  # wait_for PATH
  i=0
  while [ ! -e "$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  [ -e "$1" ] || say "no $1 after 30 s"
}
wait_for /dev/vda
mkdir -p /disk /loop
mount -t ext4 /dev/vda /disk && say mounted vda
wait_for /dev/loop0
losetup /dev/loop0 /disk/loop.img && mount -t ext4 /dev/loop0 /loop && say mounted loop0

FSYNCS=$(cat /fsyncs)
WRITES=$(cat /direct_writes)
BUFFERED_BLOCKS=64  # 4 MiB of 64 KiB writes
DATASYNCS=20
METRICS=http://127.0.0.1:9436/metrics

# wait_ready OUT PID: until diskidle-iogen (PID, printing to OUT) is set up
# (it prints "ready"), exits, or 60 s have passed.
wait_ready() {
  i=0
  while ! grep -q ready "$1" && kill -0 "$2" 2>/dev/null && [ $i -lt 600 ]; do
    sleep 0.1; i=$((i + 1))
  done
}

# run_workload DIR MODE COUNT [NAME]: diskidle-iogen MODE on /DIR, held after
# its set-up (--wait) until a baseline scrape is printed ("B" lines: the series
# of its comm), so the host counts exactly what the workload did after "ready".
# NAME (default MODE) names its file and its lines for the host.
run_workload() {
  name=${4:-$2}
  rm -f /tmp/go /tmp/iogen.out
  mkfifo /tmp/go
  /work/diskidle-iogen --wait "$2" "/$1/$attach-$name" "$3" < /tmp/go > /tmp/iogen.out 2>&1 &
  gen=$!
  exec 3> /tmp/go  # returns once iogen has the fifo open as its stdin
  wait_ready /tmp/iogen.out $gen
  wget -q -O - $METRICS | grep '^diskidle_.*comm="diskidle-iogen"' | sed "s/^/DISKIDLE [$attach] B $1 $name /"
  echo go >&3
  exec 3>&-
  wait $gen
  status=$?
  say "[$attach] workload $1 $name $3 status=$status $(tr '\n' ' ' < /tmp/iogen.out)"
}

run_attach() {
  attach=$1
  case $attach in
    hooks_off) mode=tp_btf
               hooks='    writeback_attribution: false\n    journal_attribution: false\n' ;;
    journal_off) mode=tp_btf; hooks='    journal_attribution: false\n' ;;
    *) mode=$attach; hooks='' ;;
  esac
  printf "collectors:\n  bio:\n    attach: %s\n$hooks  diskstats:\n    utilization_window: 2s\n    utilization_sample_interval: 250ms\n" \
    "$mode" > /tmp/config.yaml
  /work/diskidle_exporter --config.file=/tmp/config.yaml --web.listen-address=127.0.0.1:9436 \
    > /tmp/log-$attach 2>&1 &
  exporter=$!
  # Ready: /healthz answers 200 once the program is attached and diskstats read.
  i=0
  while ! wget -q -O /dev/null http://127.0.0.1:9436/healthz 2>/dev/null; do
    if ! kill -0 $exporter 2>/dev/null || [ $i -ge 1200 ]; then break; fi
    sleep 0.1; i=$((i + 1))
  done
  if ! kill -0 $exporter 2>/dev/null; then
    wait $exporter
    say "[$attach] exit=$? before it was ready"
    sed "s/^/DISKIDLE [$attach] LOG /" /tmp/log-$attach
    return
  fi
  say "[$attach] ready after $((i / 10)) s"
  # What the kernel itself says runs: the loaded programs, one JSON line.
  say "[$attach] PROGS $(/work/bpftool -j prog show)"
  for disk in disk loop; do
    run_workload $disk fsync-loop "$FSYNCS"
    run_workload $disk direct-pwrite "$WRITES"
  done
  # Each fdatasync after an allocating pwrite forces an ext4 journal commit,
  # which the jbd2 thread writes: counted for the caller (issue 10).
  run_workload disk pwrite-fdatasync "$DATASYNCS"
  if [ "$attach" = "$mode" ]; then
    # The same beside an fsync storm on an unchanged file, which waits in
    # fsync() nearly all the time: the commits stay the writer's (the storm's
    # calls need no new journal transaction, bpf/owner_attribution.bpf.h).
    # Under a name of its own, not in the workloads' series of diskidle-iogen.
    cp /work/diskidle-iogen /tmp/fsync-storm
    /tmp/fsync-storm fsync-for "/disk/$attach-unchanged" 600000 > /tmp/storm.out 2>&1 &
    storm=$!
    wait_ready /tmp/storm.out $storm
    run_workload disk pwrite-fdatasync "$DATASYNCS" storm-writer
    kill -TERM $storm
    wait $storm
    say "[$attach] storm pid=$storm"
  fi
  # Buffered writes with no fsync, then another process's sync(): the bios come
  # from a kernel flusher and count for the writer, syscall="writeback"
  # (writeback_dirty_folio is in vmlinux on every kernel here). busybox may run
  # dd without exec (comm "init"): the host matches its pid, not its name.
  dd if=/dev/zero of="/disk/$attach-buffered" bs=65536 count="$BUFFERED_BLOCKS" 2>/dev/null &
  writer=$!
  wait $writer
  sync
  say "[$attach] buffered pid=$writer bytes=$((BUFFERED_BLOCKS * 65536))"
  # The utilization ratio appears after the sampler's second look at a disk.
  i=0
  while [ $i -lt 300 ]; do
    wget -q -O /tmp/metrics $METRICS
    [ "$(grep -c '^diskidle_disk_utilization_ratio{device="\(vda\|loop0\)"}' /tmp/metrics)" -ge 2 ] && break
    sleep 0.1; i=$((i + 1))
  done
  wget -q -O /tmp/metrics $METRICS || say "[$attach] scrape failed"
  grep -v '^#' /tmp/metrics | grep '^diskidle_' | sed "s/^/DISKIDLE [$attach] M /"
  kill -TERM $exporter
  wait $exporter
  say "[$attach] exit=$?"
  sed "s/^/DISKIDLE [$attach] LOG /" /tmp/log-$attach
}

for attach in $(cat /attach_modes); do
  run_attach "$attach"
done
grep -E ' (vda|loop0) ' /proc/diskstats | sed 's/^/DISKIDLE diskstats /'
say done
poweroff -f

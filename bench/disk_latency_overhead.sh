#!/usr/bin/env bash
# Disk latency overhead benchmark (issue 11, item 3). Run as root.
#
# The cost per event of the exporter's disk latency program (disk_lat_btf on
# block_rq_complete) against an empty tp_btf program on the same tracepoint
# (diskidle-bench-empty-rq), both attached at the same time, so they run for
# the very same events in the same storm; the attach order alternates from
# round to round (who attaches first pays for cold cache lines differently).
# Per-program statistics come from the kernel (kernel.bpf_stats_enabled=1,
# `bpftool prog show id N --json`: run_time_ns, run_cnt).
#
# Two workloads per round, on a fresh ext4 loop device:
#   fsync   diskidle-iogen fsync-for: an fsync storm on an unchanged file; per
#           fsync one flush request (timed) and one PREFLUSH write that was never
#           issued (the program returns early), plus the backing disk's requests
#   read    fio 4 KiB random reads, O_DIRECT, libaio, iodepth 16 on the loop
#           device: every event is a timed read
# The exporter runs with the disk latency collector on and the bio collector
# off, so only the program measured is ours. Table: medians over rounds, min..max, and the per-round ratio.
#
# Usage: bench/disk_latency_overhead.sh [--rounds N] [--storm-ms MS]
#   Binaries come from $BUILD_DIR (default: <source>/build).
# Exit status: 0 measured, 2 when a measurement could not be taken.
set -euo pipefail

ROUNDS=5
STORM_MS=2000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --storm-ms) STORM_MS="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$SRC_DIR/build}"
EXPORTER="${DISKIDLE_EXPORTER:-$BUILD_DIR/exporter/diskidle_exporter}"
EMPTY="${DISKIDLE_BENCH_EMPTY_RQ:-$BUILD_DIR/bench/diskidle-bench-empty-rq}"
IOGEN="${DISKIDLE_IOGEN:-$BUILD_DIR/tests/diskidle-iogen}"

die() { echo "disk_latency_overhead: $*" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || die "needs root (BPF, loop devices)"
for b in "$EXPORTER" "$EMPTY" "$IOGEN"; do
  [[ -x "$b" ]] || die "missing binary $b (build first, or set BUILD_DIR)"
done
for t in bpftool curl fio losetup mkfs.ext4 python3; do
  command -v "$t" >/dev/null || die "missing tool $t"
done

WORK="$(mktemp -d /tmp/diskidle-latbench-XXXXXX)"
LOOPDEV=""
MOUNTED=0
OLD_STATS="$(cat /proc/sys/kernel/bpf_stats_enabled)"
EXPORTER_PID=""
EMPTY_PID=""
# shellcheck source=bench/lib.sh
source "$SRC_DIR/bench/lib.sh"
stop_all() {
  close_hold_fifo
  stop_pid "$EMPTY_PID"; EMPTY_PID=""
  stop_pid "$EXPORTER_PID"; EXPORTER_PID=""
}
cleanup() {
  set +e
  stop_all
  if [[ $MOUNTED -eq 1 ]]; then umount "$WORK/mnt" || umount -l "$WORK/mnt"; fi
  [[ -n "$LOOPDEV" ]] && losetup -d "$LOOPDEV"
  sysctl -q -w kernel.bpf_stats_enabled="$OLD_STATS" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

truncate -s 256M "$WORK/disk.img"
LOOPDEV="$(losetup --find --show "$WORK/disk.img")"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOPDEV"
mkdir "$WORK/mnt"
mount "$LOOPDEV" "$WORK/mnt"
MOUNTED=1
# fio reads a file of its own on the file system (data blocks allocated once).
fio --name=prep --filename="$WORK/mnt/fio.dat" --size=64M --rw=write --bs=1M \
    --direct=1 --output=/dev/null || die "fio prepare failed"
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null


start_exporter() {
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  printf 'collectors:\n  bio:\n    enabled: false\n  disk_latency:\n    enabled: true\n' >"$WORK/config.yaml"
  "$EXPORTER" --config.file="$WORK/config.yaml" --web.listen-address="127.0.0.1:$port" \
    >"$WORK/exporter.log" 2>&1 &
  EXPORTER_PID=$!
  OURS_ID="$(find_prog "$EXPORTER_PID" '^disk_lat')" || { cat "$WORK/exporter.log" >&2; die "no disk_lat program in the exporter"; }
}
start_empty() {
  open_hold_fifo "$WORK/hold"
  "$EMPTY" <"$WORK/hold" 9>&- >"$WORK/empty.out" 2>&1 &
  EMPTY_PID=$!
  EMPTY_ID="$(find_prog "$EMPTY_PID" 'rq_complete')" || { cat "$WORK/empty.out" >&2; die "empty program not loaded"; }
}

workload() {  # <fsync|read> <ms>
  local file
  case "$1" in
    fsync)
      file="$(mktemp "$WORK/mnt/storm.XXXXXX")"
      "$IOGEN" fsync-for "$file" "$2" >/dev/null || die "iogen failed"
      rm -f "$file" ;;
    read)
      fio --name=rr --filename="$WORK/mnt/fio.dat" --size=64M --rw=randread --bs=4k \
          --direct=1 --ioengine=libaio --iodepth=16 --time_based --runtime="$2ms" \
          --output=/dev/null || die "fio failed" ;;
  esac
}

# One storm with both programs attached: "ours_ns empty_ns events".
measure() {
  local kind="$1" o0 o1 e0 e1
  workload "$kind" 500  # warm-up: the map holds the (disk, op) keys
  o0="$(prog_stats "$OURS_ID")"; e0="$(prog_stats "$EMPTY_ID")"
  workload "$kind" "$STORM_MS"
  o1="$(prog_stats "$OURS_ID")"; e1="$(prog_stats "$EMPTY_ID")"
  python3 - "$o0" "$o1" "$e0" "$e1" <<'EOF'
import sys
(ot0, oc0), (ot1, oc1), (et0, ec0), (et1, ec1) = (map(int, a.split()) for a in sys.argv[1:])
if oc1 <= oc0 or ec1 <= ec0:
    sys.exit("no run_cnt delta (bpf_stats off?)")
print(f"{(ot1 - ot0) / (oc1 - oc0):.1f} {(et1 - et0) / (ec1 - ec0):.1f} {oc1 - oc0}")
EOF
}

echo "disk_latency_overhead: $(date -u +%FT%TZ) kernel $(uname -r), nproc $(nproc), $ROUNDS rounds x 2 workloads of ${STORM_MS} ms on $LOOPDEV (ext4), load average $(cut -d' ' -f1-3 /proc/loadavg)"
RESULTS="$WORK/results.tsv"  # round workload ours_ns empty_ns events
: >"$RESULTS"
for r in $(seq "$ROUNDS"); do
  if (( r % 2 )); then start_exporter; start_empty; order="ours first"
  else start_empty; start_exporter; order="empty first"; fi
  for kind in fsync read; do
    m="$(measure "$kind")" || die "measurement failed"
    echo -e "$r\t$kind\t${m// /$'\t'}" >>"$RESULTS"
  done
  stop_all
  awk -v r="$r" -v o="$order" -F'\t' '$1 == r {printf "  round %s %-5s (%s) ours=%-7s empty=%-7s ns/event events=%s\n", r, $2, o, $3, $4, $5}' "$RESULTS"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RESULTS" "$STORM_MS" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
storm_s = int(sys.argv[2]) / 1000
print()
print("| workload | disk_lat_btf ns/event (median, min..max) | empty ns/event (median, min..max) | ratio (median of rounds, min..max) | events/s (median) |")
print("|---|---:|---:|---:|---:|")
for kind in ("fsync", "read"):
    sel = [r for r in rows if r[1] == kind]
    ours = [float(r[2]) for r in sel]
    empty = [float(r[3]) for r in sel]
    ratios = [o / e for o, e in zip(ours, empty)]
    eps = statistics.median(int(r[4]) / storm_s for r in sel)
    print(f"| {kind} | {statistics.median(ours):.0f} ({min(ours):.0f}..{max(ours):.0f}) "
          f"| {statistics.median(empty):.0f} ({min(empty):.0f}..{max(empty):.0f}) "
          f"| {statistics.median(ratios):.2f}x ({min(ratios):.2f}..{max(ratios):.2f}) | {eps:.0f} |")
EOF

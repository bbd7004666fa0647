#!/usr/bin/env bash
# Every number of issue 13's cost goals in one run. Run as root.
#
# Two workloads, each on a loop device whose backing file sits in /dev/shm (so
# the host's disk, shared with other work, does not set the pace):
#   read   fio 4 KiB random reads, O_DIRECT, libaio, iodepth 16 on the raw loop
#          device (read-only): the highest bio rate this kind of VM makes, one
#          key from one thread
#   fsync  diskidle-iogen fsync-for: fsync() of an unchanged file on ext4, one
#          zero-byte flush bio per fsync (--storm-backing disk puts the image on
#          the root file system instead: then the loop worker's bio to the host
#          disk alternates with the fsyncing thread's, at the host disk's pace)
# Per round and workload (the order alternates from round to round), the
# workload runs without a break while the arms below take turns, so no window
# pays for a workload's start-up; its rate in a window is the loop device's
# completed reads (read) or flushes (fsync) from /sys/block/<dev>/stat:
#   off    nothing attached: throughput baseline
#   on     the real diskidle_exporter (built-in defaults): throughput with it
#   floor  diskidle-bench-empty alone (an empty tp_btf program on
#          block_bio_queue): what any program on the tracepoint costs
#          (off, on and floor twice each per round, ABCCBA; each switch is
#          followed by --settle-s before the window; kernel.bpf_stats_enabled
#          off for all three, as on a user's machine)
#   alone  the exporter alone, diskidle-bench-empty alone and v_count alone
#          (diskidle-bench-variants: one add to one counter in the program's
#          global data, the least any program that counts in BPF memory
#          does), the order rotating by round, each for one window with
#          kernel.bpf_stats_enabled=1: ns per event of each from the kernel's
#          per-program statistics (run_time_ns / run_cnt), as each costs on a
#          user's machine, where it is the only program on the tracepoint;
#          the goal's measure, as in the issue ("one run each, interleaved");
#          v_count shows how far above the empty program the host puts the
#          first touch of BPF memory, a floor no counting design goes below
#   cost   the exporter and diskidle-bench-empty attached at the same time,
#          the attach order alternating by round; ns per event of each from
#          the kernel's per-program statistics (kernel.bpf_stats_enabled=1,
#          run_time_ns / run_cnt over a window), so both see the very same bios;
#          also the time of all the exporter's programs together per bio (on the
#          fsync storm the journal-attribution hooks run once per fsync too)
# Then idle: the exporter alone for --idle-s seconds, scraped every 15 s, its
# CPU time from /proc/<pid>/stat.
# The two attached together see the very same bios, but the program attached
# first pays for work both share (on a host with PTI and no PCID every kernel
# entry empties the TLB, and the first program's first touches refill it), so
# the together ratio is bimodal by attach order; it is shown for each order.
# Goals (issue 13): ours / empty, each alone, <= 1.5x (read) and <= 2.0x
# (fsync), medians of the per-round ratios; throughput on / off >= 0.98 (median of per-round
# ratios), called met or MISSED only when both the 95% interval of the mean
# ratio and the distribution-free 95% interval of the median (order statistics,
# 6 rounds or more) lie on one side of 0.98, "not decided" otherwise (with the
# number of rounds that would decide it at the run's scatter); idle CPU < 0.5%
# of one core.
#
# Usage: bench/cost.sh [--rounds N (10)] [--secs S (2)] [--settle-s S (0.5)]
#                      [--idle-s S (60)] [--storm-backing shm|disk]
#                      [--workloads "read fsync"] [--exporter-config FILE] [--strict]
#   --secs is the length of every measured window.
#   --workloads runs only the named workloads (idle is measured either way).
#   --exporter-config runs every exporter of the run with --config.file=FILE
#   (e.g. collectors.bio.journal_attribution: false) instead of the built-in
#   defaults.
#   Binaries come from $BUILD_DIR (default: <source>/build); override with
#   DISKIDLE_EXPORTER, DISKIDLE_BENCH_EMPTY, DISKIDLE_BENCH_VARIANTS,
#   DISKIDLE_IOGEN.
# Exit status: 0 measured (goals reported as met/MISSED/not decided), 1 with
# --strict when a goal is not met, 2 when a measurement could not be taken.
set -Eeuo pipefail
# A command that stops the script says which (set -e alone exits silently).
trap 'rc=$?; if (( BASH_SUBSHELL == 0 )); then echo "cost: line $LINENO: \"$BASH_COMMAND\" failed (exit $rc)" >&2; fi' ERR

ROUNDS=10  # even: as many rounds with our program attached first as second
SECS=2
SETTLE_S=0.5
IDLE_S=60
STORM_BACKING=shm
WORKLOADS="read fsync"
EXPORTER_CONFIG=""
STRICT=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --settle-s) SETTLE_S="$2"; shift 2 ;;
    --idle-s) IDLE_S="$2"; shift 2 ;;
    --storm-backing) STORM_BACKING="$2"; shift 2 ;;
    --workloads) WORKLOADS="$2"; shift 2 ;;
    --exporter-config) EXPORTER_CONFIG="$2"; shift 2 ;;
    --strict) STRICT=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ "$STORM_BACKING" == shm || "$STORM_BACKING" == disk ]] || { echo "--storm-backing: shm or disk" >&2; exit 2; }
for w in $WORKLOADS; do
  [[ "$w" == read || "$w" == fsync ]] || { echo "--workloads: read and/or fsync, not '$w'" >&2; exit 2; }
done
[[ -n "${WORKLOADS// }" ]] || { echo "--workloads: name at least one of read, fsync" >&2; exit 2; }

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$SRC_DIR/build}"
EXPORTER="${DISKIDLE_EXPORTER:-$BUILD_DIR/exporter/diskidle_exporter}"
EMPTY="${DISKIDLE_BENCH_EMPTY:-$BUILD_DIR/bench/diskidle-bench-empty}"
VARIANTS="${DISKIDLE_BENCH_VARIANTS:-$BUILD_DIR/bench/diskidle-bench-variants}"
IOGEN="${DISKIDLE_IOGEN:-$BUILD_DIR/tests/diskidle-iogen}"

die() { echo "cost: $*" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || die "needs root (BPF, loop devices)"
for b in "$EXPORTER" "$EMPTY" "$VARIANTS" "$IOGEN"; do
  [[ -x "$b" ]] || die "missing binary $b (build first, or set BUILD_DIR / DISKIDLE_*)"
done
for t in bpftool curl fio losetup mkfs.ext4 python3; do
  command -v "$t" >/dev/null || die "missing tool $t"
done
EXPORTER_ARGS=()
if [[ -n "$EXPORTER_CONFIG" ]]; then
  [[ -r "$EXPORTER_CONFIG" ]] || die "--exporter-config: cannot read $EXPORTER_CONFIG"
  EXPORTER_CONFIG="$(realpath "$EXPORTER_CONFIG")"
  "$EXPORTER" --config.file="$EXPORTER_CONFIG" --check_config >/dev/null ||
    die "--exporter-config: $EXPORTER_CONFIG is not a valid config (the exporter's message is above)"
  EXPORTER_ARGS=(--config.file="$EXPORTER_CONFIG")
fi

# ---------------------------------------------------------------- clean-up
WORK="$(mktemp -d /tmp/diskidle-cost-XXXXXX)"
SHM="$(mktemp -d /dev/shm/diskidle-cost-XXXXXX)"
READ_LOOP=""
STORM_LOOP=""
MOUNTED=0
OLD_STATS="$(cat /proc/sys/kernel/bpf_stats_enabled)"
EXPORTER_PID=""
EMPTY_PID=""
WORKLOAD_PID=""
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
  stop_pid "$WORKLOAD_PID"
  if [[ $MOUNTED -eq 1 ]]; then umount "$WORK/mnt" || umount -l "$WORK/mnt"; fi
  [[ -n "$STORM_LOOP" ]] && losetup -d "$STORM_LOOP"
  [[ -n "$READ_LOOP" ]] && losetup -d "$READ_LOOP"
  sysctl -q -w kernel.bpf_stats_enabled="$OLD_STATS" >/dev/null
  rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT
trap 'exit 2' INT TERM
refuse_other_bio_programs

# ---------------------------------------------------------------- fixture
truncate -s 256M "$SHM/read.img"
READ_LOOP="$(losetup --find --show "$SHM/read.img")"
# Written once, so the reads below hit allocated tmpfs pages, not holes.
fio --name=prep --filename="$READ_LOOP" --size=256M --rw=write --bs=1M --direct=1 \
    --output=/dev/null || die "fio prepare failed"
if [[ "$STORM_BACKING" == shm ]]; then STORM_IMG="$SHM/storm.img"; else STORM_IMG="$WORK/storm.img"; fi
truncate -s 256M "$STORM_IMG"
STORM_LOOP="$(losetup --find --show "$STORM_IMG")"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$STORM_LOOP"
mkdir "$WORK/mnt"
mount "$STORM_LOOP" "$WORK/mnt"
MOUNTED=1
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null

# ---------------------------------------------------------------- helpers
start_exporter() {
  PORT="$(free_port)"
  "$EXPORTER" "${EXPORTER_ARGS[@]}" --web.listen-address="127.0.0.1:$PORT" >"$WORK/exporter.log" 2>&1 &
  EXPORTER_PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
    kill -0 "$EXPORTER_PID" 2>/dev/null || { cat "$WORK/exporter.log" >&2; die "exporter exited"; }
    sleep 0.1
  done
  OURS_ID="$(find_prog "$EXPORTER_PID" '^block_bio_queue')" ||
    { cat "$WORK/exporter.log" >&2; die "no block_bio_queue program in the exporter"; }
}
start_empty() {
  open_hold_fifo "$WORK/hold"
  "$EMPTY" <"$WORK/hold" 9>&- >"$WORK/empty.out" 2>&1 &
  EMPTY_PID=$!
  EMPTY_ID="$(find_prog "$EMPTY_PID" 'bio_queue')" ||
    { cat "$WORK/empty.out" >&2; die "empty program not loaded"; }
}
# v_count (bench/cost_variants.bpf.c) alone, in the empty program's place.
start_count() {
  open_hold_fifo "$WORK/hold"
  "$VARIANTS" v_count <"$WORK/hold" 9>&- >"$WORK/count.out" 2>&1 &
  EMPTY_PID=$!
  EMPTY_ID="$(find_prog "$EMPTY_PID" '^v_count')" ||
    { cat "$WORK/count.out" >&2; die "v_count not loaded"; }
}

# The workload <read|fsync> in the background, without a time limit, until
# stop_workload; its events are counted by io_count.
start_workload() {
  case "$1" in
    read)
      fio --name=rr --filename="$READ_LOOP" --readonly --rw=randread --bs=4k --direct=1 \
          --ioengine=libaio --iodepth=16 --time_based --runtime=24h --output=/dev/null \
          >"$WORK/workload.log" 2>&1 & ;;
    fsync)
      "$IOGEN" fsync-for "$(mktemp "$WORK/mnt/storm.XXXXXX")" $((24 * 3600 * 1000)) \
          >"$WORK/workload.log" 2>&1 & ;;
  esac
  WORKLOAD_PID=$!
  sleep 1  # past its start-up (fio's file set-up, the first fsync's data)
  kill -0 "$WORKLOAD_PID" 2>/dev/null || { cat "$WORK/workload.log" >&2; die "$1 workload exited"; }
}
stop_workload() {
  stop_pid "$WORKLOAD_PID"; WORKLOAD_PID=""
  rm -f "$WORK"/mnt/storm.*
}

# Completed events of workload <read|fsync> on its loop device so far. Columns
# of /sys/block/<dev>/stat (Documentation/admin-guide/iostats.rst): 1 reads
# completed; 16 flush requests completed (Linux 5.5+). A flush bio of fsync()
# on the loop device becomes one flush request (its queue has a write cache).
io_count() {
  case "$1" in
    read) awk '{print $1}' "/sys/block/${READ_LOOP#/dev/}/stat" ;;
    fsync) awk '{print $16}' "/sys/block/${STORM_LOOP#/dev/}/stat" ;;
  esac
}

# Events per second of workload <kind> over the next <seconds>.
window() {
  local c0 c1 t0 t1
  c0="$(io_count "$1")"; t0="$(date +%s%N)"
  sleep "$2"
  c1="$(io_count "$1")"; t1="$(date +%s%N)"
  kill -0 "$WORKLOAD_PID" 2>/dev/null || { cat "$WORK/workload.log" >&2; die "$1 workload exited"; }
  (( c1 > c0 )) || die "$1 workload completed nothing in ${2} s"
  awk -v n="$((c1 - c0))" -v ns="$((t1 - t0))" 'BEGIN { printf "%.0f", n / (ns / 1e9) }'
}

# Over one window of --secs (after --settle-s), from one bpftool listing at
# each end, so that every program is read at the same moment:
# "ns_1 [ns_2 ...] events all_ns": the ns per run of each program in
# <report ids>, the runs of the first, and the run time of every program in
# <all ids> per run of the first.
stats_window() {
  local s0 s1
  sleep "$SETTLE_S"  # the exporter's maps hold the keys
  s0="$(bpftool -j prog show)"
  sleep "$SECS"
  s1="$(bpftool -j prog show)"
  python3 - "$1" "$2" "$s0" "$s1" <<'PY'
import json, sys
report = [int(i) for i in sys.argv[1].split()]
ids = {int(i) for i in sys.argv[2].split()}
def stats(listing):
    return {p["id"]: (p.get("run_time_ns", 0), p.get("run_cnt", 0)) for p in json.loads(listing)}
before, after = stats(sys.argv[3]), stats(sys.argv[4])
def delta(i):
    if i not in before or i not in after:
        sys.exit(f"program {i} not listed by bpftool")
    return after[i][0] - before[i][0], after[i][1] - before[i][1]
runs = [delta(i) for i in report]
if any(c <= 0 for _, c in runs):
    sys.exit("no run_cnt delta (bpf_stats off?)")
events = runs[0][1]
print(" ".join(f"{t / c:.1f}" for t, c in runs), events,
      f"{sum(delta(i)[0] for i in ids) / events:.1f}")
PY
}

# Both programs attached, the workload running: "ours_ns empty_ns events
# all_ns", where all_ns is the run time of every program the exporter holds
# (the journal and writeback hooks too) per event of its block_bio_queue
# program.
measure_cost() {
  stats_window "$OURS_ID $EMPTY_ID" "$(prog_ids_of "$EXPORTER_PID" | tr '\n' ' ')"
}

# One program attached alone, the workload running: "ns events all_ns" of the
# exporter's block_bio_queue program (all_ns: every program it holds, per bio)
# or of the empty one or v_count (all_ns = ns).
measure_alone() {
  if [[ $1 == ours ]]; then
    stats_window "$OURS_ID" "$(prog_ids_of "$EXPORTER_PID" | tr '\n' ' ')"
  else
    stats_window "$EMPTY_ID" "$EMPTY_ID"
  fi
}

# ---------------------------------------------------------------- rounds
[[ $(wc -w <"/sys/block/${STORM_LOOP#/dev/}/stat") -ge 16 ]] ||
  die "/sys/block/${STORM_LOOP#/dev/}/stat has no flush count (Linux 5.5+)"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "cost: $(date -u +%FT%TZ) kernel $(uname -r), nproc $(nproc), $ROUNDS rounds x ($WORKLOADS) x (off, on, floor, alone, cost), windows of ${SECS} s after ${SETTLE_S} s to settle; read on $READ_LOOP (raw, /dev/shm), fsync on $STORM_LOOP (ext4, backing $STORM_BACKING); exporter config: ${EXPORTER_CONFIG:-built-in defaults}; load average at start $LOAD_START"
RESULTS="$WORK/results.tsv"  # round workload kind value...
: >"$RESULTS"
for r in $(seq "$ROUNDS"); do
  # The order of the workloads reverses from round to round.
  if (( r % 2 )); then kinds="$WORKLOADS"; else kinds="$(awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }' <<<"$WORKLOADS")"; fi
  for kind in $kinds; do
    start_workload "$kind"
    # Throughput: off, on and floor as ABCCBA (CBAABC in even rounds), so a
    # drift of the machine's load within the round cancels out.
    if (( r % 2 )); then arms="off on floor floor on off"; else arms="floor on off off on floor"; fi
    # As a user runs it: kernel.bpf_stats_enabled costs two clock reads per
    # program run, which would be charged to "on" only.
    sysctl -q -w kernel.bpf_stats_enabled=0 >/dev/null
    running=off
    for arm in $arms; do
      if [[ $arm != "$running" ]]; then
        stop_all
        case $arm in
          on) start_exporter ;;
          floor) start_empty ;;
        esac
        sleep "$SETTLE_S"  # past the switch: start-up, the first bios fill the maps
        running=$arm
      fi
      t="$(window "$kind" "$SECS")"
      echo -e "$r\t$kind\t$arm\t$t" >>"$RESULTS"
    done
    stop_all
    # Cost alone: each program by itself, as on a user's machine (the goal's
    # measure), the order rotating by round.
    sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
    case $((r % 3)) in
      1) alone="ours empty count" ;;
      2) alone="empty count ours" ;;
      0) alone="count ours empty" ;;
    esac
    for who in $alone; do
      case $who in
        ours) start_exporter ;;
        empty) start_empty ;;
        count) start_count ;;
      esac
      a="$(measure_alone "$who")" || die "measurement failed"
      stop_all
      echo -e "$r\t$kind\talone-$who\t${a// /$'\t'}" >>"$RESULTS"
    done
    # Cost together: both programs attached, the attach order alternating by
    # round, so both see the very same bios.
    if (( r % 2 )); then start_exporter; start_empty; order="ours first"
    else start_empty; start_exporter; order="empty first"; fi
    m="$(measure_cost)" || die "measurement failed"
    stop_all
    stop_workload
    echo -e "$r\t$kind\tcost\t${m// /$'\t'}" >>"$RESULTS"
    awk -v r="$r" -v k="$kind" -v o="$order" -F'\t' '
      $1 == r && $2 == k && $3 == "off" {off += $4 / 2}
      $1 == r && $2 == k && $3 == "on" {on += $4 / 2}
      $1 == r && $2 == k && $3 == "floor" {floor += $4 / 2}
      $1 == r && $2 == k && $3 == "cost" {ours = $4; empty = $5; ev = $6; all = $7}
      $1 == r && $2 == k && $3 == "alone-ours" {aours = $4; aall = $6}
      $1 == r && $2 == k && $3 == "alone-empty" {aempty = $4}
      $1 == r && $2 == k && $3 == "alone-count" {acount = $4}
      END {printf "  round %s %-5s off=%.0f/s on=%.0f/s (%.3f) floor=%.0f/s (%.3f)  alone: ours=%.1f empty=%.1f ns/event (%.2fx) v_count=%.1f (%.2fx) all programs=%.1f  together (%s): ours=%.1f empty=%.1f ns/event (%.2fx) all programs=%.1f ns/event events=%s\n",
                  r, k, off, on, on / off, floor, floor / off, aours, aempty, aours / aempty, acount, acount / aempty, aall, o, ours, empty, ours / empty, all, ev}' "$RESULTS"
  done
done
sysctl -q -w kernel.bpf_stats_enabled=0 >/dev/null

# ---------------------------------------------------------------- idle
start_exporter
clk_tck="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$EXPORTER_PID/stat"; }
sleep 2  # past start-up (BTF parsing, program load)
c0="$(cpu_ticks)"; t0="$(date +%s%N)"
scrapes=0
# A scrape every 15 s as Prometheus would, the first one at the start.
while (( $(date +%s%N) - t0 < IDLE_S * 1000000000 )); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics" || die "scrape failed"
  scrapes=$((scrapes + 1))
  left_ms=$(( (IDLE_S * 1000000000 - ($(date +%s%N) - t0)) / 1000000 ))
  (( left_ms > 15000 )) && left_ms=15000
  (( left_ms > 0 )) && sleep "$(awk -v ms="$left_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
done
c1="$(cpu_ticks)"; t1="$(date +%s%N)"
stop_all
IDLE_PCT="$(awk -v c="$((c1 - c0))" -v hz="$clk_tck" -v ns="$((t1 - t0))" 'BEGIN { printf "%.3f", c / hz / (ns / 1e9) * 100 }')"
echo "  idle: $scrapes scrapes at 15 s over $(( (t1 - t0) / 1000000000 )) s: $(( c1 - c0 )) ticks of CPU (1/$clk_tck s) = ${IDLE_PCT}% of one core"
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average at start: $LOAD_START, at end: $LOAD_END (other work on this machine inflates and scatters every number)"

python3 - "$RESULTS" "$IDLE_PCT" "$STRICT" "$SECS" "$WORKLOADS" <<'EOF'
import math, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
idle_pct, strict, secs = float(sys.argv[2]), sys.argv[3] == "1", float(sys.argv[4])
workloads = [w for w in ("read", "fsync") if w in sys.argv[5].split()]
def mean_se(v):
    se = statistics.stdev(v) / len(v) ** 0.5 if len(v) > 1 else float("nan")
    return f"{statistics.mean(v):.3f} ± {se:.3f} (standard error)"
# Two-sided 95% quantiles of Student's t by degrees of freedom (1..30); 1.96 beyond.
T95 = [12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13,
       2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04]
def median_interval(v):
    """A distribution-free interval of the median with at least 95% coverage:
    the k-th smallest and k-th largest value, k the largest with
    P(Binomial(n, 1/2) < k) <= 2.5%; None when n is too small (< 6). Unlike the
    mean's t-interval it is not pulled by one window the host stalled."""
    n = len(v)
    below, k = 0.0, 0
    while True:
        below += math.comb(n, k) / 2 ** n  # P(X <= k)
        if below > 0.025:
            break
        k += 1
    if k == 0:
        return None
    ordered = sorted(v)
    return ordered[k - 1], ordered[n - k]
def throughput_verdict(v, goal=0.98):
    """met / MISSED only when both the 95% interval of the mean ratio and the
    95% interval of its median (the issue's measure) lie on one side of the
    goal; otherwise says how many rounds this run's scatter would need to tell
    the ratio within 0.5 points."""
    med = statistics.median(v)
    if len(v) < 2:
        return "not decided (one round)", False
    mean, sd = statistics.mean(v), statistics.stdev(v)
    t = T95[len(v) - 2] if len(v) - 1 <= len(T95) else 1.96
    lo, hi = mean - t * sd / len(v) ** 0.5, mean + t * sd / len(v) ** 0.5
    around_median = median_interval(v)
    interval = f"95% interval of the mean {lo:.3f}..{hi:.3f}"
    if around_median:
        interval += f", of the median {around_median[0]:.3f}..{around_median[1]:.3f}"
        if lo >= goal and around_median[0] >= goal:
            return f"met ({interval})", True
        if hi < goal and around_median[1] < goal:
            return f"MISSED ({interval})", False
    else:
        interval += ", of the median: needs 6 rounds or more"
    need = int((1.96 * sd / 0.005) ** 2) + 1
    return (f"not decided by this run: {interval} hold {goal} (or the rounds are too few); "
            f"a ±0.005 interval would take ~{need} rounds at this run's scatter"), False
def med_range(v, fmt):
    return f"{fmt.format(statistics.median(v))} ({fmt.format(min(v))}..{fmt.format(max(v))})"
ok_all = True
print()
print("| workload | ours ns/bio alone | empty ns/bio alone | ours / empty alone (goal) | v_count ns/bio alone (/ empty) | ours / v_count | all our programs ns/bio alone (/ empty) | together: ours / empty, ours attached first | together: empty attached first | bios/s | throughput off /s | throughput on /s | on / off (goal >= 0.98) | floor / off (empty program alone) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
goals = {"read": 1.5, "fsync": 2.0}
verdicts = []
for kind in workloads:
    def arm(name):
        return {r[0]: r[3:] for r in rows if r[1] == kind and r[2] == name}
    alone_ours, alone_empty, together = arm("alone-ours"), arm("alone-empty"), arm("cost")
    alone_count = arm("alone-count")
    rounds = sorted(alone_ours, key=int)
    ours = [float(alone_ours[r][0]) for r in rounds]
    empty = [float(alone_empty[r][0]) for r in rounds]
    count = [float(alone_count[r][0]) for r in rounds]
    count_ratios = [c / e for c, e in zip(count, empty)]
    over_count = [o / c for o, c in zip(ours, count)]
    all_ours = [float(alone_ours[r][2]) for r in rounds]
    ratios = [o / e for o, e in zip(ours, empty)]
    all_ratios = [a / e for a, e in zip(all_ours, empty)]
    # Together, by attach order (odd rounds: ours first): the first program
    # pays for more than its own work, so each order is shown by itself.
    first = [float(v[0]) / float(v[1]) for r, v in together.items() if int(r) % 2]
    second = [float(v[0]) / float(v[1]) for r, v in together.items() if not int(r) % 2]
    together_rate = statistics.median(float(v[2]) for v in together.values()) / secs
    by_round = {}
    for r in rows:
        if r[1] == kind and r[2] in ("off", "on", "floor"):
            by_round.setdefault(r[0], {}).setdefault(r[2], []).append(float(r[3]))
    off = [statistics.mean(v["off"]) for v in by_round.values()]
    on = [statistics.mean(v["on"]) for v in by_round.values()]
    floor = [statistics.mean(v["floor"]) for v in by_round.values()]
    tput = [a / b for a, b in zip(on, off)]
    floor_tput = [a / b for a, b in zip(floor, off)]
    ratio, tp = statistics.median(ratios), statistics.median(tput)
    tp_verdict, ok_tp = throughput_verdict(tput)
    ok_cost = ratio <= goals[kind]
    ok_all &= ok_cost and ok_tp
    def together_cell(v):
        return med_range(v, '{:.2f}x') if v else "-"
    print(f"| {kind} | {med_range(ours, '{:.0f}')} | {med_range(empty, '{:.0f}')} "
          f"| {med_range(ratios, '{:.2f}x')} (<= {goals[kind]}x) "
          f"| {med_range(count, '{:.0f}')} ({statistics.median(count_ratios):.2f}x) "
          f"| {med_range(over_count, '{:.2f}x')} "
          f"| {med_range(all_ours, '{:.0f}')} ({statistics.median(all_ratios):.2f}x) "
          f"| {together_cell(first)} | {together_cell(second)} "
          f"| {together_rate:.0f} "
          f"| {med_range(off, '{:.0f}')} | {med_range(on, '{:.0f}')} | {med_range(tput, '{:.3f}')} "
          f"| {med_range(floor_tput, '{:.3f}')} |")
    verdicts.append(f"{kind}: ours / empty, each attached alone = {ratio:.2f}x (goal <= {goals[kind]}x: {'met' if ok_cost else 'MISSED'}; "
                    f"one add to BPF memory alone, v_count, is {statistics.median(count_ratios):.2f}x the empty program on this host, "
                    f"ours {statistics.median(over_count):.2f}x v_count); "
                    f"throughput on / off = {tp:.3f} median (goal >= 0.98: {tp_verdict}; "
                    f"mean {mean_se(tput)}; "
                    f"the empty program alone: {statistics.median(floor_tput):.3f}, mean {mean_se(floor_tput)}); "
                    f"CPU per 100k bios/s: ours {statistics.median(ours) / 100:.2f}% of one core, "
                    f"{(statistics.median(ours) - statistics.median(empty)) / 100:.2f}% above the empty program; "
                    f"all our programs {statistics.median(all_ours) / 100:.2f}%")
ok_idle = idle_pct < 0.5
ok_all &= ok_idle
print()
for v in verdicts:
    print(v)
print(f"idle: {idle_pct:.3f}% of one core with 15 s scrapes (goal < 0.5%: {'met' if ok_idle else 'MISSED'})")
sys.exit(1 if strict and not ok_all else 0)
EOF

#!/usr/bin/env bash
# Scrape benchmark (issue 9, item 5). Run as root, by hand (not in CTest).
#
# How long a /metrics scrape takes, and the exporter's memory, with many live
# processes that did I/O, next to node_exporter's full scrape on the same
# machine:
#
#  1. default config, N1 (1,000) sleeping processes that each fsync()ed an
#     unchanged file on a tmpfs-backed ext4 loop device twice;
#  2. max_processes: 10000 (kernel maps raised to 65536 entries) and N2
#     (10,000) such processes.
#
# Each scrape is one curl process, so one fresh connection, sequential, sent
# like Prometheus sends it (its Accept header and Accept-Encoding: gzip; the
# body is not decompressed); the same number of plain-text scrapes is timed
# too. Prints p50/p99 of curl's time_total, the series count and size of the
# body, VmRSS and VmHWM of the exporter after the scrapes, and
# prometheus-node-exporter's (Debian package, default collectors, started on a
# free 127.0.0.1 port and stopped after) p50/p99 the same way. Then PASS/MISS
# for each goal:
#   N1 processes, default config: p99 < 25 ms and VmRSS < 48 MiB
#   N2 processes, max_processes 10000: p99 < 250 ms
#
# Usage: bench/scrape_bench.sh [--scrapes 200] [--small 1000] [--large 10000] [--skip-large]
#   Binaries come from $BUILD_DIR (default: <source>/build): exporter/diskidle_exporter
#   and bench/diskidle-bench-sleepers; override with DISKIDLE_EXPORTER, DISKIDLE_SLEEPERS.
# Exit status: 0 every goal met, 1 a goal missed, 2 the run could not be done.
set -euo pipefail

SCRAPES=200
SMALL=1000
LARGE=10000
SKIP_LARGE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scrapes) SCRAPES="$2"; shift 2 ;;
    --small) SMALL="$2"; shift 2 ;;
    --large) LARGE="$2"; shift 2 ;;
    --skip-large) SKIP_LARGE=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$SRC_DIR/bench/lib.sh"
BUILD_DIR="${BUILD_DIR:-$SRC_DIR/build}"
EXPORTER="${DISKIDLE_EXPORTER:-$BUILD_DIR/exporter/diskidle_exporter}"
SLEEPERS="${DISKIDLE_SLEEPERS:-$BUILD_DIR/bench/diskidle-bench-sleepers}"
NODE_EXPORTER="${NODE_EXPORTER:-prometheus-node-exporter}"
COMM="scrape-sleeper"   # the sleepers' comm: a copy of the helper under this name
# What Prometheus 2.42 sends.
ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

die() { echo "scrape_bench: $*" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || die "needs root (BPF, loop devices)"
for b in "$EXPORTER" "$SLEEPERS"; do
  [[ -x "$b" ]] || die "missing binary $b (build first, or set BUILD_DIR / DISKIDLE_*)"
done
for t in curl losetup mkfs.ext4 python3 "$NODE_EXPORTER"; do
  command -v "$t" >/dev/null || die "missing tool $t (node_exporter: apt-get install prometheus-node-exporter)"
done
# Every sleeper is a process: they must fit under pid_max with room for the machine.
max_n=$SMALL
[[ $SKIP_LARGE -eq 1 ]] || max_n=$LARGE
pid_max="$(cat /proc/sys/kernel/pid_max)"
running="$(ls -d /proc/[0-9]* | wc -l)"
(( max_n + running + 2000 < pid_max )) ||
  die "kernel.pid_max $pid_max leaves no room for $max_n more processes ($running running)"

# ---------------------------------------------------------------- clean-up
WORK="$(mktemp -d /tmp/diskidle-scrapebench-XXXXXX)"
LOOPDEV=""
MOUNTED=0
TMPFS=0
PIDS=()    # every background process we started
GO_FD=""
cleanup() {
  set +e
  [[ -n "$GO_FD" ]] && eval "exec $GO_FD>&-"
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && wait "$p" 2>/dev/null; done
  if [[ $MOUNTED -eq 1 ]]; then umount "$WORK/mnt" || umount -l "$WORK/mnt"; fi
  [[ -n "$LOOPDEV" ]] && losetup -d "$LOOPDEV"
  # The loop driver lets go of the image a moment after losetup -d returns.
  if [[ $TMPFS -eq 1 ]]; then
    for _ in $(seq 50); do umount "$WORK/tmpfs" 2>/dev/null && TMPFS=0 && break; sleep 0.1; done
    [[ $TMPFS -eq 0 ]] || umount -l "$WORK/tmpfs"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# Waits up to $2 s for URL $1 to answer 200.
wait_http() {
  for _ in $(seq $(( $2 * 10 ))); do
    curl -sf -o /dev/null --max-time 2 "$1" && return 0
    sleep 0.1
  done
  return 1
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------- fixture
# The image lives on a private tmpfs: the loop driver's flush of a tmpfs file
# costs nothing, so 20,000 fsyncs take seconds and touch no real disk.
mkdir "$WORK/tmpfs" "$WORK/mnt"
mount -t tmpfs -o size=128m,mode=0700 tmpfs "$WORK/tmpfs"
TMPFS=1
truncate -s 64M "$WORK/tmpfs/disk.img"
LOOPDEV="$(losetup --find --show "$WORK/tmpfs/disk.img")"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOPDEV"
mount "$LOOPDEV" "$WORK/mnt"
MOUNTED=1
cp "$SLEEPERS" "$WORK/$COMM"

# ---------------------------------------------------------------- measuring
# time_scrapes URL COUNT OUT [curl args]: COUNT sequential scrapes, one curl
# (one connection) each; OUT gets "seconds http_code bytes" per scrape.
time_scrapes() {
  local url="$1" count="$2" out="$3"
  shift 3
  : >"$out"
  for _ in $(seq "$count"); do
    curl -s -o /dev/null --max-time 30 -w '%{time_total} %{http_code} %{size_download}\n' \
      "$@" "$url" >>"$out" || true
  done
  awk '$2 != 200 { bad++ } END { exit bad > 0 }' "$out" ||
    die "$(awk '$2 != 200' "$out" | wc -l) of $count scrapes of $url failed"
}
# "p50_ms p99_ms mean_bytes" of a time_scrapes file (nearest-rank percentiles).
percentiles() {
  sort -n "$1" | awk '{ t[NR] = $1 * 1000; bytes += $3 }
    function rank(p,  i) { i = int(p * NR); if (i < p * NR) i++; return t[i] }
    END { printf "%.1f %.1f %d\n", rank(0.50), rank(0.99), bytes / NR }'
}
like_prometheus=(-H "Accept: $ACCEPT" -H "Accept-Encoding: gzip")

declare -A RESULT   # RESULT[<scenario>.<field>]

# run_scenario NAME PROCESSES CONFIG_YAML
run_scenario() {
  local name="$1" n="$2" config="$3" port pid metrics go sleepers t0
  printf '%s\n' "$config" >"$WORK/$name.yaml"
  port="$(free_port)"
  "$EXPORTER" --config="$WORK/$name.yaml" --listen_address="127.0.0.1:$port" \
    >"$WORK/$name.exporter.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  metrics="http://127.0.0.1:$port/metrics"
  wait_http "http://127.0.0.1:$port/healthz" 30 ||
    die "exporter not ready: $(tail -5 "$WORK/$name.exporter.log")"

  go="$WORK/$name.go"
  mkfifo "$go"
  t0=$(date +%s.%N)
  "$WORK/$COMM" "$WORK/mnt/file-$name" "$n" <"$go" >"$WORK/$name.sleepers.out" 2>&1 &
  sleepers=$!
  PIDS+=("$sleepers")
  exec {GO_FD}>"$go"
  for _ in $(seq 3000); do
    grep -q '^ready' "$WORK/$name.sleepers.out" && break
    kill -0 "$sleepers" 2>/dev/null || die "sleepers failed: $(cat "$WORK/$name.sleepers.out")"
    sleep 0.1
  done
  grep -q '^ready' "$WORK/$name.sleepers.out" || die "$n sleepers not ready after 300 s"
  echo "  $n processes forked and fsynced in $(python3 -c "import time; print(f'{time.time() - $t0:.1f}')") s"

  # Every sleeper's two flushes are in the complete view before we time.
  local flushes=0
  for _ in $(seq 600); do
    flushes="$(curl -sf --max-time 30 "$metrics" | awk -v c="comm=\"$COMM\"" \
      '/^diskidle_bio_size_bytes_count/ && index($0, c) && index($0, "op=\"flush\"") { s += $NF }
       END { printf "%d", s }')"
    (( flushes >= 2 * n )) && break
    sleep 0.5
  done
  (( flushes >= 2 * n )) || die "the exporter counted $flushes flushes of $COMM, expected $((2 * n))"

  local body="$WORK/$name.body"
  curl -sf --max-time 30 -o "$body" "$metrics"
  RESULT[$name.series]="$(grep -vc '^#' "$body")"
  RESULT[$name.bytes]="$(stat -c %s "$body")"
  RESULT[$name.tracked]="$(awk '/^diskidle_tracked_processes / { print $NF }' "$body")"
  RESULT[$name.in_view]="$(awk '/^diskidle_process_view_processes / { print $NF }' "$body")"
  RESULT[$name.dropped]="$(awk '/^diskidle_bpf_events_dropped_total/ { s += $NF } END { print s + 0 }' "$body")"
  time_scrapes "$metrics" 5 "$WORK/$name.warmup" "${like_prometheus[@]}"
  time_scrapes "$metrics" "$SCRAPES" "$WORK/$name.prom" "${like_prometheus[@]}"
  read -r "RESULT[$name.p50]" "RESULT[$name.p99]" "RESULT[$name.gzbytes]" < <(percentiles "$WORK/$name.prom")
  time_scrapes "$metrics" "$SCRAPES" "$WORK/$name.plain"
  read -r "RESULT[$name.plain_p50]" "RESULT[$name.plain_p99]" _ < <(percentiles "$WORK/$name.plain")
  RESULT[$name.rss]="$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")"
  RESULT[$name.hwm]="$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")"

  exec {GO_FD}>&-
  GO_FD=""
  wait "$sleepers" || die "sleepers failed: $(cat "$WORK/$name.sleepers.out")"
  kill -TERM "$pid"
  wait "$pid" || die "exporter exited with $? at SIGTERM: $(tail -5 "$WORK/$name.exporter.log")"
}

run_node_exporter() {
  local port pid metrics
  port="$(free_port)"
  "$NODE_EXPORTER" --web.listen-address="127.0.0.1:$port" >"$WORK/node_exporter.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  metrics="http://127.0.0.1:$port/metrics"
  wait_http "$metrics" 30 || die "node_exporter not ready: $(tail -5 "$WORK/node_exporter.log")"
  curl -sf --max-time 30 -o "$WORK/node.body" "$metrics"
  RESULT[node.series]="$(grep -vc '^#' "$WORK/node.body")"
  RESULT[node.bytes]="$(stat -c %s "$WORK/node.body")"
  time_scrapes "$metrics" 5 "$WORK/node.warmup" "${like_prometheus[@]}"
  time_scrapes "$metrics" "$SCRAPES" "$WORK/node.prom" "${like_prometheus[@]}"
  read -r "RESULT[node.p50]" "RESULT[node.p99]" "RESULT[node.gzbytes]" < <(percentiles "$WORK/node.prom")
  time_scrapes "$metrics" "$SCRAPES" "$WORK/node.plain"
  read -r "RESULT[node.plain_p50]" "RESULT[node.plain_p99]" _ < <(percentiles "$WORK/node.plain")
  RESULT[node.rss]="$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")"
  RESULT[node.hwm]="$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")"
  kill -TERM "$pid"
  wait "$pid" || true   # node_exporter exits 143 on SIGTERM
}

# ---------------------------------------------------------------- the run
LOAD_START="$(loadavg)"
echo "scrape_bench: $(date -u +%FT%TZ) kernel $(uname -r), nproc $(nproc), $SCRAPES scrapes each," \
     "$LOOPDEV (ext4 on tmpfs); exporter $(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "load average at start: $LOAD_START"
echo "default config, $SMALL processes:"
run_scenario small "$SMALL" ""
echo "node_exporter ($("$NODE_EXPORTER" --version 2>&1 | head -1 | awk '{print $3}'), default collectors):"
run_node_exporter
if [[ $SKIP_LARGE -eq 0 ]]; then
  echo "max_processes: 10000, $LARGE processes:"
  run_scenario large "$LARGE" "collectors:
  bio:
    max_processes: 10000
    # 10,000 sleepers plus the machine's other processes: more than the
    # default 16,384 entries could hold.
    bio_map_entries: 65536
    process_map_entries: 65536"
fi
LOAD_END="$(loadavg)"

row() {   # label scenario processes
  local s="$2"
  printf '%-34s %9s %8s %9s %8s %8s %10s %10s %8s %8s\n' "$1" "$3" "${RESULT[$s.series]}" \
    "${RESULT[$s.bytes]}" "${RESULT[$s.p50]}" "${RESULT[$s.p99]}" "${RESULT[$s.plain_p50]}" \
    "${RESULT[$s.plain_p99]}" "${RESULT[$s.rss]}" "${RESULT[$s.hwm]}"
}
echo
printf '%-34s %9s %8s %9s %8s %8s %10s %10s %8s %8s\n' "target" "processes" "series" "bytes" \
  "p50 ms" "p99 ms" "plain p50" "plain p99" "RSS MiB" "HWM MiB"
row "diskidle_exporter (default)" small "$SMALL"
[[ $SKIP_LARGE -eq 1 ]] || row "diskidle_exporter (max_proc 10000)" large "$LARGE"
row "node_exporter (default collectors)" node "-"
for s in small large; do
  [[ -n "${RESULT[$s.tracked]:-}" ]] || continue
  echo "  $s: diskidle_tracked_processes ${RESULT[$s.tracked]}, diskidle_process_view_processes" \
       "${RESULT[$s.in_view]}, diskidle_bpf_events_dropped_total ${RESULT[$s.dropped]}," \
       "gzip body ${RESULT[$s.gzbytes]} bytes"
done
echo "load average at start: $LOAD_START; at end: $LOAD_END"

status=0
goal() {   # description value limit
  if python3 -c "import sys; sys.exit(0 if float('$2') < float('$3') else 1)"; then
    echo "PASS  $1: $2 < $3"
  else
    echo "MISS  $1: $2, goal < $3"
    status=1
  fi
}
echo
goal "$SMALL processes, default config: scrape p99 (ms)" "${RESULT[small.p99]}" 25
goal "$SMALL processes, default config: exporter VmRSS (MiB)" "${RESULT[small.rss]}" 48
[[ $SKIP_LARGE -eq 1 ]] ||
  goal "$LARGE processes, max_processes 10000: scrape p99 (ms)" "${RESULT[large.p99]}" 250
exit "$status"

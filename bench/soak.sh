#!/usr/bin/env bash
# Soak benchmark (issue 3, bar 3). Run as root.
#
# 100,000 process lifetimes, each fsync()ing an unchanged file on a fresh ext4
# loop device exactly 3 times (diskidle-iogen "forks" mode, several forkers in
# parallel), while a real Prometheus scrapes the exporter every second. The
# exporter runs with exited_process_ttl: 5s so exited processes' per-process
# series end and their kernel map entries are removed during the run. Every
# few seconds the script samples the exporter's RSS (/proc/<pid>/status VmRSS),
# its series counts (complete view: diskidle_bio_size_bytes_count lines;
# per-process view: diskidle_process_bios_total lines),
# diskidle_tracked_processes, diskidle_bpf_map_entries,
# diskidle_process_view_processes and diskidle_process_view_evictions_total,
# and prints the timeline. At the end it checks the exact accounting: the
# complete view's le="0" flush count of the workers' comm on the loop device
# rose by exactly 3 x children; that every Prometheus scrape succeeded; and
# that the per-process view never held more than max_processes (1000, the
# default) processes; then prints a verdict on RSS/series flatness after
# warm-up.
#
# Usage: bench/soak.sh [--children N] [--parallel P] [--ttl 5s]
#   Binaries come from $BUILD_DIR (default: <source>/build): exporter/diskidle_exporter
#   and tests/diskidle-iogen; override with DISKIDLE_EXPORTER, DISKIDLE_IOGEN.
# Exit status: 0 accounting exact, per-process view bounded and RSS/series
# flat, 1 a check failed, 2 the run could not be done.
set -euo pipefail

CHILDREN=100000
PARALLEL=4
TTL=5s
SAMPLE_S=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --children) CHILDREN="$2"; shift 2 ;;
    --parallel) PARALLEL="$2"; shift 2 ;;
    --ttl) TTL="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
(( CHILDREN % PARALLEL == 0 )) || { echo "--children must be a multiple of --parallel" >&2; exit 2; }

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$SRC_DIR/bench/lib.sh"
BUILD_DIR="${BUILD_DIR:-$SRC_DIR/build}"
EXPORTER="${DISKIDLE_EXPORTER:-$BUILD_DIR/exporter/diskidle_exporter}"
IOGEN="${DISKIDLE_IOGEN:-$BUILD_DIR/tests/diskidle-iogen}"
COMM="soak-fsyncer"   # the workers' comm: a copy of diskidle-iogen under this name

die() { echo "soak: $*" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || die "needs root (BPF, loop devices)"
for b in "$EXPORTER" "$IOGEN"; do
  [[ -x "$b" ]] || die "missing binary $b (build first, or set BUILD_DIR / DISKIDLE_*)"
done
for t in prometheus curl losetup mkfs.ext4 python3; do
  command -v "$t" >/dev/null || die "missing tool $t"
done

# ---------------------------------------------------------------- clean-up
WORK="$(mktemp -d /tmp/diskidle-soak-XXXXXX)"
LOOPDEV=""
MOUNTED=0
PIDS=()   # every background process we started
cleanup() {
  set +e
  for fd in "${GO_FDS[@]:-}"; do [[ -n "$fd" ]] && eval "exec $fd>&-"; done
  for p in "${PIDS[@]:-}"; do
    [[ -n "$p" ]] && kill -TERM "$p" 2>/dev/null
  done
  for p in "${PIDS[@]:-}"; do
    [[ -n "$p" ]] && wait "$p" 2>/dev/null
  done
  if [[ $MOUNTED -eq 1 ]]; then umount "$WORK/mnt" || umount -l "$WORK/mnt"; fi
  [[ -n "$LOOPDEV" ]] && losetup -d "$LOOPDEV"
  rm -rf "$WORK"
}
GO_FDS=()
trap cleanup EXIT
trap 'exit 2' INT TERM

# ---------------------------------------------------------------- fixture
truncate -s 256M "$WORK/disk.img"
LOOPDEV="$(losetup --find --show "$WORK/disk.img")"
DEV="$(basename "$LOOPDEV")"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOPDEV"
mkdir "$WORK/mnt"
mount "$LOOPDEV" "$WORK/mnt"
MOUNTED=1
cp "$IOGEN" "$WORK/$COMM"

# The kernel maps keep an exited process until the TTL has passed, so they
# must hold (process births per second) x (TTL + a scrape) entries: at the
# ~1,000-3,000 lifetimes/s of this compressed soak that is more than the
# defaults (sized for a real node's rate). Drops would show in
# diskidle_bpf_events_dropped_total and fail the accounting check.
cat >"$WORK/exporter.yaml" <<EOF
collectors:
  bio:
    exited_process_ttl: $TTL
    bio_map_entries: 65536
    process_map_entries: 65536
EOF
EXPORTER_PORT="$(free_port)"
"$EXPORTER" --config.file="$WORK/exporter.yaml" --web.listen-address="127.0.0.1:$EXPORTER_PORT" \
  >"$WORK/exporter.log" 2>&1 &
EXPORTER_PID=$!
PIDS+=("$EXPORTER_PID")
METRICS="http://127.0.0.1:$EXPORTER_PORT/metrics"
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$EXPORTER_PORT/healthz" >/dev/null && break
  kill -0 "$EXPORTER_PID" 2>/dev/null || { cat "$WORK/exporter.log" >&2; die "exporter exited"; }
  sleep 0.1
done
curl -sf "$METRICS" >/dev/null || { cat "$WORK/exporter.log" >&2; die "exporter not ready"; }

PROM_PORT="$(free_port)"
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: diskidle
    static_configs:
      - targets: ["127.0.0.1:$EXPORTER_PORT"]
EOF
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=("$!")
PROM="http://127.0.0.1:$PROM_PORT"
for _ in $(seq 200); do
  curl -sf "$PROM/-/ready" >/dev/null && break
  sleep 0.1
done
curl -sf "$PROM/-/ready" >/dev/null || { tail -20 "$WORK/prometheus.log" >&2; die "prometheus not ready"; }

# ---------------------------------------------------------------- sampling
# One scrape of our own -> "flushes complete_series process_series tracked
# bio_entries process_entries drops view_processes evictions". The flushes are
# the complete view's (no pid label: every bio once, whichever process).
MAX_PROCESSES=1000   # collectors.bio.max_processes, the default
scrape_stats() {
  curl -sf --max-time 10 "$METRICS" | awk -v comm="$COMM" -v dev="$DEV" '
    /^diskidle_bio_size_bytes_count/ { series++ }
    /^diskidle_process_bios_total/ { process_series++ }
    /^diskidle_bio_size_bytes_bucket/ && index($0, "comm=\"" comm "\"") && index($0, "device=\"" dev "\"") &&
      index($0, "op=\"flush\"") && index($0, "le=\"0\"") { flushes += $NF }
    /^diskidle_tracked_processes / { tracked = $NF }
    /^diskidle_bpf_map_entries\{.*map="bio_counts"/ { bio = $NF }
    /^diskidle_bpf_map_entries\{.*map="processes"/ { procs = $NF }
    /^diskidle_bpf_events_dropped_total/ { drops += $NF }
    /^diskidle_process_view_processes / { view = $NF }
    /^diskidle_process_view_evictions_total / { evictions = $NF }
    END { printf "%d %d %d %d %d %d %d %d %d\n", flushes, series, process_series, tracked, bio,
          procs, drops, view, evictions }'
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$EXPORTER_PID/status"; }

T0=$(date +%s.%N)
# t children rss_kb complete_series process_series tracked bio_entries process_entries drops
# view_processes evictions
SAMPLES="$WORK/samples.tsv"
: >"$SAMPLES"
sample() {   # <children done>
  local s rss t
  s="$(scrape_stats)" || die "scrape failed; exporter log: $(tail -5 "$WORK/exporter.log")"
  rss="$(rss_kb)" || die "exporter died"
  t="$(python3 -c "import time; print(f'{time.time() - $T0:.1f}')")"
  read -r _ series process_series tracked bio procs drops view evictions <<<"$s"
  echo -e "$t\t$1\t$rss\t$series\t$process_series\t$tracked\t$bio\t$procs\t$drops\t$view\t$evictions" \
    >>"$SAMPLES"
}
flushes_now() { local s; s="$(scrape_stats)" || die "scrape failed"; echo "${s%% *}"; }

# ---------------------------------------------------------------- the run
echo "soak: $(date -u +%FT%TZ) kernel $(uname -r), nproc $(nproc); $CHILDREN processes x 3 fsyncs," \
     "$PARALLEL forkers, exited_process_ttl $TTL, Prometheus scraping every 1s, $LOOPDEV (ext4)"
PER=$((CHILDREN / PARALLEL))
for i in $(seq "$PARALLEL"); do
  mkfifo "$WORK/go$i"
  "$WORK/$COMM" --wait forks "$WORK/mnt/file$i" "$PER" <"$WORK/go$i" >"$WORK/forker$i.out" 2>&1 &
  PIDS+=("$!")
  FORKERS+=("$!")
  exec {fd}>"$WORK/go$i"
  GO_FDS+=("$fd")
done
for i in $(seq "$PARALLEL"); do   # each forker has written and fsynced its file
  for _ in $(seq 100); do grep -q ready "$WORK/forker$i.out" && break; sleep 0.1; done
  grep -q ready "$WORK/forker$i.out" || die "forker $i not ready: $(cat "$WORK/forker$i.out")"
done
sleep 2   # let a scrape or two pass
BASE="$(flushes_now)"
sample 0
for fd in "${GO_FDS[@]}"; do echo >&"$fd"; done
running=1
while [[ $running -eq 1 ]]; do
  sleep "$SAMPLE_S"
  running=0
  for p in "${FORKERS[@]}"; do kill -0 "$p" 2>/dev/null && running=1; done
  now="$(flushes_now)"
  sample $(( (now - BASE) / 3 ))
done
for p in "${FORKERS[@]}"; do
  wait "$p" || die "a forker failed: $(cat "$WORK"/forker*.out)"
done
grep -h '^done' "$WORK"/forker*.out | awk -v want="$PER" '$2 != want {exit 1}' ||
  die "a forker did not run all its children"
RUN_END=$(date +%s.%N)
# After the last exit: TTL + a few scrapes, so every exited process has expired.
ttl_s="$(python3 -c "import re; m=re.fullmatch(r'(\d+)(ms|s|m)', '$TTL'); print(int(m[1]) * {'ms': 0.001, 's': 1, 'm': 60}[m[2]])")"
end=$(python3 -c "import math; print(math.ceil($ttl_s) + 6)")
waited=0
while [[ $waited -lt $end ]]; do
  sleep "$SAMPLE_S"; waited=$((waited + SAMPLE_S))
  now="$(flushes_now)"
  sample $(( (now - BASE) / 3 ))
done
FINAL="$(flushes_now)"

# Prometheus' view of the whole run: every scrape must have been a success.
range=$(python3 -c "import time; print(int(time.time() - $T0) + 5)")
q() {
  curl -sf --data-urlencode "query=$1" "$PROM/api/v1/query" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "none")'
}
SCRAPES="$(q "count_over_time(up{job=\"diskidle\"}[${range}s])")"
FAILED="$(q "count_over_time((up{job=\"diskidle\"} == 0)[${range}s:1s])")"
MAXDUR="$(q "max_over_time(scrape_duration_seconds{job=\"diskidle\"}[${range}s])")"
MAXSAMPLES="$(q "max_over_time(scrape_samples_scraped{job=\"diskidle\"}[${range}s])")"

python3 - "$SAMPLES" "$CHILDREN" "$BASE" "$FINAL" "$SCRAPES" "$FAILED" "$MAXDUR" "$MAXSAMPLES" \
  "$(python3 -c "print(f'{$RUN_END - $T0:.1f}')")" "$MAX_PROCESSES" <<'EOF'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
rows = [[float(r[0])] + [int(x) for x in r[1:]] for r in rows]
children, base, final = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
scrapes, failed, maxdur, maxsamples, run_s = sys.argv[5:10]
max_processes = int(sys.argv[10])
# Columns of a row.
T, DONE, RSS, SERIES, PSERIES, TRACKED, BIO, PROCS, DROPS, VIEW, EVICTIONS = range(11)
print()
print("| t (s) | children done | RSS (MiB) | complete series | per-process series | tracked processes "
      "| bio_counts entries | processes entries | drops | processes in view | evictions |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
# Start, ~every 10% of the run, the end of the workload, and the end after the TTL.
picks = {0, len(rows) - 1}
for i in range(1, 10):
    target = children * i / 10
    picks.add(min(range(len(rows)), key=lambda j: abs(rows[j][1] - target)))
picks.add(max(j for j, r in enumerate(rows) if r[0] <= float(run_s) + 2.5))
for j in sorted(picks):
    t, done, rss, series, pseries, tracked, bio, procs, drops, view, evictions = rows[j]
    print(f"| {t:.0f} | {min(max(done, 0), children)} | {rss / 1024:.1f} | {series} | {pseries} "
          f"| {tracked} | {bio} | {procs} | {drops} | {view} | {evictions} |")
print()
ok = True
got = final - base
exact = got == 3 * children
ok &= exact
print(f"accounting: le=\"0\" flushes of the workers rose by {got}, expected 3 x {children} = {3 * children}: "
      f"{'EXACT' if exact else 'MISMATCH'}; events dropped in the kernel: {rows[-1][DROPS]}")
print(f"prometheus: {scrapes} scrapes at 1s, failed {failed if failed != 'none' else 0}, "
      f"longest {float(maxdur) * 1000:.0f} ms, at most {maxsamples} samples per scrape")
ok &= failed in ("none", "0")
# Warm-up: the first quarter of the workload; after it RSS and series should stay flat.
# Series are both views together (complete + per-process).
warm = next(j for j, r in enumerate(rows) if r[DONE] >= children / 4)
during = [r for r in rows[warm:] if r[T] <= float(run_s) + 2.5]
def all_series(r):
    return r[SERIES] + r[PSERIES]
rss_w, ser_w = rows[warm][RSS], all_series(rows[warm])
rss_max, ser_max = max(r[RSS] for r in during), max(all_series(r) for r in during)
rss_end, ser_end = rows[-1][RSS], all_series(rows[-1])
rss_flat = rss_max <= rss_w * 1.10 + 2048 and rss_end <= rss_w * 1.10 + 2048
peak = max(range(len(rows)), key=lambda j: rows[j][TRACKED])
ser_flat = ser_max <= ser_w * 1.5 + 20 and ser_end <= ser_w * 1.5 + 20
view_max = max(r[VIEW] for r in rows)
view_ok = view_max <= max_processes
print(f"RSS after warm-up ({rows[warm][DONE]} children): {rss_w / 1024:.1f} MiB, max later {rss_max / 1024:.1f} MiB, "
      f"end {rss_end / 1024:.1f} MiB: {'flat' if rss_flat else 'GROWING'} (flat = within 10% + 2 MiB); "
      f"peak of tracked processes seen: {rows[peak][TRACKED]} at {rows[peak][DONE]} children")
print(f"series (complete + per-process) after warm-up: {ser_w}, max later {ser_max}, end {ser_end}: "
      f"{'flat' if ser_flat else 'GROWING'}; complete view alone at most {max(r[SERIES] for r in rows)}")
print(f"per-process view: at most {view_max} processes (max_processes {max_processes}): "
      f"{'bounded' if view_ok else 'OVER THE LIMIT'}; evictions {rows[-1][EVICTIONS]}")
print(f"kernel map entries at the end: bio_counts {rows[-1][BIO]}, processes {rows[-1][PROCS]} "
      f"(start {rows[0][BIO]}, {rows[0][PROCS]}); tracked processes {rows[-1][TRACKED]} (start {rows[0][TRACKED]})")
ok &= rss_flat and ser_flat and view_ok
print(f"verdict: {'PASS' if ok else 'FAIL'} ({children} lifetimes in {float(run_s):.0f} s)")
sys.exit(0 if ok else 1)
EOF

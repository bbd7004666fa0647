#!/usr/bin/env bash
# Syscall collector overhead (issue 11, collectors.syscalls). Run as root.
#
# On the tracepoint path (the only one on kernels that refuse fentry), while
# the collector is attached every syscall of every process takes the kernel's
# traced path (a syscalls:sys_enter_*/sys_exit_* tracepoint is on), and each
# traced call also runs our two programs; on the fentry/fexit path only the
# traced calls pay. The path measured is printed (the exporter's attach line). This measures both, in the
# same run, with the arms interleaved round by round:
#   unrelated  ns per getppid() (not traced: pays only the traced path)
#   traced     ns per zero-byte write() to a tmpfs file (traced: pays the
#              traced path, both programs and the map update)
# "off": no exporter running; "on": diskidle_exporter with only
# collectors.syscalls enabled (bio and diskstats off, so nothing else of ours
# is attached). Per arm: median and min..max over the rounds; the added cost
# is the difference of the medians, and min..max of the per-round differences.
# The load average is printed before and after (a busy host moves everything:
# compare the arms of one run, not runs).
#
# Usage: bench/syscall_overhead.sh [--rounds N] [--calls N] [--attach auto|fentry|tracepoint]
#   Binaries come from $BUILD_DIR (default: <source>/build); override with
#   DISKIDLE_EXPORTER, DISKIDLE_IOGEN.
# Exit status: 0 measured, 2 when a measurement could not be taken.
set -euo pipefail

ROUNDS=7
CALLS=2000000
ATTACH=auto  # collectors.syscalls.attach
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --calls) CALLS="$2"; shift 2 ;;
    --attach) ATTACH="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$SRC_DIR/build}"
EXPORTER="${DISKIDLE_EXPORTER:-$BUILD_DIR/exporter/diskidle_exporter}"
IOGEN="${DISKIDLE_IOGEN:-$BUILD_DIR/tests/diskidle-iogen}"

die() { echo "syscall_overhead: $*" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || die "needs root (BPF)"
for b in "$EXPORTER" "$IOGEN"; do
  [[ -x "$b" ]] || die "missing binary $b (build first, or set BUILD_DIR / DISKIDLE_*)"
done

WORK="$(mktemp -d /dev/shm/diskidle-syscall-bench-XXXXXX)"  # tmpfs: writes touch no disk
EXPORTER_PID=""
stop_exporter() {
  if [[ -n "$EXPORTER_PID" ]] && kill -0 "$EXPORTER_PID" 2>/dev/null; then
    kill -TERM "$EXPORTER_PID"
    wait "$EXPORTER_PID" 2>/dev/null || true
  fi
  EXPORTER_PID=""
}
cleanup() {
  set +e
  stop_exporter
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

cat > "$WORK/config.yaml" <<YAML
web:
  listen_address: "127.0.0.1:0"
collectors:
  bio:
    enabled: false
  diskstats:
    enabled: false
  syscalls:
    enabled: true
    attach: $ATTACH
YAML

start_exporter() {
  "$EXPORTER" --config.file="$WORK/config.yaml" > "$WORK/exporter.log" 2>&1 &
  EXPORTER_PID=$!
  for _ in $(seq 200); do
    if grep -q "syscall collector attached" "$WORK/exporter.log"; then
      [[ -n "${PATH_SHOWN:-}" ]] || grep -o "syscall collector attached: .*" "$WORK/exporter.log" | sed 's/"$//' >&2
      PATH_SHOWN=1
      return 0
    fi
    kill -0 "$EXPORTER_PID" 2>/dev/null || die "exporter exited: $(cat "$WORK/exporter.log")"
    sleep 0.05
  done
  die "the syscall collector did not attach: $(cat "$WORK/exporter.log")"
}

measure() {  # measure <mode> -> ns per call
  local out
  out="$("$IOGEN" "$1" "$WORK/file" "$CALLS")" || die "iogen $1 failed"
  awk '/^ns_per_call/ { print $2 }' <<<"$out"
}

echo "syscall_overhead: $(uname -r), nproc $(nproc), $ROUNDS rounds x $CALLS calls per arm"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$WORK/results"
for round in $(seq "$ROUNDS"); do
  # Alternate which arm goes first, so a drift in the host's load hits both.
  if (( round % 2 )); then order="off on"; else order="on off"; fi
  for arm in $order; do
    [[ $arm == on ]] && start_exporter
    echo "$round $arm unrelated $(measure time-getppid)" >> "$WORK/results"
    echo "$round $arm traced $(measure time-write0)" >> "$WORK/results"
    [[ $arm == on ]] && stop_exporter
  done
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
ns = {}
for round_, arm, kind, value in rows:
    ns.setdefault((kind, arm), {})[int(round_)] = float(value)
print()
print("| call | off: ns/call median (min..max) | on: ns/call median (min..max) | added ns median (per-round min..max) |")
print("|---|---|---|---|")
for kind, label in (("unrelated", "getppid() (not traced)"), ("traced", "zero-byte write() (traced)")):
    off, on = ns[(kind, "off")], ns[(kind, "on")]
    fmt = lambda d: f"{statistics.median(d.values()):.0f} ({min(d.values()):.0f}..{max(d.values()):.0f})"
    diffs = [on[r] - off[r] for r in off]
    added = statistics.median(on.values()) - statistics.median(off.values())
    print(f"| {label} | {fmt(off)} | {fmt(on)} | {added:+.0f} ({min(diffs):+.0f}..{max(diffs):+.0f}) |")
PY

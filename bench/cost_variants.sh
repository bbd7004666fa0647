#!/usr/bin/env bash
# Where the bio program's time goes (issue 13): cut-down copies of its cache-hit
# path (bench/cost_variants.bpf.c), all attached to tp_btf/block_bio_queue at
# the same time, so they run for the very same bios, under fio 4 KiB O_DIRECT
# random reads (libaio, iodepth 16) on a /dev/shm-backed loop device. ns per
# bio of each from the kernel's per-program statistics
# (kernel.bpf_stats_enabled=1); the attach order rotates from round to round
# (the program attached first pays more). Run as root.
#   v_empty          nothing (the floor)
#   v_task           bpf_get_current_task_btf()->pid only
#   v_bio            the bio's fields only
#   v_count          one add to a counter in the program's global data: the
#                    least any program that counts something does
#   v_count_percpu   one add to a per-CPU array slot (the cache's kind of map)
#   v_count_kmalloc  one add to a small plain array (kmalloc'ed, not vmalloc'ed)
#   v_page_a/b/c     one add each to a line of their own: a and b in one 4 KiB
#                    page of global data, c in another (what a new line of a
#                    touched page costs, and what a new page costs)
#   v_key            per-CPU cached key: task, bio, slot, compares, two adds
#   v_task_pt_regs   v_key + bpf_task_pt_regs(task)->orig_ax per bio
#   v_probe_read     v_key + orig_ax at the cached address, bpf_probe_read_kernel()
#   v_rdonly_cast    v_key + orig_ax at the cached address, bpf_rdonly_cast()
#   v_stack          v_rdonly_cast with the thread told by its kernel stack and a
#                    fork generation instead of bpf_get_current_task_btf() (what
#                    the exporter does)
#   v_stack_bss      v_stack with its slots in global data by CPU number
#   v_lookup         v_stack's slot lookup and two adds, no compare
#   v_match          + the stack range, device, op and bucket compares
#   v_births         + the task-creation counter (v_stack minus the syscall)
#
# Usage: bench/cost_variants.sh [--rounds N (4)] [--secs S (3)] [--programs "v_empty v_stack ..."]
#   --programs: which of them to attach (default: all but v_lookup, v_match, v_births,
#   v_stack_bss, v_count_kmalloc and v_page_*; v_empty
#   always first in the list, as the ratios' reference)
#   Binaries come from $BUILD_DIR (default: <source>/build).
# Exit status: 0 measured, 2 when a measurement could not be taken.
set -euo pipefail

ROUNDS=4
SECS=3
PROGRAMS=(v_empty v_task v_bio v_count v_count_percpu v_key v_task_pt_regs v_probe_read v_rdonly_cast v_stack)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --programs) read -r -a PROGRAMS <<<"$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$SRC_DIR/build}"
VARIANTS_BIN="$BUILD_DIR/bench/diskidle-bench-variants"

die() { echo "cost_variants: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "needs root (BPF, loop devices)"
[[ -x "$VARIANTS_BIN" ]] || die "missing $VARIANTS_BIN (build first)"
for t in bpftool fio losetup python3; do command -v "$t" >/dev/null || die "missing tool $t"; done

SHM="$(mktemp -d /dev/shm/diskidle-variants-XXXXXX)"
LOOP=""
HOLDER=""
OLD_STATS="$(cat /proc/sys/kernel/bpf_stats_enabled)"
# shellcheck source=bench/lib.sh
source "$SRC_DIR/bench/lib.sh"
stop_holder() {
  close_hold_fifo
  if [[ -n "$HOLDER" ]]; then kill -TERM "$HOLDER" 2>/dev/null || true; wait "$HOLDER" 2>/dev/null || true; fi
  HOLDER=""
}
cleanup() {
  set +e
  stop_holder
  [[ -n "$LOOP" ]] && losetup -d "$LOOP"
  sysctl -q -w kernel.bpf_stats_enabled="$OLD_STATS" >/dev/null
  rm -rf "$SHM"
}
trap cleanup EXIT
trap 'exit 2' INT TERM
refuse_other_bio_programs

truncate -s 256M "$SHM/read.img"
LOOP="$(losetup --find --show "$SHM/read.img")"
fio --name=prep --filename="$LOOP" --size=256M --rw=write --bs=1M --direct=1 --output=/dev/null ||
  die "fio prepare failed"
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
reads() {
  fio --name=rr --filename="$LOOP" --readonly --rw=randread --bs=4k --direct=1 --ioengine=libaio \
      --iodepth=16 --time_based --runtime="$1" --output=/dev/null || die "fio failed"
}
stats() {  # "<id> <run_time_ns> <run_cnt>" per attached program
  local id
  for id in $(awk '{print $2}' "$SHM/ids"); do
    bpftool prog show id "$id" --json |
      python3 -c 'import json, sys; p = json.load(sys.stdin); print(p["id"], p.get("run_time_ns", 0), p.get("run_cnt", 0))'
  done
}

echo "cost_variants: $(date -u +%FT%TZ) kernel $(uname -r), nproc $(nproc), $ROUNDS rounds x ${SECS} s of 4 KiB random reads on $LOOP (/dev/shm), load average $(cut -d' ' -f1-3 /proc/loadavg)"
RESULTS="$SHM/results.tsv"  # round name ns_per_bio
: >"$RESULTS"
n=${#PROGRAMS[@]}
for r in $(seq "$ROUNDS"); do
  k=$(( (r - 1) % n ))
  order=("${PROGRAMS[@]:k}" "${PROGRAMS[@]:0:k}")
  open_hold_fifo "$SHM/hold"
  "$VARIANTS_BIN" "${order[@]}" <"$SHM/hold" 9>&- >"$SHM/ids" 2>"$SHM/err" &
  HOLDER=$!
  for _ in $(seq 100); do [[ $(wc -l <"$SHM/ids") -eq $n ]] && break; kill -0 "$HOLDER" 2>/dev/null || break; sleep 0.1; done
  [[ $(wc -l <"$SHM/ids") -eq $n ]] || { cat "$SHM/err" >&2; die "variants not attached"; }
  reads 1 # warm-up: slots filled
  stats >"$SHM/before"
  reads "$SECS"
  stats >"$SHM/after"
  stop_holder
  python3 - "$SHM/ids" "$SHM/before" "$SHM/after" "$r" >>"$RESULTS" <<'PY'
import sys
names = {int(l.split()[1]): l.split()[0] for l in open(sys.argv[1])}
def load(p):
    return {int(a): (int(b), int(c)) for a, b, c in (l.split() for l in open(p))}
b, a = load(sys.argv[2]), load(sys.argv[3])
for pid, name in names.items():
    dt, dc = a[pid][0] - b[pid][0], a[pid][1] - b[pid][1]
    if dc <= 0:
        sys.exit(f"{name}: no runs (bpf_stats off?)")
    print(f"{sys.argv[4]}\t{name}\t{dt / dc:.1f}")
PY
  awk -v r="$r" -F'\t' '$1 == r {printf "%s%s=%s", (n++ ? " " : "  round " r " (first: "), $2, $3} END {print ""}' "$RESULTS" |
    sed "s/(first: /(first: ${order[0]}) /"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
rounds = sorted({r[0] for r in rows}, key=int)
ns = {(r[0], r[1]): float(r[2]) for r in rows}
names = list(dict.fromkeys(r[1] for r in rows))
print()
print("| program | ns/bio (median, min..max) | vs. v_empty in the same round (median, min..max) |")
print("|---|---:|---:|")
for name in names:
    v = [ns[(rd, name)] for rd in rounds]
    q = [ns[(rd, name)] / ns[(rd, "v_empty")] for rd in rounds]
    print(f"| {name} | {statistics.median(v):.0f} ({min(v):.0f}..{max(v):.0f}) "
          f"| {statistics.median(q):.2f}x ({min(q):.2f}..{max(q):.2f}) |")
PY

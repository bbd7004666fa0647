# shellcheck shell=bash
# Shell helpers the bench scripts share. Source it; it defines functions only.

# stop_pid PID: SIGTERM, up to 5 s for the process to exit, then SIGKILL; reaps
# it. An empty PID or a process already gone is fine.
stop_pid() {
  local pid="$1"
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true  # it may exit between the check and the kill
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# open_hold_fifo PATH: a fresh FIFO at PATH, held open read-write on fd 9 of
# this shell (a write-only open of a FIFO blocks until its reader opens it).
# Start the process it holds with <PATH 9>&-: it then reads EOF when
# close_hold_fifo closes fd 9.
open_hold_fifo() {
  rm -f "$1"; mkfifo "$1"
  exec 9<>"$1"
}

# close_hold_fifo: closes fd 9 if open. The braces keep the 2>/dev/null from
# applying to the whole script, as it would on a bare `exec`.
close_hold_fifo() {
  { exec 9>&-; } 2>/dev/null || true
}

# prog_ids_of PID: ids of the BPF programs PID holds open, one per line.
prog_ids_of() {
  local pid="$1" f
  for f in /proc/"$pid"/fdinfo/*; do
    awk '/^prog_id:/ {print $2}' "$f" 2>/dev/null
  done | sort -un
}

# find_prog PID REGEX: the id of PID's program whose name matches, waiting up
# to 10 s for it to appear; fails if PID exits first or none matches.
find_prog() {
  local pid="$1" regex="$2" id name
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 1
    for id in $(prog_ids_of "$pid"); do
      name="$(bpftool prog show id "$id" --json 2>/dev/null |
              python3 -c 'import json, sys; print(json.load(sys.stdin).get("name", ""))')" || name=""
      if [[ "$name" =~ $regex ]]; then echo "$id"; return 0; fi
    done
    sleep 0.1
  done
  return 1
}

# prog_stats ID: "run_time_ns run_cnt" of a program (kernel.bpf_stats_enabled).
prog_stats() {
  bpftool prog show id "$1" --json |
    python3 -c 'import json, sys; p = json.load(sys.stdin); print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bio_queue_programs: "id name" of every loaded BPF program whose name says it
# runs on block_bio_queue, one per line. A bench started beside one measures
# it too: the first program on a tracepoint pays for what the ones after it
# find done (docs/benchmarks.md).
bio_queue_programs() {
  bpftool -j prog show |
    python3 -c 'import json, sys; [print(p["id"], p["name"]) for p in json.load(sys.stdin) if "bio_queue" in p.get("name", "")]'
}

# refuse_other_bio_programs: stops the bench (its die) when any is loaded.
refuse_other_bio_programs() {
  local others
  others="$(bio_queue_programs | tr '\n' ' ')"
  [[ -z "$others" ]] ||
    die "BPF programs on block_bio_queue are loaded already (id name: ${others% }), and every number would include what they cost; stop what holds them (bpftool prog show names its pids) and run again"
}

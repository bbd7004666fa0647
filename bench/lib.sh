# Shell helpers the bench scripts share. Source it; it defines functions only.

# stop_pid PID: SIGTERM, up to 5 s for the process to exit, then SIGKILL; reaps
# it. An empty PID or a process already gone is fine.
stop_pid() {
  local pid="$1"
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

#!/usr/bin/env bash
# Regenerates docs/img/landing_page.png: the page at / in headless chromium
# while a process fsync()s an unchanged file on a scratch ext4 loop device (the
# README's walkthrough) and another writes and fdatasync()s. A one-off for the
# docs, not a test (tests/privileged/test_landing_page.py is the test). As root:
#   DISKIDLE_BUILD_DIR=build scripts/screenshot-landing-page.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exporter="${DISKIDLE_BUILD_DIR:-build}/exporter/diskidle_exporter"
out="${1:-docs/img/landing_page.png}"
work=$(mktemp -d)
port=19436
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  umount "$work/mnt" 2>/dev/null || true
  [ -n "${loop:-}" ] && losetup -d "$loop"
  rm -rf "$work"
}
trap cleanup EXIT
truncate -s 512M "$work/disk.img"
loop=$(losetup -f --show "$work/disk.img")
mkfs.ext4 -q "$loop"
mkdir "$work/mnt" && mount "$loop" "$work/mnt"
"$exporter" --web.listen-address=127.0.0.1:$port >"$work/exporter.log" 2>&1 &
pids+=($!)
python3 -c 'import os, time; open("/proc/self/comm", "w").write("fsync-storm")
fd = os.open("'"$work"'/mnt/state.json", os.O_WRONLY | os.O_CREAT); os.write(fd, b"x" * 4096)
while True: os.fsync(fd); time.sleep(0.001)' &
pids+=($!)
python3 -c 'import os, time; open("/proc/self/comm", "w").write("wal-writer")
fd = os.open("'"$work"'/mnt/wal", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
while True: os.write(fd, b"y" * 16384); os.fdatasync(fd); time.sleep(0.01)' &
pids+=($!)
sleep 12  # a full 10 s window
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1420 \
  --virtual-time-budget=3000 --screenshot="$out" "http://127.0.0.1:$port/" 2>/dev/null
echo "wrote $out"

#!/usr/bin/env bash
# The README's test command (and CI's): installs every dependency, builds, and
# runs every test: unit, offline (rules, dashboards, manifests), privileged
# (real BPF on loop devices), end-to-end (Prometheus + Alertmanager), fuzzers
# and the container test. Run as root on a BPF-capable machine.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
build="${DISKIDLE_BUILD_DIR:-$top/build}"

if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: run as root: the privileged tests load BPF programs and create loop devices" >&2
  exit 1
fi
"$top/scripts/install-deps.sh" test
(cd "$top/tests/offline" && npm ci --no-audit --no-fund --loglevel=error)
"$top/scripts/build.sh"

# The BPF tests (here and on the other kernels under qemu) must really run: no
# silent skips.
for label in privileged kernel; do
  registered=$(cd "$build" && ctest -N -L "$label" | sed -n 's/^Total Tests: //p')
  if [ "${registered:-0}" -eq 0 ]; then
    echo "test.sh: no $label tests registered" >&2
    exit 1
  fi
done
cd "$build"
ctest --output-on-failure --timeout 1200 "$@"

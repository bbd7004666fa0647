#!/usr/bin/env bash
# The README's run command: installs build dependencies, builds, and runs the
# exporter with its built-in defaults (:9436). Extra arguments go to the exporter.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
"$top/scripts/install-deps.sh" build
"$top/scripts/build.sh"
exec "${DISKIDLE_BUILD_DIR:-$top/build}/exporter/diskidle_exporter" "$@"

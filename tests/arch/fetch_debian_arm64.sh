#!/usr/bin/env bash
# Fetches what the arm64 checks compare against, from Debian's arm64 archive,
# into a cache that later runs reuse (no network once it is filled):
#   <cache>/include/      linux-libc-dev:arm64's /usr/include (asm/unistd.h ->
#                         asm-generic/unistd.h: the syscall numbers)
#   <cache>/vmlinux.btf   the BTF of Debian's arm64 kernel (linux-image-arm64),
#                         cut out of its boot image (tests/arch/extract_btf.py)
#   <cache>/versions      which packages (and versions) those came from
# Nothing is installed and the system's apt sources, state and dpkg
# architectures are left alone: apt runs with a private configuration under
# <cache>/apt (tests/arch/apt_arm64.sh), `apt-get download` fetches the .debs
# and `dpkg-deb -x` unpacks them.
#
#   tests/arch/fetch_debian_arm64.sh [CACHE]   (default /var/cache/diskidle-test-arm64)
# Prints the cache directory. DISKIDLE_ARM64_REFRESH=1 fetches again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${DISKIDLE_ARM64_CACHE:-/var/cache/diskidle-test-arm64}}
die() { echo "fetch_debian_arm64: $*" >&2; exit 1; }
for tool in apt-get apt-cache dpkg-deb flock python3; do
  command -v $tool >/dev/null || die "missing $tool"
done

mkdir -p "$cache"
# Several test runs (ctest -j, other checkouts) may fetch at once: one at a time.
exec 9>"$cache/.lock"
flock 9
if [ -f "$cache/versions" ] && [ "${DISKIDLE_ARM64_REFRESH:-0}" != 1 ]; then
  echo "$cache"
  exit 0
fi
rm -rf "$cache/include" "$cache/vmlinux.btf" "$cache/versions" "$cache/apt"

apt=$cache/apt
. "$here/apt_arm64.sh"
arm64_apt_init "$apt" || die "no package lists: needs deb.debian.org, or a filled cache"
mkdir -p "$apt/debs"
opts=("${arm64_apt[@]}")
# The kernel package the metapackage points at (bookworm: 6.1.0-N-arm64).
image=$(apt-cache "${opts[@]}" depends linux-image-arm64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
[ -n "$image" ] || die "linux-image-arm64 names no kernel package"
(cd "$apt/debs" && apt-get "${opts[@]}" download linux-libc-dev "$image" >"$apt/download.log" 2>&1) ||
  die "apt-get download linux-libc-dev:arm64 $image failed: $(tail -3 "$apt/download.log")"

unpacked=$apt/unpacked
rm -rf "$unpacked"; mkdir -p "$unpacked"
dpkg-deb -x "$apt"/debs/linux-libc-dev_*_arm64.deb "$unpacked/libc"
[ -f "$unpacked/libc/usr/include/aarch64-linux-gnu/asm/unistd.h" ] || die "linux-libc-dev:arm64 has no asm/unistd.h"
mv "$unpacked/libc/usr/include" "$cache/include"
# Only the boot image is needed from the ~60 MB kernel package.
dpkg-deb --fsys-tarfile "$apt"/debs/"$image"_*_arm64.deb | tar -x -C "$unpacked" --wildcards './boot/vmlinuz-*'
python3 "$here/extract_btf.py" "$unpacked"/boot/vmlinuz-* "$cache/vmlinux.btf"
for deb in "$apt"/debs/*.deb; do
  dpkg-deb --showformat='${Package}:${Architecture} ${Version}\n' -W "$deb"
done > "$cache/versions.tmp"
rm -rf "$apt"  # the package lists and .debs (~90 MB) are not needed again
mv "$cache/versions.tmp" "$cache/versions"  # last: a complete cache
echo "$cache"

# Sourced, not run: a private apt configuration for Debian 12's arm64 archive.
#   arm64_apt_init DIR   sets up DIR (sources list, state, cache), runs
#                        `apt-get update` there and fills the array arm64_apt
#                        with the options for apt-get and apt-cache.
# Nothing of the system's apt configuration is read or changed: its own
# sources list (bookworm and bookworm-security, arm64 only), package lists,
# status file (empty: nothing counts as installed) and archive cache, and
# APT::Architecture=arm64, so dpkg's architecture list is never consulted.
arm64_apt_init() {
  local dir=$1 keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -r $keyring ] || { echo "missing $keyring (apt-get install debian-archive-keyring)" >&2; return 1; }
  mkdir -p "$dir"/{lists/partial,archives/partial,parts,preferences.d}
  cat > "$dir/sources.list" <<SOURCES
deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian bookworm main
deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
SOURCES
  : > "$dir/status"
  arm64_apt=(-q -o APT::Architecture=arm64 -o APT::Architectures=arm64
    -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts="$dir/parts"
    -o Dir::Etc::Preferences="$dir/preferences" -o Dir::Etc::PreferencesParts="$dir/preferences.d"
    -o Dir::State="$dir" -o Dir::State::Lists="$dir/lists" -o Dir::State::status="$dir/status"
    -o Dir::Cache="$dir" -o Dir::Cache::Archives="$dir/archives"
    -o APT::Sandbox::User=root -o Debug::NoLocking=1)
  # --error-on=any: an unreachable mirror fails here, not later as "no packages".
  apt-get "${arm64_apt[@]}" --error-on=any update > "$dir/update.log" 2>&1 || {
    echo "apt-get update (arm64, private config) failed: needs deb.debian.org. $(tail -3 "$dir/update.log")" >&2
    return 1
  }
}

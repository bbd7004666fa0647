#!/bin/bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each over its
# committed seed corpus for a bounded time. Fails on any crash, leak, UB or timeout.
#
#   tests/fuzz/run_fuzzers.sh [diskstats|config|proc_stat|web_config|yaml_fields ...]   (default: all)
#   DISKIDLE_FUZZ_SECONDS=30   run time per target
#   DISKIDLE_FUZZ_ARTIFACT_DIR where crashing inputs are kept (default /tmp/diskidle-fuzz-artifacts)
#
# A crashing input is printed (base64) and kept; add it to tests/fuzz/corpus/<target>/
# and a unit test for it once fixed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
seconds="${DISKIDLE_FUZZ_SECONDS:-30}"
artifacts="${DISKIDLE_FUZZ_ARTIFACT_DIR:-/tmp/diskidle-fuzz-artifacts}"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(diskstats config proc_stat web_config yaml_fields http_request label_text symbolize)

cxx=""
for candidate in clang++ clang++-14; do
  if command -v "$candidate" >/dev/null; then cxx="$candidate"; break; fi
done
if [ -z "$cxx" ]; then
  echo "run_fuzzers: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi

work="$(mktemp -d /tmp/diskidle-fuzz-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"

flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$src/exporter")
absl_libs="$(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format absl_time)"

sources_for() {
  case "$1" in
    diskstats) echo "$src/exporter/procfs/diskstats.cc $src/exporter/model/label_text.cc" ;;
    label_text) echo "$src/exporter/model/label_text.cc" ;;
    config) echo "$src/exporter/config/config.cc $src/exporter/config/yaml_fields.cc" \
                 "$src/exporter/config/listen_address.cc $src/exporter/model/attach_mode.cc" \
                 "$src/exporter/util/read_file.cc" ;;
    proc_stat) echo "$src/exporter/procfs/proc_stat.cc" ;;
    http_request) echo "$src/exporter/http/request.cc" ;;
    symbolize) echo "$src/exporter/symbolize/elf_symbols.cc $src/exporter/symbolize/kallsyms.cc" \
                    "$src/exporter/symbolize/proc_maps.cc $src/exporter/symbolize/perf_map.cc" ;;
    web_config) echo "$src/exporter/config/web_config.cc $src/exporter/config/yaml_fields.cc" \
                     "$src/exporter/config/listen_address.cc $src/exporter/util/read_file.cc" ;;
    yaml_fields) echo "$src/exporter/config/yaml_fields.cc $src/exporter/config/listen_address.cc" \
                      "$src/exporter/config/web_config.cc $src/exporter/util/read_file.cc" ;;
    *) echo "run_fuzzers: unknown target $1" >&2; return 1 ;;
  esac
}

# config/web_config.cc checks bcrypt hashes with libcrypt.
extra_libs_for() {
  case "$1" in
    web_config | yaml_fields) echo "-lcrypt" ;;
  esac
}

status=0
for target in "${targets[@]}"; do
  binary="$work/${target}_fuzz"
  echo "== building $target fuzzer"
  # shellcheck disable=SC2046
  "$cxx" "${flags[@]}" "$here/${target}_fuzz.cc" $(sources_for "$target") \
    -lyaml-cpp $absl_libs $(extra_libs_for "$target") -o "$binary"

  # New inputs go to a scratch corpus; the committed seeds are read-only input.
  mkdir -p "$work/corpus_$target"
  echo "== running $target fuzzer for ${seconds}s"
  if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
       -print_final_stats=1 -artifact_prefix="$artifacts/${target}-" \
       "$work/corpus_$target" "$here/corpus/$target" >"$work/$target.log" 2>&1; then
    tail -n 60 "$work/$target.log"
    for crash in "$artifacts/${target}-"*; do
      [ -f "$crash" ] || continue
      echo "== crashing input $crash (base64):"
      base64 "$crash"
    done
    echo "FAIL: $target fuzzer"
    status=1
  else
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|Done [0-9]+ runs" \
      "$work/$target.log" || true
    echo "PASS: $target fuzzer"
  fi
done
exit $status

#!/usr/bin/env python3
"""Checks the exporter's syscall table of one architecture against the syscall
numbers in that architecture's kernel headers.

  check_syscall_numbers.py --arch x86_64|arm64 --table-tool PATH --include DIR...
                           --source-dir DIR [--clang CLANG]

The `syscall` label comes from a table of numbers
(ClassifySyscallX86_64 / ClassifySyscallArm64 in exporter/model/syscall_class.cc),
because the BPF programs record only the number. A wrong number there labels
another syscall's bios silently, and the arm64 table is never exercised on our
x86_64 machines. So the numbers are taken from the headers (`__NR_<name>`,
preprocessed by clang for the target architecture with only the given include
directories: Debian's linux-libc-dev of that architecture) and:
  - every syscall name below must be defined there and map to its label;
  - the table must map no other number (a stray or stale entry fails);
  - every syscall bpf/syscall_stats.bpf.c traces (TRACE_SYSCALL) must be one of
    the names below, so a newly traced syscall cannot miss its table entry;
  - the per-architecture numbers the privileged tests hard-code
    (`NR_X = {"x86_64": N, "aarch64": M}`) must be the headers' numbers too.
"""
import argparse
import pathlib
import re
import subprocess
import sys
import tempfile

# The label of each syscall the exporter names (docs/metrics.md, `syscall`).
# Every other number is "other".
EXPECTED = {
    "read": "read", "pread64": "read", "readv": "read", "preadv": "read", "preadv2": "read",
    "write": "write",
    "pwrite64": "pwrite",
    "writev": "writev",
    "pwritev": "pwritev", "pwritev2": "pwritev",
    "fsync": "fsync",
    "fdatasync": "fdatasync",
    "sync_file_range": "sync_file_range",
    "sync": "sync",
    "syncfs": "syncfs",
    "msync": "msync",
    "io_uring_enter": "io_uring",
    "io_submit": "aio",
}

CLANG_TARGET = {"x86_64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
PYTHON_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}  # platform.machine()


def header_numbers(clang, arch, include_dirs, names):
    """__NR_<name> for each name, as the preprocessor for `arch` expands it;
    None where the headers do not define it."""
    lines = ["#include <asm/unistd.h>"]
    lines += [f"DISKIDLE_NR {name} __NR_{name}" for name in names]
    with tempfile.NamedTemporaryFile("w", suffix=".c") as source:
        source.write("\n".join(lines) + "\n")
        source.flush()
        cmd = [clang, "-E", "-P", "-nostdinc", "-target", CLANG_TARGET[arch]]
        for d in include_dirs:
            cmd += ["-I", d]
        out = subprocess.run(cmd + [source.name], check=True, capture_output=True,
                             text=True).stdout
    numbers = {}
    for line in out.splitlines():
        m = re.match(r"DISKIDLE_NR (\w+) (.*)$", line.strip())
        if not m:
            continue
        name, value = m.groups()
        # Defined numbers expand to digits, maybe as (base + n); an undefined
        # name stays __NR_<name>.
        if re.fullmatch(r"[\d\s()+]+", value):
            numbers[name] = eval(value, {"__builtins__": {}})  # digits, + and () only
        else:
            numbers[name] = None
    missing = set(names) - numbers.keys()
    if missing:
        raise SystemExit(f"preprocessor output lacks {sorted(missing)}")
    return numbers


def exporter_table(tool, arch):
    out = subprocess.run([tool, arch], check=True, capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        nr, label = line.split()
        table[int(nr)] = label
    return table


def traced_syscalls(source_dir):
    text = (source_dir / "bpf" / "syscall_stats.bpf.c").read_text()
    names = re.findall(r"^TRACE_SYSCALL\((\w+),", text, re.M)
    if not names:
        raise SystemExit("no TRACE_SYSCALL(...) found in bpf/syscall_stats.bpf.c")
    return names


def hard_coded_test_numbers(source_dir, arch):
    """(file, name, number) for NR_X = {"x86_64": N, "aarch64": M} in the privileged tests."""
    found = []
    pattern = re.compile(r'nr_(\w+)\s*=\s*\{\s*"x86_64":\s*(\d+),\s*"aarch64":\s*(\d+)\s*\}', re.I)
    for path in sorted((source_dir / "tests" / "privileged").glob("*.py")):
        for name, x86, arm in pattern.findall(path.read_text()):
            found.append((path.name, name.lower(), int(x86 if arch == "x86_64" else arm)))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", required=True, choices=sorted(CLANG_TARGET))
    parser.add_argument("--table-tool", required=True)
    parser.add_argument("--include", action="append", required=True)
    parser.add_argument("--source-dir", required=True, type=pathlib.Path)
    parser.add_argument("--clang", default="clang")
    args = parser.parse_args()

    errors = []
    traced = traced_syscalls(args.source_dir)
    for name in traced:
        if name not in EXPECTED:
            errors.append(f"bpf/syscall_stats.bpf.c traces {name}, which has no label here")
    hard_coded = hard_coded_test_numbers(args.source_dir, args.arch)
    names = sorted(set(EXPECTED) | {name for _, name, _ in hard_coded})
    numbers = header_numbers(args.clang, args.arch, args.include, names)

    expected = {}
    for name, label in EXPECTED.items():
        nr = numbers[name]
        if nr is None:
            errors.append(f"the {args.arch} headers define no __NR_{name}")
            continue
        if nr in expected:
            errors.append(f"__NR_{name} = {nr} is also another named syscall's number")
        expected[nr] = label
    table = exporter_table(args.table_tool, args.arch)
    for nr in sorted(set(expected) | set(table)):
        want, got = expected.get(nr, "other"), table.get(nr, "other")
        if want != got:
            names_of_nr = [n for n, v in numbers.items() if v == nr]
            errors.append(f"{args.arch} syscall {nr} ({', '.join(names_of_nr) or 'none of the named syscalls'}):"
                          f" the table says {got!r}, the headers say {want!r}")
    for path, name, nr in hard_coded:
        if numbers.get(name) != nr:
            errors.append(f"tests/privileged/{path}: {name} is {nr} on "
                          f"{PYTHON_MACHINE[args.arch]}, the headers say {numbers.get(name)}")

    for e in errors:
        print(f"FAIL: {e}")
    if errors:
        return 1
    print(f"{args.arch}: {len(EXPECTED)} syscalls, each with the headers' number and its label; "
          f"no other number labelled; {len(traced)} traced syscalls covered; "
          f"{len(hard_coded)} hard-coded test numbers right")
    for name in sorted(EXPECTED, key=lambda n: numbers[n]):
        print(f"  {numbers[name]:4d} {name:16s} -> {EXPECTED[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

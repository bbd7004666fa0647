#!/usr/bin/env python3
"""Builds every bpf/*.bpf.c for arm64 and checks each object against the BTF of
Debian's arm64 kernel.

  check_bpf_objects.py --source-dir DIR --btf VMLINUX_BTF --clang CLANG
                       --bpftool BPFTOOL --cflags "FLAG;FLAG..." --llvm-objdump OBJDUMP

Our machines are x86_64, so nothing else compiles or loads the arm64 variant
(__TARGET_ARCH_arm64: arm64's pt_regs and __arm64_sys_* entry functions).
With the same flags as the x86 build (cmake/BpfObject.cmake, BPF_CFLAGS), for
every source:
  1. it compiles for arm64 without a diagnostic, and is a 64-bit little-endian
     ELF file for the BPF machine that `bpftool gen skeleton` accepts;
  2. it has the same programs as the x86 object (section names equal once
     __x64_sys_ reads __arm64_sys_), and no x86 entry function;
  3. every program's attach point exists in the arm64 kernel: tp_btf/raw_tp
     need btf_trace_<tracepoint>, fentry/fexit their function, and a
     syscalls:sys_enter_<name> tracepoint the __arm64_sys_<name> function that
     the same SYSCALL_DEFINE creates;
  4. every CO-RE relocation resolves against that kernel's BTF (libbpf's own
     matching, through `bpftool -d gen min_core_btf`), with the field of the
     same size as ours. A relocation may stay unresolved only where the program
     checks first: an *_exists relocation itself, or a value guarded by an
     existence check of the same name (the kernel-version fallbacks of
     bpf/core_fixes.bpf.h), whose alternative resolved.
"""
import argparse
import pathlib
import re
import struct
import subprocess
import sys
import tempfile

EM_BPF = 247

# Tracepoints whose programs the loader attaches only if the running kernel's
# vmlinux BTF has them (exporter/bpf/owner_hooks.cc): the writeback and journal
# attribution hooks. ext4 and jbd2 are modules in Debian's kernels, so their
# tracepoints are not in vmlinux's BTF there, and writeback_dirty_page is the
# pre-folio name of writeback_dirty_folio. Their absence, and relocations only
# they make, are allowed; one of the two dirty hooks must exist.
OPTIONAL_TRACEPOINTS = {
    "writeback_dirty_folio", "writeback_dirty_page", "ext4_sync_file_enter",
    "ext4_sync_file_exit", "ext4_sync_fs", "jbd2_start_commit", "jbd2_end_commit",
}


def optional_section(section):
    kind, _, target = section.lstrip("?").partition("/")
    return kind in ("tp_btf", "raw_tp") and target in OPTIONAL_TRACEPOINTS


def run(cmd, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


class Btf:
    """Types of a BTF file, from `bpftool btf dump` (raw format)."""

    def __init__(self, bpftool, path):
        out = run([bpftool, "btf", "dump", "file", str(path)], check=True).stdout
        self.types = {}
        current = None
        for line in out.splitlines():
            m = re.match(r"\[(\d+)\] (\w+) '([^']*)'(.*)", line)
            if m:
                attrs = dict(re.findall(r"(\w+)=(\S+)", m.group(4)))
                current = {"kind": m.group(2), "name": m.group(3), "attrs": attrs, "members": []}
                self.types[int(m.group(1))] = current
                continue
            m = re.match(r"\s+'([^']*)' type_id=(\d+)", line)
            if m and current is not None:
                current["members"].append((m.group(1), int(m.group(2))))
        self.names = {(t["kind"], t["name"]) for t in self.types.values()}

    def resolve(self, type_id):
        """Skips typedefs and qualifiers."""
        while self.types[type_id]["kind"] in ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"):
            type_id = int(self.types[type_id]["attrs"]["type_id"])
        return type_id

    def size(self, type_id):
        t = self.types[self.resolve(type_id)]
        if t["kind"] == "PTR":
            return 8
        if t["kind"] == "ARRAY":
            return self.size(int(t["attrs"]["type_id"])) * int(t["attrs"]["nr_elems"])
        return int(t["attrs"]["size"])

    def field_at(self, type_id, access):
        """The type id an access string (libbpf's "0:2:1") ends on."""
        for index in access[1:]:
            t = self.types[self.resolve(type_id)]
            if t["kind"] == "ARRAY":
                type_id = int(t["attrs"]["type_id"])
            else:
                type_id = t["members"][index][1]
        return type_id


def elf_machine(path):
    head = path.read_bytes()[:20]
    if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        return None  # not a 64-bit little-endian ELF file
    return struct.unpack_from("<H", head, 18)[0]


def program_sections(objdump, obj):
    out = run([objdump, "-h", str(obj)], check=True).stdout
    sections = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].isdigit() and fields[-1] == "TEXT" and fields[1] != ".text":
            sections.add(fields[1])
    return sections


RELO = re.compile(r"libbpf: prog '([^']*)': relo #(\d+): (.*)")
SPEC = re.compile(r"<(\w+)> \[(\d+)\] (?:struct|union|enum|typedef|int|fwd)? ?([\w]+)(?:(?:\.|::)([\w.\[\]]+))?"
                  r"(?: = -?\d+)?(?: \(([\d:]+) @ offset \d+\))?")


def strip_flavor(name):
    return name.split("___")[0]


def core_relocations(bpftool, btf_path, obj):
    """{(section, relo #): {"local": spec, "target": spec or None}}, from libbpf's debug log."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run([bpftool, "-d", "gen", "min_core_btf", str(btf_path), f"{tmp}/min.btf", str(obj)])
    if result.returncode != 0:
        raise SystemExit(f"bpftool gen min_core_btf {obj.name} failed: {result.stderr[-500:]}")
    relos = {}
    for line in result.stderr.splitlines():
        m = RELO.match(line)
        if not m:
            continue
        key, text = (m.group(1), int(m.group(2))), m.group(3)
        entry = relos.setdefault(key, {"local": None, "target": None, "text": None})
        if text.startswith("matching candidate"):
            spec = SPEC.search(text)
            entry["target"] = spec
        elif text.startswith("<"):
            entry["local"], entry["text"] = SPEC.match(text), text
    return relos


def check_core(bpftool, btf, btf_path, obj, errors):
    relos = core_relocations(bpftool, btf_path, obj)
    if not relos or any(e["local"] is None for e in relos.values()):
        errors.append(f"{obj.name}: could not read libbpf's CO-RE relocation log")
        return 0
    local_btf = Btf(bpftool, obj)
    exists = {}  # (section, member name without flavor) -> [(type name, resolved?)]
    for (section, _), e in relos.items():
        kind, _, type_name, member, _ = e["local"].groups()
        if kind.endswith("_exists"):
            exists.setdefault((section, strip_flavor((member or type_name).split(".")[-1])), []).append(
                (type_name, e["target"] is not None))
    for (section, number), e in sorted(relos.items()):
        kind, local_id, type_name, member, access = e["local"].groups()
        where = f"{obj.name}: {section}: relo #{number} {e['text']}"
        if e["target"] is None:
            if kind.endswith("_exists"):
                continue  # asking is the point
            guards = exists.get((section, strip_flavor((member or type_name).split(".")[-1])), [])
            if any(t == type_name for t, _ in guards) or any(t != type_name and ok for t, ok in guards):
                continue  # checked first: the program never uses this value here
            if optional_section(section):
                continue  # never loaded where its types are missing
            errors.append(f"{where}: nothing in the arm64 kernel's BTF matches")
            continue
        if kind == "byte_off" and access:
            target_access = e["target"].group(5)
            local_field = local_btf.field_at(int(local_id), [int(i) for i in access.split(":")])
            target_field = btf.field_at(int(e["target"].group(2)), [int(i) for i in target_access.split(":")])
            ours, theirs = local_btf.size(local_field), btf.size(target_field)
            if ours != theirs:
                errors.append(f"{where}: our field is {ours} bytes, the arm64 kernel's {theirs}")
    return len(relos)


def attach_errors(section, btf):
    """Why the arm64 kernel lacks this program's attach point, or None."""
    kind, _, target = section.lstrip("?").partition("/")
    if kind in ("tp_btf", "raw_tp"):
        return None if ("TYPEDEF", f"btf_trace_{target}") in btf.names else f"no tracepoint {target}"
    if kind in ("fentry", "fexit"):
        return None if ("FUNC", target) in btf.names else f"no function {target}"
    if kind == "tracepoint" and target.startswith("syscalls/sys_"):
        name = re.sub(r"^syscalls/sys_(enter|exit)_", "", target)
        return None if ("FUNC", f"__arm64_sys_{name}") in btf.names else f"no syscall {name}"
    return f"unknown program type of section {section}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True, type=pathlib.Path)
    parser.add_argument("--btf", required=True, type=pathlib.Path)
    parser.add_argument("--clang", required=True)
    parser.add_argument("--bpftool", required=True)
    parser.add_argument("--llvm-objdump", required=True)
    parser.add_argument("--cflags", required=True, help="CMake list: BPF_CFLAGS")
    args = parser.parse_args()

    bpf_dir = args.source_dir / "bpf"
    sources = sorted(bpf_dir.glob("*.bpf.c"))
    if not sources:
        raise SystemExit(f"no *.bpf.c in {bpf_dir}")
    btf = Btf(args.bpftool, args.btf)
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources:
            name = source.name[:-len(".bpf.c")]
            objs = {}
            for arch in ("arm64", "x86"):
                obj = pathlib.Path(tmp) / f"{name}.{arch}.bpf.o"
                build = run([args.clang, *args.cflags.split(";"), f"-D__TARGET_ARCH_{arch}",
                             f"-I{bpf_dir}", "-c", str(source), "-o", str(obj)])
                if build.returncode != 0 or (arch == "arm64" and build.stderr.strip()):
                    errors.append(f"{source.name} ({arch}): clang says: {build.stderr.strip()[:2000]}")
                    break
                objs[arch] = obj
            if "arm64" not in objs:
                continue
            obj = objs["arm64"]
            if elf_machine(obj) != EM_BPF:
                errors.append(f"{obj.name}: not a 64-bit little-endian BPF ELF object")
                continue
            skel = run([args.bpftool, "gen", "skeleton", str(obj), "name", name])
            if skel.returncode != 0:
                errors.append(f"{obj.name}: bpftool gen skeleton failed: {skel.stderr.strip()[-500:]}")
            arm = program_sections(args.llvm_objdump, obj)
            if not arm:
                errors.append(f"{obj.name}: no programs")
            if "x86" in objs:
                x86 = {s.replace("__x64_sys_", "__arm64_sys_") for s in program_sections(args.llvm_objdump, objs["x86"])}
                if arm != x86:
                    errors.append(f"{obj.name}: programs differ from x86's: only arm64 {sorted(arm - x86)}, "
                                  f"only x86 {sorted(x86 - arm)}")
            for section in sorted(arm):
                if "__x64_" in section:
                    errors.append(f"{obj.name}: {section} is x86's entry function")
                problem = attach_errors(section, btf)
                if problem and optional_section(section):
                    print(f"{obj.name}: {section}: optional, not in this kernel's vmlinux BTF")
                    continue
                if problem:
                    errors.append(f"{obj.name}: {section}: the arm64 kernel has {problem}")
            if any(s.endswith("/block_bio_queue_btf") or "block_bio_queue" in s for s in arm) and not any(
                    attach_errors(f"tp_btf/{tp}", btf) is None
                    for tp in ("writeback_dirty_folio", "writeback_dirty_page")):
                errors.append(f"{obj.name}: the arm64 kernel has neither dirty hook (writeback attribution)")
            relos = check_core(args.bpftool, btf, args.btf, obj, errors)
            print(f"{name}: arm64 object with {len(arm)} programs, {relos} CO-RE relocations checked")
    for e in errors:
        print(f"FAIL: {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

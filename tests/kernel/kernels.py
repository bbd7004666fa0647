"""Debian kernels for the `kernel` test label: fetched with a private apt,
unpacked, reduced to what a guest needs, and cached between runs.

Nothing here touches the system's apt: every apt call names its own sources
list, package lists, status file and cache under the cache directory
(DISKIDLE_KERNEL_CACHE, default /var/cache/diskidle-test-kernels). The version
is what that private apt names as the candidate of the suite's kernel
meta-package, so a new Debian point release is picked up without a code
change; the prepared kernel is cached under its package name and version.

    python3 kernels.py 6.1      # fetch/prepare one kernel, print its directory
"""
import fcntl
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CACHE = os.environ.get("DISKIDLE_KERNEL_CACHE", "/var/cache/diskidle-test-kernels")
MIRROR = os.environ.get("DISKIDLE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# The package lists are refreshed at most this often (and when missing), so a
# warm run needs no network at all.
LIST_MAX_AGE_S = 24 * 3600

# Each kernel: the suites its private apt sees and the meta-package whose
# candidate names the kernel. Only one suite carries a newer linux-image-amd64
# than the others would, so the candidate is that kernel: bookworm-backports
# alone (bookworm-security's 6.1 would win over backports' priority 100).
KERNELS = {
    "6.1": ["bookworm", "bookworm-security"],
    "6.12": ["bookworm-backports"],
    "7.3": ["trixie-backports"],
    # Below the supported minimum (5.15: bpf_task_pt_regs): booted only to show
    # how the exporter refuses it (test_kernel's REFUSED_KERNELS).
    "5.10": ["bullseye", "bullseye-security"],
}
META = "linux-image-amd64"

# What the guest loads: the virtio PCI transport and disk, loop and ext4. Their
# dependencies come from the kernel's own modules.dep (and the "pre:" soft
# dependencies from modules.softdep: ext4 asks the crypto API for crc32c on
# older kernels). A name that is built in (modules.builtin) is skipped.
WANTED_MODULES = ["virtio_pci", "virtio_blk", "loop", "ext4", "crc32c_generic"]
# Modules a kernel may lack altogether (crc32c_generic is gone once ext4 uses
# the crc32c library directly).
OPTIONAL_MODULES = {"crc32c_generic"}


class KernelError(Exception):
    pass


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read_text(path):
    with open(path) as f:
        return f.read()


def _sources(suites):
    lines = []
    for suite in suites:
        base = MIRROR + "-security" if suite.endswith("-security") else MIRROR
        lines.append(f"deb [signed-by={KEYRING}] {base} {suite} main\n")
    return "".join(lines)


class PrivateApt:
    """apt-get/apt-cache with their own configuration, state and cache."""

    def __init__(self, name):
        self.dir = os.path.join(CACHE, "apt", name)
        for sub in ("lists/partial", "cache/archives/partial", "parts"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.sources = os.path.join(self.dir, "sources.list")
        with open(self.sources, "w") as f:
            f.write(_sources(KERNELS[name]))
        # An empty dpkg status: the candidate does not depend on what the host has installed.
        self.status = os.path.join(self.dir, "status")
        open(self.status, "a").close()
        parts = os.path.join(self.dir, "parts")  # empty: no system sources/preferences
        self.options = [
            "-o", f"Dir::Etc::SourceList={self.sources}",
            "-o", f"Dir::Etc::SourceParts={parts}",
            "-o", f"Dir::Etc::Preferences={os.path.join(self.dir, 'no-preferences')}",
            "-o", f"Dir::Etc::PreferencesParts={parts}",
            "-o", f"Dir::State::Lists={os.path.join(self.dir, 'lists')}",
            "-o", f"Dir::State::status={self.status}",
            "-o", f"Dir::Cache={os.path.join(self.dir, 'cache')}",
            "-o", "APT::Architecture=amd64", "-o", "APT::Architectures::=amd64",
            "-o", "Acquire::Languages=none",
            # The downloads land in our cache, owned by root: no _apt sandbox.
            "-o", "APT::Sandbox::User=root",
        ]

    def run(self, tool, *args, cwd=None):
        r = subprocess.run([tool, *self.options, *args], capture_output=True, text=True, cwd=cwd)
        if r.returncode != 0:
            raise KernelError(f"{tool} {' '.join(args)} failed: {(r.stderr or r.stdout).strip()}")
        return r.stdout

    def lists_age(self):
        lists = os.path.join(self.dir, "lists")
        stamps = [os.path.getmtime(os.path.join(lists, f)) for f in os.listdir(lists)
                  if "_Packages" in f]
        return time.time() - min(stamps) if stamps else None

    def update(self, log):
        age = self.lists_age()
        if age is not None and age < LIST_MAX_AGE_S and not os.environ.get("DISKIDLE_KERNEL_REFRESH"):
            return
        try:
            self.run("apt-get", "-q", "update")
            log(f"package lists of {self.sources} refreshed")
        except KernelError as e:
            if age is None:
                raise
            # The archive is unreachable but we know a kernel: test that one.
            log(f"WARNING: {e}; using package lists {age / 3600:.0f} h old")

    def candidate(self, package):
        m = re.search(r"^\s*Candidate:\s*(\S+)", self.run("apt-cache", "policy", package), re.M)
        if not m or m.group(1) == "(none)":
            raise KernelError(f"no candidate for {package} in the suites of {self.sources}")
        return m.group(1)

    def depends(self, package):
        out = self.run("apt-cache", "depends", "--no-recommends", "--no-suggests", package)
        return re.findall(r"^\s*\|?Depends:\s*(\S+)", out, re.M)


def resolve(apt):
    """The packages that hold the kernel image and its modules, as (name, version):
    linux-image-<abi>-amd64 itself up to 6.x; from 7.x, where linux-image-* is a
    meta-package, linux-binary-* (vmlinuz), linux-modules-* and linux-base-*
    (config, modules.builtin)."""
    images = [d for d in apt.depends(META) if re.match(r"linux-image-\d", d)]
    if len(images) != 1:
        raise KernelError(f"{META} depends on {images}, expected one linux-image-<abi>")
    image = images[0]
    split = [d for d in apt.depends(image) if re.match(r"linux-(binary|modules|base)-\d", d)]
    packages = split or [image]
    return [(p, apt.candidate(p)) for p in packages]


def _extract_vmlinux(vmlinuz, out):
    """The uncompressed ELF vmlinux inside a bzImage (xz up to 6.1, zstd since).
    qemu boots it through its PVH entry, which skips the guest's own
    decompression, slow under TCG; bpftool reads its BTF (docs/kernels.md)."""
    data = read_bytes(vmlinuz)
    for magic, decompress in ((b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor().decompress(b)),
                              (b"\x28\xb5\x2f\xfd", _unzstd)):
        start = data.find(magic)
        while start >= 0:
            try:
                elf = decompress(data[start:])
                if elf[:4] == b"\x7fELF":
                    with open(out, "wb") as f:
                        f.write(elf)
                    return True
            except Exception:  # a false match of the magic: try the next one
                pass
            start = data.find(magic, start + 1)
    return False


def _unzstd(blob):
    r = subprocess.run(["zstd", "-dc"], input=blob, capture_output=True)
    return r.stdout


def _module_index(tree, release):
    """(modules dir, {name: (path, [dependencies])}, {name: [soft pre-deps]}, builtin names).
    The packages ship no modules.dep (depmod writes it when installing), so the
    dependencies come from each module's own .modinfo "depends=" and "softdep=",
    read only for the modules the guest needs."""
    base = os.path.join(tree, "lib/modules", release)
    if not os.path.isdir(base):
        base = os.path.join(tree, "usr/lib/modules", release)
    paths = {}
    for directory, _, files in os.walk(base):
        for f in files:
            if re.search(r"\.ko(\.(xz|zst|gz))?$", f):
                paths[_module_name(f)] = os.path.join(directory, f)
    builtin = {_module_name(line) for line in read_text(os.path.join(base, "modules.builtin")).splitlines()}

    # Dependencies are filled in by info() on first use: None until then.
    deps, softdeps = {name: (path, None) for name, path in paths.items()}, {}

    def info(name):
        path, known = deps[name]
        if known is None:
            fields = dict(re.findall(rb"(depends|softdep)=([^\0]*)\0", _module_bytes(path)))
            known = [d.replace("-", "_") for d in fields.get(b"depends", b"").decode().split(",") if d]
            m = re.match(r"pre:\s*([^:]*?)(\s+post:.*)?$", fields.get(b"softdep", b"").decode())
            softdeps[name] = [n.replace("-", "_") for n in m.group(1).split()] if m else []
            deps[name] = (path, known)
        return known

    return base, deps, softdeps, builtin, info


def _module_name(path):
    return re.sub(r"\.ko(\.(xz|zst|gz))?$", "", os.path.basename(path.strip())).replace("-", "_")


def load_order(deps, softdeps, builtin, info, wanted):
    """Modules to insmod, each after everything it needs; built-in ones left out.
    Returns (order, missing)."""
    order, missing, seen = [], [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        if name not in deps:
            if name not in builtin:
                missing.append(name)
            return
        needs = info(name)
        for pre in softdeps.get(name, []):
            if pre in deps:  # a soft dependency that does not exist is fine
                visit(pre)
        for dep in needs:
            visit(dep)
        order.append(name)

    for name in wanted:
        visit(name)
    return order, missing


def _module_bytes(src):
    if src.endswith(".xz"):
        return lzma.decompress(read_bytes(src))
    if src.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", src], check=True, capture_output=True).stdout
    return read_bytes(src)


def _decompress_module(src, dst):
    # busybox insmod takes plain ELF only.
    with open(dst, "wb") as f:
        f.write(_module_bytes(src))


def prepare(name, log=lambda msg: print(msg, file=sys.stderr)):
    """Returns the prepared directory of kernel `name` (a key of KERNELS):
    vmlinux (or vmlinuz), modules/<name>.ko, modules.order (insmod order),
    modules.builtin, config, packages (name=version per line), release."""
    if name not in KERNELS:
        raise KernelError(f"unknown kernel {name!r}; known: {sorted(KERNELS)}")
    os.makedirs(CACHE, exist_ok=True)
    # Two runs at once (ctest -j, another checkout) share the cache: one prepares.
    with open(os.path.join(CACHE, f"{name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        apt = PrivateApt(name)
        apt.update(log)
        packages = resolve(apt)
        key = "+".join(f"{p}_{v}" for p, v in packages)
        out = os.path.join(CACHE, "kernels", name, key)
        wanted = " ".join(WANTED_MODULES)
        stamp = os.path.join(out, "complete")
        if os.path.exists(stamp) and read_text(stamp) == wanted:
            return out
        log(f"kernel {name}: downloading {', '.join(f'{p} {v}' for p, v in packages)}")
        shutil.rmtree(out, ignore_errors=True)
        work = tempfile.mkdtemp(prefix="unpack-", dir=CACHE)
        try:
            apt.run("apt-get", "-q", "download", *(f"{p}={v}" for p, v in packages), cwd=work)
            tree = os.path.join(work, "tree")
            for deb in sorted(f for f in os.listdir(work) if f.endswith(".deb")):
                subprocess.run(["dpkg-deb", "-x", os.path.join(work, deb), tree], check=True)
            _prepare_tree(name, tree, out, packages, wanted)
            with open(stamp, "w") as f:
                f.write(wanted)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _prune(out)
        return out


def _prepare_tree(name, tree, out, packages, wanted):
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "modules"))
    # Up to 6.x: boot/vmlinuz-<release> and boot/config-<release>; from 7.x:
    # usr/lib/modules/<release>/vmlinuz and .../config.
    found = _find(tree, r"boot/vmlinuz-(.+)") or _find(tree, r"(?:usr/)?lib/modules/([^/]+)/vmlinuz")
    if len(found) != 1:
        raise KernelError(f"kernel {name}: expected one vmlinuz, found {found}")
    vmlinuz, release = found[0]
    if not _extract_vmlinux(vmlinuz, os.path.join(tmp, "vmlinux")):
        shutil.copy(vmlinuz, os.path.join(tmp, "vmlinuz"))
    configs = [p for p, _ in _find(tree, r"boot/config-(.+)") + _find(tree, r"(?:usr/)?lib/modules/([^/]+)/config")]
    if len(configs) != 1:
        raise KernelError(f"kernel {name}: expected one config, found {configs}")
    shutil.copy(configs[0], os.path.join(tmp, "config"))
    base, deps, softdeps, builtin, info = _module_index(tree, release)
    order, missing = load_order(deps, softdeps, builtin, info, WANTED_MODULES)
    missing = [m for m in missing if m not in OPTIONAL_MODULES]
    if missing:
        raise KernelError(f"kernel {release}: modules {missing} neither built in nor in modules.dep")
    for module in order:
        _decompress_module(deps[module][0],
                           os.path.join(tmp, "modules", module + ".ko"))
    with open(os.path.join(tmp, "modules.order"), "w") as f:
        f.write("".join(m + "\n" for m in order))
    shutil.copy(os.path.join(base, "modules.builtin"), os.path.join(tmp, "modules.builtin"))
    with open(os.path.join(tmp, "packages"), "w") as f:
        f.write("".join(f"{p}={v}\n" for p, v in packages))
    with open(os.path.join(tmp, "release"), "w") as f:
        f.write(release + "\n")
    os.rename(tmp, out)


def _find(tree, pattern):
    """[(path, first group)] of the files under tree whose relative path matches."""
    hits = []
    for directory in ("boot", "lib/modules", "usr/lib/modules"):
        top = os.path.join(tree, directory)
        for parent, _, files in os.walk(top):
            if parent.count(os.sep) - top.count(os.sep) > 1:
                continue
            for f in files:
                path = os.path.join(parent, f)
                m = re.fullmatch(pattern, os.path.relpath(path, tree))
                if m:
                    hits.append((path, m.group(1)))
    return hits


def _prune(keep):
    """Older prepared versions of the same kernel go: the cache holds one each."""
    kernels = os.path.dirname(keep)
    for entry in os.listdir(kernels):
        path = os.path.join(kernels, entry)
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    for kernel in sys.argv[1:] or sorted(KERNELS):
        print(prepare(kernel))

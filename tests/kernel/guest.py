"""One qemu guest (software emulation, TCG) of a prepared kernel: its
initramfs (busybox, the exporter, diskidle-iogen and the shared libraries they
load, the kernel's modules, guest_init.sh as /init), its virtio disk (ext4,
made on the host, holding loop.img, the loop device's ext4), the boot, and the
"DISKIDLE" lines of its console."""
import os
import shutil
import subprocess
import tempfile
import time

import kernels

HERE = os.path.dirname(os.path.abspath(__file__))
ATTACH_MODES = ("tp_btf", "raw_tp")
# A third exporter run in the same boot: attach tp_btf with
# collectors.bio.writeback_attribution and journal_attribution false.
HOOKS_OFF = "hooks_off"
# journal_attribution: false alone (what docs/metrics.md suggests for
# fsync-bound hosts), the writeback hooks on.
JOURNAL_OFF = "journal_off"
RUNS = ATTACH_MODES + (HOOKS_OFF, JOURNAL_OFF)


class GuestError(Exception):
    pass


def _run(*cmd, **kwargs):
    r = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if r.returncode != 0:
        raise GuestError(f"{' '.join(cmd)} failed: {(r.stderr or r.stdout).strip()}")
    return r.stdout


def _libraries(binary):
    """The shared libraries (and the dynamic loader) `binary` loads, from ldd."""
    libs = []
    for line in _run("ldd", binary).splitlines():
        for word in line.split():
            if word.startswith("/"):
                libs.append(word)
    return libs


def _static_busybox():
    busybox = shutil.which("busybox")
    if not busybox:
        raise GuestError("no busybox (apt-get install busybox-static)")
    # The initramfs holds no libraries for busybox: it must be the static one.
    if subprocess.run(["ldd", busybox], capture_output=True).returncode == 0:
        raise GuestError(f"{busybox} is dynamically linked: install busybox-static")
    return busybox


def build_initramfs(kernel_dir, exporter, iogen, out, fsyncs, direct_writes):
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not os.access(bpftool, os.X_OK):
        raise GuestError("no bpftool (apt-get install bpftool)")
    root = tempfile.mkdtemp(prefix="initramfs-", dir=os.path.dirname(out))
    try:
        for d in ("bin", "proc", "sys", "dev", "tmp", "work", "modules"):
            os.makedirs(os.path.join(root, d))
        shutil.copy(_static_busybox(), os.path.join(root, "bin/busybox"))
        for binary in (exporter, iogen, bpftool):
            # Debug info is most of a RelWithDebInfo binary: the guest copies it
            # into RAM at every boot for nothing.
            _run("objcopy", "--strip-debug", binary,
                 os.path.join(root, "work", os.path.basename(binary)))
            for lib in _libraries(binary):
                dst = root + lib
                if not os.path.exists(dst):
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    shutil.copy(lib, dst)  # follows symlinks
        for module in kernels.read_text(os.path.join(kernel_dir, "modules.order")).split():
            shutil.copy(os.path.join(kernel_dir, "modules", module + ".ko"),
                        os.path.join(root, "modules"))
        shutil.copy(os.path.join(kernel_dir, "modules.order"), root)
        shutil.copy(os.path.join(HERE, "guest_init.sh"), os.path.join(root, "init"))
        os.chmod(os.path.join(root, "init"), 0o755)
        for name, value in (("fsyncs", fsyncs), ("direct_writes", direct_writes),
                            ("attach_modes", " ".join(RUNS))):
            with open(os.path.join(root, name), "w") as f:
                f.write(f"{value}\n")
        # Uncompressed: under TCG the kernel's gunzip of it costs more than qemu's copy.
        files = _run("find", ".", cwd=root)
        with open(out, "wb") as f:
            r = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files.encode(),
                               stdout=f, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise GuestError(f"cpio failed: {r.stderr.decode().strip()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def build_disk(workdir, out):
    """A 256 MiB ext4 image holding loop.img, a 64 MiB ext4 image for the loop
    device. No lazy init: nothing is written in the background while the guest
    counts."""
    mkfs = ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"]
    content = os.path.join(workdir, "disk-content")
    os.makedirs(content)
    loop_img = os.path.join(content, "loop.img")
    with open(loop_img, "wb") as f:
        f.truncate(64 << 20)
    _run(*mkfs, loop_img)
    with open(out, "wb") as f:
        f.truncate(256 << 20)
    _run(*mkfs, "-d", content, out)


# The first line guest_init.sh prints: the guest's init, ours, is running.
INIT_MARK = b"DISKIDLE kernel "


def boot(kernel_dir, initramfs, disk, console_log, timeout_s, init_timeout_s):
    """Boots to poweroff. Returns the console text, the seconds it took, and
    whether our init ever ran: qemu is killed after timeout_s, or after
    init_timeout_s if the kernel has not started our init by then (an emulated
    boot that hangs before running anything of ours)."""
    image = os.path.join(kernel_dir, "vmlinux")
    if not os.path.exists(image):
        image = os.path.join(kernel_dir, "vmlinuz")
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "2",
           "-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio",
           "-kernel", image, "-initrd", initramfs,
           "-drive", f"file={disk},if=virtio,format=raw",
           # panic=-1: a panic reboots at once, and -no-reboot turns that into an exit.
           "-append", "console=ttyS0 loglevel=1 panic=-1"]
    start = time.monotonic()
    init_ran = False
    with open(console_log, "wb") as log:
        qemu = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while qemu.poll() is None:
                elapsed = time.monotonic() - start
                if not init_ran:
                    with open(console_log, "rb") as f:
                        init_ran = INIT_MARK in f.read()
                if elapsed > timeout_s or (not init_ran and elapsed > init_timeout_s):
                    break  # killed below; the missing "done" line says so
                time.sleep(0.5)
        finally:
            if qemu.poll() is None:
                qemu.kill()
            qemu.wait()
    elapsed = time.monotonic() - start
    with open(console_log, "rb") as f:
        console = f.read()
    return (console.decode("utf-8", errors="backslashreplace").replace("\r", ""), elapsed,
            INIT_MARK in console)

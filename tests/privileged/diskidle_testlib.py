"""Shared fixtures of the privileged tests: loop-device filesystems, the real
exporter binary on a free port, and a parser for its /metrics text.

Everything created here is registered for cleanup on the test case, so a
failing test still detaches its loop devices and stops its processes.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

EXPORTER = os.environ.get("DISKIDLE_EXPORTER", "")
IOGEN = os.environ.get("DISKIDLE_IOGEN", "")


def require_privileges(test):
    """BPF tests never skip on our machines: missing root or BTF is a failure."""
    if os.geteuid() != 0:
        test.fail("privileged test needs root (BPF, loop devices): run the test command as root")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        test.fail("kernel BTF (/sys/kernel/btf/vmlinux) is missing: this kernel cannot run diskidle")
    for name, path in (("DISKIDLE_EXPORTER", EXPORTER), ("DISKIDLE_IOGEN", IOGEN)):
        if not path or not os.access(path, os.X_OK):
            test.fail(f"{name} does not name a built binary ({path!r}); run through ctest")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


class LoopFilesystem:
    """A fresh filesystem on a loop device, mounted in a temp dir."""

    def __init__(self, test, fstype, size_mb=512):
        self.workdir = tempfile.mkdtemp(prefix="diskidle-loop-")
        test.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.image = os.path.join(self.workdir, "disk.img")
        with open(self.image, "wb") as f:
            f.truncate(size_mb << 20)
        self.device = run("losetup", "--find", "--show", self.image).stdout.strip()
        test.addCleanup(subprocess.run, ["losetup", "-d", self.device], capture_output=True)
        self.name = os.path.basename(self.device)  # e.g. loop3
        # No lazy init: ext4lazyinit would write in the background and blur the
        # "writes nothing" assertions. XFS needs >= 300 MiB.
        mkfs = {"ext4": ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"],
                "xfs": ["mkfs.xfs", "-q", "-f"]}[fstype]
        run(*mkfs, self.device)
        self.mountpoint = os.path.join(self.workdir, "mnt")
        os.mkdir(self.mountpoint)
        run("mount", self.device, self.mountpoint)
        test.addCleanup(subprocess.run, ["umount", "-l", self.mountpoint], capture_output=True)

    def path(self, name):
        return os.path.join(self.mountpoint, name)


class Exporter:
    """The real diskidle_exporter, started with a config file, on a free port."""

    def __init__(self, test, config_yaml="", extra_args=()):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="diskidle-exporter-")
        test.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.config_path = os.path.join(self.dir, "config.yaml")
        with open(self.config_path, "w") as f:
            f.write(config_yaml)
        self.log_path = os.path.join(self.dir, "exporter.log")
        self.log = open(self.log_path, "w")
        test.addCleanup(self.log.close)
        self.proc = subprocess.Popen(
            [EXPORTER, f"--config={self.config_path}",
             f"--listen_address=127.0.0.1:{self.port}", *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        test.addCleanup(self.stop)
        self.wait_ready(test)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, test, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                test.fail(f"exporter exited with {self.proc.returncode}: {self.read_log()}")
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)
        test.fail(f"exporter not ready after {timeout}s: {self.read_log()}")

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def scrape_text(self):
        try:
            with urllib.request.urlopen(self.url("/metrics"), timeout=30) as r:
                return r.read().decode()
        except (urllib.error.URLError, ConnectionError) as e:
            raise AssertionError(f"scrape failed ({e}); exporter exit status "
                                 f"{self.proc.poll()}; log:\n{self.read_log()}") from e

    def scrape(self):
        return parse_metrics(self.scrape_text())

    def stop(self, timeout=5):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Exposition text -> list of (name, {label: value}, float)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError(f"unparseable metrics line: {line!r}")
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2) or "")}
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def total(samples, name, **match):
    """Sum of the samples of `name` whose labels include `match`."""
    return sum(v for n, labels, v in samples
               if n == name and all(labels.get(k) == str(want) for k, want in match.items()))


def series(samples, name, **match):
    return [(labels, v) for n, labels, v in samples
            if n == name and all(labels.get(k) == str(want) for k, want in match.items())]


class IoGen:
    """diskidle-iogen running one mode; `pid` is its process id. With wait=True
    it pauses after its set-up until go() is called."""

    def __init__(self, test, mode, path, count, hold=True, wait=False):
        args = ([IOGEN] + (["--hold"] if hold else []) + (["--wait"] if wait else [])
                + [mode, path, str(count)])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        test.addCleanup(self.finish)
        line = self.proc.stdout.readline()
        m = re.match(r"pid=(\d+) ready", line)
        if not m:
            test.fail(f"iogen {mode} did not start: {line!r} {self.proc.stderr.read()}")
        self.pid = int(m.group(1))
        self.comm = os.path.basename(IOGEN)[:15]
        self.operations = None

    def go(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def wait_done(self, test):
        """Waits for the end of the work; returns how many operations it did."""
        line = self.proc.stdout.readline()
        m = re.match(r"done (\d+)", line)
        if not m:
            test.fail(f"iogen failed: {line!r} {self.proc.stderr.read()}")
        self.operations = int(m.group(1))
        return self.operations

    def finish(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


# --- BPF program bookkeeping and tmpfs-backed loop devices (start/stop, lifecycle, load tests) ---

OUR_BPF_PROGRAMS = ("block_bio_queue_btf", "block_bio_queue_raw")


def loaded_programs():
    """{id: name} of the loaded BPF programs named like ours (`bpftool prog show`)."""
    import json
    out = run("bpftool", "-j", "prog", "show").stdout
    return {p["id"]: p["name"] for p in json.loads(out or "[]")
            if p.get("name") in OUR_BPF_PROGRAMS}


def programs_held_by(pid):
    """Ids of the BPF programs process `pid` holds through a program or link fd."""
    ids = set()
    fdinfo = f"/proc/{pid}/fdinfo"
    try:
        fds = os.listdir(fdinfo)
    except OSError:
        return ids
    for fd in fds:
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return ids


def programs_held_by_live_processes():
    ids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ids |= programs_held_by(int(entry))
    return ids


def tmpfs_loop_filesystem(test, fstype, size_mb=512):
    """A LoopFilesystem whose image lives on a private tmpfs. Its flushes then
    cause no I/O on the host's disk (the loop driver's fsync of a tmpfs file does
    nothing), which keeps the system's other bios out of a test's accounting and
    makes fsync storms fast."""
    base = tempfile.mkdtemp(prefix="diskidle-tmpfs-")
    test.addCleanup(shutil.rmtree, base, ignore_errors=True)
    run("mount", "-t", "tmpfs", "-o", f"size={size_mb + 64}m,mode=0700", "tmpfs", base)
    test.addCleanup(subprocess.run, ["umount", "-l", base], capture_output=True)
    saved = tempfile.tempdir
    tempfile.tempdir = base
    try:
        return LoopFilesystem(test, fstype, size_mb)
    finally:
        tempfile.tempdir = saved

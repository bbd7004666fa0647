"""Shared fixtures of the privileged tests: loop-device filesystems, the real
exporter binary on a free port, and a parser for its /metrics text.

Everything created here is registered for cleanup on the test case, so a
failing test still detaches its loop devices and stops its processes.
"""
import collections
import ctypes
import json
import os
import platform
import queue
import re
import struct
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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


def checked_cleanup(*cmd, retry_busy_seconds=10, fallback=None):
    """Runs a teardown command and raises if it fails, so a leaked mount or loop
    device fails the test instead of passing silently. A busy target (a child
    still closing its files) is retried for a while. `fallback` (e.g. a lazy
    umount) then runs so the machine is not left with the leak, and the test
    still fails."""
    deadline = time.monotonic() + retry_busy_seconds
    while True:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0:
            return
        if "busy" not in (r.stderr + r.stdout).lower() or time.monotonic() > deadline:
            if fallback:
                subprocess.run(fallback, capture_output=True)
            raise AssertionError(f"cleanup {' '.join(cmd)} failed with {r.returncode}: "
                                 f"{(r.stderr or r.stdout).strip()}")
        time.sleep(0.2)


def write_mbr_with_one_partition(image, start_sector=2048):
    """A DOS partition table with one Linux partition from `start_sector` to the
    end of the image (no sfdisk/parted on these machines)."""
    sectors = os.path.getsize(image) // 512 - start_sector
    entry = struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                        start_sector, sectors)
    with open(image, "r+b") as f:
        f.seek(446)
        f.write(entry + bytes(48) + b"\x55\xaa")


class LoopFilesystem:
    """A fresh filesystem on a loop device, mounted in a temp dir."""

    def __init__(self, test, fstype, size_mb=512, partitioned=False, mount_options=""):
        self.workdir = tempfile.mkdtemp(prefix="diskidle-loop-")
        test.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.image = os.path.join(self.workdir, "disk.img")
        with open(self.image, "wb") as f:
            f.truncate(size_mb << 20)
        if partitioned:
            write_mbr_with_one_partition(self.image)
        self.device = run("losetup", "--find", "--show", *(["-P"] if partitioned else []),
                          self.image).stdout.strip()
        test.addCleanup(checked_cleanup, "losetup", "-d", self.device)
        self.name = os.path.basename(self.device)  # e.g. loop3: the whole disk
        # The block device the filesystem is on: the disk, or its partition 1.
        self.fs_device = self.device
        if partitioned:
            self.fs_device = self.device + "p1"
            # Kernels built without the DOS/GPT parsers (CONFIG_MSDOS_PARTITION is off
            # on our CI VMs) ignore the table: partx adds the same partition through
            # BLKPG then. Either way the kernel has a real partition loopNp1.
            if not os.path.exists(f"/sys/block/{self.name}/{self.name}p1"):
                run("partx", "-a", self.device)
            deadline = time.monotonic() + 10  # the kernel scans the table asynchronously
            while not os.path.exists(self.fs_device):
                if time.monotonic() > deadline:
                    raise AssertionError(f"losetup -P made no {self.fs_device}")
                time.sleep(0.1)
        if fstype is None:  # a bare block device
            return
        # No lazy init: ext4lazyinit would write in the background and blur the
        # "writes nothing" assertions. XFS needs >= 300 MiB.
        mkfs = {"ext4": ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"],
                "xfs": ["mkfs.xfs", "-q", "-f"],
                "btrfs": ["mkfs.btrfs", "-q", "-f"]}[fstype]
        run(*mkfs, self.fs_device)
        self.mountpoint = os.path.join(self.workdir, "mnt")
        os.mkdir(self.mountpoint)
        run("mount", *(["-o", mount_options] if mount_options else []), self.fs_device,
            self.mountpoint)
        test.addCleanup(checked_cleanup, "umount", self.mountpoint,
                        fallback=["umount", "-l", self.mountpoint])

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
            [EXPORTER, f"--config.file={self.config_path}",
             f"--web.listen-address=127.0.0.1:{self.port}", *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        # A test that kills the exporter on purpose sets this to None.
        self.expected_exit_status = 0
        test.addCleanup(self.stop_and_check)
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

    def scrape_bytes(self):
        """The /metrics body exactly as a scraper receives it."""
        try:
            with urllib.request.urlopen(self.url("/metrics"), timeout=30) as r:
                return r.read()
        except (urllib.error.URLError, ConnectionError) as e:
            raise AssertionError(f"scrape failed ({e}); exporter exit status "
                                 f"{self.proc.poll()}; log:\n{self.read_log()}") from e

    def scrape_text(self):
        # Lenient: other tests on this machine run processes whose names are not
        # UTF-8, and a counting test must not fail on their labels. Whether the
        # exposition is valid UTF-8 is test_exposition's (and test_label_names') job.
        return self.scrape_bytes().decode("utf-8", errors="backslashreplace")

    def scrape(self):
        return parse_metrics(self.scrape_text())

    def stop(self, timeout=10):
        """SIGTERM; returns the exit status (None if it had to be SIGKILLed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def stop_and_check(self):
        """Cleanup: a crash, a hang or a non-zero exit at shutdown fails the test."""
        status = self.stop()
        if self.expected_exit_status is not None and status != self.expected_exit_status:
            raise AssertionError(
                f"exporter exit status at shutdown: {status} (None: hung after SIGTERM, "
                f"killed), expected {self.expected_exit_status}; log:\n{self.read_log()}")


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Samples(list):
    """Parsed samples; `families` holds the names from # TYPE lines, so a family
    without any series yet (no bio seen) still counts as present."""
    families = frozenset()


def parse_metrics(text):
    """Exposition text -> list of (name, {label: value}, float)."""
    samples = Samples()
    families = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            families.add(line.split()[2])
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError(f"unparseable metrics line: {line!r}")
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2) or "")}
        samples.append((m.group(1), labels, float(m.group(3))))
    samples.families = frozenset(families)
    return samples


def total(samples, name, absent_ok=False, **match):
    """Sum of the samples of `name` whose labels include `match`.

    Strict by default: no matching sample raises, naming the metric and labels,
    so a renamed metric or label can never read as 0. With absent_ok=True a
    missing series counts as 0 (for "this must not exist / be 0" checks and
    baselines taken before the series was born), but the metric `name` itself
    must still be in the scrape."""
    values = [v for n, labels, v in samples
              if n == name and all(labels.get(k) == str(want) for k, want in match.items())]
    if values:
        return sum(values)
    if not absent_ok:
        raise AssertionError(f"no sample {name}{{{_format_labels(match)}}} in the scrape; "
                             f"{name} has {len(series(samples, name))} series, e.g. "
                             f"{[labels for labels, _ in series(samples, name)[:3]]}")
    family = re.sub(r"_(bucket|count|sum)$", "", name)
    if not (any(n == name for n, _, _ in samples)
            or {name, family} & set(getattr(samples, "families", ()))):
        raise AssertionError(f"metric {name} is not in the scrape at all")
    return 0


def _format_labels(match):
    return ",".join(f'{k}="{v}"' for k, v in sorted(match.items()))


def enable_bpf_stats(test):
    """Keeps the kernel's per-program run counters on for the test (BPF_ENABLE_STATS:
    reference counted, so it neither needs nor disturbs kernel.bpf_stats_enabled)."""
    nr_bpf = {"x86_64": 321, "aarch64": 280}[platform.machine()]
    bpf_enable_stats, bpf_stats_run_time = 32, 0
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(bpf_stats_run_time.to_bytes(4, "little"), 128)
    fd = libc.syscall(ctypes.c_long(nr_bpf), ctypes.c_long(bpf_enable_stats), attr,
                      ctypes.c_long(len(attr)))
    if fd < 0:
        test.fail(f"BPF_ENABLE_STATS failed: {os.strerror(ctypes.get_errno())}")
    test.addCleanup(os.close, fd)



def series(samples, name, **match):
    return [(labels, v) for n, labels, v in samples
            if n == name and all(labels.get(k) == str(want) for k, want in match.items())]


# --- The two views of block I/O (docs/metrics.md; SERIES_CONTRACT of issue 9) ---
# The complete view counts every bio exactly once, by (device, comm, syscall,
# op): no pid label, processes of one name add to one series. The per-process
# view holds plain counters for the most active live processes (max_processes),
# with a pid label; a process's series end exited_process_ttl after it exits.

BIO = "diskidle_bio_size_bytes"
PROCESS_BIOS = "diskidle_process_bios_total"
PROCESS_BYTES = "diskidle_process_bio_bytes_total"
PROCESS_ZERO_BYTE_BIOS = "diskidle_process_zero_byte_bios_total"
PROCESS_FAMILIES = (PROCESS_BIOS, PROCESS_BYTES, PROCESS_ZERO_BYTE_BIOS)
COMPLETE_LABELS = frozenset({"device", "comm", "syscall", "op"})
PROCESS_LABELS = frozenset({"device", "pid", "comm", "syscall", "op"})


class BioCounts(collections.namedtuple("BioCounts", "bios bytes zero_byte_bios")):
    """Bios, their bytes and the zero-byte ones (flushes) of some series."""

    def __sub__(self, other):
        return BioCounts(*(a - b for a, b in zip(self, other)))


def complete_counts(samples, absent_ok=False, **match):
    """BioCounts summed over the complete view's matching series: _count, _sum
    and the le="0" bucket of diskidle_bio_size_bytes. Strict like total(): no
    matching series raises unless absent_ok."""
    if "pid" in match:
        raise AssertionError("the complete view (diskidle_bio_size_bytes) has no pid label")
    return BioCounts(total(samples, BIO + "_count", absent_ok=absent_ok, **match),
                     total(samples, BIO + "_sum", absent_ok=absent_ok, **match),
                     total(samples, BIO + "_bucket", absent_ok=absent_ok, le="0", **match))


def process_counts(samples, absent_ok=False, **match):
    """BioCounts summed over the per-process view's matching series
    (diskidle_process_*_total), e.g. process_counts(s, pid=gen.pid, op="flush")."""
    return BioCounts(*(total(samples, name, absent_ok=absent_ok, **match)
                       for name in PROCESS_FAMILIES))


def complete_delta(before, after, **match):
    """What the complete view counted between two scrapes (the series may be
    born in between: absent before reads as 0, absent after fails)."""
    return complete_counts(after, **match) - complete_counts(before, absent_ok=True, **match)


def process_delta(before, after, **match):
    """What the per-process view counted between two scrapes, same rules."""
    return process_counts(after, **match) - process_counts(before, absent_ok=True, **match)


def pids_in_view(samples, **match):
    """Distinct pids with series in the per-process view (matching `match`); a
    series without a pid label (which must not exist) shows as pid ""."""
    pids = set()
    for name in PROCESS_FAMILIES:
        pids |= {labels.get("pid", "") for labels, _ in series(samples, name, **match)}
    return pids


class IoGen:
    """diskidle-iogen running one mode; `pid` is its process id. With wait=True
    it pauses after its set-up until go() is called. Every wait has a timeout,
    so a failed workload fails the test instead of hanging it."""

    def __init__(self, test, mode, path, count, hold=True, wait=False, extra=(), timeout=60):
        args = ([IOGEN] + (["--hold"] if hold else []) + (["--wait"] if wait else [])
                + [mode, path, str(count), *map(str, extra)])
        self.mode = mode
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        test.addCleanup(self.finish)
        # stdout is read by a thread into a queue: readline() itself has no timeout.
        self.lines = queue.Queue()
        threading.Thread(target=self._read_lines, daemon=True).start()
        line = self._next_line(timeout)
        m = re.match(r"pid=(\d+) ready", line or "")
        if not m:
            test.fail(f"iogen {mode} did not start: {line!r} {self._stderr()}")
        self.pid = int(m.group(1))
        self.comm = os.path.basename(IOGEN)[:15]
        self.operations = None

    def _read_lines(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _next_line(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return f"<nothing within {timeout}s>"

    def _stderr(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read()

    def wait_ready(self, test, timeout=60):
        """Waits for another "pid=<pid> ready" line (fsync-then-exec prints one
        before its exec() and the new program one after); it must be our pid."""
        line = self._next_line(timeout)
        if line != f"pid={self.pid} ready\n":
            test.fail(f"iogen {self.mode}: expected pid={self.pid} ready, got {line!r}")

    def go(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def wait_done(self, test, timeout=120):
        """Waits for the end of the work; returns how many operations it did."""
        line = self._next_line(timeout)
        m = re.match(r"done (\d+)", line or "")
        if not m:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            test.fail(f"iogen {self.mode} failed: {line!r} {self._stderr()}")
        self.operations = int(m.group(1))
        return self.operations

    def finish(self):
        """Lets a held iogen exit; returns its exit status (it must be 0)."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=20)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        return self.proc.returncode


class Watcher:
    """Calls `step()` every `interval` s in a thread until stop(). stop() joins
    with a timeout and re-raises whatever the thread raised, so a failing
    watcher fails the test instead of vanishing, and a stuck one cannot hang it.
    Registered for cleanup too, in case the test fails before stop()."""

    def __init__(self, test, step, interval=0.5, limit=None):
        self.step, self.interval, self.limit = step, interval, limit
        self.stopping = threading.Event()
        self.error = None
        self.steps = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        test.addCleanup(self.stopping.set)
        self.thread.start()

    def _run(self):
        try:
            while not self.stopping.is_set() and (self.limit is None or self.steps < self.limit):
                self.step()
                self.steps += 1
                self.stopping.wait(self.interval)
        except BaseException as e:  # noqa: B902 - handed to the test thread
            self.error = e

    def stop(self, timeout=60):
        self.stopping.set()
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"watcher thread still running {timeout}s after stop()")
        if self.error is not None:
            raise AssertionError(f"watcher thread failed: {self.error!r}") from self.error


# Names itself, fsync()s argv[2] times, waits for "go", renames itself and fsync()s
# as many times more: the same key (device, syscall, op, size) before and after.
_RENAMING_FSYNC = r"""
import os, sys
def rename(name):
    with open("/proc/self/comm", "w") as f:
        f.write(name)
rename("first-name")
fd = os.open(sys.argv[1], os.O_WRONLY)
n = int(sys.argv[2])
for _ in range(n):
    os.fsync(fd)
print("renaming", flush=True)
sys.stdin.readline()
rename("second-name")
for _ in range(n):
    os.fsync(fd)
print("done", flush=True)
"""


class RenamingFsync:
    """A child that fsync()s `path` n times as "first-name", then, after
    rename_and_finish(), n times more as "second-name" (a write to
    /proc/self/comm). Started and at its first pause when constructed; killed
    and reaped at the test's end."""

    def __init__(self, test, path, n):
        self.proc = subprocess.Popen([sys.executable, "-c", _RENAMING_FSYNC, path, str(n)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        test.addCleanup(self.proc.stdout.close)
        test.addCleanup(self.proc.stdin.close)
        test.addCleanup(self.proc.wait)
        test.addCleanup(self.proc.kill)
        self.pid = self.proc.pid
        test.assertEqual(self.proc.stdout.readline().strip(), "renaming")

    def rename_and_finish(self, test):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        test.assertEqual(self.proc.stdout.readline().strip(), "done")


def wait_for(what, condition, timeout=30, interval=0.2):
    """Polls condition() until it returns a true value (returned); fails naming
    `what` and the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} "
                                 f"(last: {value!r})")
        time.sleep(interval)


def diskstats(device):
    """The /proc/diskstats fields of `device` as a dict (kernel field names)."""
    names = ["reads", "reads_merged", "sectors_read", "read_ms", "writes", "writes_merged",
             "sectors_written", "write_ms", "in_flight", "io_ms", "weighted_ms", "discards",
             "discards_merged", "sectors_discarded", "discard_ms", "flushes", "flush_ms"]
    with open("/proc/diskstats") as f:
        for line in f:
            fields = line.split()
            if fields[2] == device:
                return dict(zip(names, map(int, fields[3:])))
    raise AssertionError(f"{device} is not in /proc/diskstats")


def bpf_programs_of(pid):
    """`bpftool -j prog show` entries of the programs process `pid` holds."""
    progs = []
    for prog_id in sorted(programs_held_by(pid)):
        shown = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(prog_id)],
                               capture_output=True, text=True)
        if shown.returncode != 0:
            continue  # unloaded since it was listed (a /debug/stacks collection ending)
        progs.append(json.loads(shown.stdout))
    return progs


def bpftool_listing(kind, timeout=5):
    """`bpftool -j <kind> show` of every program or link on the machine.

    A listing taken while some process attaches a program can fail: the kernel
    gives a link an id before the attach finishes and answers EAGAIN for that id
    until it has (bpf_link_by_id(), "not settled"), and bpftool 7.1 skips only
    ENOENT, so it stops with "can't get link by id". The test under way is often
    the one making the exporter attach (/debug/stacks), so such a failure is
    retried for a while; one that lasts is raised with bpftool's own words."""
    deadline = time.monotonic() + timeout
    while True:
        shown = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True)
        if shown.returncode == 0:
            return json.loads(shown.stdout or "[]")
        if time.monotonic() > deadline:
            raise AssertionError(f"bpftool -j {kind} show failed for {timeout}s "
                                 f"(exit {shown.returncode}): {shown.stdout.strip()} "
                                 f"{shown.stderr.strip()}")
        time.sleep(0.05)


def attached_bio_programs(pid):
    """[(program type, program name, tracepoint)] of the bio programs process
    `pid` holds (others, such as disk latency's, are left out) that are attached
    through a link (`bpftool -j link show`): what actually runs, whatever the
    config asked for. tp_btf programs have type
    "tracing", raw_tp ones "raw_tracepoint"; both attach by a raw tracepoint link."""
    return attached_programs(pid, lambda name: name in BIO_PROGRAMS)


def attached_programs(pid, wanted):
    """[(program type, program name, tracepoint)] of the programs process `pid`
    holds whose name `wanted(name)` accepts and that are attached through a link."""
    progs = {p["id"]: p for p in bpf_programs_of(pid) if wanted(p.get("name", ""))}
    links = bpftool_listing("link")
    return sorted((progs[link["prog_id"]]["type"], progs[link["prog_id"]]["name"],
                   link.get("tp_name", ""))
                  for link in links if link.get("prog_id") in progs)


def bpf_maps_of(pid):
    """{name: id} of the BPF maps process `pid` holds."""
    maps = {}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                ids = [int(line.split()[1]) for line in f if line.startswith("map_id:")]
        except OSError:
            continue
        for map_id in ids:
            info = json.loads(run("bpftool", "-j", "map", "show", "id", str(map_id)).stdout)
            maps[info["name"]] = map_id
    return maps


def bpf_map_keys(pid, name):
    """Keys of the BPF map `name` of process `pid`, formatted through its BTF."""
    maps = bpf_maps_of(pid)
    if name not in maps:
        raise AssertionError(f"process {pid} holds no BPF map named {name}: {sorted(maps)}")
    dump = json.loads(run("bpftool", "-j", "map", "dump", "id", str(maps[name])).stdout)
    return [entry["formatted"]["key"] for entry in dump]


def kernel_dev(path):
    """A block device's number as the kernel (and the BPF maps) encode it."""
    rdev = os.stat(path).st_rdev
    return (os.major(rdev) << 20) | os.minor(rdev)


# --- BPF program bookkeeping and tmpfs-backed loop devices (start/stop, lifecycle, load tests) ---

# block_bio_queue_btf_compat: the tp_btf build for kernels before 6.2 (no bpf_rdonly_cast).
BIO_PROGRAMS = ("block_bio_queue_btf", "block_bio_queue_btf_compat", "block_bio_queue_raw")
DISK_LATENCY_PROGRAMS = ("disk_lat_btf", "disk_lat_raw")  # on block_rq_complete
# Writeback and journal attribution (bpf/owner_attribution.bpf.h), both modes.
OWNER_PROGRAMS = tuple(f"{prefix}_{mode}" for prefix in (
    "wb_folio", "wb_page", "jf_sync", "jf_sync_x", "jf_syncfs", "jf_start", "jf_end")
    for mode in ("btf", "raw"))
OUR_BPF_PROGRAMS = BIO_PROGRAMS + DISK_LATENCY_PROGRAMS + OWNER_PROGRAMS


def loaded_programs():
    """{id: name} of the loaded BPF programs named like ours (`bpftool prog show`)."""
    return {p["id"]: p["name"] for p in bpftool_listing("prog")
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


def tmpfs_loop_filesystem(test, fstype, size_mb=512, mount_options=""):
    """A LoopFilesystem whose image lives on a private tmpfs. Its flushes then
    cause no I/O on the host's disk (the loop driver's fsync of a tmpfs file does
    nothing), which keeps the system's other bios out of a test's accounting and
    makes fsync storms fast."""
    base = tempfile.mkdtemp(prefix="diskidle-tmpfs-")
    test.addCleanup(shutil.rmtree, base, ignore_errors=True)
    run("mount", "-t", "tmpfs", "-o", f"size={size_mb + 64}m,mode=0700", "tmpfs", base)
    test.addCleanup(checked_cleanup, "umount", base, fallback=["umount", "-l", base])
    saved = tempfile.tempdir
    tempfile.tempdir = base
    try:
        return LoopFilesystem(test, fstype, size_mb, mount_options=mount_options)
    finally:
        tempfile.tempdir = saved

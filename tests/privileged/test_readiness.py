"""Readiness as a probe sees it: /healthz answers 503 until every enabled source
is up (the BPF program attached, /proc/diskstats read once) and 200 from then
on, while /metrics answers 200 throughout and marks what failed.
"""
import os
import shutil
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from diskidle_testlib import Exporter, parse_metrics, require_privileges

# Generous: the sampler reads diskstats every second (the default interval);
# the machine is shared, so this bounds a hang, not a speed.
TURN_READY_TIMEOUT = 20


class StartingExporter(Exporter):
    """An Exporter that waits only for the server to answer /healthz (200 or
    503), not for readiness: these tests look at the time before it."""

    def wait_ready(self, test, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                test.fail(f"exporter exited with {self.proc.returncode}: {self.read_log()}")
            if healthz(self) is not None:
                return
            time.sleep(0.1)
        test.fail(f"exporter not answering after {timeout}s: {self.read_log()}")


def healthz(exporter):
    """/healthz's status code, or None when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(exporter.url("/healthz"), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, ConnectionError):
        return None


def value(test, samples, name, **labels):
    """The one sample of `name` with exactly these labels; a missing or
    duplicated series fails the test, naming it (never read as 0)."""
    found = [v for n, l, v in samples if n == name and l == {k: str(w) for k, w in labels.items()}]
    if len(found) != 1:
        present = sorted({str(l) for n, l, _ in samples if n == name})
        test.fail(f"expected one series {name}{labels}, found {len(found)}; "
                  f"{name} has: {present}")
    return found[0]


def poll(test, what, condition, timeout=TURN_READY_TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    test.fail(f"{what}: not within {timeout}s")


def procfs_without_diskstats(test):
    """A directory standing in for /proc: every entry of /proc as a symlink,
    except diskstats (add_pid links processes started later)."""
    path = tempfile.mkdtemp(prefix="diskidle-procfs-")
    os.chmod(path, 0o755)
    test.addCleanup(shutil.rmtree, path, ignore_errors=True)  # removes links, never follows
    for name in os.listdir("/proc"):
        if name != "diskstats":
            os.symlink(os.path.join("/proc", name), os.path.join(path, name))
    return path


def add_pid(procfs, pid):
    link = os.path.join(procfs, str(pid))
    if os.path.lexists(link):  # a stale link of a reused pid already points there
        os.remove(link)
    os.symlink(f"/proc/{pid}", link)


def open_writer(fifo):
    """A write end of `fifo` once a reader has it open, else None (never blocks,
    so an exporter that died does not hang the test)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader yet
        return None
    os.set_blocking(fd, True)
    return fd


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class ReadinessTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)

    def test_healthz_is_503_until_diskstats_is_read_then_200(self):
        procfs = procfs_without_diskstats(self)
        exporter = StartingExporter(self, f"paths:\n  procfs: {procfs}\n")
        # The process collector reads <procfs>/<own pid>/stat.
        add_pid(procfs, exporter.proc.pid)

        # Once the program is attached (bio success 1), diskstats is the only
        # thing missing: /healthz must still say 503, /metrics must answer.
        def attached():
            samples = parse_metrics(exporter.scrape_text())
            bio = [v for n, l, v in samples
                   if n == "diskidle_scrape_collector_success" and l == {"collector": "bio"}]
            return samples if bio == [1.0] else None
        samples = poll(self, "bio collector attached and succeeding", attached)
        self.assertEqual(
            value(self, samples, "diskidle_scrape_collector_success", collector="diskstats"), 0)
        self.assertEqual(
            value(self, samples, "diskidle_scrape_collector_success", collector="process"), 1)
        self.assertEqual(healthz(exporter), 503, exporter.read_log())

        # diskstats appears: the next sample reads it and the exporter turns ready.
        with open("/proc/diskstats") as f:
            write_atomically(os.path.join(procfs, "diskstats"), f.read())
        poll(self, "/healthz 200 after diskstats appeared", lambda: healthz(exporter) == 200)
        samples = exporter.scrape()
        self.assertEqual(
            value(self, samples, "diskidle_scrape_collector_success", collector="diskstats"), 1)
        self.assertEqual(
            value(self, samples, "diskidle_scrape_collector_success", collector="bio"), 1)
        self.assertEqual(exporter.stop(), 0, exporter.read_log())

    def test_healthz_is_503_while_the_program_loads(self):
        # The loader first opens <sysfs>/kernel/btf/vmlinux. As a FIFO with no
        # writer, that open blocks: the program load is held at its start for
        # as long as the test wants, with the server already answering.
        sysfs = tempfile.mkdtemp(prefix="diskidle-sysfs-")
        self.addCleanup(shutil.rmtree, sysfs, ignore_errors=True)
        os.makedirs(os.path.join(sysfs, "kernel", "btf"))
        btf = os.path.join(sysfs, "kernel", "btf", "vmlinux")
        os.mkfifo(btf)
        exporter = StartingExporter(self, f"paths:\n  sysfs: {sysfs}\n")

        # diskstats is read (success 1), the program is not loaded (no bio
        # collector yet): not ready.
        def diskstats_ok():
            samples = exporter.scrape()
            ok = [v for n, l, v in samples
                  if n == "diskidle_scrape_collector_success" and l == {"collector": "diskstats"}]
            return samples if ok == [1.0] else None
        samples = poll(self, "diskstats collector succeeding", diskstats_ok)
        self.assertEqual([l for n, l, _ in samples if l.get("collector") == "bio"], [],
                         "the bio collector runs before its program is loaded")
        self.assertEqual(healthz(exporter), 503, exporter.read_log())

        # Release the load: a writer lets the blocked open return (at once,
        # since the reader waits), the real BTF takes the FIFO's place for the
        # loader's later opens, and closing the writer gives the first read EOF
        # (no BTF there: auto then picks raw_tp).
        writer = poll(self, "the loader opening the BTF", lambda: open_writer(btf))
        link = btf + ".link"
        os.symlink("/sys/kernel/btf/vmlinux", link)
        os.rename(link, btf)
        os.close(writer)
        poll(self, "/healthz 200 once the program is attached", lambda: healthz(exporter) == 200)
        self.assertEqual(
            value(self, exporter.scrape(), "diskidle_scrape_collector_success", collector="bio"), 1)
        self.assertEqual(exporter.stop(), 0, exporter.read_log())

    def test_without_diskstats_collector_ready_once_attached(self):
        # Base Exporter: waits for /healthz 200 (fails the test otherwise).
        exporter = Exporter(self, "collectors:\n  diskstats:\n    enabled: false\n")
        samples = exporter.scrape()
        self.assertEqual(
            value(self, samples, "diskidle_scrape_collector_success", collector="bio"), 1)
        self.assertEqual(
            [l for n, l, _ in samples if n == "diskidle_scrape_collector_success"
             and l.get("collector") == "diskstats"], [],
            "the disabled diskstats collector must not run")
        self.assertEqual(healthz(exporter), 200)
        self.assertEqual(exporter.stop(), 0, exporter.read_log())

    def test_without_bio_collector_ready_once_diskstats_read(self):
        procfs = procfs_without_diskstats(self)
        exporter = StartingExporter(
            self, f"paths:\n  procfs: {procfs}\ncollectors:\n  bio:\n    enabled: false\n")
        add_pid(procfs, exporter.proc.pid)
        samples = exporter.scrape()
        self.assertEqual(
            value(self, samples, "diskidle_scrape_collector_success", collector="diskstats"), 0)
        self.assertEqual(healthz(exporter), 503, "no diskstats read yet, yet ready")
        with open("/proc/diskstats") as f:
            write_atomically(os.path.join(procfs, "diskstats"), f.read())
        poll(self, "/healthz 200 after diskstats appeared", lambda: healthz(exporter) == 200)
        self.assertEqual(exporter.stop(), 0, exporter.read_log())


if __name__ == "__main__":
    unittest.main()

"""Any bytes in a process name (issue 9, item 3).

Any local user can rename a process with prctl(PR_SET_NAME), and the kernel
cuts names at 15 bytes, in the middle of a UTF-8 character. Processes named
with every byte value 0x01-0xff, and Cyrillic and Chinese names cut
mid-character, fsync() on a loop device while a real Prometheus scrapes the
exporter every second. Every scrape must stay valid (promtool, and Prometheus's
`up == 1`), every name must appear as the documented escape
(docs/metrics.md: invalid bytes and control characters become `\\xHH`, a
backslash two, so no two names share a value), and
every flush must still be counted: under the right pid in the per-process
view, and under the escaped name on the test's disk in the complete view.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import diskidle_testlib as lib

FSYNCS = 20

CHILD = r"""
import ctypes, os, sys
name = bytes.fromhex(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(15, ctypes.c_char_p(name), 0, 0, 0) != 0:  # PR_SET_NAME
    sys.exit("prctl failed")
with open("/proc/self/comm", "rb") as f:
    assert f.read() == name + b"\n", "the kernel kept another name"
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"x" * 4096)
os.fsync(fd)
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(sys.argv[3])):
    os.fsync(fd)  # unchanged file: one zero-byte flush bio each
print("done", flush=True)
sys.stdin.readline()
"""


def utf8_length(raw, i):
    """Length of the valid UTF-8 sequence at raw[i], or 0 (strict, like Go)."""
    for n in (1, 2, 3, 4):
        try:
            if len(raw[i:i + n].decode("utf-8")) == 1 and len(raw[i:i + n]) == n:
                return n
        except UnicodeDecodeError:
            continue
    return 0


def expected_label(raw):
    """The documented escape, written independently of the exporter's code."""
    out = []
    i = 0
    while i < len(raw):
        n = utf8_length(raw, i)
        if n == 0 or raw[i] < 0x20 or raw[i] == 0x7f:
            out.append("\\x%02x" % raw[i])
            i += 1
        elif raw[i] == 0x5c:  # a backslash is doubled: no two names share a value
            out.append("\\\\")
            i += 1
        else:
            out.append(raw[i:i + n].decode("utf-8"))
            i += n
    return "".join(out)


def names():
    every_byte = bytes(range(1, 256))
    result = [every_byte[i:i + 15] for i in range(0, len(every_byte), 15)]
    result.append("обработчик-журнала".encode()[:15])  # ends in half of "ч"
    result.append("a数据库写入服务".encode()[:15])       # ends in 2 of 3 bytes of "入"
    result.append('q"uote\\back'.encode())
    # Pairs that were one label value before backslashes were doubled: the
    # four characters \xff and the byte 0xff, the characters \x09 and a tab.
    result += [b"q\\xff", b"q\xff", b"tab\\x09", b"tab\t"]
    return result


class LabelNamesTest(unittest.TestCase):
    def setUp(self):
        lib.require_privileges(self)
        for tool in ("promtool", "prometheus"):
            if shutil.which(tool) is None:
                self.fail(f"{tool} not found (Debian package prometheus)")
        self.dir = tempfile.mkdtemp(prefix="diskidle-names-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.fs = lib.LoopFilesystem(self, "ext4")
        self.exporter = lib.Exporter(self)

    def start_prometheus(self):
        port = lib.free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: diskidle\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{self.exporter.port}']\n")
        log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen(["prometheus", f"--config.file={config}",
                                 f"--storage.tsdb.path={self.dir}/tsdb",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)

        def stop():
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.addCleanup(stop)
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return url
            except OSError:
                pass
            time.sleep(0.2)
        self.fail("prometheus not ready after 60 s")

    def query(self, url, promql):
        q = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=10) as r:
            body = json.load(r)
        self.assertEqual(body["status"], "success", body)
        return body["data"]["result"]

    def flush_series(self, text):
        """(pid, comm, zero-byte flushes) of each per-process flush series on our disk."""
        return [(labels["pid"], labels["comm"], value)
                for name, labels, value in lib.parse_metrics(text)
                if (name == lib.PROCESS_ZERO_BYTE_BIOS and labels.get("op") == "flush"
                    and labels.get("device") == self.fs.name)]

    def flushes_by_pid(self, text):
        """{pid: zero-byte flushes on our disk} from the per-process counters."""
        counts = {}
        for pid, _, value in self.flush_series(text):
            counts[pid] = counts.get(pid, 0) + value
        return counts

    def zero_byte_flushes_by_comm(self, text):
        """The complete view's le="0" bucket: flushes are zero-byte bios."""
        counts = {}
        for name, labels, value in lib.parse_metrics(text):
            if (name == lib.BIO + "_bucket" and labels.get("le") == "0"
                    and labels.get("op") == "flush" and labels.get("device") == self.fs.name):
                counts[labels["comm"]] = counts.get(labels["comm"], 0) + value
        return counts

    def test_any_bytes_in_a_name_keep_every_scrape_valid_and_counted(self):
        prometheus = self.start_prometheus()
        children = []
        for i, name in enumerate(names()):
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, name.hex(), self.fs.path(f"f{i}"), str(FSYNCS)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            children.append((name, child))

            def reap(child=child):
                if child.poll() is None:
                    child.kill()
                child.wait()
            self.addCleanup(reap)
        for name, child in children:
            self.assertEqual(child.stdout.readline().strip(), "ready", name)
        before_text = self.exporter.scrape_text()
        before = self.flushes_by_pid(before_text)
        before_by_comm = self.zero_byte_flushes_by_comm(before_text)
        for _, child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        for name, child in children:
            self.assertEqual(child.stdout.readline().strip(), "done", name)

        text = self.exporter.scrape_text()
        after = self.flushes_by_pid(text)
        pids = {str(child.pid): name for name, child in children}
        for pid, name in pids.items():
            self.assertIn(pid, after, f"no flush series for {name!r}")
            self.assertEqual(after[pid] - before.get(pid, 0), FSYNCS,
                             f"flushes of {name!r} (pid {pid}): before {before.get(pid)}, "
                             f"after {after[pid]}")
        # Every flush on our disk came after the rename, so each of those series
        # carries the new name. (A child may also have a series under "python3"
        # from its start-up, on another disk, before it renamed itself: an
        # older name's series keep their values, by design.)
        comms = {}
        for pid, comm, _ in self.flush_series(text):
            if pid in pids:
                comms.setdefault(pid, set()).add(comm)
        for pid, name in pids.items():
            self.assertEqual(comms.get(pid), {expected_label(name)}, f"label of {name!r}")
        # The complete view: each escaped name on our disk gained exactly its flushes.
        by_comm = self.zero_byte_flushes_by_comm(text)
        for name in pids.values():
            label = expected_label(name)
            self.assertIn(label, by_comm, f"no complete-view series for {name!r}")
            self.assertEqual(by_comm[label] - before_by_comm.get(label, 0), FSYNCS,
                             f"flushes of {name!r} in the complete view")

        result = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                                capture_output=True)
        self.assertEqual(result.returncode, 0, (result.stdout + result.stderr).decode())

        # Prometheus took several scrapes with these names: all of them valid.
        deadline = time.time() + 30
        while True:
            ups = self.query(prometheus, 'up{job="diskidle"}')
            seen = self.query(prometheus, 'count(diskidle_process_bios_total{op="flush",pid=~"%s"})'
                              % "|".join(pids))
            if seen and int(seen[0]["value"][1]) >= len(pids):
                break
            if time.time() > deadline:
                self.fail(f"prometheus never ingested the renamed processes: up={ups} seen={seen}")
            time.sleep(1)
        self.assertEqual([r["value"][1] for r in ups], ["1"])
        self.assertEqual(self.query(prometheus, 'min_over_time(up{job="diskidle"}[1m])')[0]["value"][1],
                         "1", "a scrape failed while the names were present")
        stored = self.query(prometheus,
                            'diskidle_process_bios_total{op="flush",device="%s",pid=~"%s"}'
                            % (self.fs.name, "|".join(pids)))
        stored_comms = {r["metric"]["pid"]: r["metric"]["comm"] for r in stored}
        for pid, name in pids.items():
            self.assertEqual(stored_comms.get(pid), expected_label(name))
        stored = self.query(prometheus, 'diskidle_bio_size_bytes_count{op="flush",device="%s"}'
                            % self.fs.name)
        stored_comms = {r["metric"]["comm"] for r in stored}
        for name in pids.values():
            self.assertIn(expected_label(name), stored_comms,
                          f"Prometheus stored the complete view of {name!r}")
        for _, child in children:
            child.stdin.write("exit\n")
            child.stdin.flush()
            self.assertEqual(child.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main()

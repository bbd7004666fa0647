"""GET /debug/stacks (issue 11): on-demand kernel and user stacks of a
process's bios, folded, from the real exporter on loop-device filesystems.

The bar: for an fsync()ing Python child the folded stacks name the
filesystem's fsync in the kernel and a libc or interpreter symbol in user
space, and their counts add up to the bios counted for the child (by the
exporter's own metrics, an independent BPF program) within 1%. One collection
at a time (429), /metrics still answers during one, 404 when disabled, 401
without credentials when auth is on, and nothing of it is in the kernel
between collections.
"""
import base64
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

import diskidle_testlib as lib

ENABLED = "debug:\n  stacks:\n    enabled: true\n"
STACK_PROGRAM = "stack_bio_queu"  # BPF program names are cut to 15 characters
FOLDED_LINE = re.compile(r"^(\S.*) (\d+)$")
UNRESOLVED = re.compile(r"(\+0x[0-9a-f]+$)|^\[")

# A child that fsyncs an unchanged file (one flush bio per fsync) only between
# each "go" and its "done", so the test knows when it is quiet. EOF ends it.
FSYNC_CHILD = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b"x")
os.fsync(fd)
print("ready", flush=True)
n = int(sys.argv[2])
for _ in sys.stdin:
    for _ in range(n):
        os.fsync(fd)
    print("done", n, flush=True)
"""


class FsyncChild:
    """The Python child above; every wait for it has a timeout."""

    def __init__(self, test, path, fsyncs):
        self.fsyncs = fsyncs
        self.proc = subprocess.Popen([sys.executable, "-c", FSYNC_CHILD, path, str(fsyncs)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        test.addCleanup(self.finish)
        self.lines = lib.queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout],
                         daemon=True).start()
        test.assertEqual(self.next_line(), "ready\n")

    def next_line(self, timeout=60):
        try:
            return self.lines.get(timeout=timeout)
        except lib.queue.Empty:
            return f"<nothing within {timeout}s>"

    def run_fsyncs(self, test):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        test.assertEqual(self.next_line(), f"done {self.fsyncs}\n")

    def finish(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def get(url, timeout=120, auth=None):
    """(status, headers, body text) of a GET, for any status."""
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode("utf-8", errors="backslashreplace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", errors="backslashreplace")


def parse_folded(text):
    """[(frames, count)] of folded text; any other line fails."""
    stacks = []
    for line in text.splitlines():
        m = FOLDED_LINE.match(line)
        if not m:
            raise AssertionError(f"not a folded line: {line!r}")
        stacks.append((m.group(1).split(";"), int(m.group(2))))
    return stacks


def stack_program_attached(exporter):
    return lib.attached_programs(exporter.proc.pid, lambda name: name.startswith(STACK_PROGRAM))


def stack_program_held(exporter):
    return [p for p in lib.bpf_programs_of(exporter.proc.pid) if p["name"].startswith(STACK_PROGRAM)]


def dynamic_symbols(path):
    """Names a library or executable exports (nm -D), e.g. libc's fsync."""
    out = lib.run("nm", "-D", "--defined-only", path).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}


class Collection:
    """One /debug/stacks request running in a thread; result() joins it."""

    def __init__(self, test, url, auth=None):
        self.response = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(url, auth), daemon=True)
        self.thread.start()
        test.addCleanup(self.thread.join, 5)

    def _run(self, url, auth):
        try:
            self.response = get(url, auth=auth)
        except BaseException as e:  # noqa: B902 - handed to the test thread
            self.error = e

    def result(self, timeout=150):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"/debug/stacks did not answer within {timeout}s")
        if self.error is not None:
            raise AssertionError(f"/debug/stacks request failed: {self.error!r}") from self.error
        return self.response


class DebugStacksTest(unittest.TestCase):
    def setUp(self):
        lib.require_privileges(self)

    def wait_collecting(self, exporter, collection):
        lib.wait_for("the stack program to be attached",
                      lambda: stack_program_attached(exporter) or collection.response, timeout=30)
        if collection.response is not None:
            self.fail(f"the collection answered before it was seen attached: {collection.response}")

    def fsync_stacks(self, fstype, fsync_function, attach="tp_btf"):
        fs = lib.tmpfs_loop_filesystem(self, fstype)
        exporter = lib.Exporter(self, ENABLED + f"collectors:\n  bio:\n    attach: {attach}\n")
        self.assertEqual(stack_program_held(exporter), [],
                         "a stack program is loaded before anyone asked for stacks")
        child = FsyncChild(self, fs.path("f"), 1000)
        with open(f"/proc/{child.pid}/maps") as f:
            libc = next(line.split()[-1] for line in f if "/libc.so" in line)
        user_symbols = dynamic_symbols(libc) | dynamic_symbols(os.path.realpath(sys.executable))

        before = exporter.scrape()
        collection = Collection(self, exporter.url(f"/debug/stacks?pid={child.pid}&seconds=10"))
        self.wait_collecting(exporter, collection)
        # What runs is what was asked for (tp_btf programs have type "tracing").
        self.assertEqual({p[0] for p in stack_program_attached(exporter)},
                         {"tracing" if attach == "tp_btf" else "raw_tracepoint"})
        child.run_fsyncs(self)
        # Every fsync of the child must fall inside the collection window.
        self.assertTrue(stack_program_attached(exporter),
                        "the collection ended before the child finished: raise seconds=")
        status, headers, body = collection.result()
        after = exporter.scrape()
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["X-Diskidle-Attach"], attach)
        self.assertEqual(stack_program_held(exporter), [],
                         "the stack program is still loaded after the collection")

        stacks = parse_folded(body)
        total = sum(count for _, count in stacks)
        counted = lib.process_delta(before, after, pid=child.pid).bios
        self.assertGreaterEqual(counted, 1000, "the metrics saw fewer bios than fsyncs")
        self.assertLessEqual(abs(total - counted), counted * 0.01,
                             f"folded counts add up to {total}, the metrics counted {counted} "
                             f"bios for the child:\n{body}")
        self.assertEqual(total, int(headers["X-Diskidle-Bios"]),
                         "folded counts do not add up to what the kernel matched")
        for frames, _ in stacks:
            self.assertEqual(frames[0], "python3", f"root frame is not the comm: {frames}")
            # The leaf is the submitter, not the tracepoint's machinery or our program.
            tracing = [f for f in frames if f.startswith(("bpf_prog_", "bpf_trace_run",
                                                          "__traceiter_", "__bpf_trace_"))]
            self.assertEqual(tracing, [], frames)
        kernel_fsync = [f for f, _ in stacks if fsync_function in f]
        self.assertTrue(kernel_fsync, f"no stack passes through {fsync_function}:\n{body}")
        named_user = {frame for frames, _ in stacks for frame in frames[1:]
                      if frame in user_symbols and not UNRESOLVED.search(frame)}
        self.assertTrue(named_user, f"no user frame is a libc or python symbol:\n{body}")
        # The user frames come before the kernel's (root first): the libc
        # symbol sits above the syscall entry.
        for frames in kernel_fsync:
            entry = next(i for i, f in enumerate(frames) if f.startswith("entry_SYSCALL"))
            self.assertTrue(set(frames[1:entry]) & named_user, frames)
            self.assertLess(entry, frames.index(fsync_function), frames)

    def test_fsync_stacks_ext4(self):
        self.fsync_stacks("ext4", "ext4_sync_file")

    def test_fsync_stacks_xfs(self):
        self.fsync_stacks("xfs", "xfs_file_fsync")

    def test_fsync_stacks_ext4_raw_tp(self):
        # The raw_tp twin: other tracing frames to cut, the same stacks.
        self.fsync_stacks("ext4", "ext4_sync_file", attach="raw_tp")

    def test_one_collection_at_a_time_and_metrics_answer_meanwhile(self):
        exporter = lib.Exporter(self, ENABLED)
        first = Collection(self, exporter.url(f"/debug/stacks?pid={os.getpid()}&seconds=6"))
        self.wait_collecting(exporter, first)
        status, headers, body = get(exporter.url(f"/debug/stacks?pid={os.getpid()}&seconds=1"),
                                    timeout=5)
        self.assertEqual(status, 429, body)
        self.assertIn("already running", body)
        self.assertIsNotNone(headers.get("Retry-After"))
        # The collection holds one handler thread; scrapes use the other. Still
        # attached after them: they were answered during it, not after it.
        for _ in range(3):
            samples = exporter.scrape()
            self.assertTrue(samples)
        self.assertTrue(stack_program_attached(exporter),
                        "the collection ended before the scrapes: they did not overlap it")
        self.assertEqual(first.result()[0], 200)
        # The slot is free again.
        status, _, body = get(exporter.url(f"/debug/stacks?pid={os.getpid()}&seconds=1"))
        self.assertEqual(status, 200, body)

    def test_bad_parameters_are_400_with_a_reason(self):
        exporter = lib.Exporter(self, ENABLED)
        for query, reason in (("", "exactly one of pid"),
                              ("pid=1&seconds=61", "seconds: expected a whole number from 1 to 60"),
                              ("pid=1&op=fsync", "op: expected read, write, flush"),
                              ("pid=1&device=nosuchdisk0", "device: no disk named \"nosuchdisk0\""),
                              ("pid=4194304", "pid: no process 4194304"),
                              ("pid=1&x=2", "unknown parameter \"x\"")):
            status, _, body = get(exporter.url(f"/debug/stacks?{query}"), timeout=10)
            self.assertEqual(status, 400, f"{query}: {body}")
            self.assertIn(reason, body, query)
            self.assertEqual(body.count("\n"), 1, f"{query}: not one line: {body!r}")
        self.assertEqual(stack_program_held(exporter), [])

    def test_device_and_op_filters(self):
        fs = lib.tmpfs_loop_filesystem(self, "ext4")
        exporter = lib.Exporter(self, ENABLED)
        child = FsyncChild(self, fs.path("f"), 300)
        # comm= for the flushes to our own disk (no other process touches it);
        # pid= where another disk is involved, so other processes named python3
        # on this machine cannot add to the count.
        results = {}
        for name, query in (("flush", f"comm=python3&device={fs.name}&op=flush"),
                            ("read", f"pid={child.pid}&device={fs.name}&op=read"),
                            ("other disk", f"pid={child.pid}&device=" +
                             next(d for d in sorted(os.listdir("/sys/block")) if d != fs.name))):
            collection = Collection(self, exporter.url(f"/debug/stacks?{query}&seconds=5"))
            self.wait_collecting(exporter, collection)
            child.run_fsyncs(self)
            status, headers, body = collection.result()
            self.assertEqual(status, 200, body)
            results[name] = int(headers["X-Diskidle-Bios"])
            self.assertEqual(sum(c for _, c in parse_folded(body)), results[name])
        # One flush bio per fsync of an unchanged file (ext4), within 1%.
        self.assertTrue(300 <= results["flush"] <= 303, results)
        self.assertEqual(results["read"], 0, results)
        self.assertEqual(results["other disk"], 0, results)

    def test_shutdown_during_a_collection_is_prompt(self):
        exporter = lib.Exporter(self, ENABLED)
        collection = Collection(self, exporter.url(f"/debug/stacks?pid={os.getpid()}&seconds=60"))
        self.wait_collecting(exporter, collection)
        started = time.monotonic()
        self.assertEqual(exporter.stop(timeout=20), 0)
        self.assertLess(time.monotonic() - started, 10, "SIGTERM waited for the collection")
        collection.thread.join(10)

    def test_disabled_is_404(self):
        exporter = lib.Exporter(self, "")
        status, _, _ = get(exporter.url("/debug/stacks?pid=1&seconds=1"), timeout=10)
        self.assertEqual(status, 404)

    def test_behind_the_same_auth_as_metrics(self):
        line = lib.run("htpasswd", "-nbBC", "10", "prometheus", "s3cret-pass").stdout.strip()
        web_config = os.path.join(lib.tempfile.mkdtemp(prefix="diskidle-web-"), "web.yml")
        self.addCleanup(lib.shutil.rmtree, os.path.dirname(web_config), ignore_errors=True)
        with open(web_config, "w") as f:
            f.write(f"basic_auth_users:\n  prometheus: {line.partition(':')[2]}\n")
        exporter = lib.Exporter(self, ENABLED, extra_args=[f"--web.config.file={web_config}"])
        url = exporter.url(f"/debug/stacks?pid={os.getpid()}&seconds=1")
        status, headers, _ = get(url, timeout=10)
        self.assertEqual(status, 401)
        self.assertIn("Basic", headers.get("WWW-Authenticate", ""))
        self.assertEqual(get(url, timeout=10, auth=("prometheus", "wrong"))[0], 401)
        self.assertEqual(stack_program_held(exporter), [])
        status, _, body = get(url, timeout=30, auth=("prometheus", "s3cret-pass"))
        self.assertEqual(status, 200, body)


if __name__ == "__main__":
    unittest.main()

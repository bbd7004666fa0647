"""The syscall collector (collectors.syscalls, issue 11): per-process time,
write sizes and errors of the write and sync syscalls, on a loop device.

The bar: a child does 500 fsyncs, 200 zero-byte write()s and 100 4 KiB
pwrite()s; the syscall metrics for its pid count exactly 500, 200 (in
le="0") and 100, and the duration sums are above 0. An unrelated process
that only calls getppid adds no series. With the key off, nothing of the
collector is in the kernel."""
import subprocess
import unittest

from diskidle_testlib import (IOGEN, Exporter, IoGen, attached_bio_programs, bpf_programs_of,
                              require_privileges, series, tmpfs_loop_filesystem,
                              total, wait_for)

DURATION = "diskidle_syscall_duration_seconds"
WRITE_BYTES = "diskidle_syscall_write_bytes"
ERRORS = "diskidle_syscall_errors_total"
FAMILIES = (DURATION + "_count", DURATION + "_sum", WRITE_BYTES + "_count", ERRORS)
# The 11 traced syscalls (bpf/syscall_stats.bpf.c), one entry and one exit program each.
TRACED = ("write", "pwrite64", "writev", "pwritev", "pwritev2", "fsync", "fdatasync",
          "sync_file_range", "syncfs", "sync", "msync")

FSYNCS, ZERO_WRITES, PWRITES, FAILING_WRITEVS = 500, 200, 100, 7

ENABLED = """
collectors:
  syscalls:
    enabled: true
"""


def tracepoint_program_names(pid):
    """Names of the plain tracepoint programs process `pid` holds (the syscall
    collector's; the bio collector's are tracing/raw_tracepoint programs)."""
    return sorted(p["name"] for p in bpf_programs_of(pid) if p["type"] == "tracepoint")


def wait_attached(exporter):
    """The start-up log line that says how the collector attached (/healthz
    is 200 only after it, but the log says which path was taken)."""
    wait_for("the syscall collector's attach log line",
             lambda: "syscall collector attached: syscall tracepoints" in exporter.read_log())


class SyscallCollectorTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, "ext4", size_mb=128)

    def test_counts_exactly_what_the_child_did(self):
        exporter = Exporter(self, ENABLED)
        wait_attached(exporter)
        gen = IoGen(self, "syscall-mix", self.fs.path("mix"), FSYNCS, wait=True,
                    extra=(ZERO_WRITES, PWRITES, FAILING_WRITEVS))
        # The unrelated process runs while the child works: it only calls
        # getppid() (a few million times), and prints nothing.
        bystander = subprocess.Popen([IOGEN, "getppid", "/", "3000000"])
        self.addCleanup(lambda: bystander.poll() is None and bystander.kill())
        before = exporter.scrape()
        gen.go()
        self.assertEqual(gen.wait_done(self), FSYNCS)
        self.assertEqual(bystander.wait(timeout=120), 0)
        after = exporter.scrape()

        def delta(name, **labels):
            """The change of one series of the child on the loop device between
            the two scrapes. Strict: a series missing afterwards fails (never 0)."""
            match = dict(pid=gen.pid, device=self.fs.name, **labels)
            found = series(after, name, **match)
            self.assertEqual(len(found), 1, f"{name}{match}: expected one series, got {found}")
            return total(after, name, **match) - total(before, name, absent_ok=True, **match)

        self.assertEqual(delta(DURATION + "_count", syscall="fsync"), FSYNCS)
        self.assertEqual(delta(DURATION + "_count", syscall="write"), ZERO_WRITES)
        self.assertEqual(delta(WRITE_BYTES + "_bucket", syscall="write", le="0"), ZERO_WRITES)
        self.assertEqual(delta(WRITE_BYTES + "_count", syscall="write"), ZERO_WRITES)
        self.assertEqual(delta(WRITE_BYTES + "_sum", syscall="write"), 0)
        self.assertEqual(delta(DURATION + "_count", syscall="pwrite"), PWRITES)
        self.assertEqual(delta(WRITE_BYTES + "_count", syscall="pwrite"), PWRITES)
        self.assertEqual(delta(WRITE_BYTES + "_bucket", syscall="pwrite", le="4096"), PWRITES)
        self.assertEqual(delta(WRITE_BYTES + "_bucket", syscall="pwrite", le="512"), 0)
        self.assertEqual(delta(WRITE_BYTES + "_sum", syscall="pwrite"), PWRITES * 4096)
        for syscall in ("fsync", "write", "pwrite"):
            self.assertGreater(delta(DURATION + "_sum", syscall=syscall), 0, syscall)
            self.assertEqual(delta(ERRORS, syscall=syscall), 0, syscall)
        # Failed calls: counted as calls and as errors, never as written bytes.
        self.assertEqual(delta(ERRORS, syscall="writev"), FAILING_WRITEVS)
        self.assertEqual(delta(DURATION + "_count", syscall="writev"), FAILING_WRITEVS)
        self.assertEqual(delta(WRITE_BYTES + "_count", syscall="writev"), 0)
        # Its series carry its name, and the whole histogram is consistent.
        for labels, _ in series(after, DURATION + "_count", pid=gen.pid):
            self.assertEqual(labels["comm"], gen.comm)
        for labels, count in series(after, DURATION + "_count", pid=gen.pid):
            inf = [v for n, l, v in after
                   if n == DURATION + "_bucket" and l == dict(labels, le="+Inf")]
            self.assertEqual(inf, [count], labels)
        # The bystander: no series at all, in any family.
        for name in FAMILIES:
            self.assertEqual(series(after, name, pid=bystander.pid), [], name)
        self.assertIn(DURATION, after.families)

    def test_traced_syscalls_attach_as_tracepoints(self):
        exporter = Exporter(self, ENABLED)
        wait_attached(exporter)
        names = tracepoint_program_names(exporter.proc.pid)
        expected = sorted(f"sc_{kind}_{syscall}" for syscall in TRACED
                          for kind in ("enter", "exit"))
        self.assertEqual(names, expected)

    def test_nothing_is_loaded_when_disabled(self):
        exporter = Exporter(self, "")  # the default: collectors.syscalls.enabled false
        self.assertEqual(tracepoint_program_names(exporter.proc.pid), [])
        # The bio collector is there, so the check looks at a live BPF user.
        self.assertTrue(attached_bio_programs(exporter.proc.pid))
        self.assertNotIn("syscall collector", exporter.read_log())
        samples = exporter.scrape()
        self.assertFalse({DURATION, WRITE_BYTES, ERRORS} & samples.families)


if __name__ == "__main__":
    unittest.main()

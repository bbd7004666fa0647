"""The syscall collector (collectors.syscalls, issue 11): per-process time,
write sizes and errors of the write and sync syscalls, on a loop device.

The bar: a child does 500 fsyncs, 200 zero-byte write()s and 100 4 KiB
pwrite()s; the syscall metrics for its pid count exactly 500, 200 (in
le="0") and 100, and the duration sums are above 0. An unrelated process
that only calls getppid adds no series. With the key off, nothing of the
collector is in the kernel."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from diskidle_testlib import (EXPORTER, IOGEN, Exporter, free_port, IoGen, attached_bio_programs, bpf_programs_of,
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

    def test_without_access_to_tracefs_start_up_fails_with_one_clear_line(self):
        """With only CAP_BPF and CAP_PERFMON (the least-privilege set) tracefs,
        root's, cannot be read: the exporter says so in one line, exits 1 and
        leaves nothing of the collector in the kernel."""
        work = tempfile.mkdtemp(prefix="diskidle-syscalls-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        os.chmod(work, 0o755)
        exporter = os.path.join(work, "diskidle_exporter")
        shutil.copy(EXPORTER, exporter)
        os.chmod(exporter, 0o755)
        config = os.path.join(work, "config.yaml")
        with open(config, "w") as f:
            f.write(ENABLED)
        os.chmod(config, 0o644)
        before = set(loaded_tracepoint_programs())
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "--inh-caps=-all,+bpf,+perfmon", "--ambient-caps=-all,+bpf,+perfmon",
             exporter, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{free_port()}"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1, result.stderr)
        fatal = [line for line in result.stderr.splitlines() if line.startswith("diskidle_exporter: ")]
        self.assertEqual(len(fatal), 1, result.stderr)
        self.assertIn("collectors.syscalls needs to read tracefs", fatal[0])
        self.assertIn("permission denied", fatal[0])
        self.assertIn("root", fatal[0])
        self.assertEqual(set(loaded_tracepoint_programs()) - before, set())


def loaded_tracepoint_programs():
    """Ids of the loaded BPF programs named like the syscall collector's."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], check=True, capture_output=True,
                         text=True).stdout
    return [p["id"] for p in json.loads(out or "[]") if p.get("name", "").startswith("sc_e")]


if __name__ == "__main__":
    unittest.main()

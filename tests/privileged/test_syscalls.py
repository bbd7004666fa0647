"""The syscall collector (collectors.syscalls, issue 11): per-process time,
write sizes and errors of the write and sync syscalls, on a loop device.

The bar: a child does 500 fsyncs, 200 zero-byte write()s and 100 4 KiB
pwrite()s; the syscall metrics for its pid count exactly 500, 200 (in
le="0") and 100, and the duration sums are above 0. An unrelated process
that only calls getppid adds no series. With the key off, nothing of the
collector is in the kernel.

How it attaches (collectors.syscalls.attach): `auto` tries fentry/fexit first
and falls back to the syscall tracepoints, saying why in its attach log line;
`fentry` on a kernel that refuses it is one fatal line; `tracepoint` never
tries fentry. What the exporter asked the kernel, and what the kernel
answered, is read from strace's record of its bpf() calls. This machine
refuses fentry (EPERM), so here the fallback path is what runs; on a kernel
that allows fentry the same tests check the fentry/fexit path instead."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from diskidle_testlib import (EXPORTER, IOGEN, Exporter, free_port, IoGen, attached_bio_programs, bpf_programs_of,
                              enable_bpf_stats,
                              bpftool_listing,
                              RenamingFsync, require_privileges, series, tmpfs_loop_filesystem,
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


def attach_line(log):
    """The start-up log line that says how the collector attached, or None."""
    lines = [line for line in log.splitlines() if "syscall collector attached: " in line]
    assert len(lines) <= 1, lines
    return lines[0] if lines else None


def wait_attached(exporter):
    """The attach log line (/healthz is 200 only after it, but the log says
    which path was taken)."""
    return wait_for("the syscall collector's attach log line",
                    lambda: attach_line(exporter.read_log()))


def fentry_program_names(pid):
    """Names of the syscall collector's fentry/fexit programs process `pid` holds."""
    return sorted(p["name"] for p in bpf_programs_of(pid)
                  if p["type"] == "tracing" and p["name"].startswith("sc_f"))


# One bpf(BPF_PROG_LOAD, ...) call in strace's record: program type and name
# (the kernel's, at most 15 characters) and the result (an fd, or -1 ERRNO (text)).
PROG_LOAD = re.compile(r'bpf\(BPF_PROG_LOAD, \{prog_type=BPF_PROG_TYPE_(\w+),.*?'
                       r'prog_name="([^"]*)".*\) = (-1 \w+ \(([^)]*)\)|\d+)$')


def syscall_program_loads(strace_log):
    """[(type, name, ok, error text)] of the syscall collector's program
    loads, in order (libbpf's feature probes and the bio program left out)."""
    loads = []
    for line in strace_log.splitlines():
        m = PROG_LOAD.search(line)
        if m and m.group(2).startswith("sc_"):
            loads.append((m.group(1), m.group(2), not m.group(3).startswith("-1"), m.group(4)))
    return loads


def run_under_strace(test, config_yaml):
    """Runs the exporter (bio collector off) under `strace -e trace=bpf` until
    the syscall collector's attach line, then stops it with SIGTERM; or until
    it exits on its own. Returns (exit status, the exporter's output, strace's
    record)."""
    work = tempfile.mkdtemp(prefix="diskidle-syscalls-strace-")
    test.addCleanup(shutil.rmtree, work, ignore_errors=True)
    config = os.path.join(work, "config.yaml")
    with open(config, "w") as f:
        f.write("collectors:\n  bio:\n    enabled: false\n" + config_yaml)
    log_path, trace_path = os.path.join(work, "exporter.log"), os.path.join(work, "strace.log")
    with open(log_path, "w") as log:
        strace = subprocess.Popen(
            ["strace", "-f", "-qq", "-e", "trace=bpf", "-o", trace_path, EXPORTER,
             f"--config.file={config}", f"--web.listen-address=127.0.0.1:{free_port()}"],
            stdout=log, stderr=subprocess.STDOUT)

    def read(path):
        with open(path) as f:
            return f.read()

    def stop():
        if strace.poll() is None:
            for child in exporter_children(strace.pid):
                os.kill(child, signal.SIGTERM)
            try:
                strace.wait(timeout=30)
            except subprocess.TimeoutExpired:
                strace.kill()
                strace.wait()
    test.addCleanup(stop)
    wait_for("the syscall collector's attach log line, or the exporter's exit",
             lambda: attach_line(read(log_path)) or strace.poll() is not None, timeout=60)
    stop()
    return strace.returncode, read(log_path), read(trace_path)


def exporter_children(strace_pid):
    """The pid strace started (the exporter), as /proc lists strace's children."""
    with open(f"/proc/{strace_pid}/task/{strace_pid}/children") as f:
        return [int(pid) for pid in f.read().split()]


class SyscallCollectorTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, "ext4", size_mb=128)

    def test_a_process_that_renames_itself_takes_its_new_name(self):
        # The same fsync() key before and after a write to /proc/self/comm: only
        # the program's task_rename hook can tell the exporter the new name.
        exporter = Exporter(self, ENABLED)
        wait_attached(exporter)
        path = self.fs.path("renamed")
        open(path, "wb").close()
        child = RenamingFsync(self, path, 30)
        calls = dict(pid=child.pid, device=self.fs.name, syscall="fsync")
        wait_for("the first fsync()s under the first name",
                 lambda: total(exporter.scrape(), DURATION + "_count", absent_ok=True,
                               comm="first-name", **calls) == 30)
        child.rename_and_finish(self)
        after = exporter.scrape()
        self.assertEqual(total(after, DURATION + "_count", comm="first-name", **calls), 30,
                         "the first name keeps the calls made before the rename")
        self.assertEqual(total(after, DURATION + "_count", comm="second-name", **calls), 30,
                         "the calls after the rename under the new name, exactly")

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

    def test_its_programs_report_their_runs(self):
        """diskidle_bpf_program_runs_total and _run_seconds_total cover the
        syscall collector's programs too (one family with the bio collector's),
        so summing them gives what the exporter costs in the kernel."""
        enable_bpf_stats(self)
        exporter = Exporter(self, ENABLED)
        wait_attached(exporter)
        gen = IoGen(self, "fsync-loop", self.fs.path("unchanged"), FSYNCS, wait=True)
        before = exporter.scrape()
        gen.go()
        self.assertEqual(gen.wait_done(self), FSYNCS)
        after = exporter.scrape()
        names = {labels["program"] for labels, _ in series(after, "diskidle_bpf_program_runs_total")}
        # The entry and exit programs' names depend on the path attached.
        sides = (("fentry", "fexit") if "sc_fentry_fsync" in names else ("enter", "exit"))
        expected = {f"sc_{side}_{name}" for name in TRACED for side in sides}
        self.assertLessEqual(expected, names, "a series for each syscall program")
        self.assertTrue({n for n in names if n.startswith("block_bio_queue")},
                        f"next to the bio collector's programs: {names}")
        for program in (f"sc_{side}_fsync" for side in sides):
            runs = (total(after, "diskidle_bpf_program_runs_total", program=program)
                    - total(before, "diskidle_bpf_program_runs_total", program=program))
            self.assertGreaterEqual(runs, FSYNCS, f"{program} ran for each of {FSYNCS} fsync()s")
            self.assertGreater(total(after, "diskidle_bpf_program_run_seconds_total",
                                     program=program), 0, program)

    def test_every_traced_syscall_is_attached_by_one_path(self):
        """The path the log names is the one attached, for all 11 syscalls,
        and the other path has no program in the kernel."""
        exporter = Exporter(self, ENABLED)
        line = wait_attached(exporter)
        if "attached: fentry/fexit" in line:
            kinds, names, others = ("fentry", "fexit"), fentry_program_names, tracepoint_program_names
        else:
            self.assertIn("attached: syscall tracepoints", line)
            kinds, names, others = ("enter", "exit"), tracepoint_program_names, fentry_program_names
        expected = sorted(f"sc_{kind}_{syscall}" for syscall in TRACED for kind in kinds)
        self.assertEqual(names(exporter.proc.pid), expected)
        self.assertEqual(others(exporter.proc.pid), [])

    def test_auto_tries_fentry_first_and_logs_why_it_fell_back(self):
        """auto: the first syscall program the exporter asks the kernel to load
        is an fentry one. Where the kernel refuses it, the tracepoints follow
        and the attach line gives the kernel's answer (its errno text); where
        it accepts, fentry/fexit is what is attached."""
        status, log, trace = run_under_strace(self, "  syscalls:\n    enabled: true\n")
        self.assertEqual(status, 0, log)
        loads = syscall_program_loads(trace)
        self.assertTrue(loads, trace[-3000:])
        self.assertEqual((loads[0][0], loads[0][1][:5]), ("TRACING", "sc_fe"), loads[:3])
        line = attach_line(log)
        self.assertIsNotNone(line, log)
        refused = [load for load in loads if load[0] == "TRACING" and not load[2]]
        if refused:
            reason = refused[0][3]  # e.g. "Operation not permitted"
            self.assertIn("attached: syscall tracepoints", line)
            self.assertIn(f"because fentry/fexit failed: load fentry/fexit programs: {reason}",
                          line)
            loaded = sorted(name for kind, name, ok, _ in loads if ok)
            self.assertEqual(loaded, sorted(f"sc_{kind}_{syscall}"[:15] for syscall in TRACED
                                            for kind in ("enter", "exit")))
            self.assertEqual({kind for kind, _, ok, _ in loads if ok}, {"TRACEPOINT"})
        else:
            self.assertIn("attached: fentry/fexit", line)
            self.assertEqual({kind for kind, _, _, _ in loads}, {"TRACING"})

    def test_tracepoint_never_tries_fentry(self):
        status, log, trace = run_under_strace(
            self, "  syscalls:\n    enabled: true\n    attach: tracepoint\n")
        self.assertEqual(status, 0, log)
        loads = syscall_program_loads(trace)
        self.assertEqual(len(loads), 2 * len(TRACED), loads)
        self.assertEqual({(kind, ok) for kind, _, ok, _ in loads}, {("TRACEPOINT", True)})
        line = attach_line(log)
        self.assertIn("attached: syscall tracepoints", line)
        self.assertIn("as collectors.syscalls.attach says (fentry/fexit not tried)", line)

    def test_fentry_where_the_kernel_refuses_it_is_one_fatal_line(self):
        """attach: fentry never falls back: where the kernel refuses fentry,
        one line says so with the kernel's answer, the exit status is 1 and
        no tracepoint program was even loaded. (Where the kernel accepts it,
        fentry/fexit is attached: the other branch.)"""
        before = set(loaded_syscall_programs())
        status, log, trace = run_under_strace(
            self, "  syscalls:\n    enabled: true\n    attach: fentry\n")
        loads = syscall_program_loads(trace)
        self.assertTrue(loads, trace[-3000:])
        self.assertEqual({kind for kind, _, _, _ in loads}, {"TRACING"}, loads)
        if all(ok for _, _, ok, _ in loads):
            self.assertEqual(status, 0, log)
            self.assertIn("attached: fentry/fexit", attach_line(log))
            return
        self.assertEqual(status, 1, log)
        fatal = [line for line in log.splitlines() if line.startswith("diskidle_exporter: ")]
        self.assertEqual(len(fatal), 1, log)
        reason = next(error for kind, _, ok, error in loads if not ok)
        self.assertIn("collectors.syscalls.attach is fentry, but this kernel refuses it: "
                      f"load fentry/fexit programs: {reason}", fatal[0])
        self.assertIn("set collectors.syscalls.attach to auto or tracepoint", fatal[0])
        self.assertIsNone(attach_line(log), log)
        self.assertEqual(set(loaded_syscall_programs()) - before, set())

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
        before = set(loaded_syscall_programs())
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
        self.assertEqual(set(loaded_syscall_programs()) - before, set())


def loaded_syscall_programs():
    """Ids of the loaded BPF programs named like the syscall collector's
    (sc_enter_*, sc_exit_*, sc_fentry_*, sc_fexit_*)."""
    return [p["id"] for p in bpftool_listing("prog") if p.get("name", "").startswith("sc_")]


if __name__ == "__main__":
    unittest.main()

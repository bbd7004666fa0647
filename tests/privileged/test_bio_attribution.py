"""The core promise, end to end: a real exporter, a real BPF program, real loop
devices with ext4 and XFS, and /metrics naming the process, syscall, op, size
and disk of its block I/O, next to the disk's own diskstats counters.

Each class pins `attach` (tp_btf or raw_tp, never auto) and first proves which
program the kernel actually runs for the exporter: its type in `bpftool prog`,
its link to block_bio_queue in `bpftool link`, and the exporter's log line.
Counts are exact wherever the workload fixes the number of bios; where journal
bios count for the caller (XFS log writes in its context, ext4 jbd2 commits its
fdatasync or O_SYNC write forced: test_writeback.py), the bounds are two-sided,
the upper one from the loop device's own /proc/diskstats delta.

Every count is read from both views (docs/metrics.md): the per-process
counters of the workload's pid (diskidle_process_*_total) and the complete
view of its comm on the test's own loop device (diskidle_bio_size_bytes, no
pid). Only the workload writes to that device under that name, so the two
must agree exactly, and the complete view's buckets hold the sizes. One class
also turns on the per-process histogram (process_histogram: true) and checks
its buckets against the same truth."""
import os
import time
import unittest

from diskidle_testlib import (BIO, COMPLETE_LABELS, PROCESS_FAMILIES, PROCESS_LABELS, Exporter,
                              IoGen, LoopFilesystem, Watcher, attached_bio_programs,
                              complete_counts, complete_delta, diskstats, pids_in_view,
                              process_counts, process_delta, require_privileges, series, total,
                              wait_for)

FSYNC_LOOP_MS = 5000

CONFIG = """
collectors:
  bio:
    attach: {attach}
    process_histogram: {process_histogram}
  diskstats:
    utilization_window: 4s
    utilization_sample_interval: 250ms
"""

PROCESS_HISTOGRAM = "diskidle_process_bio_size_bytes"


def kernel_at_least(major, minor):
    release = os.uname().release.split("-")[0].split(".")
    return (int(release[0]), int(release[1])) >= (major, minor)


# What `bpftool` shows for the program each attach mode must load. tp_btf's
# build that reads the syscall number with bpf_rdonly_cast() needs Linux 6.2.
EXPECTED_PROGRAM = {
    "tp_btf": ("tracing", "block_bio_queue_btf" if kernel_at_least(6, 2)
               else "block_bio_queue_btf_compat", "block_bio_queue"),
    "raw_tp": ("raw_tracepoint", "block_bio_queue_raw", "block_bio_queue"),
}


def assert_program_runs(test, exporter, mode):
    """The exporter runs exactly the program of `mode`, attached to block_bio_queue."""
    test.assertEqual(attached_bio_programs(exporter.proc.pid), [EXPECTED_PROGRAM[mode]],
                     f"the program attached for {mode}")
    test.assertIn(f"BPF program attached: {mode}/block_bio_queue", exporter.read_log())


class AttributionTest:
    fstype = None
    attach = None
    # Also diskidle_process_bio_size_bytes, whose buckets are then checked too.
    process_histogram = False

    def setUp(self):
        require_privileges(self)
        self.fs = LoopFilesystem(self, self.fstype)
        self.exporter = Exporter(self, CONFIG.format(
            attach=self.attach, process_histogram=str(self.process_histogram).lower()))

    def test_the_configured_program_is_the_one_that_runs(self):
        assert_program_runs(self, self.exporter, self.attach)

    def views(self, before, after, gen, **labels):
        """(per-process delta of gen's pid, complete-view delta of its comm on our
        disk), as BioCounts. They count the same bios, so they must be equal."""
        ours = dict(comm=gen.comm, device=self.fs.name, **labels)
        process = process_delta(before, after, pid=gen.pid, **ours)
        complete = complete_delta(before, after, **ours)
        self.assertEqual(process, complete, f"the per-process counters of pid {gen.pid} and the "
                                            f"complete view of {gen.comm} on {self.fs.name} "
                                            f"disagree for {labels}")
        return process

    def bucket_delta(self, before, after, gen, lower, upper, **labels):
        """Bios with sizes in (lower, upper] from the complete view's buckets; with
        process_histogram also from the per-process histogram, which must agree."""
        ours = dict(comm=gen.comm, device=self.fs.name, **labels)

        def between(family, **match):
            def at(samples, le, absent_ok=False):
                return total(samples, family + "_bucket", absent_ok=absent_ok, le=le, **match)
            return ((at(after, upper) - at(before, upper, absent_ok=True))
                    - (at(after, lower) - at(before, lower, absent_ok=True)))
        complete = between(BIO, **ours)
        if self.process_histogram:
            self.assertEqual(between(PROCESS_HISTOGRAM, pid=gen.pid, **ours), complete,
                             f"per-process histogram of pid {gen.pid} vs the complete view, "
                             f"bucket ({lower}, {upper}] {labels}")
        return complete

    def run_gen(self, mode, count):
        """Runs `mode`; returns (gen, before, after, delta of the loop device's diskstats)."""
        gen = IoGen(self, mode, self.fs.path(mode), count, wait=True)
        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        gen.go()
        gen.wait_done(self)
        after, disk_after = self.exporter.scrape(), diskstats(self.fs.name)
        return gen, before, after, {k: disk_after[k] - disk_before[k] for k in disk_before}

    def test_fsync_of_unchanged_file_is_one_zero_byte_flush_each(self):
        disk = dict(device=self.fs.name)
        gen = IoGen(self, "fsync-for", self.fs.path("unchanged"), FSYNC_LOOP_MS, wait=True)
        # The ratio appears after the sampler's second look at the new device.
        wait_for("diskidle_disk_utilization_ratio of our loop device", lambda: series(
            self.exporter.scrape(), "diskidle_disk_utilization_ratio", **disk))
        # The set-up write and its fsync are in the map once this scrape shows them.
        before = self.exporter.scrape()
        disk_before = diskstats(self.fs.name)
        start = time.monotonic()
        gen.go()

        utilization = []
        watcher = Watcher(self, lambda: utilization.append(
            total(self.exporter.scrape(), "diskidle_disk_utilization_ratio", **disk)),
            interval=0.5)
        try:
            fsyncs = gen.wait_done(self, timeout=FSYNC_LOOP_MS / 1000 + 60)
        finally:
            watcher.stop()
        busy = (diskstats(self.fs.name)["io_ms"] - disk_before["io_ms"]) / 1000
        elapsed = time.monotonic() - start
        after = self.exporter.scrape()

        flush = dict(syscall="fsync", op="flush")
        counted = self.views(before, after, gen, **flush)
        self.assertGreater(fsyncs, 100)
        self.assertEqual(counted.zero_byte_bios, fsyncs, "exactly one zero-byte flush bio per "
                                                         "fsync of an unchanged file")
        self.assertEqual(counted.bios, fsyncs, "and no flush bio of another size")
        self.assertEqual(self.bucket_delta(before, after, gen, "0", "512", **flush), 0)
        ours = dict(comm=gen.comm, device=self.fs.name, **flush)
        for whole in (process_counts(after, pid=gen.pid, **ours), complete_counts(after, **ours)):
            self.assertEqual(whole.bytes, 0, "flushes carry no bytes")
            self.assertEqual(whole.bios, whole.zero_byte_bios, "every flush bio is zero bytes")

        def delta(name):
            return total(after, name, **disk) - total(before, name, **disk)
        # diskstats counts each flush as a flush request (and usually a write); what
        # the device received is what the exporter's diskstats collector must show.
        self.assertGreaterEqual(delta("diskidle_disk_flush_requests_total"), fsyncs)
        self.assertGreater(delta("diskidle_disk_io_time_seconds_total"), 0)
        # A few blocks may come from the filesystem itself during the loop (ext4's
        # periodic journal commit, lazy inode-table init: 24 KiB seen once), but
        # thousands of fsyncs of data would be megabytes.
        self.assertLess(delta("diskidle_disk_written_bytes_total"), 128 * 1024,
                        "an fsync storm on an unchanged file writes (almost) nothing")
        # How busy the loop device gets depends on the backing store and the load of
        # the machine; the bound is what /proc/diskstats measured over the same loop:
        # the best 4 s window lies (almost) inside the loop, so it is at least about
        # the loop's average busy fraction.
        self.assertGreater(len(utilization), 3, "too few utilization samples during the loop")
        average_busy = busy / elapsed
        self.assertGreater(average_busy, 0, "the loop device was busy during the storm")
        self.assertGreaterEqual(max(utilization), average_busy * 0.5,
                                f"utilization during the loop {utilization}, measured busy "
                                f"fraction {average_busy:.3f}")
        self.assertLessEqual(max(utilization), 1.0)

    def test_pwrite_then_fdatasync_writes_data_under_fdatasync(self):
        n = 50
        gen, before, after, disk = self.run_gen("pwrite-fdatasync", n)
        write = dict(syscall="fdatasync", op="write")
        # 4 KiB data bios are in the (512, 4096] bucket: le=4096 minus le=512.
        four_k = self.bucket_delta(before, after, gen, "512", "4096", **write)
        count, written, _ = self.views(before, after, gen, **write)
        # The journal's bios of the commits fdatasync forces are the caller's too
        # (XFS writes its log in the caller's context; ext4's jbd2 commits are
        # counted for their forcer), and their number depends on the journal, not
        # on the workload: bounded by what the disk received.
        self.assertGreaterEqual(four_k, n, "each pwrite's 4 KiB reaches the disk")
        self.assertGreaterEqual(written, n * 4096)
        self.assertLessEqual(count, disk["writes"] + disk["writes_merged"], disk)
        self.assertLessEqual(written, disk["sectors_written"] * 512, disk)
        pwrite = dict(comm=gen.comm, device=self.fs.name, syscall="pwrite")
        self.assertEqual(process_counts(after, absent_ok=True, pid=gen.pid, **pwrite).bios, 0,
                         "buffered pwrite does not itself send bios")
        self.assertEqual(complete_counts(after, absent_ok=True, **pwrite).bios, 0,
                         "buffered pwrite does not itself send bios (complete view)")

    def test_direct_pwrite_is_counted_exactly(self):
        n = 40
        gen, before, after, _ = self.run_gen("direct-pwrite", n)
        write = dict(syscall="pwrite", op="write")
        counted = self.views(before, after, gen, **write)
        self.assertEqual(counted.bytes, n * 65536, "O_DIRECT pwrite bytes reach the disk exactly")
        self.assertEqual(counted.bios, n)
        self.assertEqual(self.bucket_delta(before, after, gen, "16384", "65536", **write), n,
                         "64 KiB bios land in the 65536 bucket")

    def test_osync_write_is_attributed_to_write(self):
        n = 30
        gen, before, after, disk = self.run_gen("osync-write", n)
        count, written, _ = self.views(before, after, gen, syscall="write", op="write")
        # Data and the journal commits each O_SYNC write forces (see above).
        self.assertGreaterEqual(count, n)
        self.assertGreaterEqual(written, n * 4096)
        self.assertLessEqual(count, disk["writes"] + disk["writes_merged"], disk)
        self.assertLessEqual(written, disk["sectors_written"] * 512, disk)

    def test_alternating_fsync_and_fdatasync_each_under_its_own_syscall(self):
        # Both flushes come from one thread to one disk with the same op and size:
        # only the syscall tells them apart, so the program's per-CPU cache of
        # keys must re-read it for every bio (bio_stats.bpf.c, saved_syscall).
        n = 300
        gen, before, after, _ = self.run_gen("fsync-fdatasync", n)
        for syscall in ("fsync", "fdatasync"):
            counted = self.views(before, after, gen, syscall=syscall, op="flush")
            self.assertEqual(counted.bios, n, f"one flush per {syscall}() of the unchanged file")
            self.assertEqual(counted.zero_byte_bios, n)

    def test_children_forked_on_one_cpu_count_each_under_its_own_pid(self):
        # Children forked one after another on one CPU: each new child usually
        # gets the kernel stack its exited sibling had (Linux keeps freed stacks
        # in a per-CPU cache for the next fork), while the program's per-CPU
        # cache tells threads apart by their stack (bio_stats.h). Each child does
        # the same as its sibling (a flush under fsync to the same disk), so a
        # stale cache slot would match it: its flushes must still be its own.
        children = 40
        gen = IoGen(self, "forks", self.fs.path("unchanged"), children, wait=True)
        os.sched_setaffinity(gen.pid, {min(os.sched_getaffinity(0))})
        before = self.exporter.scrape()
        gen.go()
        self.assertEqual(gen.wait_done(self), children)
        after = self.exporter.scrape()
        flush = dict(comm=gen.comm, device=self.fs.name, syscall="fsync", op="flush")
        child_pids = pids_in_view(after, **flush) - {str(gen.pid)}
        per_child = {pid: process_delta(before, after, pid=pid, **flush).zero_byte_bios
                     for pid in child_pids}
        self.assertEqual(sorted(per_child.values()), [3] * children,
                         f"three flushes under each child's own pid: {per_child}")
        self.assertEqual(complete_delta(before, after, **flush).zero_byte_bios, 3 * children)

    def test_series_labels_are_complete(self):
        gen = IoGen(self, "fsync-loop", self.fs.path("labels"), 5)
        gen.wait_done(self)
        samples = self.exporter.scrape()
        # The complete view: every series has exactly its four labels, never a pid.
        everything = series(samples, BIO + "_count")
        self.assertTrue(series(samples, BIO + "_count", comm=gen.comm, device=self.fs.name))
        for labels, _ in everything:
            self.assertEqual(set(labels), COMPLETE_LABELS, labels)
        # The per-process view: the pid too, and the name the process has.
        for family in PROCESS_FAMILIES + ((PROCESS_HISTOGRAM + "_count",)
                                          if self.process_histogram else ()):
            # (Not only on our disk: the generator can also have series on the
            # disk /tmp is on, e.g. its own pages read back in there.)
            self.assertTrue(series(samples, family, pid=gen.pid, device=self.fs.name),
                            f"no {family} series of pid {gen.pid} on {self.fs.name}")
            for labels, _ in series(samples, family, pid=gen.pid):
                self.assertEqual(set(labels), PROCESS_LABELS, labels)
                self.assertEqual(labels["comm"], "diskidle-iogen")
        self.assertEqual(PROCESS_HISTOGRAM in samples.families, self.process_histogram,
                         "the per-process histogram exists exactly when configured")


class Ext4TpBtfTest(AttributionTest, unittest.TestCase):
    fstype = "ext4"
    attach = "tp_btf"
    process_histogram = True


class XfsTpBtfTest(AttributionTest, unittest.TestCase):
    fstype = "xfs"
    attach = "tp_btf"


class Ext4RawTracepointTest(AttributionTest, unittest.TestCase):
    """The raw_tp twin must count exactly like tp_btf."""
    fstype = "ext4"
    attach = "raw_tp"


class AutoAttachTest(unittest.TestCase):
    def test_auto_picks_tp_btf_on_a_kernel_that_has_it(self):
        require_privileges(self)
        with open("/sys/kernel/btf/vmlinux", "rb") as f:
            self.assertIn(b"btf_trace_block_bio_queue", f.read(),
                          "this kernel has BTF for the tracepoint, so tp_btf must be chosen")
        exporter = Exporter(self, "collectors:\n  bio:\n    attach: auto\n")
        assert_program_runs(self, exporter, "tp_btf")


if __name__ == "__main__":
    unittest.main()

"""Disk latency (issue 11, item 3), end to end: a real exporter with every
collector on, a loop device with ext4, and diskidle_disk_request_duration_seconds
next to the disk's own /proc/diskstats counters.

The bar: the histogram's flush count on the loop device grows by what
/proc/diskstats' flush counter (diskidle_disk_flush_requests_total) grows by,
within 1%. The workload is an fsync loop on an unchanged file: each fsync is
one empty PREFLUSH write, which the block layer's flush machinery serves with
a separate REQ_OP_FLUSH request; diskstats counts those, and so must we (the
PREFLUSH write itself is never issued and must not be counted as a write).

Also: O_DIRECT writes land in op="write" and O_DIRECT reads in op="read"
(reads exactly as diskstats counts them), BLKDISCARD on a bare loop device in
op="discard" (exactly as diskstats counts them), every sum is above 0, and the
buckets are a valid cumulative histogram. Each class pins `attach` and first
proves which program the kernel runs. Series are read strictly after the
workload: a missing or renamed series fails instead of reading as 0."""
import fcntl
import mmap
import os
import subprocess
import sys
import tempfile
import time
import unittest

from diskidle_testlib import (BIO, Exporter, IoGen, LoopFilesystem, bpf_map_keys,
                              bpf_programs_of, diskstats, enable_bpf_stats, kernel_dev,
                              loaded_programs, require_privileges, series, total, wait_for)

FAMILY = "diskidle_disk_request_duration_seconds"
FSYNCS = 2000
DIRECT_IOS = 200
BLOCK = 4096

CONFIG = """
collectors:
  disk_latency:
    enabled: true
    attach: {attach}
"""

# A child that fsync()s an unchanged file FSYNCS times: one flush each.
FSYNC_LOOP = """
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for _ in range(int(sys.argv[2])):
    os.fsync(fd)
"""


def direct_io(path, count, write):
    """`count` 4 KiB O_DIRECT writes (or reads) of consecutive blocks of `path`:
    one request each, issued one at a time, so none can merge."""
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT needs
    buf.write(b"d" * BLOCK)
    fd = os.open(path, (os.O_WRONLY if write else os.O_RDONLY) | os.O_DIRECT)
    try:
        for i in range(count):
            n = (os.pwritev if write else os.preadv)(fd, [buf], i * BLOCK)
            assert n == BLOCK, n
    finally:
        os.close(fd)


class DiskLatencyTest:
    ATTACH = None
    PROGRAM = None  # (bpftool type, name)

    def setUp(self):
        require_privileges(self)
        self.fs = LoopFilesystem(self, "ext4", size_mb=256)
        # The files exist and are on disk before the exporter starts: the
        # fsync loop then changes nothing, and the direct I/O allocates nothing.
        self.unchanged = self.fs.path("unchanged")
        with open(self.unchanged, "wb") as f:
            f.write(b"x" * BLOCK)
        self.data = self.fs.path("data")
        with open(self.data, "wb") as f:
            f.write(b"\0" * BLOCK * DIRECT_IOS)
        os.sync()
        self.exporter = Exporter(self, CONFIG.format(attach=self.ATTACH))

    def counts(self, op):
        """(count, sum) of the test disk's histogram for `op`, strictly."""
        samples = self.exporter.scrape()
        return (total(samples, f"{FAMILY}_count", device=self.fs.name, op=op),
                total(samples, f"{FAMILY}_sum", device=self.fs.name, op=op))

    def baseline(self, op):
        samples = self.exporter.scrape()
        return total(samples, f"{FAMILY}_count", absent_ok=True, device=self.fs.name, op=op)

    def test_program_runs(self):
        types = sorted((p["type"], p["name"]) for p in bpf_programs_of(self.exporter.proc.pid)
                       if p["name"].startswith("disk_lat"))
        self.assertEqual(types, [self.PROGRAM])
        self.assertIn(f"BPF program attached: {self.ATTACH}/block_rq_complete (disk latency)",
                      self.exporter.read_log())
        ids = {p["id"] for p in bpf_programs_of(self.exporter.proc.pid)
               if p["name"].startswith("disk_lat")}
        self.assertEqual(self.exporter.stop(), 0, self.exporter.read_log())
        # Freed after an RCU grace period: poll.
        wait_for("the disk latency program to be unloaded after SIGTERM",
                 lambda: not ids & set(loaded_programs()), timeout=10)

    def test_its_program_reports_its_runs(self):
        """The disk-latency program has its series in diskidle_bpf_program_*
        (one run per completed request), next to the bio collector's."""
        enable_bpf_stats(self)
        name = self.PROGRAM[1]
        runs_before = total(self.exporter.scrape(), "diskidle_bpf_program_runs_total", program=name)
        ds_before = diskstats(self.fs.name)
        direct_io(self.data, DIRECT_IOS, write=True)
        # diskstats first: a request completing in between is then in the runs.
        completed = diskstats(self.fs.name)["writes"] - ds_before["writes"]
        after = self.exporter.scrape()
        self.assertGreaterEqual(completed, DIRECT_IOS)
        runs = total(after, "diskidle_bpf_program_runs_total", program=name) - runs_before
        self.assertGreaterEqual(runs, completed, f"{name} ran for each of {completed} requests")
        self.assertGreater(total(after, "diskidle_bpf_program_run_seconds_total", program=name), 0)
        programs = {labels["program"] for labels, _ in series(after, "diskidle_bpf_program_runs_total")}
        self.assertTrue({p for p in programs if p.startswith("block_bio_queue")},
                        f"the bio program's series in the same family: {programs}")

    def test_flush_count_equals_diskstats_flushes(self):
        hist_before = self.baseline("flush")
        writes_before = self.baseline("write")
        ds_before = diskstats(self.fs.name)
        subprocess.run([sys.executable, "-c", FSYNC_LOOP, self.unchanged, str(FSYNCS)],
                       check=True, timeout=300)

        # Both counters move in the same completion (flush_end_io); the
        # filesystem's own flushes may still be in flight: poll until they agree.
        def agree():
            hist = self.counts("flush")[0] - hist_before
            ds = diskstats(self.fs.name)["flushes"] - ds_before["flushes"]
            return (hist, ds) if abs(hist - ds) <= 0.01 * ds else None
        result = None
        try:
            result = wait_for("the flush count to match /proc/diskstats within 1%", agree,
                              timeout=30, interval=0.5)
        finally:
            hist = self.counts("flush")[0] - hist_before
            ds = diskstats(self.fs.name)["flushes"] - ds_before["flushes"]
            print(f"\n{self.ATTACH}: {FSYNCS} fsyncs -> diskstats flushes +{ds}, "
                  f"histogram flushes +{hist:.0f}", flush=True)
        hist, ds = result
        # The workload did make the flushes the bar is about (one per fsync;
        # the block layer may coalesce concurrent ones, never add many).
        self.assertGreaterEqual(ds, FSYNCS * 0.9)
        self.assertLessEqual(ds, FSYNCS * 1.1)
        count, flush_sum = self.counts("flush")
        self.assertGreater(flush_sum, 0)
        # The PREFLUSH writes that asked for the flushes were never issued:
        # they are not write requests (diskstats counts them as writes, we do not).
        ds_writes = diskstats(self.fs.name)["writes"] - ds_before["writes"]
        self.assertGreaterEqual(ds_writes, FSYNCS * 0.9, "diskstats counts each PREFLUSH write")
        self.assertLess(self.counts("write")[0] - writes_before, FSYNCS * 0.1,
                        "flushes or PREFLUSH writes counted as writes")
        self.assert_cumulative("flush", count)

    def test_direct_writes_and_reads(self):
        writes_before = self.baseline("write")
        reads_before = self.baseline("read")
        ds_before = diskstats(self.fs.name)
        direct_io(self.data, DIRECT_IOS, write=True)
        direct_io(self.data, DIRECT_IOS, write=False)

        write_count, write_sum = wait_for(
            "the direct writes in op=write",
            lambda: (c := self.counts("write"))[0] - writes_before >= DIRECT_IOS and c)
        ds_after = diskstats(self.fs.name)
        # At least the workload's writes; at most what the disk completed
        # (jbd2 may write too; diskstats also counts unissued PREFLUSH writes).
        self.assertLessEqual(write_count - writes_before, ds_after["writes"] - ds_before["writes"])
        self.assertGreater(write_sum, 0)

        # Nothing else reads this disk: reads match diskstats exactly once settled.
        def reads_agree():
            hist = self.counts("read")[0] - reads_before
            ds = diskstats(self.fs.name)["reads"] - ds_before["reads"]
            return (hist, ds) if hist == ds else None
        hist_reads, _ = wait_for("the read count to match /proc/diskstats", reads_agree)
        self.assertGreaterEqual(hist_reads, DIRECT_IOS)
        read_count, read_sum = self.counts("read")
        self.assertGreater(read_sum, 0)
        self.assert_cumulative("write", write_count)
        self.assert_cumulative("read", read_count)

    def test_discards(self):
        bare = LoopFilesystem(self, None, size_mb=64)  # no file system: only our discards
        ds_before = diskstats(bare.name)
        gen = IoGen(self, "blkdiscard", bare.device, 50)
        self.assertEqual(gen.wait_done(self), 50)

        def agree():
            samples = self.exporter.scrape()
            hist = total(samples, f"{FAMILY}_count", absent_ok=True, device=bare.name, op="discard")
            ds = diskstats(bare.name)["discards"] - ds_before["discards"]
            return (hist, ds) if hist == ds and hist > 0 else None
        hist, _ = wait_for("the discard count to match /proc/diskstats", agree)
        self.assertGreaterEqual(hist, 50)
        samples = self.exporter.scrape()
        self.assertGreater(total(samples, f"{FAMILY}_sum", device=bare.name, op="discard"), 0)
        self.assertEqual(total(samples, f"{FAMILY}_count", device=bare.name, op="write"), 0,
                         "discards are not writes")

    def assert_cumulative(self, op, count):
        """Buckets never decrease with `le`, and +Inf equals _count."""
        buckets = series(self.exporter.scrape(), f"{FAMILY}_bucket", device=self.fs.name, op=op)
        self.assertGreater(len(buckets), 2, f"{op}: bucket series")
        by_le = sorted((float(labels["le"]), value) for labels, value in buckets)
        values = [v for _, v in by_le]
        self.assertEqual(values, sorted(values), f"{op}: cumulative buckets")
        self.assertEqual(by_le[-1][0], float("inf"))
        self.assertGreaterEqual(by_le[-1][1], count)  # a later scrape may have grown


LOOP_CTL_ADD = 0x4C80  # <linux/loop.h>: make /dev/loopN, N the argument
LOOP_CTL_REMOVE = 0x4C81  # remove an unattached /dev/loopN


class RemovedDiskTest(unittest.TestCase):
    """A disk that leaves the system (a CI job's loop device, an unplugged USB
    disk) takes its series along exited_process_ttl later, and its latency
    histograms leave the kernel map, which has room for 256 disks: a host that
    keeps making and removing disks would otherwise fill it for good and show
    no latency for its newer disks (a new user's trial: 289 requests dropped
    after 800 loop devices), and keep every removed disk's series forever."""

    def setUp(self):
        require_privileges(self)
        self.exporter = Exporter(self, """
collectors:
  disk_latency:
    enabled: true
  bio:
    exited_process_ttl: 2s
""")
        workdir = tempfile.mkdtemp(prefix="diskidle-removed-")
        self.addCleanup(os.rmdir, workdir)
        self.image = os.path.join(workdir, "disk.img")
        with open(self.image, "wb") as f:
            f.truncate(16 << 20)
        self.addCleanup(os.remove, self.image)
        # A loop device of our own, made for this test, with a number nobody uses.
        with open("/dev/loop-control", "rb") as control:
            for number in range(900, 1100):
                if not os.path.exists(f"/sys/block/loop{number}"):
                    try:
                        fcntl.ioctl(control, LOOP_CTL_ADD, number)
                        break
                    except OSError:
                        continue
            else:
                self.fail("no free loop device number in 900..1099")
        self.number = number
        self.name = f"loop{number}"
        self.device = f"/dev/{self.name}"
        self.addCleanup(self.remove_device)
        wait_for(f"{self.device}", lambda: os.path.exists(self.device), timeout=10)
        subprocess.run(["losetup", self.device, self.image], check=True)

    def remove_device(self):
        """Detaches and removes our loop device (idempotent: also the cleanup)."""
        if not os.path.exists(f"/sys/block/{self.name}"):
            return
        subprocess.run(["losetup", "-d", self.device], capture_output=True)
        deadline = time.monotonic() + 10
        with open("/dev/loop-control", "rb") as control:
            while True:
                try:
                    fcntl.ioctl(control, LOOP_CTL_REMOVE, self.number)
                    return
                except OSError:  # EBUSY while the detach completes
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)

    def test_a_removed_disks_series_and_kernel_entries_go(self):
        dev = kernel_dev(self.device)
        direct_io(self.device, 8, write=True)
        direct_io(self.device, 8, write=False)

        def present():
            samples = self.exporter.scrape()
            return samples if series(samples, f"{FAMILY}_count", device=self.name, op="read") \
                and series(samples, BIO + "_count", device=self.name) else None

        samples = wait_for(f"latency and bio series of {self.name}", present, timeout=10)
        self.assertEqual(total(samples, BIO + "_count", device=self.name, op="write"), 8)
        self.assertIn(dev, [k["dev"] for k in bpf_map_keys(self.exporter.proc.pid, "latency")])

        self.remove_device()
        self.assertNotIn(self.name, [d.split()[2] for d in open("/proc/diskstats")])

        def gone():
            samples = self.exporter.scrape()
            left = [labels for family in (f"{FAMILY}_count", BIO + "_count")
                    for labels, _ in series(samples, family)
                    if labels.get("device") in (self.name, f"unknown:7:{self.number}")]
            left += [labels for labels, _ in series(samples, "diskidle_process_bios_total",
                                                    device=self.name)]
            return None if left else samples

        # exited_process_ttl (2 s) after the exporter first missed it, plus the
        # housekeeping second.
        wait_for(f"the series of the removed {self.name} to end", gone, timeout=15)
        self.assertNotIn(dev, [k["dev"] for k in bpf_map_keys(self.exporter.proc.pid, "latency")],
                         "its histograms left the kernel map")


class TpBtfTest(DiskLatencyTest, unittest.TestCase):
    ATTACH = "tp_btf"
    PROGRAM = ("tracing", "disk_lat_btf")


class RawTpTest(DiskLatencyTest, unittest.TestCase):
    ATTACH = "raw_tp"
    PROGRAM = ("raw_tracepoint", "disk_lat_raw")


if __name__ == "__main__":
    unittest.main()

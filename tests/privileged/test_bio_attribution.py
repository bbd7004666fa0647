"""The core promise, end to end: a real exporter, a real BPF program, real loop
devices with ext4 and XFS, and /metrics naming the process, syscall, op, size
and disk of its block I/O, next to the disk's own diskstats counters."""
import threading
import time
import unittest

from diskidle_testlib import Exporter, IoGen, LoopFilesystem, require_privileges, series, total

FSYNC_LOOP_MS = 4000

CONFIG = """
collectors:
  bio:
    attach: {attach}
  diskstats:
    utilization_window: 4s
    utilization_sample_interval: 250ms
"""

BIO = "diskidle_bio_size_bytes"


class AttributionTest:
    fstype = None
    attach = "auto"

    def setUp(self):
        require_privileges(self)
        self.fs = LoopFilesystem(self, self.fstype)
        self.exporter = Exporter(self, CONFIG.format(attach=self.attach))

    def bio(self, samples, suffix, gen, **labels):
        return total(samples, BIO + suffix, pid=gen.pid, comm=gen.comm,
                     device=self.fs.name, **labels)

    def test_fsync_of_unchanged_file_is_one_zero_byte_flush_each(self):
        disk = dict(device=self.fs.name)
        gen = IoGen(self, "fsync-for", self.fs.path("unchanged"), FSYNC_LOOP_MS, wait=True)
        time.sleep(1)  # let the set-up write settle before the baseline
        before = self.exporter.scrape()
        gen.go()

        # While the loop runs, the disk must look busy.
        utilization = []
        def watch():
            while gen.operations is None and len(utilization) < 100:
                utilization.append(total(self.exporter.scrape(),
                                         "diskidle_disk_utilization_ratio", **disk))
                time.sleep(0.5)
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            fsyncs = gen.wait_done(self)
        finally:
            watcher.join()
        after = self.exporter.scrape()

        zero_byte = (self.bio(after, "_bucket", gen, le="0", syscall="fsync", op="flush")
                     - self.bio(before, "_bucket", gen, le="0", syscall="fsync", op="flush"))
        self.assertGreater(fsyncs, 500)
        self.assertAlmostEqual(zero_byte, fsyncs, delta=fsyncs * 0.01,
                               msg="one zero-byte flush bio per fsync of an unchanged file")
        flush_count = self.bio(after, "_count", gen, syscall="fsync", op="flush")
        self.assertEqual(flush_count, self.bio(after, "_bucket", gen, le="0", syscall="fsync",
                                               op="flush"), "every flush bio is zero bytes")
        self.assertEqual(self.bio(after, "_sum", gen, syscall="fsync", op="flush"), 0)

        def delta(name):
            return total(after, name, **disk) - total(before, name, **disk)
        self.assertGreaterEqual(delta("diskidle_disk_writes_completed_total"), fsyncs * 0.9)
        self.assertGreater(delta("diskidle_disk_io_time_seconds_total"), 0.2)
        self.assertLess(delta("diskidle_disk_written_bytes_total"), 16 * 1024,
                        "an fsync storm on an unchanged file writes (almost) nothing")
        self.assertTrue(utilization, "no utilization sample during the loop")
        self.assertGreater(max(utilization), 0.2,
                           f"diskidle_disk_utilization_ratio during the loop: {utilization}")

    def test_pwrite_then_fdatasync_writes_data_under_fdatasync(self):
        n = 50
        gen = IoGen(self, "pwrite-fdatasync", self.fs.path("data"), n)
        gen.wait_done(self)
        samples = self.exporter.scrape()
        # 4 KiB data bios are in the (2048, 4096] bucket: le=4096 minus le=2048.
        four_k = (self.bio(samples, "_bucket", gen, le="4096", syscall="fdatasync", op="write")
                  - self.bio(samples, "_bucket", gen, le="512", syscall="fdatasync", op="write"))
        self.assertGreaterEqual(four_k, n, "each pwrite's 4 KiB reaches the disk under fdatasync")
        self.assertGreaterEqual(self.bio(samples, "_sum", gen, syscall="fdatasync", op="write"),
                                n * 4096)
        self.assertEqual(self.bio(samples, "_count", gen, syscall="pwrite"), 0,
                         "buffered pwrite does not itself send bios")

    def test_direct_pwrite_is_counted_exactly(self):
        n = 40
        gen = IoGen(self, "direct-pwrite", self.fs.path("direct"), n, wait=True)
        before = self.exporter.scrape()  # after the buffered set-up writes
        gen.go()
        gen.wait_done(self)
        after = self.exporter.scrape()

        def delta(suffix, **labels):
            return (self.bio(after, suffix, gen, syscall="pwrite", op="write", **labels)
                    - self.bio(before, suffix, gen, syscall="pwrite", op="write", **labels))
        self.assertEqual(delta("_sum"), n * 65536, "O_DIRECT pwrite bytes reach the disk exactly")
        self.assertEqual(delta("_count"), n)
        self.assertEqual(delta("_bucket", le="65536") - delta("_bucket", le="16384"), n,
                         "64 KiB bios land in the 65536 bucket")

    def test_osync_write_is_attributed_to_write(self):
        n = 30
        gen = IoGen(self, "osync-write", self.fs.path("osync"), n)
        gen.wait_done(self)
        samples = self.exporter.scrape()
        self.assertGreaterEqual(self.bio(samples, "_sum", gen, syscall="write", op="write"),
                                n * 4096)
        self.assertGreaterEqual(self.bio(samples, "_count", gen, syscall="write", op="write"), n)

    def test_series_labels_are_complete(self):
        gen = IoGen(self, "fsync-loop", self.fs.path("labels"), 5)
        gen.wait_done(self)
        found = series(self.exporter.scrape(), BIO + "_count", pid=gen.pid)
        self.assertTrue(found)
        for labels, _ in found:
            self.assertEqual(set(labels), {"device", "pid", "comm", "syscall", "op"})
            self.assertEqual(labels["comm"], "diskidle-iogen")


class Ext4Test(AttributionTest, unittest.TestCase):
    fstype = "ext4"


class XfsTest(AttributionTest, unittest.TestCase):
    fstype = "xfs"


class Ext4RawTracepointTest(AttributionTest, unittest.TestCase):
    """The raw_tp twin must count exactly like tp_btf."""
    fstype = "ext4"
    attach = "raw_tp"


if __name__ == "__main__":
    unittest.main()

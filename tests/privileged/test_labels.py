"""Every documented label value, produced by a real workload and read back from
/metrics (docs/metrics.md, "Labels"): each syscall class, each op, the whole
disk for a bio to a partition, the name a process had when first seen across
exec(), and comm="unknown" when the kernel's process table is full.

Counts are exact where the workload fixes the number of bios (O_DIRECT, block
ioctls, io_uring fsync of an unchanged file). Where the filesystem adds bios of
its own (journal, metadata), the bound is two-sided: at least what the workload
must send, at most what /proc/diskstats says the loop device received.

Counts are read from the workload's own per-process counters (its pid), and
the complete view of its name on the test's disk must show the same bios:
nothing else writes there under that name (sync() aside, which any process on
the machine can call: there the complete view is only bounded)."""
import os
import tempfile
import unittest

from diskidle_testlib import (BIO, IOGEN, PROCESS_BIOS, Exporter, IoGen, LoopFilesystem,
                              complete_counts, complete_delta, diskstats, process_counts,
                              process_delta, RenamingFsync, require_privileges, series, total,
                              wait_for)

N = 20


def both_views(test, before, after, gen, device, exact=True, **labels):
    """What gen's pid counted between the scrapes (per-process counters), as
    BioCounts; the complete view of its name on `device` must agree exactly (or,
    with exact=False, hold at least as much)."""
    ours = dict(comm=gen.comm, device=device, **labels)
    own = process_delta(before, after, pid=gen.pid, **ours)
    complete = complete_delta(before, after, **ours)
    if exact:
        test.assertEqual(complete, own, f"complete view of {gen.comm} on {device} vs pid "
                                        f"{gen.pid}, {labels}")
    else:
        for what, whole, part in zip(own._fields, complete, own):
            test.assertGreaterEqual(whole, part, f"{what}: the complete view of {gen.comm} "
                                                 f"holds less than pid {gen.pid}, {labels}")
    return own


class LabelValuesTest(unittest.TestCase):
    """One exporter and one ext4 loop filesystem per test; attach tp_btf."""

    def setUp(self):
        require_privileges(self)
        self.fs = LoopFilesystem(self, "ext4", size_mb=256, mount_options="commit=1")
        self.exporter = Exporter(self, "collectors:\n  bio:\n    attach: tp_btf\n"
                                       "    exited_process_ttl: 1h\n")

    def run_gen(self, mode, count=N, path=None):
        """Runs an iogen mode to completion; returns (gen, before, after, disk delta)."""
        gen = IoGen(self, mode, path or self.fs.path(mode), count, wait=True)
        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        gen.go()
        self.assertEqual(gen.wait_done(self), count)
        after, disk_after = self.exporter.scrape(), diskstats(self.fs.name)
        disk = {k: disk_after[k] - disk_before[k] for k in disk_before}
        return gen, before, after, disk

    def delta(self, before, after, gen, exact=True, **labels):
        return both_views(self, before, after, gen, self.fs.name, exact=exact, **labels)

    def test_read_is_syscall_read_op_read_exactly(self):
        gen, before, after, _ = self.run_gen("direct-pread")
        counted = self.delta(before, after, gen, syscall="read", op="read")
        self.assertEqual(counted.bios, N)
        self.assertEqual(counted.bytes, N * 4096)

    def test_writev_is_syscall_writev_exactly(self):
        gen, before, after, _ = self.run_gen("direct-writev")
        counted = self.delta(before, after, gen, syscall="writev", op="write")
        self.assertEqual(counted.bios, N)
        self.assertEqual(counted.bytes, N * 65536)

    def test_aio_is_syscall_aio_exactly(self):
        gen, before, after, _ = self.run_gen("aio")
        counted = self.delta(before, after, gen, syscall="aio", op="write")
        self.assertEqual(counted.bios, N)
        self.assertEqual(counted.bytes, N * 4096)

    def test_sync_file_range_writes_the_data_exactly(self):
        # Overwrites of allocated blocks: one 4 KiB data bio each, no journal, no flush.
        gen, before, after, _ = self.run_gen("sync-file-range")
        counted = self.delta(before, after, gen, syscall="sync_file_range", op="write")
        self.assertEqual(counted.bios, N)
        self.assertEqual(counted.bytes, N * 4096)
        self.assertEqual(counted.zero_byte_bios, 0, "no flush")

    def test_msync_writes_each_dirtied_page(self):
        gen, before, after, disk = self.run_gen("msync")
        # Each msync(MS_SYNC) writes the one folio it dirtied, itself: one bio per
        # call. Its size is the folio's (4 KiB, or up to 64 KiB where the page cache
        # uses large folios), so bytes are bounded by what the disk received.
        counted = self.delta(before, after, gen, syscall="msync", op="write")
        self.assertEqual(counted.bios, N, "one data bio per msync")
        written = counted.bytes
        self.assertGreaterEqual(written, N * 4096)
        self.assertLessEqual(written, disk["sectors_written"] * 512,
                             f"more bytes under msync than the disk received: {disk}")

    def sync_like(self, mode, syscall):
        gen, before, after, disk = self.run_gen(mode)
        # sync() writes every filesystem: another test's process of the same name
        # calling it adds to the complete view of our disk.
        ours = self.delta(before, after, gen, exact=syscall != "sync", syscall=syscall).bios
        # sync()/syncfs() hand data writeback to the flusher threads and the journal
        # commit to jbd2; what the caller submits itself (the flush of the device's
        # cache, its own page cache of the block device) is at least one bio per
        # call, and never more than the loop device received.
        self.assertGreaterEqual(ours, N, f"at least one bio per {syscall}()")
        self.assertLessEqual(ours, disk["writes"] + disk["writes_merged"] + disk["flushes"],
                             f"more bios under {syscall} than the disk received: {disk}")
        return after

    def test_sync_is_syscall_sync(self):
        self.sync_like("sync", "sync")

    def test_syncfs_is_syscall_syncfs(self):
        self.sync_like("syncfs", "syncfs")

    def test_io_uring_fsync_on_io_wq_is_syscall_io_uring_exactly(self):
        # IORING_OP_FSYNC never runs inline: an io-wq worker thread of our process
        # sends the flush, and it is still our pid and our comm.
        gen, before, after, _ = self.run_gen("uring-fsync")
        counted = self.delta(before, after, gen, syscall="io_uring", op="flush")
        self.assertEqual(counted.zero_byte_bios, N, "one zero-byte flush per IORING_OP_FSYNC")
        self.assertEqual(counted.bios, N)
        fsync_flushes = dict(device=self.fs.name, comm=gen.comm, syscall="fsync", op="flush")
        self.assertEqual(process_counts(after, absent_ok=True, pid=gen.pid, **fsync_flushes),
                         process_counts(before, absent_ok=True, pid=gen.pid, **fsync_flushes),
                         "the io_uring fsyncs are not labelled fsync")
        self.assertEqual(complete_counts(after, absent_ok=True, **fsync_flushes),
                         complete_counts(before, absent_ok=True, **fsync_flushes),
                         "the io_uring fsyncs are not labelled fsync (complete view)")

    def test_io_uring_sqpoll_is_syscall_io_uring_exactly(self):
        gen, before, after, _ = self.run_gen("uring-sqpoll")
        counted = self.delta(before, after, gen, syscall="io_uring", op="write")
        self.assertEqual(counted.bios, N, "one 4 KiB O_DIRECT write bio per SQPOLL submission")
        self.assertEqual(counted.bytes, N * 4096)

    def test_journal_commits_are_syscall_kernel_from_a_kernel_thread(self):
        # A buffered write with no sync of ours: the ext4 journal thread (commit=1)
        # commits the metadata, from a kernel thread, with no syscall.
        with open(self.fs.path("buffered"), "wb") as f:
            f.write(b"k" * 4096)

        def jbd2_series():
            samples = self.exporter.scrape()
            complete = [labels for labels, v in series(samples, BIO + "_count",
                                                       device=self.fs.name, syscall="kernel")
                        if labels["comm"].startswith("jbd2/") and v > 0]
            own = [labels for labels, v in series(samples, PROCESS_BIOS, device=self.fs.name,
                                                  syscall="kernel")
                   if labels["comm"].startswith("jbd2/") and v > 0]
            return (complete, own) if complete and own else None
        complete, found = wait_for("a syscall=\"kernel\" series of jbd2 on our disk in both "
                                   "views", jbd2_series, timeout=30, interval=0.5)
        self.assertEqual({labels["comm"] for labels in complete},
                         {labels["comm"] for labels in found})
        for labels in found:
            pid = int(labels["pid"])
            with open(f"/proc/{pid}/stat") as f:
                flags = int(f.read().rsplit(")", 1)[1].split()[6])
            self.assertTrue(flags & 0x00200000, f"{labels} is a kernel thread (PF_KTHREAD)")
            with open(f"/proc/{pid}/comm") as f:
                self.assertEqual(f.read().strip(), labels["comm"])


class BlockDeviceOpsTest(unittest.TestCase):
    """Discard and write-zeroes, sent by ioctl to an unmounted loop device."""

    def setUp(self):
        require_privileges(self)
        # No filesystem: the ioctls go to the raw loop device. The loop driver
        # implements discard and write-zeroes with fallocate() on its backing file.
        self.fs = LoopFilesystem(self, None, size_mb=64)
        self.exporter = Exporter(self, "collectors:\n  bio:\n    attach: tp_btf\n")

    def ioctl_run(self, mode, op):
        gen = IoGen(self, mode, self.fs.device, N, wait=True)
        before = self.exporter.scrape()
        gen.go()
        self.assertEqual(gen.wait_done(self), N)
        after = self.exporter.scrape()
        counted = both_views(self, before, after, gen, self.fs.name, syscall="other", op=op)
        self.assertEqual(counted.bios, N, f"one {op} bio per 64 KiB ioctl")
        self.assertEqual(counted.bytes, N * 65536, f"{op} bios carry their range's size")
        written = dict(device=self.fs.name, comm=gen.comm, op="write")
        self.assertEqual(process_counts(after, absent_ok=True, pid=gen.pid, **written).bios, 0,
                         f"{mode} did not fall back to writing zero pages")
        self.assertEqual(complete_counts(after, absent_ok=True, **written).bios, 0,
                         f"{mode} did not fall back to writing zero pages (complete view)")

    def test_blkdiscard_is_op_discard_exactly(self):
        self.ioctl_run("blkdiscard", "discard")

    def test_blkzeroout_is_op_write_zeroes_exactly(self):
        self.ioctl_run("blkzeroout", "write_zeroes")


class DisksAndNamesTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)

    def test_a_bio_to_a_partition_counts_for_the_whole_disk(self):
        fs = LoopFilesystem(self, "ext4", size_mb=128, partitioned=True)
        self.assertEqual(fs.fs_device, fs.device + "p1")
        exporter = Exporter(self, "collectors:\n  bio:\n    attach: tp_btf\n")
        gen = IoGen(self, "fsync-loop", fs.path("f"), N, wait=True)
        before = exporter.scrape()
        gen.go()
        gen.wait_done(self)
        after = exporter.scrape()
        counted = both_views(self, before, after, gen, fs.name, syscall="fsync", op="flush")
        self.assertEqual(counted.zero_byte_bios, N,
                         f"the flushes of {fs.fs_device} count for the disk {fs.name}")
        # The generator may also have series on the root disk (its own pages
        # faulted in from there when memory is short): what matters is that
        # every disk it is counted on is a whole disk, never a partition.
        devices = {labels["device"] for labels, _ in series(after, PROCESS_BIOS, pid=gen.pid)}
        self.assertIn(fs.name, devices)
        partitions = {d for d in devices if os.path.exists(f"/sys/class/block/{d}/partition")}
        self.assertEqual(partitions, set(), "no per-process series names a partition")
        partition = os.path.basename(fs.fs_device)
        self.assertTrue(os.path.exists(f"/sys/class/block/{partition}/partition"), partition)
        self.assertEqual(series(after, BIO + "_count", device=partition), [],
                         "no complete-view series names the partition")

    def test_after_exec_the_process_counts_under_its_new_name(self):
        fs = LoopFilesystem(self, "ext4", size_mb=128)
        exporter = Exporter(self, "collectors:\n  bio:\n    attach: tp_btf\n"
                                  "    exited_process_ttl: 1h\n")
        # The same program under another name: exec() makes it the process's comm.
        links = tempfile.mkdtemp(prefix="diskidle-exec-")
        self.addCleanup(os.rmdir, links)
        renamed = os.path.join(links, "renamed-iogen")
        os.symlink(IOGEN, renamed)
        self.addCleanup(os.unlink, renamed)
        path = fs.path("f")
        # After exec() the process sends bios under new keys (fdatasync writes):
        # the kernel then records its new name, and the exporter follows it, as
        # ps does (a launcher such as sh or python3 that read from disk before
        # it exec()ed must not name the program for the rest of its life).
        gen = IoGen(self, "fsync-then-exec", path, N,
                    extra=[renamed, "--hold", "pwrite-fdatasync", fs.path("g"), N])
        gen.wait_done(self)
        gen.wait_ready(self)  # it waits for the go-ahead to exec()
        first = dict(pid=gen.pid, comm=gen.comm, device=fs.name, syscall="fsync", op="flush")
        wait_for("the exporter to see the process under its first name",
                 lambda: process_counts(exporter.scrape(), absent_ok=True, **first).zero_byte_bios)
        before = exporter.scrape()
        gen.go()  # exec() into renamed-iogen
        gen.wait_ready(self)  # printed by the new program: same pid
        self.assertEqual(gen.wait_done(self), N)
        with open(f"/proc/{gen.pid}/comm") as f:
            self.assertEqual(f.read().strip(), "renamed-iogen", "exec() renamed the process")
        # On ext4 each 4 KiB pwrite + fdatasync is one data bio of ours, plus the
        # bios of the journal commit it forces (counted for it: test_writeback.py).
        datasync = dict(device=fs.name, syscall="fdatasync", op="write")
        after = exporter.scrape()
        counted = process_counts(after, pid=gen.pid, comm="renamed-iogen", **datasync)
        self.assertGreaterEqual(counted.bios, N, "the bios after exec() under the new name")
        self.assertEqual(complete_counts(after, comm="renamed-iogen", **datasync), counted,
                         "the same bios in the complete view, under the new name")
        self.assertEqual(process_counts(after, absent_ok=True, pid=gen.pid, comm=gen.comm,
                                        **datasync).bios, 0,
                         "none of them under the name it had before exec()")
        # The first name keeps exactly what it counted; nothing moved between names.
        self.assertEqual(process_counts(after, **first), process_counts(before, **first),
                         "the first name's series keeps its value")
        self.assertEqual(process_counts(after, **first).zero_byte_bios, N,
                         "the fsyncs before exec() under the first name, exactly")
        for labels, value in series(before, PROCESS_BIOS, pid=gen.pid):
            now = [v for l, v in series(after, PROCESS_BIOS) if l == labels]
            self.assertEqual(len(now), 1, f"series {labels} still there")
            self.assertGreaterEqual(now[0], value, f"series {labels} never decreases")
        comms = {labels["comm"] for labels, _ in series(after, PROCESS_BIOS, pid=gen.pid)}
        self.assertEqual(comms, {gen.comm, "renamed-iogen"}, "one series set per name")

    def test_a_process_that_renames_itself_takes_its_new_name_with_the_same_keys(self):
        # A write to /proc/self/comm, then the same fsync()s as before: every bio
        # has a key the process already had (no new key records the name), so
        # only the kernel's rename hook (task_rename) can tell the exporter.
        fs = LoopFilesystem(self, "ext4", size_mb=128)
        exporter = Exporter(self, "collectors:\n  bio:\n    attach: tp_btf\n"
                                  "    exited_process_ttl: 1h\n")
        path = fs.path("f")
        with open(path, "wb") as f:
            f.write(b"x" * 4096)
            os.fsync(f.fileno())
        child = RenamingFsync(self, path, N)
        flushes = dict(pid=child.pid, device=fs.name, syscall="fsync", op="flush")
        wait_for("the first fsync()s under the first name",
                 lambda: process_counts(exporter.scrape(), absent_ok=True, comm="first-name",
                                        **flushes).zero_byte_bios == N)
        child.rename_and_finish(self)
        after = exporter.scrape()
        self.assertEqual(process_counts(after, comm="first-name", **flushes).zero_byte_bios, N,
                         "the first name keeps exactly the fsync()s before the rename")
        self.assertEqual(process_counts(after, comm="second-name", **flushes).zero_byte_bios, N,
                         "the fsync()s after the rename under the new name, exactly")
        self.assertEqual(complete_counts(after, comm="second-name", device=fs.name,
                                         syscall="fsync", op="flush").zero_byte_bios, N)

    def test_a_full_process_map_shows_comm_unknown(self):
        fs = LoopFilesystem(self, "ext4", size_mb=128)
        # One entry: the first process the program sees takes it (our filler, which
        # lives to the end, or some process on this machine); the process table is
        # full for everyone after that. Unless the holder is a process that exits: a
        # full map sheds exited processes early (diskidle_process_early_expiries_total),
        # and the next process takes the entry. So the filler must hold it.
        for attempt in range(5):
            exporter = Exporter(self, "collectors:\n  bio:\n    attach: tp_btf\n"
                                      "    exited_process_ttl: 1h\n    process_map_entries: 1\n")
            filler = IoGen(self, "fsync-loop", fs.path("filler"), 1)
            filler.wait_done(self)
            wait_for("the process map to fill",
                     lambda: total(exporter.scrape(), "diskidle_bpf_map_entries", map="processes"))
            named = [labels for labels, _ in series(exporter.scrape(), PROCESS_BIOS)
                     if labels["comm"] != "unknown"]
            if {labels["pid"] for labels in named} == {str(filler.pid)}:
                break
            exporter.stop()
        else:
            self.fail(f"another process took the one process-map entry 5 times: {named}")
        gen = IoGen(self, "fsync-loop", fs.path("f"), N, wait=True)
        flushes = dict(device=fs.name, syscall="fsync", op="flush")
        before = exporter.scrape()
        gen.go()
        gen.wait_done(self)
        samples = exporter.scrape()
        ours = series(samples, PROCESS_BIOS, pid=gen.pid, **flushes)
        self.assertEqual([labels["comm"] for labels, _ in ours], ["unknown"],
                         "a process the kernel could not name is comm=\"unknown\"")
        self.assertEqual(process_delta(before, samples, pid=gen.pid, **flushes).zero_byte_bios, N,
                         "its flushes are still counted, exactly")
        # The filler (if it did not get the one entry) fsynced before the baseline:
        # what comm="unknown" gained on our disk since is exactly ours.
        self.assertEqual(complete_delta(before, samples, comm="unknown", **flushes).zero_byte_bios,
                         N, "and under comm=\"unknown\" in the complete view")
        self.assertGreaterEqual(total(samples, "diskidle_bpf_events_dropped_total",
                                      reason="process_map_full"), 1)
        self.assertEqual(total(samples, "diskidle_bpf_map_entries", map="processes"), 1)


if __name__ == "__main__":
    unittest.main()

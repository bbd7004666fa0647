"""Bios a kernel thread submits for a process are counted for that process
(issue 10): page-cache writeback for the process that dirtied the pages
(syscall="writeback"), ext4 journal commits for the process whose fsync forced
them (under its syscall), and reads under mmap faults as syscall="pagefault".

Real exporter, real BPF programs, ext4 and XFS on loop devices whose images sit
on a private tmpfs (so the loop driver's own writes cause no host I/O). Every
bound is a share of what the device itself received in the same window, read
from the exporter's complete view and cross-checked with /proc/diskstats.
"""
import os
import shutil
import subprocess
import sys
import time
import unittest

from diskidle_testlib import (BIO, OWNER_PROGRAMS, Exporter, IoGen, attached_programs,
                              bpf_programs_of, complete_delta, diskstats, enable_bpf_stats,
                              process_counts, process_delta,
                              require_privileges, series, tmpfs_loop_filesystem, total, wait_for)

MIB = 1 << 20
DIRTY_MB = 64

CONFIG = """
collectors:
  bio:
    attach: {attach}
"""

VM = "/proc/sys/vm/"


def read_sysctl(name):
    with open(VM + name) as f:
        return f.read().strip()


def write_sysctl(name, value):
    with open(VM + name, "w") as f:
        f.write(str(value))


def device_bytes(before, after, device, op):
    """Bytes of `op` bios the exporter counted on `device` between two scrapes,
    whoever they were counted for (the complete view counts every bio once)."""
    return (total(after, BIO + "_sum", device=device, op=op)
            - total(before, BIO + "_sum", absent_ok=True, device=device, op=op))


def device_bios(before, after, device, op, **match):
    return (total(after, BIO + "_count", absent_ok=True, device=device, op=op, **match)
            - total(before, BIO + "_count", absent_ok=True, device=device, op=op, **match))


def sqlite_wal_commits(db, rows=300):
    """sqlite3 in WAL mode with synchronous=FULL inserts `rows` rows, one
    synchronous commit each."""
    script = ["PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;",
              "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"]
    script += [f"INSERT INTO t(v) VALUES('row {i}');" for i in range(rows)]
    subprocess.run(["sqlite3", db], input="\n".join(script) + "\n", text=True, check=True,
                   capture_output=True)


def report(test, text):
    """The measured share, in the test log (docs/benchmarks.md quotes them)."""
    print(f"{test.id()}: {text}", file=sys.stderr)


# The hooks this kernel (6.18, ext4 and jbd2 built in) must have attached,
# by tracepoint; the program of each mode is <prefix>_btf or <prefix>_raw.
HOOKS = {"writeback_dirty_folio": "wb_folio", "ext4_sync_file_enter": "jf_sync",
         "ext4_sync_file_exit": "jf_sync_x", "ext4_sync_fs": "jf_syncfs",
         "jbd2_start_commit": "jf_start", "jbd2_end_commit": "jf_end"}
PROGRAM_TYPE = {"tp_btf": ("tracing", "btf"), "raw_tp": ("raw_tracepoint", "raw")}


class WritebackTest:
    fstype = None
    attach = "tp_btf"  # pinned: auto would hide a tp_btf program the kernel refuses

    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, self.fstype)
        self.exporter = Exporter(self, CONFIG.format(attach=self.attach))
        log = self.exporter.read_log()
        self.assertIn(f"BPF program attached: {self.attach}/block_bio_queue", log)
        self.assertIn("writeback and journal attribution hooks: writeback_dirty_folio, "
                      "writeback_dirty_page (not loaded), ext4_sync_file_enter, "
                      "ext4_sync_file_exit, ext4_sync_fs, jbd2_start_commit, jbd2_end_commit",
                      log)
        kind, suffix = PROGRAM_TYPE[self.attach]
        names = {f"{prefix}_{suffix}" for prefix in HOOKS.values()}
        self.assertEqual(attached_programs(self.exporter.proc.pid, lambda n: n in names),
                         sorted((kind, f"{prefix}_{suffix}", tp) for tp, prefix in HOOKS.items()))

    def start_dirtier(self, name, append=False):
        """A process (dd) writes DIRTY_MB through the page cache, no fsync, and
        exits (with append, after the file's current end). Returns its pid."""
        dd = subprocess.Popen(["dd", "if=/dev/zero", f"of={self.fs.path(name)}", "bs=1M",
                               f"count={DIRTY_MB}", "status=none"]
                              + (["oflag=append", "conv=notrunc"] if append else []))
        self.assertEqual(dd.wait(timeout=60), 0)
        return dd.pid

    def assert_counted_for_dirtier(self, before, after, disk_before, pid, comm="dd",
                                   min_written=DIRTY_MB * MIB):
        """At least 95% of the device's write bytes (at least `min_written`)
        counted for the dirtier as writeback. Returns the bytes written."""
        device = self.fs.name
        written = device_bytes(before, after, device, "write")
        disk_written = (diskstats(device)["sectors_written"] - disk_before["sectors_written"]) * 512
        # The device's own count and the exporter's agree (a journal commit in
        # flight at the scrape may differ by a few blocks).
        self.assertGreaterEqual(written, min_written)
        self.assertLess(abs(written - disk_written), 0.02 * disk_written,
                        f"exporter op=write bytes {written} vs diskstats {disk_written}")
        ours = process_delta(before, after, pid=pid, comm=comm[:15], device=device,
                             syscall="writeback", op="write")
        report(self, f"{ours.bytes / written:.2%} of {written} written bytes counted for {comm}")
        self.assertGreaterEqual(ours.bytes, 0.95 * written,
                                f"of {written} bytes written to {device}, {ours.bytes} counted "
                                f"for {comm} (pid {pid}) as writeback")
        self.assertLessEqual(ours.bytes, written)
        return written

    def test_sync_writes_back_for_the_dirtier(self):
        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        pid = self.start_dirtier("dirty")
        subprocess.run(["sync"], check=True)  # another process; the flusher writes
        after = self.exporter.scrape()
        self.assert_counted_for_dirtier(before, after, disk_before, pid)

    def test_a_file_dirtied_by_two_processes_writes_back_for_the_latest(self):
        # docs/metrics.md: the dirtier is recorded per file, and the latest one
        # owns every dirty page of it that is written back afterwards.
        path = self.fs.path("shared")
        first = subprocess.Popen(["dd", "if=/dev/zero", f"of={path}", "bs=1M",
                                  f"count={DIRTY_MB // 2}", "status=none"])
        self.assertEqual(first.wait(timeout=60), 0)
        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        pid = self.start_dirtier("shared", append=True)
        subprocess.run(["sync"], check=True)
        after = self.exporter.scrape()
        self.assert_counted_for_dirtier(before, after, disk_before, pid)
        earlier = dict(pid=first.pid, comm="dd", device=self.fs.name, syscall="writeback")
        self.assertEqual(process_counts(after, absent_ok=True, **earlier).bytes, 0, "the first dirtier owns nothing once another "
                                           "dirtied the file after it")

    def test_mmap_stores_write_back_for_the_dirtier(self):
        # Stores through a shared mapping dirty the pages in page_mkwrite, in the
        # storing process's context, through the same dirty hook as write().
        path = self.fs.path("mapped")
        with open(path, "wb") as f:
            f.truncate(DIRTY_MB * MIB)
        subprocess.run(["sync", "-f", path], check=True)  # the truncate's metadata
        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        store = subprocess.Popen([sys.executable, "-c", f"""
import mmap
with open({path!r}, "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    for off in range(0, len(m), 4096):
        m[off:off + 4096] = b"m" * 4096
    m.close()
"""])
        self.assertEqual(store.wait(timeout=60), 0)
        subprocess.run(["sync"], check=True)
        after = self.exporter.scrape()
        self.assert_counted_for_dirtier(before, after, disk_before, store.pid,
                                        comm=os.path.basename(sys.executable))

    def test_periodic_writeback_writes_back_for_the_dirtier(self):
        for name, value in (("dirty_expire_centisecs", 100), ("dirty_writeback_centisecs", 50)):
            self.addCleanup(write_sysctl, name, read_sysctl(name))
            write_sysctl(name, value)
        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        pid = self.start_dirtier("dirty")
        # Nobody syncs: the kernel's flusher sends the pages once they expire.
        wait_for(f"the periodic writeback of {DIRTY_MB} MiB to {self.fs.name}", lambda: (
            diskstats(self.fs.name)["sectors_written"] - disk_before["sectors_written"]) * 512
            >= DIRTY_MB * MIB, timeout=60, interval=0.5)
        after = self.exporter.scrape()
        self.assert_counted_for_dirtier(before, after, disk_before, pid)

    def test_sqlite_wal_commits_are_counted_for_sqlite(self):
        before = self.exporter.scrape()
        sqlite_wal_commits(self.fs.path("test.db"))
        after = self.exporter.scrape()
        device = self.fs.name
        everyone = sum(device_bios(before, after, device, op) for op in ("write", "flush"))
        sqlite = sum(device_bios(before, after, device, op, comm="sqlite3")
                     for op in ("write", "flush"))
        report(self, f"{sqlite / everyone:.2%} of {everyone} write+flush bios counted for sqlite3")
        self.assertGreater(everyone, 300, "300 synchronous commits write at least 300 bios")
        self.assertGreaterEqual(sqlite, 0.90 * everyone,
                                f"{sqlite} of {everyone} write+flush bios on {device} "
                                f"counted for sqlite3")

    def test_mmap_reads_are_pagefaults(self):
        path = self.fs.path("mapped")
        size = 32 * MIB
        with open(path, "wb") as f:
            f.write(os.urandom(size))
            f.flush()
            os.fsync(f.fileno())
            # Clean pages leave the cache, so the faults below read the disk.
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        device = self.fs.name
        before, disk_before = self.exporter.scrape(), diskstats(device)
        subprocess.run(["fio", "--name=mmapread", "--ioengine=mmap", "--rw=read", "--bs=64k",
                        f"--size={size}", f"--filename={path}", "--output=/dev/null"],
                       check=True, capture_output=True)
        after = self.exporter.scrape()
        disk_read = (diskstats(device)["sectors_read"] - disk_before["sectors_read"]) * 512
        read = device_bytes(before, after, device, "read")
        faults = complete_delta(before, after, comm="fio", device=device, syscall="pagefault",
                                op="read")
        report(self, f"{faults.bytes / read:.2%} of {read} read bytes counted as pagefault "
                     f"(diskstats: {disk_read})")
        self.assertGreaterEqual(disk_read, size, "the mapped file was read from the disk")
        self.assertLessEqual(abs(read - disk_read), 0.01 * disk_read,
                             f"exporter read bytes {read} vs diskstats {disk_read}")
        self.assertGreaterEqual(faults.bytes, 0.99 * read,
                                f"of {read} bytes read from {device}, {faults.bytes} counted for "
                                f"fio as pagefault")


class Ext4(WritebackTest, unittest.TestCase):
    fstype = "ext4"

    def test_the_hooks_report_their_runs(self):
        """diskidle_bpf_program_runs_total and _run_seconds_total have a series
        per loaded program: each fsync runs ext4_sync_file_enter's and _exit's
        hooks once, which is where an fsync-bound workload's cost is."""
        enable_bpf_stats(self)
        fsyncs = 200

        def runs(samples, program):
            return total(samples, "diskidle_bpf_program_runs_total", program=program)

        gen = IoGen(self, "fsync-loop", self.fs.path("unchanged"), fsyncs, wait=True)
        before = self.exporter.scrape()
        gen.go()
        self.assertEqual(gen.wait_done(self), fsyncs)
        def scrape_with_every_run():  # the snapshot behind a scrape is up to a second old
            samples = self.exporter.scrape()
            done = runs(samples, "jf_sync_x_btf") - runs(before, "jf_sync_x_btf") >= fsyncs
            return samples if done else None

        after = wait_for("the fsyncs' hook runs in a scrape", scrape_with_every_run,
                         timeout=10, interval=0.5)
        for program in ("jf_sync_btf", "jf_sync_x_btf"):
            self.assertGreaterEqual(runs(after, program) - runs(before, program), fsyncs, program)
            self.assertGreater(total(after, "diskidle_bpf_program_run_seconds_total", program=program),
                               0, program)
        self.assertGreaterEqual(runs(after, "block_bio_queue_btf") - runs(before, "block_bio_queue_btf"),
                                fsyncs, "the bio program ran for every flush")
        names = {labels["program"] for labels, _ in series(after, "diskidle_bpf_program_runs_total")}
        self.assertEqual(names, {"block_bio_queue_btf", "task_rename_btf", "task_newtask_btf"}
                         | {f"{prefix}_btf" for prefix in HOOKS.values()},
                         "one series per loaded program, none for those not loaded")

    def test_an_fsync_storm_takes_no_commit_another_process_forces(self):
        """A process that fsync()s an unchanged file in a loop (the anomaly this
        exporter is for) waits in fsync() nearly all the time, so it is nearly
        always the latest caller; the journal commits another process's
        fdatasync()s force are still that process's (docs/metrics.md, "Several
        forcers of one commit"): the storm's calls need no new transaction."""
        rounds = 200
        storm = IoGen(self, "fsync-for", self.fs.path("unchanged"), 60000, wait=True)
        writer = IoGen(self, "pwrite-fdatasync", self.fs.path("log"), rounds, wait=True)
        before = self.exporter.scrape()
        storm.go()
        writer.go()
        self.assertEqual(writer.wait_done(self), rounds)
        after = self.exporter.scrape()
        self.assertIsNone(storm.proc.poll(), "the storm ran for the writer's whole run")
        device = self.fs.name
        written = device_bytes(before, after, device, "write")
        ours = process_delta(before, after, pid=writer.pid, device=device,
                             syscall="fdatasync", op="write")
        storms = process_delta(before, after, pid=storm.pid, device=device, op="write")
        flushes = process_delta(before, after, pid=storm.pid, device=device, op="flush")
        report(self, f"{ours.bytes / written:.2%} of {written} written bytes counted for the "
                     f"writer, {storms.bytes} for the storm ({flushes.bios} flushes)")
        self.assertGreater(flushes.bios, rounds // 2, "the storm fsync()ed all along")
        # Its data and each commit's descriptor and commit blocks, at least.
        self.assertGreaterEqual(ours.bios, 3 * rounds)
        self.assertGreaterEqual(ours.bytes, 0.90 * written,
                                f"of {written} bytes written to {device}, {ours.bytes} counted "
                                f"for the writer and {storms.bytes} for the storm")
        self.assertLessEqual(storms.bytes, 0.05 * written)


class Xfs(WritebackTest, unittest.TestCase):
    fstype = "xfs"


class BtrfsMetadata(unittest.TestCase):
    """btrfs keeps its tree blocks (metadata) in the page cache of one inode,
    dirtied by every task that changes a tree and written back together at the
    transaction's commit: they stay `kernel`, as on other filesystems."""

    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, "btrfs")
        self.exporter = Exporter(self)  # built-in defaults

    def test_metadata_is_not_writeback_of_the_last_task_that_changed_a_tree(self):
        top = self.fs.path("files")
        os.mkdir(top)
        subprocess.run(["sync", "-f", top], check=True)
        before = self.exporter.scrape()
        # Empty files: there is no file data to write back, only metadata.
        names = [os.path.join(top, f"f{i}") for i in range(3000)]
        for start in range(0, len(names), 500):
            subprocess.run(["touch", *names[start:start + 500]], check=True)
        subprocess.run(["mkdir", self.fs.path("last")], check=True)
        subprocess.run(["sync", "-f", top], check=True)
        after = self.exporter.scrape()
        device = self.fs.name
        written = device_bytes(before, after, device, "write")
        writeback = device_bios(before, after, device, "write", syscall="writeback")
        report(self, f"{written} bytes written, {writeback} bios counted as writeback")
        self.assertGreaterEqual(written, 256 * 1024, "3000 new files wrote their metadata")
        self.assertEqual(writeback, 0, "no task's writeback: the files hold no data")


class BtrfsCompressed(unittest.TestCase):
    """btrfs with compress-force=zstd writes the compressed copy of a file's
    pages from pages of its own, in a kworker: the bio's pages belong to no
    file, so the dirtier is found through the struct btrfs_bio around it."""

    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, "btrfs", mount_options="compress-force=zstd")
        self.exporter = Exporter(self)  # built-in defaults

    def test_compressed_writeback_writes_back_for_the_dirtier(self):
        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        # Hex digits of random bytes: zstd halves them, so the compressed
        # data, not btrfs's metadata, is most of what reaches the disk.
        writer = subprocess.Popen([sys.executable, "-c", f"""
import os
import shutil
with open({self.fs.path("compressible")!r}, "w") as f:
    for _ in range({DIRTY_MB}):
        f.write(os.urandom({MIB // 2}).hex())
"""])
        self.assertEqual(writer.wait(timeout=60), 0)
        subprocess.run(["sync"], check=True)  # another process; a kworker compresses and writes
        after = self.exporter.scrape()
        written = self.assert_counted_for_dirtier(before, after, disk_before, writer.pid,
                                                  comm=os.path.basename(sys.executable),
                                                  min_written=1)
        self.assertLess(written, 0.8 * DIRTY_MB * MIB,
                        f"{written} bytes for {DIRTY_MB} MiB: the data was not written compressed")

    assert_counted_for_dirtier = WritebackTest.assert_counted_for_dirtier


class BtrfsSubvolumes(unittest.TestCase):
    """btrfs subvolumes and snapshots share one superblock (one s_dev in the
    kernel, although stat() shows each its own device), and their files
    repeat inode numbers and generations: the first file of every new
    subvolume is inode 257, and a snapshot's files are the original's numbers.
    Two such files dirtied by two processes must each write back for their
    own dirtier."""

    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, "btrfs")
        self.exporter = Exporter(self)  # built-in defaults

    def dirty(self, path, comm):
        """A copy of dd named `comm` writes DIRTY_MB to `path`, no fsync; its pid.
        notrunc: btrfs writes a file truncated to 0 back itself when it is
        closed (BTRFS_INODE_FLUSH_ON_CLOSE), in dd's close(), not the flusher."""
        dd = os.path.join(self.fs.workdir, comm)  # not on the disk under test
        shutil.copy(shutil.which("dd"), dd)
        proc = subprocess.Popen([dd, "if=/dev/zero", f"of={path}", "bs=1M", "conv=notrunc",
                                 f"count={DIRTY_MB}", "status=none"])
        self.assertEqual(proc.wait(timeout=60), 0)
        return proc.pid

    def check_two_files(self, first, second):
        a, b = os.stat(first), os.stat(second)
        self.assertEqual(a.st_ino, b.st_ino, "the two files share an inode number")
        self.assertNotEqual(a.st_dev, b.st_dev, "in two subvolumes")
        before = self.exporter.scrape()
        pids = {"wb-first": self.dirty(first, "wb-first"),
                "wb-second": self.dirty(second, "wb-second")}
        subprocess.run(["sync"], check=True)  # another process; the flusher writes
        after = self.exporter.scrape()
        for comm, pid in pids.items():
            ours = process_delta(before, after, pid=pid, comm=comm, device=self.fs.name,
                                 syscall="writeback", op="write")
            self.assertGreaterEqual(ours.bytes, 0.95 * DIRTY_MB * MIB,
                                    f"{comm} (pid {pid}) dirtied {DIRTY_MB} MiB: {ours.bytes} "
                                    f"bytes written back for it")
            self.assertLessEqual(ours.bytes, DIRTY_MB * MIB + 64 * 1024,
                                 f"{comm} (pid {pid}): another file's writeback counted for it")

    def test_same_inode_number_in_two_subvolumes(self):
        for name in ("sv1", "sv2"):
            subprocess.run(["btrfs", "-q", "subvolume", "create", self.fs.path(name)], check=True)
        for name in ("sv1", "sv2"):  # each subvolume's first file: inode 257
            os.close(os.open(self.fs.path(f"{name}/f"), os.O_CREAT | os.O_WRONLY))
        self.check_two_files(self.fs.path("sv1/f"), self.fs.path("sv2/f"))

    def test_a_file_and_its_snapshot(self):
        subprocess.run(["btrfs", "-q", "subvolume", "create", self.fs.path("sv")], check=True)
        with open(self.fs.path("sv/f"), "w") as f:
            f.write("x")
        subprocess.run(["btrfs", "-q", "subvolume", "snapshot", self.fs.path("sv"),
                        self.fs.path("snap")], check=True)
        self.check_two_files(self.fs.path("sv/f"), self.fs.path("snap/f"))


class Ext4RawTp(unittest.TestCase):
    """The raw_tp twins of the hooks: the same accounting on ext4."""
    fstype = "ext4"
    attach = "raw_tp"
    setUp = WritebackTest.setUp
    start_dirtier = WritebackTest.start_dirtier
    assert_counted_for_dirtier = WritebackTest.assert_counted_for_dirtier
    test_sync_writes_back_for_the_dirtier = WritebackTest.test_sync_writes_back_for_the_dirtier
    test_sqlite_wal_commits_are_counted_for_sqlite = \
        WritebackTest.test_sqlite_wal_commits_are_counted_for_sqlite
    test_an_fsync_storm_takes_no_commit_another_process_forces = \
        Ext4.test_an_fsync_storm_takes_no_commit_another_process_forces


class AttributionOff(unittest.TestCase):
    """collectors.bio.writeback_attribution and journal_attribution set to
    false: the hooks are not loaded, and the bios they would have counted for a
    process stay with the kernel thread that submits them, syscall="kernel"."""

    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, "ext4")
        self.exporter = Exporter(self, CONFIG.format(attach="tp_btf")
                                 + "    writeback_attribution: false\n"
                                 + "    journal_attribution: false\n")

    def test_the_hooks_are_not_loaded(self):
        self.assertIn("writeback and journal attribution hooks: writeback_dirty_folio (off), "
                      "writeback_dirty_page (off), ext4_sync_file_enter (off), "
                      "ext4_sync_file_exit (off), ext4_sync_fs (off), jbd2_start_commit (off), "
                      "jbd2_end_commit (off)", self.exporter.read_log())
        held = {p["name"] for p in bpf_programs_of(self.exporter.proc.pid)}
        self.assertTrue(held, "the exporter holds its bio program")
        self.assertEqual(held & set(OWNER_PROGRAMS), set(), "no hook is loaded")

    def test_writeback_and_forced_commits_stay_with_the_kernel_thread(self):
        device = self.fs.name
        before = self.exporter.scrape()
        dd = WritebackTest.start_dirtier(self, "dirty")
        subprocess.run(["sync"], check=True)
        sqlite_wal_commits(self.fs.path("test.db"))
        after = self.exporter.scrape()
        written = device_bytes(before, after, device, "write")
        self.assertGreaterEqual(written, DIRTY_MB * MIB)
        self.assertEqual(series(after, BIO + "_count", device=device, syscall="writeback"), [],
                         "no syscall=\"writeback\" series at all")
        self.assertEqual(series(after, BIO + "_count", device=device, comm="dd", op="write"), [],
                         f"no write counted for dd (pid {dd}), which only dirtied pages")
        # What dd wrote through the page cache is the flusher's, as kernel.
        kernel = (total(after, BIO + "_sum", device=device, op="write", syscall="kernel")
                  - total(before, BIO + "_sum", absent_ok=True, device=device, op="write",
                          syscall="kernel"))
        self.assertGreaterEqual(kernel, DIRTY_MB * MIB, "dd's pages written back as kernel")
        # Each synchronous commit forces a journal commit: jbd2's own now.
        jbd2 = jbd2_kernel_bios(after, device) - jbd2_kernel_bios(before, device)
        report(self, f"{jbd2} write+flush bios of jbd2 as kernel")
        self.assertGreaterEqual(jbd2, 300, "300 forced commits stay with jbd2")



class DirtierMapSize(unittest.TestCase):
    """collectors.bio.dirtier_map_entries sizes the LRU of files' dirtiers: a
    process that dirties more files than it holds before the writeback loses
    the oldest records to the kernel thread; within it, every file counts."""
    FILES, FILE_KIB = 400, 64

    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, "ext4")

    def writeback_share(self, entries):
        """Share of the device's written bytes counted as the writer's writeback
        when one process writes FILES small files, then sync."""
        exporter = Exporter(self, CONFIG.format(attach="tp_btf")
                            + f"    dirtier_map_entries: {entries}\n")
        before, disk_before = exporter.scrape(), diskstats(self.fs.name)
        os.makedirs(self.fs.path(f"tree{entries}"))
        writer = subprocess.Popen([sys.executable, "-c", f"""
import os
for i in range({self.FILES}):
    with open(os.path.join({self.fs.path(f"tree{entries}")!r}, str(i)), "wb") as f:
        f.write(b"w" * {self.FILE_KIB * 1024})
"""])
        self.assertEqual(writer.wait(timeout=60), 0)
        subprocess.run(["sync"], check=True)
        after = exporter.scrape()
        written = device_bytes(before, after, self.fs.name, "write")
        ours = process_delta(before, after, pid=writer.pid, device=self.fs.name,
                             syscall="writeback", op="write")
        self.assertGreaterEqual(written, self.FILES * self.FILE_KIB * 1024)
        share = ours.bytes / written
        report(self, f"dirtier_map_entries {entries}: {share:.1%} of {written} bytes for the writer")
        exporter.stop()
        return share

    def test_the_map_size_is_the_files_remembered(self):
        self.assertGreaterEqual(self.writeback_share(4 * self.FILES), 0.95,
                                f"{self.FILES} files within a map of {4 * self.FILES}")
        self.assertLess(self.writeback_share(self.FILES // 4), 0.5,
                        f"{self.FILES} files through a map of {self.FILES // 4}: the oldest "
                        "records were evicted")


def jbd2_kernel_bios(samples, device):
    """write+flush bios of the device's jbd2 thread counted as its own (kernel)."""
    return sum(value for labels, value in series(samples, BIO + "_count", device=device,
                                                 syscall="kernel")
               if labels["comm"].startswith("jbd2/") and labels["op"] in ("write", "flush"))


class OneGroupOff:
    """One of the two hook groups off, the other on (docs/metrics.md suggests
    journal_attribution: false alone for fsync-bound hosts): only that group's
    programs are missing, and the other group still counts for the process."""
    off = None  # the config key set to false
    fstype = "ext4"
    start_dirtier = WritebackTest.start_dirtier
    assert_counted_for_dirtier = WritebackTest.assert_counted_for_dirtier

    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, "ext4")
        self.exporter = Exporter(self, CONFIG.format(attach="tp_btf") + f"    {self.off}: false\n")

    def held_hooks(self):
        held = {p["name"] for p in bpf_programs_of(self.exporter.proc.pid)}
        return held & {f"{prefix}_btf" for prefix in HOOKS.values()}


class JournalAttributionOff(OneGroupOff, unittest.TestCase):
    off = "journal_attribution"

    def test_only_the_journal_hooks_are_off(self):
        self.assertIn("writeback and journal attribution hooks: writeback_dirty_folio, "
                      "writeback_dirty_page (not loaded), ext4_sync_file_enter (off), "
                      "ext4_sync_file_exit (off), ext4_sync_fs (off), jbd2_start_commit (off), "
                      "jbd2_end_commit (off)", self.exporter.read_log())
        self.assertEqual(self.held_hooks(), {"wb_folio_btf"})

    def test_writeback_still_counts_for_the_dirtier(self):
        before, disk_before = self.exporter.scrape(), diskstats(self.fs.name)
        pid = self.start_dirtier("dirty")
        subprocess.run(["sync"], check=True)
        after = self.exporter.scrape()
        self.assert_counted_for_dirtier(before, after, disk_before, pid)

    def test_forced_commits_stay_with_jbd2(self):
        before = self.exporter.scrape()
        sqlite_wal_commits(self.fs.path("test.db"))
        after = self.exporter.scrape()
        device = self.fs.name
        jbd2 = jbd2_kernel_bios(after, device) - jbd2_kernel_bios(before, device)
        self.assertGreaterEqual(jbd2, 300, "300 forced commits stay with jbd2")
        sqlite = sum(device_bios(before, after, device, op, comm="sqlite3")
                     for op in ("write", "flush"))
        self.assertGreaterEqual(sqlite, 300, "sqlite3's own WAL writes still count for it")


class WritebackAttributionOff(OneGroupOff, unittest.TestCase):
    off = "writeback_attribution"
    test_sqlite_wal_commits_are_counted_for_sqlite = \
        WritebackTest.test_sqlite_wal_commits_are_counted_for_sqlite

    def test_only_the_writeback_hooks_are_off(self):
        self.assertIn("writeback and journal attribution hooks: writeback_dirty_folio (off), "
                      "writeback_dirty_page (off), ext4_sync_file_enter, ext4_sync_file_exit, "
                      "ext4_sync_fs, jbd2_start_commit, jbd2_end_commit", self.exporter.read_log())
        self.assertEqual(self.held_hooks(),
                         {f"{prefix}_btf" for prefix in HOOKS.values() if prefix.startswith("jf_")})

    def test_writeback_stays_with_the_flusher(self):
        device = self.fs.name
        before = self.exporter.scrape()
        dd = self.start_dirtier("dirty")
        subprocess.run(["sync"], check=True)
        after = self.exporter.scrape()
        self.assertGreaterEqual(device_bytes(before, after, device, "write"), DIRTY_MB * MIB)
        self.assertEqual(series(after, BIO + "_count", device=device, syscall="writeback"), [],
                         "no syscall=\"writeback\" series at all")
        self.assertEqual(series(after, BIO + "_count", device=device, comm="dd", op="write"), [],
                         f"no write counted for dd (pid {dd}), which only dirtied pages")

if __name__ == "__main__":
    unittest.main()

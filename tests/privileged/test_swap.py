"""Swap-out is syscall="swap" (bio_stats.h: DISKIDLE_SYSCALL_SWAP).

A process in a memory cgroup limited to 64 MiB touches 160 MiB: the kernel
reclaims from inside its allocations (memcg reclaim is always direct, in the
charging task) and writes its anonymous pages to the only swap device, a loop
device on a private tmpfs. Those bios carry REQ_SWAP and must be counted for
the process under syscall="swap", not under the syscall or fault it happened
to be in; and every byte the swap device wrote (diskstats) is such a bio.
"""
import os
import subprocess
import sys
import tempfile
import unittest

from diskidle_testlib import (BIO, Exporter, checked_cleanup, diskstats, process_counts,
                              require_privileges, run, series, tmpfs_loop_filesystem, total,
                              wait_for)

MIB = 1 << 20
LIMIT_MB = 64
TOUCH_MB = 160


def memory_cgroup(test, limit_bytes):
    """A fresh memory cgroup limited to `limit_bytes`; returns its cgroup.procs
    path. cgroup v1's memory hierarchy where it is mounted (this machine's
    hybrid layout), else cgroup v2's."""
    v1 = "/sys/fs/cgroup/memory"
    if os.path.exists(os.path.join(v1, "memory.limit_in_bytes")):
        path, limit_file = tempfile.mkdtemp(prefix="diskidle-swap-", dir=v1), "memory.limit_in_bytes"
    else:
        root = "/sys/fs/cgroup"
        with open(os.path.join(root, "cgroup.controllers")) as f:
            if "memory" not in f.read().split():
                test.fail("no memory cgroup controller (v1 or v2) to limit the workload")
        path, limit_file = tempfile.mkdtemp(prefix="diskidle-swap-", dir=root), "memory.max"
    test.addCleanup(os.rmdir, path)
    with open(os.path.join(path, limit_file), "w") as f:
        f.write(str(limit_bytes))
    return os.path.join(path, "cgroup.procs")


class SwapTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        # zswap would keep the pages in compressed RAM: no bio at all.
        zswap = "/sys/module/zswap/parameters/enabled"
        if os.path.exists(zswap):
            with open(zswap) as f:
                was = f.read().strip()
            if was == "Y":
                self.addCleanup(lambda: open(zswap, "w").write("Y"))
                with open(zswap, "w") as f:
                    f.write("N")
        self.swap = tmpfs_loop_filesystem(self, None, size_mb=256)
        run("mkswap", "-q", self.swap.device)
        # The highest priority: used before any swap the machine has.
        run("swapon", "--priority", "32767", self.swap.device)
        self.addCleanup(checked_cleanup, "swapoff", self.swap.device)
        self.exporter = Exporter(self)

    def test_swap_out_is_syscall_swap_for_the_reclaiming_process(self):
        procs = memory_cgroup(self, LIMIT_MB * MIB)
        child = subprocess.Popen([sys.executable, "-c", f"""
import sys
sys.stdin.readline()  # moved into the cgroup
data = bytearray(b"\\x01") * ({TOUCH_MB} << 20)  # every page written
print("touched", flush=True)
sys.stdin.readline()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def stop():
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)
        self.addCleanup(stop)  # before the cgroup's rmdir (cleanups run last first)
        with open(procs, "w") as f:
            f.write(str(child.pid))
        before, disk_before = self.exporter.scrape(), diskstats(self.swap.name)
        child.stdin.write("\n")
        child.stdin.flush()
        self.assertEqual(child.stdout.readline().strip(), "touched")

        def settled():  # swap writes complete asynchronously
            now = diskstats(self.swap.name)["sectors_written"]
            settled.last, previous = now, getattr(settled, "last", None)
            return now == previous and now > disk_before["sectors_written"]
        wait_for("the swap device's writes to settle", settled, timeout=30, interval=0.5)
        after = self.exporter.scrape()
        disk_written = (settled.last - disk_before["sectors_written"]) * 512
        device = self.swap.name
        ours = (process_counts(after, pid=child.pid, device=device, syscall="swap", op="write")
                - process_counts(before, absent_ok=True, pid=child.pid, device=device,
                                 syscall="swap", op="write"))
        print(f"{self.id()}: swap device wrote {disk_written} bytes, {ours.bytes} of them "
              f"counted for the process under syscall=\"swap\"", file=sys.stderr)
        # Most of it, usually all: a kernel thread may reclaim some of the
        # same pages first (kswapd, or DAMON's kdamond where it is on, as
        # here), and its swap-out is syscall="swap" under its own name.
        self.assertGreaterEqual(ours.bytes, 16 * MIB,
                                f"{TOUCH_MB} MiB touched under a {LIMIT_MB} MiB limit: the "
                                f"process's swap-out under syscall=\"swap\" (device wrote "
                                f"{disk_written} bytes)")
        # Nothing else wrote to the swap device: all of it is swap-out, and none
        # of it counted under another syscall.
        swap = (total(after, BIO + "_sum", device=device, op="write", syscall="swap")
                - total(before, BIO + "_sum", absent_ok=True, device=device, op="write",
                        syscall="swap"))
        self.assertEqual(swap, disk_written, "swap-out bytes vs the device's written bytes")
        other = [(labels, v) for labels, v in series(after, BIO + "_sum", device=device, op="write")
                 if labels["syscall"] != "swap" and v > 0]
        self.assertEqual(other, [], "writes to the swap device under another syscall")


if __name__ == "__main__":
    unittest.main()

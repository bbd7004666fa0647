"""exited_process_ttl applies to exited processes only (docs/metrics.md, "Bounded
series and exact sums"): an idle, live process keeps its own series with its
exact counts however long it sleeps, and only after it exits do its series
expire into the comm aggregate. The kernel maps are cleaned by the exporter's
own housekeeping, on a node nobody scrapes, and no count is lost doing so."""
import os
import platform
import time
import unittest

from diskidle_testlib import (IOGEN, Exporter, IoGen, bpf_map_keys, kernel_dev,
                              require_privileges, series, tmpfs_loop_filesystem, total, wait_for)

BIO = "diskidle_bio_size_bytes"
COMM = os.path.basename(IOGEN)[:15]
TTL_SECONDS = 2
NR_FSYNC = {"x86_64": 74, "aarch64": 82}[platform.machine()]


class LivenessTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        self.fs = tmpfs_loop_filesystem(self, "ext4", size_mb=128)
        self.exporter = Exporter(self, f"""
collectors:
  bio:
    attach: tp_btf
    exited_process_ttl: {TTL_SECONDS}s
    process_map_entries: 65536
    bio_map_entries: 65536
""")

    def flushes(self, samples, absent_ok=False, **labels):
        return total(samples, BIO + "_bucket", absent_ok=absent_ok, comm=COMM,
                     device=self.fs.name, syscall="fsync", op="flush", le="0", **labels)

    def test_an_idle_live_process_keeps_its_series_past_the_ttl(self):
        n = 25
        gen = IoGen(self, "fsync-loop", self.fs.path("f"), n, wait=True)  # held: lives on
        baseline = self.flushes(self.exporter.scrape(), absent_ok=True, pid=gen.pid)
        gen.go()
        gen.wait_done(self)
        own = self.flushes(self.exporter.scrape(), pid=gen.pid)
        self.assertEqual(own - baseline, n)

        # Idle and alive for 4 TTLs (the waiting is what is tested): every scrape
        # must still show the process's own series with the same count.
        deadline = time.monotonic() + 4 * TTL_SECONDS + 1
        scrapes = 0
        while time.monotonic() < deadline:
            samples = self.exporter.scrape()
            self.assertEqual(self.flushes(samples, pid=gen.pid), own,
                             f"pid {gen.pid} is alive and idle: its series must stay, exactly")
            self.assertEqual(self.flushes(samples, absent_ok=True, pid=""), 0,
                             "nothing of a live process is folded")
            scrapes += 1
            time.sleep(0.5)
        self.assertGreaterEqual(scrapes, 5)
        self.assertTrue(os.path.exists(f"/proc/{gen.pid}"))

        # Now it exits: after the TTL its series go, its count moves to pid="".
        self.assertEqual(gen.finish(), 0)
        gone = wait_for(f"pid {gen.pid}'s series to expire after its exit", lambda: (
            lambda s: s if not series(s, BIO + "_count", pid=gen.pid) else None)(
                self.exporter.scrape()), timeout=TTL_SECONDS + 30, interval=0.3)
        self.assertEqual(self.flushes(gone, pid=""), own, "folded exactly into the aggregate")

    def test_kernel_maps_are_cleaned_without_any_scrape(self):
        children = 200
        gen = IoGen(self, "forks", self.fs.path("unchanged"), children, wait=True)
        before = self.exporter.scrape()  # the last scrape until the end of the test
        our_dev = kernel_dev(self.fs.device)

        def children_keys():
            # The children only fsync; jbd2 also has keys on our disk, as a kernel thread.
            # An entry can come back for a moment after its deletion (a CPU's cache of
            # the BPF program moves counts it held, which the exporter already folded);
            # the next housekeeping deletes it again, so the wait below is polled.
            return {(key["tgid"], key["start_boottime_ns"])
                    for key in bpf_map_keys(self.exporter.proc.pid, "bio_counts")
                    if key["dev"] == our_dev and key["tgid"] != gen.pid
                    and key["syscall_nr"] == NR_FSYNC}
        gen.go()
        gen.wait_done(self)
        seen = children_keys()
        self.assertGreater(len(seen), 0, "the children's bios were in the kernel map")

        # No scrape from here: the exporter's housekeeping alone must fold them.
        wait_for("the exited children's bio_counts entries to be deleted (no scrape)",
                 lambda: not children_keys(), timeout=TTL_SECONDS + 30, interval=0.5)
        child_tgids = {tgid for tgid, _ in seen}
        wait_for("the exited children's process entries to be deleted (no scrape)",
                 lambda: not {key["tgid"] for key in
                              bpf_map_keys(self.exporter.proc.pid, "processes")} & child_tgids,
                 timeout=30, interval=0.5)

        after = self.exporter.scrape()
        self.assertEqual(self.flushes(after, pid="")
                         - self.flushes(before, absent_ok=True, pid=""), 3 * children,
                         "the deleted entries' counts are in the comm aggregate, exactly")
        self.assertEqual([labels["pid"] for labels, _ in
                          series(after, BIO + "_count", comm=COMM, device=self.fs.name)
                          if labels["pid"] not in ("", str(gen.pid))], [],
                         "no child keeps a series of its own")


if __name__ == "__main__":
    unittest.main()

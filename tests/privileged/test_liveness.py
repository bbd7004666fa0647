"""exited_process_ttl applies to exited processes only (docs/metrics.md): an
idle, live process keeps its per-process series (diskidle_process_*_total)
with its exact counts however long it sleeps; only after it exits do they end,
exited_process_ttl later, and they are not moved anywhere (no pid="" series,
no other pid). The complete view (diskidle_bio_size_bytes, no pid) keeps its
count for the name exactly the same across the expiry. The kernel maps are
cleaned by the exporter's own housekeeping, on a node nobody scrapes, and the
complete view loses nothing doing so."""
import os
import platform
import time
import unittest

from diskidle_testlib import (IOGEN, PROCESS_FAMILIES, Exporter, IoGen, bpf_map_keys,
                              complete_counts, complete_delta, kernel_dev, pids_in_view,
                              process_counts, process_delta, require_privileges, series,
                              tmpfs_loop_filesystem, wait_for)

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
        self.flush = dict(comm=COMM, device=self.fs.name, syscall="fsync", op="flush")

    def pids_on_our_disk(self, samples):
        """Pids with per-process series of our name on our disk (only this test's
        processes write there)."""
        return pids_in_view(samples, comm=COMM, device=self.fs.name)

    def assert_no_pidless_series(self, samples):
        for family in PROCESS_FAMILIES:
            self.assertEqual([labels for labels, _ in series(samples, family)
                              if not labels.get("pid")],
                             [], f"{family} has a series without a pid: nothing is folded")

    def test_an_idle_live_process_keeps_its_series_past_the_ttl(self):
        n = 25
        gen = IoGen(self, "fsync-loop", self.fs.path("f"), n, wait=True)  # held: lives on
        baseline = self.exporter.scrape()
        gen.go()
        gen.wait_done(self)
        samples = self.exporter.scrape()
        self.assertEqual(process_delta(baseline, samples, pid=gen.pid, **self.flush).zero_byte_bios,
                         n)
        self.assertEqual(complete_delta(baseline, samples, **self.flush).zero_byte_bios, n)
        own = process_counts(samples, pid=gen.pid, **self.flush)
        complete = complete_counts(samples, **self.flush)

        # Idle and alive for 4 TTLs (the waiting is what is tested): every scrape
        # must still show the process's own series with the same counts.
        deadline = time.monotonic() + 4 * TTL_SECONDS + 1
        scrapes = 0
        while time.monotonic() < deadline:
            samples = self.exporter.scrape()
            self.assertEqual(process_counts(samples, pid=gen.pid, **self.flush), own,
                             f"pid {gen.pid} is alive and idle: its series must stay, exactly")
            self.assertEqual(complete_counts(samples, **self.flush), complete)
            self.assertEqual(self.pids_on_our_disk(samples), {str(gen.pid)})
            scrapes += 1
            time.sleep(0.5)
        self.assertGreaterEqual(scrapes, 5)
        self.assertTrue(os.path.exists(f"/proc/{gen.pid}"))

        # Now it exits: its series stay for the TTL, then end; the complete view
        # keeps exactly its count, and no other series takes it over.
        self.assertEqual(gen.finish(), 0)
        exited_at = time.monotonic()
        seen_after_exit = []

        def gone():
            s = self.exporter.scrape()
            pids = self.pids_on_our_disk(s)
            if pids:
                seen_after_exit.append(time.monotonic() - exited_at)
                self.assertEqual(pids, {str(gen.pid)}, "only the exited process's own series")
                self.assertEqual(process_counts(s, pid=gen.pid, **self.flush), own,
                                 "an exited process's series keep their value until they end")
            self.assertEqual(complete_counts(s, **self.flush), complete,
                             "the complete view does not move when a process exits or expires")
            return None if pids else s
        after = wait_for(f"pid {gen.pid}'s series to end after its exit", gone,
                         timeout=TTL_SECONDS + 30, interval=0.3)
        # They lasted about the TTL: the last scrape that showed them came at most
        # one poll (plus a scrape) before they ended, at least a TTL after the exit.
        self.assertTrue(seen_after_exit, "the series ended at the exit, not a TTL later")
        self.assertGreaterEqual(max(seen_after_exit), TTL_SECONDS / 2,
                                f"the series ended {max(seen_after_exit):.1f}s after the exit, "
                                f"before the {TTL_SECONDS}s TTL")
        self.assertEqual(complete_counts(after, **self.flush), complete)
        self.assertEqual(series(after, PROCESS_FAMILIES[0], pid=gen.pid), [],
                         f"no series of pid {gen.pid} on any disk")
        self.assert_no_pidless_series(after)

    def test_kernel_maps_are_cleaned_without_any_scrape(self):
        children = 200
        gen = IoGen(self, "forks", self.fs.path("unchanged"), children, wait=True)
        before = self.exporter.scrape()  # the last scrape until the end of the test
        our_dev = kernel_dev(self.fs.device)

        def children_keys():
            # The children only fsync; jbd2 also has keys on our disk, as a kernel thread.
            # An entry can come back for a moment after its deletion (a CPU's cache of
            # the BPF program moves counts it held, which the exporter already counted);
            # the next housekeeping deletes it again, so the wait below is polled.
            return {(key["tgid"], key["start_boottime_ns"])
                    for key in bpf_map_keys(self.exporter.proc.pid, "bio_counts")
                    if key["dev"] == our_dev and key["tgid"] != gen.pid
                    and key["syscall_nr"] == NR_FSYNC}
        gen.go()
        gen.wait_done(self)
        seen = children_keys()
        self.assertGreater(len(seen), 0, "the children's bios were in the kernel map")

        # No scrape from here: the exporter's housekeeping alone must clean them.
        wait_for("the exited children's bio_counts entries to be deleted (no scrape)",
                 lambda: not children_keys(), timeout=TTL_SECONDS + 30, interval=0.5)
        child_tgids = {tgid for tgid, _ in seen}
        wait_for("the exited children's process entries to be deleted (no scrape)",
                 lambda: not {key["tgid"] for key in
                              bpf_map_keys(self.exporter.proc.pid, "processes")} & child_tgids,
                 timeout=30, interval=0.5)

        after = self.exporter.scrape()
        self.assertEqual(complete_delta(before, after, **self.flush).zero_byte_bios, 3 * children,
                         "the complete view counted every child's flushes, exactly, before "
                         "their entries were deleted")
        self.assertEqual(self.pids_on_our_disk(after) - {str(gen.pid)}, set(),
                         "no child keeps a per-process series after the TTL")
        self.assert_no_pidless_series(after)


if __name__ == "__main__":
    unittest.main()

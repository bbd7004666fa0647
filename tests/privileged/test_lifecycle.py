"""Months of uptime in minutes: thousands of short-lived processes must leave
bounded series and a kernel map back at its starting size while every sum
stays exact and monotonic; a full kernel map counts what it could not hold;
SIGHUP swaps a valid config in and keeps the old one for an invalid one."""
import ctypes
import os
import platform
import signal
import time
import unittest

from diskidle_testlib import (Exporter, IoGen, Watcher, bpf_map_keys, kernel_dev,
                              require_privileges, series, tmpfs_loop_filesystem, total,
                              wait_for)

BIO = "diskidle_bio_size_bytes"
COMM = "diskidle-iogen"
DROPPED = "diskidle_bpf_events_dropped_total"


def enable_bpf_stats(test):
    """Keeps the kernel's per-program run counters on for the test (BPF_ENABLE_STATS:
    reference counted, so it neither needs nor disturbs kernel.bpf_stats_enabled)."""
    nr_bpf = {"x86_64": 321, "aarch64": 280}[platform.machine()]
    bpf_enable_stats, bpf_stats_run_time = 32, 0
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(bpf_stats_run_time.to_bytes(4, "little"), 128)
    fd = libc.syscall(ctypes.c_long(nr_bpf), ctypes.c_long(bpf_enable_stats), attr,
                      ctypes.c_long(len(attr)))
    if fd < 0:
        test.fail(f"BPF_ENABLE_STATS failed: {os.strerror(ctypes.get_errno())}")
    test.addCleanup(os.close, fd)


def flushes(samples, device, absent_ok=False, **labels):
    """Zero-byte fsync flush bios on `device` by COMM, over all its series (all pids)."""
    return total(samples, BIO + "_bucket", absent_ok=absent_ok, comm=COMM, device=device,
                 syscall="fsync", op="flush", le="0", **labels)


def own_pids(samples):
    """Distinct pids with their own series (the comm aggregates have pid="")."""
    return {labels["pid"] for labels, _ in series(samples, BIO + "_count") if labels["pid"]}


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        # On tmpfs the loop device's flushes reach no real disk: 5,000 processes in seconds.
        self.fs = tmpfs_loop_filesystem(self, "ext4")

    def test_thousands_of_exited_processes_fold_exactly_into_bounded_series(self):
        children = 5000
        # Map sizes are roomy so other processes on the machine cannot fill them
        # meanwhile; the test asserts that nothing was dropped.
        exporter = Exporter(self, """
collectors:
  bio:
    exited_process_ttl: 2s
    max_processes: 50
    bio_map_entries: 65536
    process_map_entries: 65536
""")
        gen = IoGen(self, "forks", self.fs.path("unchanged"), children, wait=True)
        # "ready" comes after the parent's set-up fsync: it is in this baseline.
        before = exporter.scrape()
        start_entries = total(before, "diskidle_bpf_map_entries", map="bio_counts")
        # The map also holds the rest of the machine's I/O, which comes and goes;
        # this test's processes are the only ones that write to its loop device.
        our_dev = kernel_dev(self.fs.device)

        def entries_on_our_device():
            return sum(1 for key in bpf_map_keys(exporter.proc.pid, "bio_counts")
                       if key["dev"] == our_dev)
        start_device_entries = entries_on_our_device()
        peak_entries = [start_entries]
        # The set-up fsync of a changed file may send no zero-byte flush of its own.
        sums = [flushes(before, self.fs.name, absent_ok=True)]
        own_pid_counts = [len(own_pids(before))]
        # Every process the exporter can fold sits in the kernel map for at least a
        # second (a TTL of 2 s after its exit, or while it lives): dumping the map
        # each second sees all of them, which bounds the fold counter from above.
        others = set()

        def note_other_processes():
            for key in bpf_map_keys(exporter.proc.pid, "bio_counts"):
                if key["dev"] != our_dev:
                    others.add((key["tgid"], key["start_boottime_ns"]))
        note_other_processes()

        def watch():
            samples = exporter.scrape()
            # The first scrapes can come before the first child's flush.
            sums.append(flushes(samples, self.fs.name, absent_ok=True))
            own_pid_counts.append(len(own_pids(samples)))
            peak_entries.append(total(samples, "diskidle_bpf_map_entries", map="bio_counts"))
        watcher = Watcher(self, watch, interval=0.2)
        map_watcher = Watcher(self, note_other_processes, interval=1.0)
        gen.go()
        try:
            self.assertEqual(gen.wait_done(self, timeout=600), children)
        finally:
            watcher.stop()

        # Polled, not slept: the children's entries leave the kernel map once the
        # TTL (2 s) has passed and housekeeping has folded them.
        def folded_all():
            samples = exporter.scrape()
            sums.append(flushes(samples, self.fs.name))
            own_pid_counts.append(len(own_pids(samples)))
            return entries_on_our_device() <= start_device_entries + 2
        wait_for("the exited children's entries to leave the kernel map", folded_all,
                 timeout=60, interval=0.5)
        after = exporter.scrape()
        map_watcher.stop()
        note_other_processes()
        sums.append(flushes(after, self.fs.name))

        self.assertEqual(total(after, DROPPED) - total(before, DROPPED), 0,
                         "nothing may be dropped with roomy maps")
        self.assertEqual(sums[-1] - sums[0], 3 * children,
                         "every child's 3 flushes counted exactly once after folding")
        self.assertGreater(len(sums), 5, "too few scrapes to judge monotonicity")
        self.assertEqual(sums, sorted(sums), "the sum over the comm never decreases")
        self.assertLessEqual(max(own_pid_counts), 50,
                             "never more than max_processes pids with own series")
        comm_series = series(after, BIO + "_count", comm=COMM)
        self.assertLessEqual(len(comm_series), 51, f"series of {COMM}: {comm_series}")
        self.assertLessEqual(len({labels["pid"] for labels, _ in comm_series}), 51)
        self.assertIn("", {labels["pid"] for labels, _ in comm_series},
                      "exited children live on in the comm aggregate")
        self.assertEqual(
            [labels for labels, _ in series(after, BIO + "_count", device=self.fs.name, comm=COMM)
             if labels["pid"] not in ("", str(gen.pid))], [],
            "no child keeps a series of its own after the TTL")
        folded = (total(after, "diskidle_bio_folded_processes_total")
                  - total(before, "diskidle_bio_folded_processes_total"))
        # Each child is folded exactly once (for the limit or after exiting); other
        # processes of the machine may be folded meanwhile, at most once each.
        self.assertGreaterEqual(folded, children, "every child was folded")
        self.assertLessEqual(folded, children + len(others),
                             f"folded more than the children plus the {len(others)} other "
                             "processes the kernel map held: a process folded twice")
        self.assertGreater(max(peak_entries), start_entries + 100,
                           "the children were in the kernel map while they ran")

    def test_a_full_kernel_map_counts_every_event_it_could_not_hold(self):
        """counted + dropped == generated. The map fills from the whole system's I/O
        and the drop counter is not per device, so the check is two-sided with the
        kernel's own count of program runs (other bios included) as the upper end:
        3N <= our flushes + all drops <= every run of the program meanwhile.
        On a quiet machine both ends meet and the check is exact."""
        enable_bpf_stats(self)
        capacity, children = 16, 100
        exporter = Exporter(self, f"""
collectors:
  bio:
    exited_process_ttl: 0s
    bio_map_entries: {capacity}
    process_map_entries: 65536
""")
        self.assertEqual(total(exporter.scrape(), "diskidle_bpf_map_capacity", map="bio_counts"),
                         capacity)

        def runs():
            return total(exporter.scrape(), "diskidle_bpf_program_runs_total")

        report, dropped_total = [], 0
        for _ in range(3):
            gen = IoGen(self, "forks", self.fs.path("unchanged"), children, wait=True)
            # Runs are read before the baseline and after the final scrape, so the
            # window they cover contains everything the two scrapes compare.
            runs_before = runs()
            before = exporter.scrape()
            gen.go()
            gen.wait_done(self)
            after = exporter.scrape()
            runs_after = runs()
            gen.finish()
            d = {
                "runs": runs_after - runs_before,
                "dropped": (total(after, DROPPED, reason="bio_map_full")
                            - total(before, DROPPED, reason="bio_map_full")),
                "flushes": (flushes(after, self.fs.name, absent_ok=True)
                            - flushes(before, self.fs.name, absent_ok=True)),
            }
            report.append(d)
            dropped_total += d["dropped"]
            self.assertLessEqual(d["flushes"], 3 * children, d)
            self.assertGreaterEqual(d["runs"], 3 * children, f"the program saw every flush: {d}")
            self.assertGreaterEqual(d["flushes"] + d["dropped"], 3 * children,
                                    f"every flush of ours is counted or dropped: {d}")
            self.assertLessEqual(d["flushes"] + d["dropped"], d["runs"],
                                 f"nothing is counted or dropped that the program did not see, "
                                 f"and nothing twice: {d}")
            if d["runs"] == 3 * children:  # quiet: the bound is exact
                self.assertEqual(d["flushes"] + d["dropped"], 3 * children, d)
        self.assertGreater(dropped_total, 0, f"the tiny map overflowed: {report}")

    def test_sighup_applies_a_valid_config_and_keeps_the_old_one_for_an_invalid_one(self):
        exporter = Exporter(self, "collectors:\n  bio:\n    exited_process_ttl: 1h\n")
        gens = [IoGen(self, "fsync-loop", self.fs.path(f"f{i}"), 50 * (i + 1), wait=True)
                for i in range(3)]
        # Baselines after the set-ups (whose fsyncs may or may not flush, depending on
        # whether another's fsync already committed the journal): then exact.
        baseline = exporter.scrape()
        for gen in gens:
            gen.go()
        for gen in gens:
            gen.wait_done(self)
        before = exporter.scrape()
        comm_before = flushes(before, self.fs.name)
        self.assertEqual(comm_before - flushes(baseline, self.fs.name, absent_ok=True), 300)
        for i, gen in enumerate(gens):
            self.assertEqual(flushes(before, self.fs.name, pid=gen.pid)
                             - flushes(baseline, self.fs.name, absent_ok=True, pid=gen.pid),
                             50 * (i + 1))

        def hup_and_wait_for(text):
            exporter.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 5
            while text not in exporter.read_log():
                self.assertIsNone(exporter.proc.poll(), f"exporter died on SIGHUP: "
                                                        f"{exporter.read_log()}")
                self.assertLess(time.time(), deadline, f"no {text!r} in the log: "
                                                       f"{exporter.read_log()}")
                time.sleep(0.1)

        # Broken: an unknown key next to a valid change. Nothing of it may apply.
        with open(exporter.config_path, "w") as f:
            f.write("collectors:\n  bio:\n    max_processes: 1\n    bogus_key: 1\n")
        hup_and_wait_for("collectors.bio.bogus_key")
        log = exporter.read_log()
        self.assertIn("reload rejected, keeping the running config", log)
        # Two housekeeping rounds (1 s each) under whatever config is running: a
        # wrongly applied max_processes: 1 would fold by now. Waiting is the test.
        time.sleep(2)
        self.assertIsNone(exporter.proc.poll(), "exporter keeps running")
        kept = exporter.scrape()
        self.assertEqual(total(kept, "diskidle_bio_folded_processes_total", reason="limit"),
                         total(before, "diskidle_bio_folded_processes_total", reason="limit"),
                         "max_processes: 1 from the rejected file must not apply")
        for gen in gens:
            self.assertEqual(flushes(kept, self.fs.name, pid=gen.pid),
                             flushes(before, self.fs.name, pid=gen.pid),
                             "counts survive a rejected reload, under their own pids")
        self.assertNotIn("config reloaded", log)

        # Valid and changed: at most one process keeps its own series.
        with open(exporter.config_path, "w") as f:
            f.write("collectors:\n  bio:\n    exited_process_ttl: 1h\n    max_processes: 1\n")
        hup_and_wait_for("config reloaded")
        after = wait_for("at most one pid with own series under max_processes: 1",
                         lambda: (lambda s: s if len(own_pids(s)) <= 1 else None)(
                             exporter.scrape()), timeout=15)
        self.assertGreaterEqual(
            total(after, "diskidle_bio_folded_processes_total", reason="limit")
            - total(before, "diskidle_bio_folded_processes_total", reason="limit"), 2)
        self.assertEqual(flushes(after, self.fs.name), comm_before,
                         "folding on reload keeps the comm's sum exact")
        self.assertGreaterEqual(total(after, BIO + "_count"), total(before, BIO + "_count"),
                                "counters survive a reload")
        self.assertIsNone(exporter.proc.poll())


if __name__ == "__main__":
    unittest.main()

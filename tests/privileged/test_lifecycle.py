"""Months of uptime in minutes: thousands of short-lived processes must leave
bounded series and a kernel map back at its starting size while the complete
view (diskidle_bio_size_bytes, no pid) stays exact and monotonic; max_processes
bounds the per-process view (diskidle_process_*_total) and nothing of it ever
absorbs another process's counts; a full kernel map counts what it could not
hold; SIGHUP swaps a valid config in and keeps the old one for an invalid one."""
import os
import signal
import sys
import time
import unittest

from prometheus_testlib import Prometheus
from diskidle_testlib import (BIO, PROCESS_ZERO_BYTE_BIOS, Exporter, IoGen, Watcher,
                              bpf_map_keys, complete_counts, enable_bpf_stats, kernel_dev,
                              pids_in_view,
                              process_counts, require_privileges, series, tmpfs_loop_filesystem,
                              total, wait_for)

COMM = "diskidle-iogen"
DROPPED = "diskidle_bpf_events_dropped_total"
VIEW = "diskidle_process_view_processes"
EVICTIONS = "diskidle_process_view_evictions_total"


def flushes(samples, device, absent_ok=False):
    """Zero-byte fsync flush bios on `device` by COMM in the complete view."""
    return complete_counts(samples, absent_ok=absent_ok, comm=COMM, device=device,
                           syscall="fsync", op="flush").zero_byte_bios


def own_flushes(samples, device, pid, absent_ok=False):
    """Zero-byte fsync flush bios of one pid on `device` (per-process view)."""
    return process_counts(samples, absent_ok=absent_ok, pid=pid, comm=COMM, device=device,
                          syscall="fsync", op="flush").zero_byte_bios


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        # On tmpfs the loop device's flushes reach no real disk: 5,000 processes in seconds.
        self.fs = tmpfs_loop_filesystem(self, "ext4")

    def test_thousands_of_exited_processes_keep_the_complete_view_exact_and_bounded(self):
        children, max_processes = 5000, 50
        # Map sizes are roomy so other processes on the machine cannot fill them
        # meanwhile; the test asserts that nothing was dropped.
        exporter = Exporter(self, f"""
collectors:
  bio:
    exited_process_ttl: 2s
    max_processes: {max_processes}
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
        view_sizes = [(len(pids_in_view(before)), total(before, VIEW))]
        complete_series = [0]
        # Per-process series of the children: none holds more than its child's 3
        # flushes, and none decreases from one scrape to the next. (Compared only
        # with the previous scrape: after a series ended, its pid may be reused,
        # pid_max being 32768, and a new process's series starts afresh.)
        last_own = {}
        children_seen = set()
        problems = []

        def observe(samples):
            sums.append(flushes(samples, self.fs.name, absent_ok=True))
            view_sizes.append((len(pids_in_view(samples)), total(samples, VIEW)))
            complete_series.append(len(series(samples, BIO + "_count", comm=COMM,
                                              device=self.fs.name)))
            now = {}
            for labels, v in series(samples, PROCESS_ZERO_BYTE_BIOS, comm=COMM,
                                    device=self.fs.name, syscall="fsync", op="flush"):
                if labels["pid"] == str(gen.pid):
                    continue
                pid = labels["pid"]
                if v > 3 or v < last_own.get(pid, 0):
                    problems.append((pid, last_own.get(pid), v))
                now[pid] = v
            last_own.clear()
            last_own.update(now)
            children_seen.update(now)

        def watch():
            samples = exporter.scrape()
            # The first scrapes can come before the first child's flush.
            observe(samples)
            peak_entries.append(total(samples, "diskidle_bpf_map_entries", map="bio_counts"))
        watcher = Watcher(self, watch, interval=0.2)
        gen.go()
        try:
            self.assertEqual(gen.wait_done(self, timeout=600), children)
        finally:
            watcher.stop()
        # The children have exited and were reaped: every flush of theirs is in the
        # kernel map, so the complete view has them all now...
        at_done = exporter.scrape()
        observe(at_done)
        self.assertEqual(flushes(at_done, self.fs.name) - sums[0], 3 * children,
                         "every child's 3 flushes counted exactly once")

        # ...and keeps exactly that while their series and kernel entries expire.
        # Polled, not slept: the entries leave the kernel map once the TTL (2 s)
        # has passed, and housekeeping removes them.
        def cleaned():
            samples = exporter.scrape()
            observe(samples)
            return (not pids_in_view(samples, comm=COMM, device=self.fs.name) - {str(gen.pid)}
                    and entries_on_our_device() <= start_device_entries + 2)
        wait_for("the exited children's series and kernel entries to go", cleaned,
                 timeout=60, interval=0.5)
        after = exporter.scrape()
        observe(after)

        self.assertEqual(total(after, DROPPED) - total(before, DROPPED), 0,
                         "nothing may be dropped with roomy maps")
        self.assertEqual(sums[-1], flushes(at_done, self.fs.name),
                         "the complete view stays exactly the same across the expiry")
        self.assertGreater(len(sums), 5, "too few scrapes to judge monotonicity")
        self.assertEqual(sums, sorted(sums), "the complete view never decreases")
        self.assertEqual(problems, [], "(pid, last, now) of per-process series that decreased or "
                                       "held more than their child's 3 flushes")
        self.assertGreater(len(children_seen), 0, "children had per-process series while they ran")
        self.assertLessEqual(max(pids for pids, _ in view_sizes), max_processes,
                             "never more than max_processes pids with per-process series")
        self.assertLessEqual(max(gauge for _, gauge in view_sizes), max_processes,
                             f"{VIEW} never above max_processes")
        # The complete view of COMM on the disk: one series per (syscall, op) the
        # parent and its children used (it never deletes one), however many
        # processes there were.
        final = [labels for labels, _ in series(after, BIO + "_count", comm=COMM,
                                                device=self.fs.name)]
        pairs = {(labels["syscall"], labels["op"]) for labels in final}
        self.assertEqual(len(final), len(pairs),
                         f"one series per (syscall, op), e.g. {final[:5]}")
        self.assertLessEqual(len(pairs), 6, f"a handful of (syscall, op): {final[:10]}")
        self.assertLessEqual(max(complete_series), len(final), "no series came and went")
        self.assertEqual([labels for labels in final if "pid" in labels], [],
                         "the complete view has no pid label")
        self.assertGreater(max(peak_entries), start_entries + 100,
                           "the children were in the kernel map while they ran")

    def test_max_processes_bounds_the_process_view_and_the_complete_view_stays_exact(self):
        max_processes, workers = 5, 20
        exporter = Exporter(self, f"""
collectors:
  bio:
    exited_process_ttl: 1h
    max_processes: {max_processes}
""")
        counts = [10 * (i + 1) for i in range(workers)]
        gens = [IoGen(self, "fsync-loop", self.fs.path(f"w{i}"), n, wait=True)
                for i, n in enumerate(counts)]
        before = exporter.scrape()
        for gen in gens:
            gen.go()
        for gen, n in zip(gens, counts):
            self.assertEqual(gen.wait_done(self), n)
        after = exporter.scrape()  # the workers live on (held), idle

        self.assertEqual(flushes(after, self.fs.name) - flushes(before, self.fs.name,
                                                                 absent_ok=True), sum(counts),
                         "the complete view counts every worker's flushes exactly")
        in_view = pids_in_view(after)
        self.assertLessEqual(len(in_view), max_processes,
                             f"pids with per-process series: {sorted(in_view)}")
        self.assertEqual(total(after, VIEW), max_processes,
                         f"{workers} live workers that did I/O fill all {max_processes} slots")
        ours = {str(gen.pid) for gen in gens} & in_view
        self.assertLessEqual(len(ours), max_processes)
        evicted = total(after, EVICTIONS) - total(before, EVICTIONS)
        for gen, n in zip(gens, counts):
            if str(gen.pid) not in ours:
                continue
            # A process never shows more than it did; when no slot changed hands
            # meanwhile, one that had its series already shows exactly what it did.
            got = own_flushes(after, self.fs.name, gen.pid) - own_flushes(
                before, self.fs.name, gen.pid, absent_ok=True)
            self.assertLessEqual(got, n, f"pid {gen.pid} did {n} flushes")
            if evicted == 0 and series(before, PROCESS_ZERO_BYTE_BIOS, pid=gen.pid):
                self.assertEqual(got, n, f"pid {gen.pid} held its slot throughout")

    def full_map_exporter(self, capacity=16):
        """An exporter whose bio map holds `capacity` keys and forgets an exited
        process's keys at once, with the kernel's run counters on."""
        enable_bpf_stats(self)
        exporter = Exporter(self, f"""
collectors:
  bio:
    exited_process_ttl: 0s
    bio_map_entries: {capacity}
    process_map_entries: 65536
""")
        self.assertEqual(total(exporter.scrape(), "diskidle_bpf_map_capacity", map="bio_counts"),
                         capacity)
        return exporter

    def full_map_round(self, exporter, children):
        """`children` processes fsync an unchanged file 3 times each; returns the
        program's runs, the bio_map_full drops and our flushes counted meanwhile,
        checked: counted + dropped == generated. The map fills from the whole
        system's I/O and the drop counter is not per device, so the check is
        two-sided with the kernel's own count of program runs (other bios
        included) as the upper end: 3N <= our flushes + all drops <= every run of
        the program meanwhile. On a quiet machine both ends meet and it is exact."""
        def runs():  # of the bio program only: the hooks report their runs too
            return sum(v for labels, v in series(exporter.scrape(), "diskidle_bpf_program_runs_total")
                       if labels["program"].startswith("block_bio_queue"))

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
        self.assertLessEqual(d["flushes"], 3 * children, d)
        self.assertGreaterEqual(d["runs"], 3 * children, f"the program saw every flush: {d}")
        self.assertGreaterEqual(d["flushes"] + d["dropped"], 3 * children,
                                f"every flush of ours is counted or dropped: {d}")
        self.assertLessEqual(d["flushes"] + d["dropped"], d["runs"],
                             f"nothing is counted or dropped that the program did not see, "
                             f"and nothing twice: {d}")
        if d["runs"] == 3 * children:  # quiet: the bound is exact
            self.assertEqual(d["flushes"] + d["dropped"], 3 * children, d)
        return d

    def test_a_full_kernel_map_counts_every_event_it_could_not_hold(self):
        """counted + dropped == generated (full_map_round), over three rounds.
        Earlier rounds' children leave pending counts in the CPUs' cache slots:
        counted by the scrapes, their keys then removed (TTL 0s), they may find
        the map full when a later child moves them out, and must not be counted
        again as dropped."""
        exporter = self.full_map_exporter()
        report = [self.full_map_round(exporter, children=100) for _ in range(3)]
        self.assertGreater(sum(d["dropped"] for d in report), 0,
                           f"the tiny map overflowed: {report}")

    def test_a_full_kernel_map_keeps_every_counter_monotonic_while_scraped(self):
        """The same tiny map, scraped back to back while the children run: cache
        slots then hold pending counts of processes whose keys are gone while the
        map is full, some are moved out by later bios, and every scrape reads
        slots and map in between. Prometheus must see no counter go backwards: not
        the complete view, not a child's own series, not the drop counter; and
        every round still counts every flush once, counted or dropped."""
        exporter = self.full_map_exporter()
        problems, scrapes = [], [0]
        last = {"complete": None, "dropped": None, "own": {}}

        def watch():
            samples = exporter.scrape()
            scrapes[0] += 1
            complete = flushes(samples, self.fs.name, absent_ok=True)
            dropped = total(samples, DROPPED, reason="bio_map_full")
            for name, value in (("complete", complete), ("dropped", dropped)):
                if last[name] is not None and value < last[name]:
                    problems.append((name, last[name], value))
                last[name] = value
            own = {}
            for labels, v in series(samples, PROCESS_ZERO_BYTE_BIOS, comm=COMM,
                                    device=self.fs.name, syscall="fsync", op="flush"):
                pid = labels["pid"]
                # Compared with the previous scrape only: a pid may be reused later.
                if v > 3 or v < last["own"].get(pid, 0):
                    problems.append(("pid " + pid, last["own"].get(pid), v))
                own[pid] = v
            last["own"] = own

        prometheus = Prometheus(self, exporter.port)
        # Warm-up rounds first, until a flush of ours was counted (not dropped):
        # Prometheus cannot tell what a series held when it first appeared, so
        # the judged series exists before the run starts.
        for _ in range(20):
            self.full_map_round(exporter, children=5)
            if flushes(exporter.scrape(), self.fs.name, absent_ok=True) > 0:
                break
        start = prometheus.wait_for_scrape_after(time.time(), successful=True)
        watcher = Watcher(self, watch, interval=0.02)

        def paced_round():  # a round takes well under a second: spread them over scrapes
            d = self.full_map_round(exporter, children=200)
            time.sleep(1)
            return d
        try:
            report = [paced_round() for _ in range(10)]
        finally:
            watcher.stop()
        end = prometheus.wait_for_scrape_after(time.time(), successful=True)
        self.assertGreater(scrapes[0], 20, "too few scrapes to judge")
        self.assertGreater(sum(d["dropped"] for d in report), 0,
                           f"the tiny map overflowed: {report}")
        self.assertEqual(problems, [], "(series, last, now) that went backwards or held more "
                                       "than a child's 3 flushes")
        self.check_what_prometheus_sees(prometheus, start, end, generated=3 * 200 * 10)

    def check_what_prometheus_sees(self, prometheus, start, end, generated):
        """A real Prometheus scraping every second over [start, end]: no stored
        sample of any of our counters is below the one before it (a series that
        ends and comes back lower is a reset to increase()), and increase() of
        our flushes plus the drops is every flush the children made, counted
        once: the two-sided bound of full_map_round, from Prometheus's numbers."""
        samples = prometheus.raw_samples('{__name__=~"diskidle_.*(_total|_count|_sum|_bucket)"}',
                                         start, end)
        decreases = []
        for labels, values in samples.items():
            labels = dict(labels)
            # A loop device detached and attached again by another test restarts
            # its diskstats at 0: a new device, not a decrease of ours.
            if labels["__name__"].startswith("diskidle_disk_") and labels.get("device") != self.fs.name:
                continue
            decreases += [f"{labels}: {v1:g} at {t1:.3f} then {v2:g} at {t2:.3f}"
                          for (t1, v1), (t2, v2) in zip(values, values[1:]) if v2 < v1]
        self.assertEqual(decreases, [], "counter samples that went backwards in Prometheus")
        # start and end are successful scrapes' times (ms): over exactly that
        # range (both ends included in this Prometheus) increase() needs no
        # extrapolation.
        window = f"{round((end - start) * 1000)}ms"

        def increase(selector):
            result = prometheus.query(f"sum(increase({selector}[{window}]))", at=end)
            return float(result[0]["value"][1]) if result else 0.0
        d = {"flushes": increase(f'{BIO}_count{{comm="{COMM}",device="{self.fs.name}",'
                                 f'syscall="fsync",op="flush"}}'),
             "dropped": increase(f'{DROPPED}{{reason="bio_map_full"}}'),
             "runs": increase('diskidle_bpf_program_runs_total{program=~"block_bio_queue.*"}')}
        print(f"{self.id()}: Prometheus's increase() over the run: {d}", file=sys.stderr)
        self.assertGreaterEqual(d["flushes"] + d["dropped"], generated,
                                f"increase(): every one of {generated} flushes counted or dropped: {d}")
        self.assertLessEqual(d["flushes"] + d["dropped"], d["runs"],
                             f"increase(): nothing counted or dropped that the program did not "
                             f"see, nothing twice: {d}")

    def test_a_burst_of_short_lived_processes_does_not_blind_the_exporter(self):
        """The default exited_process_ttl (5m) keeps an exited process's kernel
        entries for minutes: a burst of processes that each do a little I/O
        (a build, a test run) used to fill bio_counts, and every process after
        it, on every disk, had its bios dropped until the TTLs ran out. Now
        exited processes leave early while the maps are over 3/4 full, so a
        process that starts after the burst is counted exactly."""
        exporter = Exporter(self, """
collectors:
  bio:
    bio_map_entries: 256
    process_map_entries: 256
""")
        for _ in range(4):  # 4 x 150 children, one kernel entry each
            gen = IoGen(self, "forks", self.fs.path("unchanged"), 150)
            gen.wait_done(self)
        wait_for("the exited children to leave the nearly full maps", lambda: total(
            exporter.scrape(), "diskidle_bpf_map_entries", map="bio_counts") <= 192,
            timeout=15, interval=0.5)
        after_burst = exporter.scrape()
        self.assertGreater(total(after_burst, "diskidle_process_early_expiries_total"), 0)
        victim = IoGen(self, "fsync-loop", self.fs.path("victim"), 200, wait=True)
        before = exporter.scrape()
        victim.go()
        self.assertEqual(victim.wait_done(self), 200)
        after = wait_for("the victim's flushes in a scrape", lambda: (lambda s: s if own_flushes(
            s, self.fs.name, victim.pid, absent_ok=True) >= 200 else None)(exporter.scrape()),
            timeout=10, interval=0.5)
        self.assertEqual(own_flushes(after, self.fs.name, victim.pid), 200,
                         "a process after the burst is counted exactly")
        self.assertEqual(total(after, DROPPED, reason="bio_map_full")
                         - total(before, DROPPED, reason="bio_map_full"), 0,
                         "nothing dropped after the burst")

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
            self.assertEqual(own_flushes(before, self.fs.name, gen.pid)
                             - own_flushes(baseline, self.fs.name, gen.pid, absent_ok=True),
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
        # wrongly applied max_processes: 1 would have ended two of the three
        # workers' series by now. Waiting is the test.
        time.sleep(2)
        self.assertIsNone(exporter.proc.poll(), "exporter keeps running")
        kept = exporter.scrape()
        self.assertGreaterEqual(total(kept, VIEW), len(gens),
                                "max_processes: 1 from the rejected file must not apply")
        for gen in gens:
            self.assertEqual(own_flushes(kept, self.fs.name, gen.pid),
                             own_flushes(before, self.fs.name, gen.pid),
                             "per-process counts survive a rejected reload, under their own pids")
        self.assertEqual(flushes(kept, self.fs.name), comm_before)
        self.assertNotIn("config reloaded", log)

        # Valid and changed: at most one process keeps its per-process series.
        with open(exporter.config_path, "w") as f:
            f.write("collectors:\n  bio:\n    exited_process_ttl: 1h\n    max_processes: 1\n")
        hup_and_wait_for("config reloaded")
        after = wait_for("at most one pid with per-process series under max_processes: 1",
                         lambda: (lambda s: s if len(pids_in_view(s)) <= 1
                                  and total(s, VIEW) <= 1 else None)(exporter.scrape()),
                         timeout=15)
        kept_workers = [gen for gen in gens if str(gen.pid) in pids_in_view(after)]
        self.assertLessEqual(len(kept_workers), 1)
        for gen in kept_workers:
            self.assertEqual(own_flushes(after, self.fs.name, gen.pid),
                             own_flushes(before, self.fs.name, gen.pid),
                             "the worker that kept its slot keeps its exact count")
        self.assertEqual(flushes(after, self.fs.name), comm_before,
                         "the complete view is not touched by the smaller per-process view")
        self.assertGreaterEqual(total(after, BIO + "_count"), total(before, BIO + "_count"),
                                "counters survive a reload")
        self.assertIsNone(exporter.proc.poll())


if __name__ == "__main__":
    unittest.main()

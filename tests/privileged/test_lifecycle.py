"""Months of uptime in minutes: thousands of short-lived processes must leave
bounded series and a kernel map back at its starting size while every sum
stays exact and monotonic; a full kernel map counts what it could not hold;
SIGHUP swaps a valid config in and keeps the old one for an invalid one."""
import ctypes
import json
import os
import platform
import signal
import threading
import time
import unittest

from diskidle_testlib import (Exporter, IoGen, require_privileges, run, series,
                              tmpfs_loop_filesystem, total)

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


def kernel_map_keys(pid, name):
    """Keys of the BPF map `name` that process `pid` holds, read from the kernel
    (bpftool, formatted through the map's BTF)."""
    map_ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            map_ids |= {int(line.split()[1]) for line in f if line.startswith("map_id:")}
    for map_id in sorted(map_ids):
        info = json.loads(run("bpftool", "-j", "map", "show", "id", str(map_id)).stdout)
        if info["name"] == name:
            dump = json.loads(run("bpftool", "-j", "map", "dump", "id", str(map_id)).stdout)
            return [entry["formatted"]["key"] for entry in dump]
    raise AssertionError(f"process {pid} holds no BPF map named {name}")


def flushes(samples, device, **labels):
    """Zero-byte fsync flush bios on `device` by COMM, over all its series (all pids)."""
    return total(samples, BIO + "_bucket", comm=COMM, device=device, syscall="fsync", op="flush",
                 le="0", **labels)


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
        time.sleep(1)  # the parent's set-up fsync is on disk and in the map
        before = exporter.scrape()
        start_entries = total(before, "diskidle_bpf_map_entries", map="bio_counts")
        # The map also holds the rest of the machine's I/O, which comes and goes;
        # this test's processes are the only ones that write to its loop device.
        rdev = os.stat(self.fs.device).st_rdev
        our_dev = (os.major(rdev) << 20) | os.minor(rdev)

        def entries_on_our_device():
            return sum(1 for key in kernel_map_keys(exporter.proc.pid, "bio_counts")
                       if key["dev"] == our_dev)
        start_device_entries = entries_on_our_device()
        peak_entries = [start_entries]

        sums, own_pid_counts = [flushes(before, self.fs.name)], [len(own_pids(before))]

        def watch():
            while gen.operations is None:
                samples = exporter.scrape()
                sums.append(flushes(samples, self.fs.name))
                own_pid_counts.append(len(own_pids(samples)))
                peak_entries.append(total(samples, "diskidle_bpf_map_entries", map="bio_counts"))
                time.sleep(0.2)
        watcher = threading.Thread(target=watch)
        gen.go()
        watcher.start()
        try:
            self.assertEqual(gen.wait_done(self), children)
        finally:
            watcher.join()

        # TTL 2 s plus the one-second housekeeping, with margin; keep watching.
        deadline = time.time() + 6
        while time.time() < deadline:
            samples = exporter.scrape()
            sums.append(flushes(samples, self.fs.name))
            own_pid_counts.append(len(own_pids(samples)))
            time.sleep(0.5)
        after = exporter.scrape()
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
        folded = (total(after, "diskidle_bio_folded_processes_total")
                  - total(before, "diskidle_bio_folded_processes_total"))
        self.assertGreaterEqual(folded, children, "every child was folded once")
        self.assertGreater(max(peak_entries), start_entries + 100,
                           "the children were in the kernel map while they ran")
        self.assertLessEqual(entries_on_our_device(), start_device_entries + 5,
                             "exited processes' entries left the kernel map")

    def test_a_full_kernel_map_counts_every_event_it_could_not_hold(self):
        """counted + dropped == generated, exactly. The map fills from the whole
        system's I/O and drops are not per device, so the exact check uses rounds
        in which the kernel ran our program exactly 3N times (its own run counter):
        then every bio the program saw was one of our children's flushes."""
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

        def point(samples):
            return {
                "runs": total(samples, "diskidle_bpf_program_runs_total"),
                "counted": total(samples, BIO + "_count"),
                "dropped": total(samples, DROPPED, reason="bio_map_full"),
                "ours": total(samples, BIO + "_count", comm=COMM, device=self.fs.name),
                "flushes": flushes(samples, self.fs.name),
            }

        def stable_scrape(seconds=3):
            """(numbers, True) when they held still over a following scrape: no bio
            happened while the snapshot was read, so they are mutually consistent."""
            last = point(exporter.scrape())
            deadline = time.time() + seconds
            while time.time() < deadline:
                time.sleep(0.05)
                now = point(exporter.scrape())
                if now == last:
                    return now, True
                last = now
            return last, False

        clean_rounds, report = 0, []
        deadline = time.time() + 90
        while clean_rounds < 2 and time.time() < deadline:
            gen = IoGen(self, "forks", self.fs.path("unchanged"), children, wait=True)
            time.sleep(1.5)  # housekeeping has run since the parent's set-up
            before, stable_before = stable_scrape()
            gen.go()
            gen.wait_done(self)
            after, stable_after = stable_scrape()
            gen.finish()
            d = {k: after[k] - before[k] for k in before}
            report.append(d)
            # Whatever else ran meanwhile: all of our bios were seen, and each one
            # is either in our series or in the drop counter.
            self.assertGreaterEqual(d["runs"], 3 * children, d)
            self.assertGreaterEqual(d["flushes"] + d["dropped"], 3 * children, d)
            if not (stable_before and stable_after):
                continue
            self.assertEqual(d["counted"] + d["dropped"], d["runs"],
                             f"counted + dropped == every event the program saw: {d}")
            if d["runs"] == 3 * children:  # the program saw nothing but our children's flushes
                clean_rounds += 1
                self.assertEqual(d["counted"], d["ours"], d)
                self.assertEqual(d["flushes"], d["ours"], d)
                self.assertEqual(d["flushes"] + d["dropped"], 3 * children,
                                 f"counted + dropped == generated: {d}")
                self.assertGreater(d["dropped"], 0, f"the tiny map overflowed: {d}")
            time.sleep(1.5)  # housekeeping frees the children's entries
        self.assertGreaterEqual(
            clean_rounds, 1, "the exact check needs a moment without other block I/O on this "
                             f"machine (other tests running?); rounds: {report}")

    def test_sighup_applies_a_valid_config_and_keeps_the_old_one_for_an_invalid_one(self):
        exporter = Exporter(self, "collectors:\n  bio:\n    exited_process_ttl: 1h\n")
        gens = [IoGen(self, "fsync-loop", self.fs.path(f"f{i}"), 50 * (i + 1)) for i in range(3)]
        for gen in gens:
            gen.wait_done(self)
        time.sleep(1)
        before = exporter.scrape()
        comm_before = flushes(before, self.fs.name)
        self.assertGreaterEqual(comm_before, 300)
        for gen in gens:
            self.assertGreaterEqual(flushes(before, self.fs.name, pid=gen.pid), 50)

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
        time.sleep(2)  # two housekeeping rounds under whatever config is running
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
        time.sleep(2)
        after = exporter.scrape()
        self.assertLessEqual(len(own_pids(after)), 1, "the new max_processes applies")
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

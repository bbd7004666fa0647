"""Series you can trust in Prometheus (issue 9, the bar's first item).

A real Prometheus scrapes the real exporter every second
(`exited_process_ttl: 2s`) while processes with distinctive names fsync() an
unchanged file on an ext4 loop device: one zero-byte flush bio per fsync. Each
process records the wall-clock time of every fsync, so the true number and
rate of flushes per name are known for any window. Processes of the same name
are short- and long-lived, overlap, exit and restart. Then, asking Prometheus:

- the complete view: per name, `sum(increase(...{op="flush",comm=X}[run]))`
  is within 2% of the flushes the name's processes did in the run, and the
  peak of `sum by (comm) (rate(...[5s]))` is at most 1.3x the true peak rate
  over 5 s windows (folding a series into another draws a false spike);
- every scraped sample of every diskidle_* counter or histogram series is at
  least the previous one of the same series;
- the per-process view never counts more than the process did, nor anything
  it did before its series existed, and its series end a few seconds after
  the process exits;
- with `max_processes: 5` and 50 processes of ours at once: the same for the
  complete view, and never more than 5 processes with per-process series in
  any scrape;
- with both views keyed by `thread` instead of `comm`: the first workload's
  checks again, on the thread label's series;
- processes that rename themselves halfway (a write to /proc/self/comm) from
  one name to another that has series already: each name's increase() holds
  what was done under it, give or take the bios of the update interval the
  rename falls in, the new name's rate shows no spike (no history moves), and
  each process's per-process series add up to exactly what it did.

The run window starts at a scrape that already shows every name's series
(each name did a few fsyncs first) and ends at a scrape after every process
has exited, so both ends of `increase()` are real samples and scrape-edge
effects are all that remains.
"""
import bisect
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from dataclasses import dataclass, field

import diskidle_testlib as lib
from prometheus_testlib import Prometheus

TTL_S = 2.0
CONFIG = """
collectors:
  bio:
    exited_process_ttl: 2s
{extra}
"""
COMPLETE = "diskidle_bio_size_bytes_count"
PER_PROCESS = "diskidle_process_zero_byte_bios_total"
# Every counter and histogram of the exporter: none may ever decrease.
COUNTERS = '{__name__=~"diskidle_.*(_total|_count|_sum|_bucket)"}'
WARMUP_FSYNCS = 3

# A child: fsyncs an unchanged file `count` times at `rate` per second from
# `start_at` (never catching up after a stall, so no burst beyond the rate),
# and prints the time of every fsync. Its name is its executable's name (a
# symlink to python), so even its first bio carries the right comm. Given a
# new name and a second count, it then renames itself (its main thread writes
# /proc/self/comm, as prctl(PR_SET_NAME) does: the kernel's task_rename
# tracepoint fires) and fsyncs that many times more under the new name,
# printing the rename's time and the second part's times on two more lines.
CHILD = r"""
import os, sys, time
path, rate, count, start_at = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
new_name, count_after = (sys.argv[5], int(sys.argv[6])) if len(sys.argv) > 5 else ("", 0)
fd = os.open(path, os.O_RDONLY)
def fsyncs(count, target):
    stamps = []
    for _ in range(count):
        delay = target - time.time()
        if delay > 0:
            time.sleep(delay)
        os.fsync(fd)  # an unchanged file: one zero-byte flush bio
        now = time.time()
        stamps.append(now)
        target = max(target + 1.0 / rate, now)
    return stamps, target
stamps, target = fsyncs(count, max(start_at, time.time()))
out = " ".join("%.4f" % s for s in stamps)
if new_name:
    renamed_at = time.time()
    with open("/proc/self/comm", "w") as f:
        f.write(new_name)
    stamps, _ = fsyncs(count_after, target)
    out += "\n%.4f\n" % renamed_at + " ".join("%.4f" % s for s in stamps)
sys.stdout.write(out)
"""


@dataclass
class Spec:
    """One process: its name's key, start (s after the run's start), fsyncs/s, fsyncs."""
    key: str
    offset: float
    rate: float
    count: int
    rename_to: str = ""  # a key: after `count` fsyncs, rename to its name
    count_after: int = 0  # fsyncs under that name


@dataclass
class ChildRun:
    comm: str
    spec: Spec
    pid: int = 0
    stamps: list = field(default_factory=list)
    exited_at: float = 0.0
    error: str = ""
    renamed_to: str = ""  # the comm it took halfway, if any
    renamed_at: float = 0.0
    stamps_after: list = field(default_factory=list)  # fsyncs under renamed_to


class Workload:
    """Runs Specs as processes named inv<tag><key>, each in its own thread that
    starts it shortly before its time and reaps it at once (a zombie would
    still be "alive" to the exporter). Cleanup kills whatever still runs."""

    def __init__(self, test, fs, keys, files_per_key=1):
        self.test, self.fs = test, fs
        self.tag = secrets.token_hex(2)
        self.dir = tempfile.mkdtemp(prefix="diskidle-inv-")
        test.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        python = os.path.realpath(sys.executable)
        self.files = {}
        for key in keys:
            os.symlink(python, os.path.join(self.dir, self.comm(key)))
            self.files[key] = []
            for i in range(files_per_key):
                # Written and fsynced now, before the exporter starts counting:
                # the children's fsyncs then find nothing to write.
                path = fs.path(f"{key}{i}")
                with open(path, "wb") as f:
                    f.write(b"x" * 4096)
                    os.fsync(f.fileno())
                self.files[key].append(path)
        os.sync()
        self.runs = []
        self.threads = []
        self.procs = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        test.addCleanup(self.kill_all)

    def comm(self, key):
        return f"inv{self.tag}{key}"

    def start(self, specs, t0):
        for i, spec in enumerate(specs):
            run = ChildRun(self.comm(spec.key), spec,
                           renamed_to=self.comm(spec.rename_to) if spec.rename_to else "")
            path = self.files[spec.key][i % len(self.files[spec.key])]
            thread = threading.Thread(target=self._run, args=(run, path, t0), daemon=True)
            self.runs.append(run)
            self.threads.append(thread)
            thread.start()

    def _run(self, run, path, t0):
        start_at = t0 + run.spec.offset
        if self.stopping.wait(max(0.0, start_at - 0.8 - time.time())):
            return
        args = [CHILD, path, str(run.spec.rate), str(run.spec.count), f"{start_at:.3f}"]
        if run.renamed_to:
            args += [run.renamed_to, str(run.spec.count_after)]
        try:
            proc = subprocess.Popen(
                [os.path.join(self.dir, run.comm), "-I", "-S", "-c"] + args,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            run.error = str(e)
            return
        with self.lock:
            self.procs.append(proc)
        run.pid = proc.pid
        try:
            out, err = proc.communicate(
                timeout=(run.spec.count + run.spec.count_after) / run.spec.rate + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        run.exited_at = time.time()
        if proc.returncode != 0:
            run.error = f"exit {proc.returncode}: {err.strip()[-500:]}"
            return
        lines = out.split("\n")
        run.stamps = [float(s) for s in lines[0].split()]
        if run.renamed_to:
            run.renamed_at = float(lines[1])
            run.stamps_after = [float(s) for s in lines[2].split()]
            if len(run.stamps_after) != run.spec.count_after:
                run.error = f"{len(run.stamps_after)} fsyncs after the rename"
        if len(run.stamps) != run.spec.count:
            run.error = f"{len(run.stamps)} fsyncs instead of {run.spec.count}"

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        alive = sum(t.is_alive() for t in self.threads)
        errors = [f"{r.comm} pid {r.pid}: {r.error}" for r in self.runs if r.error]
        if alive or errors:
            raise AssertionError(f"workload failed: {alive} processes still running; {errors[:5]}")

    def kill_all(self):
        self.stopping.set()
        with self.lock:
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for thread in self.threads:
            thread.join(30)

    def stamps(self, comm):
        """The fsyncs done under `comm` (a renamed process's under each name)."""
        return sorted([s for r in self.runs if r.comm == comm for s in r.stamps]
                      + [s for r in self.runs if r.renamed_to == comm for s in r.stamps_after])


def note(text):
    """Measured numbers, shown by `ctest -V` (and on failure)."""
    print(text, file=sys.stderr, flush=True)


def true_peak_rate(stamps, window=5.0):
    """The most fsyncs in any `window` seconds, per second."""
    best = 0
    for i, s in enumerate(stamps):
        best = max(best, bisect.bisect_left(stamps, s + window) - i)
    return best / window


def run_window(start, end):
    """A range selector from the scrape at `start` to the one at `end`, both
    included (Prometheus 3 excludes the left edge: hence the 1 ms more)."""
    return f"{int(round((end - start) * 1000)) + 1}ms"


def count_between(stamps, start, end):
    return bisect.bisect_right(stamps, end) - bisect.bisect_right(stamps, start)


class SeriesInvariantsTest(unittest.TestCase):
    extra_config = ""
    key_label = "comm"  # the label that carries each child's name in both views

    def setUp(self):
        lib.require_privileges(self)
        # On a tmpfs-backed loop device a flush costs the host nothing.
        self.fs = lib.tmpfs_loop_filesystem(self, "ext4", size_mb=64)

    def start(self, keys, files_per_key=1):
        self.workload = Workload(self, self.fs, keys, files_per_key)
        self.exporter = lib.Exporter(self, CONFIG.format(extra=self.extra_config))
        self.prometheus = Prometheus(self, self.exporter.port)
        self.comms = [self.workload.comm(k) for k in keys]
        self.comm_regex = "|".join(self.comms)

    def complete_flushes(self, at):
        result = self.prometheus.query(
            f'sum by ({self.key_label}) ({COMPLETE}{{op="flush",{self.key_label}=~"{self.comm_regex}"}})',
            at=at)
        return {r["metric"][self.key_label]: float(r["value"][1]) for r in result}

    def warm_up(self):
        """Each name does a few fsyncs, and the run starts at a scrape that
        shows all of them, after the warm-up processes' per-process series have
        ended: every name's series exists before the measured part."""
        t0 = time.time() + 0.5
        self.workload.start([Spec(k, 0, 20, WARMUP_FSYNCS) for k in self.workload.files], t0)
        self.workload.wait(timeout=60)

        def every_name_seen():
            seen = self.complete_flushes(None)
            return set(seen) == set(self.comms) and seen
        lib.wait_for("every name's flush series in Prometheus", every_name_seen, timeout=30)
        self.wait_for_per_process_series_to_end()
        start = self.prometheus.wait_for_scrape_after(time.time())
        note(f"at the start of the run: {self.complete_flushes(start)}")
        self.workload.runs.clear()
        self.workload.threads.clear()
        return start

    def run_workload(self, specs, timeout):
        """Returns (start, end): scrape timestamps before and after the whole run."""
        start = self.warm_up()
        self.workload.start(specs, max(time.time(), start) + 0.5)
        self.workload.wait(timeout)
        last_exit = max(r.exited_at for r in self.workload.runs)
        # A scrape that starts after every process has exited shows all its bios.
        end = self.prometheus.wait_for_scrape_after(last_exit + 1.0)
        for comm in self.comms:
            stamps = self.workload.stamps(comm)
            self.assertTrue(stamps and start < stamps[0] and stamps[-1] < end,
                            f"{comm}: fsyncs outside the run window")
        return start, end

    # ---------------------------------------------------------------- checks

    def check_complete_view_exact(self, start, end):
        window = run_window(start, end)
        for comm in self.comms:
            truth = len(self.workload.stamps(comm))
            result = self.prometheus.query(
                f'sum(increase({COMPLETE}{{op="flush",{self.key_label}="{comm}"}}[{window}]))', at=end)
            self.assertTrue(result, f"{comm}: no flush series in Prometheus")
            counted = float(result[0]["value"][1])
            note(f"{comm}: increase() {counted:.1f}, fsyncs {truth}")
            self.assertLessEqual(abs(counted - truth), 0.02 * truth,
                                 f"{comm}: increase() over the run is {counted:.1f}, "
                                 f"the processes did {truth} fsyncs")

    def check_peak_rate(self, start, end):
        result = self.prometheus.query_range(
            f'sum by ({self.key_label}) (rate({COMPLETE}{{op="flush",'
            f'{self.key_label}=~"{self.comm_regex}"}}[5s]))',
            start, end, 1)
        peaks = {r["metric"][self.key_label]: max(float(v) for _, v in r["values"]) for r in result}
        for comm in self.comms:
            true_peak = true_peak_rate(self.workload.stamps(comm))
            self.assertIn(comm, peaks, f"{comm}: no rate in Prometheus")
            note(f"{comm}: peak rate()[5s] {peaks[comm]:.2f}/s, true peak {true_peak:.2f}/s "
                 f"({peaks[comm] / true_peak:.3f}x)")
            self.assertLessEqual(peaks[comm], 1.3 * true_peak,
                                 f"{comm}: peak of rate()[5s] {peaks[comm]:.1f}/s, true peak "
                                 f"over 5 s {true_peak:.1f}/s: a false spike")
            self.assertGreaterEqual(peaks[comm], 0.5 * true_peak,
                                    f"{comm}: the flushes hardly show as a rate "
                                    f"({peaks[comm]:.1f}/s, true peak {true_peak:.1f}/s)")

    def check_no_series_decreases(self, end):
        """Every stored sample of every counter series since Prometheus started."""
        samples = self.prometheus.raw_samples(COUNTERS, self.prometheus.started, end)
        ours = {self.fs.name}
        decreases = []
        for labels, values in samples.items():
            labels = dict(labels)
            # /proc/diskstats restarts from 0 when a loop device is detached and
            # attached again under the same name, which the other tests on this
            # machine do all the time: a new device, not a decrease of ours.
            if (labels["__name__"].startswith("diskidle_disk_")
                    and labels.get("device", "").startswith("loop")
                    and labels["device"] not in ours):
                continue
            for (t1, v1), (t2, v2) in zip(values, values[1:]):
                if v2 < v1:
                    decreases.append(f"{labels}: {v1:g} at {t1:.3f} then {v2:g} at {t2:.3f}")
        self.assertGreater(len(samples), 0)
        if decreases:
            self.fail(f"{len(decreases)} decreasing series, e.g. {decreases[:3]}")
        return samples

    def per_process_samples(self, end):
        samples = self.prometheus.raw_samples(
            f'{PER_PROCESS}{{op="flush",{self.key_label}=~"{self.comm_regex}"}}',
            self.prometheus.started, end)
        by_pid = {}
        for labels, values in samples.items():
            pid = dict(labels)["pid"]
            self.assertNotIn(pid, by_pid, f"two flush series for pid {pid}: {dict(labels)}")
            by_pid[pid] = values
        return by_pid

    def check_rises_only_by_what_it_did(self, what, values, stamps, scrapes):
        """What a per-process series shows at a scrape must have happened since
        the scrape before its previous sample (or before its first sample: a
        series never starts with what the process did before), allowing one
        background update (1 s) before and the scrape's own duration (the
        timeout, 1 s) after. `stamps`: the process's fsyncs."""
        previous = [(scrapes[max(0, bisect.bisect_left(scrapes, values[0][0]) - 1)], 0.0)]
        for (t1, v1), (t2, v2) in zip(previous + values, values):
            possible = count_between(stamps, t1 - 1.0 - 0.5, t2 + 1.0)
            self.assertLessEqual(v2 - v1, possible,
                                 f"{what}: per-process series rose by {v2 - v1:g} between "
                                 f"{t1:.3f} and {t2:.3f}, the process did {possible} fsyncs then")

    def check_per_process_view(self, start, end, every_process_has_a_slot):
        """Per process: the series counts only what the process did while it
        existed, and ends a few seconds after the process exits."""
        runs = {str(r.pid): r for r in self.workload.runs}
        # A failed scrape shows nothing: a sample after it holds all since the
        # last successful one.
        scrapes = self.prometheus.successful_scrape_times(self.prometheus.started, end)
        failed = len(self.prometheus.scrape_times(self.prometheus.started, end)) - len(scrapes)
        note(f"{len(scrapes)} successful scrapes, {failed} failed")
        by_pid = self.per_process_samples(end)
        if every_process_has_a_slot:
            self.assertTrue(set(by_pid) & set(runs), "no process of the run had per-process series")
        note(f"{len(set(by_pid) & set(runs))} of {len(runs)} processes had per-process series")
        for pid, values in by_pid.items():
            run = runs.get(pid)
            if run is None:
                continue  # a warm-up process
            stamps = run.stamps
            self.check_rises_only_by_what_it_did(f"{run.comm} pid {pid}", values, stamps, scrapes)
            last_value = values[-1][1]
            self.assertLessEqual(last_value, len(stamps),
                                 f"{run.comm} pid {pid}: counted more than it did")
            if every_process_has_a_slot:
                self.assertEqual(last_value, len(stamps), f"{run.comm} pid {pid}")
            # Exit seen by the next update (1 s), TTL, the update that ends it
            # (1 s), plus 2 s for a loaded machine: then no more samples.
            self.assertLessEqual(values[-1][0], run.exited_at + TTL_S + 4.0,
                                 f"{run.comm} pid {pid}: series still scraped "
                                 f"{values[-1][0] - run.exited_at:.1f} s after its exit")
        if every_process_has_a_slot:
            missing = [f"{r.comm} pid {r.pid}" for r in self.workload.runs
                       if str(r.pid) not in by_pid]
            self.assertEqual(missing, [], "processes without per-process series")
        # Per name, increase() may exceed the truth only by Prometheus's own
        # extrapolation at both ends of each series that starts or ends inside
        # the window: up to half the average sample interval at the series'
        # average rate after its last sample, and as much before its first one
        # (a series that appears above 0 is extrapolated back towards its zero
        # point; seen: 653.8 for 600 fsyncs over 27 short-lived processes).
        window = run_window(start, end)
        for comm in self.comms:
            truth = len(self.workload.stamps(comm))
            result = self.prometheus.query(
                f'sum(increase({PER_PROCESS}{{op="flush",{self.key_label}="{comm}"}}[{window}]))',
                at=end)
            counted = float(result[0]["value"][1]) if result else 0.0
            allowance = 0.0
            for pid, values in by_pid.items():
                run = runs.get(pid)
                if run and run.comm == comm and len(values) > 1:
                    span = values[-1][0] - values[0][0]
                    allowance += ((values[-1][1] - values[0][1]) / span
                                  * 2 * 0.5 * span / (len(values) - 1))
            self.assertLessEqual(counted, truth + allowance + 1e-6,
                                 f"{comm}: per-process increase() {counted:.1f} > "
                                 f"{truth} fsyncs (+{allowance:.1f} extrapolation)")

    def check_per_process_within_complete(self, end):
        """Every per-process series, whoever's, against the complete view (exact,
        as checked above) of its (device, comm, syscall, op): from one sample to
        the next it rises by at most what the complete view counted from the
        first of them to the scrape after the second (one scrape of slack: a
        background update may fall between rendering the two views), and its
        first sample holds at most what the complete view counted since the
        scrape before it. A series that starts with what its process did before
        it had a slot, or that took another's counts, fails."""
        started = self.prometheus.started
        scrapes = self.prometheus.successful_scrape_times(started, end)
        complete = {}
        key = ("device", self.key_label, "syscall", "op")
        for labels, values in self.prometheus.raw_samples(COMPLETE, started, end).items():
            labels = dict(labels)
            complete[tuple(labels.get(k) for k in key)] = values

        def at(values, t):  # the last sample at or before t
            i = bisect.bisect_right([ts for ts, _ in values], t)
            return values[i - 1][1] if i else 0.0

        checked = 0
        for labels, values in self.prometheus.raw_samples(
                "diskidle_process_bios_total", started, end).items():
            labels = dict(labels)
            whole = complete.get(tuple(labels.get(k) for k in key))
            if whole is None:
                continue  # comm="other" in the complete view (beyond max_comms)
            checked += 1
            first = bisect.bisect_left(scrapes, values[0][0])
            previous = [(scrapes[first - 1] if first else started, 0.0)]
            for (t1, v1), (t2, v2) in zip(previous + values, values):
                after = bisect.bisect_right(scrapes, t2)
                t_next = scrapes[after] if after < len(scrapes) else t2
                allowed = at(whole, t_next) - at(whole, t1)
                self.assertLessEqual(v2 - v1, allowed,
                                     f"{labels}: rose by {v2 - v1:g} from {t1:.3f} to {t2:.3f}, "
                                     f"the complete view by {allowed:g} (to {t_next:.3f})")
        note(f"{checked} per-process series checked against the complete view")
        self.assertGreater(checked, 0)

    def wait_for_per_process_series_to_end(self):
        lib.wait_for("the per-process series of the exited processes to end", lambda: not (
            self.prometheus.query(f'{PER_PROCESS}{{{self.key_label}=~"{self.comm_regex}"}}')),
            timeout=TTL_S + 20)


class DefaultLimitsTest(SeriesInvariantsTest):
    def test_same_name_processes_exiting_and_restarting(self):
        self.start(["L", "S", "M", "B"])
        specs = []
        # L: a long-lived process, then its restart.
        specs += [Spec("L", 0, 20, 360), Spec("L", 18.5, 20, 340)]
        # S: 27 short-lived processes back to back.
        specs += [Spec("S", 1.3 * i, 20, 24) for i in range(27)]
        # M: a long-lived process and short ones of the same name beside it.
        specs += [Spec("M", 0, 8, 280)] + [Spec("M", t, 8, 16) for t in (3, 9, 15, 21, 27)]
        # B: bursts of 5 s with 5 s of no process of that name in between.
        specs += [Spec("B", t, 30, 150) for t in (0, 10, 20, 30)]
        start, end = self.run_workload(specs, timeout=120)

        # Each check reports on its own (subTest), so one failure hides no other.
        with self.subTest("complete view: increase() per name"):
            self.check_complete_view_exact(start, end)
        with self.subTest("complete view: peak rate per name"):
            self.check_peak_rate(start, end)
        with self.subTest("per-process view"):
            self.check_per_process_view(start, end, every_process_has_a_slot=True)
            self.wait_for_per_process_series_to_end()
        with self.subTest("per-process view within the complete view"):
            self.check_per_process_within_complete(end)
        with self.subTest("no series decreases"):
            self.check_no_series_decreases(self.prometheus.wait_for_scrape_after(time.time()))


class FiveProcessSlotsTest(SeriesInvariantsTest):
    extra_config = "    max_processes: 5"

    def test_fifty_concurrent_processes_for_five_slots(self):
        self.start(["P", "Q", "R", "T", "U"], files_per_key=2)
        specs = []
        for i in range(50):
            key = "PQRTU"[i % 5]
            # Staggered starts and ends; the last ten are the busiest, late
            # comers that take slots from the others.
            if i < 40:
                specs.append(Spec(key, 0.3 * (i // 5), 4, 4 * (14 + i % 7)))
            else:
                specs.append(Spec(key, 12 + 0.2 * (i - 40), 100, 700))
        start, end = self.run_workload(specs, timeout=120)

        with self.subTest("complete view: increase() per name"):
            self.check_complete_view_exact(start, end)
        with self.subTest("complete view: peak rate per name"):
            self.check_peak_rate(start, end)
        with self.subTest("at most 5 processes with per-process series"):
            self.check_process_limit(end, 5)
        with self.subTest("per-process view"):
            self.check_per_process_view(start, end, every_process_has_a_slot=False)
        with self.subTest("per-process view within the complete view"):
            self.check_per_process_within_complete(end)
        with self.subTest("no series decreases"):
            self.check_no_series_decreases(end)

    def check_process_limit(self, end, limit):
        """Counted in every scrape Prometheus took (series of one scrape share its timestamp)."""
        counts = []
        for t in self.prometheus.successful_scrape_times(self.prometheus.started, end):
            result = self.prometheus.query(
                'count(count by (pid) ({__name__=~"diskidle_process_(bios|bio_bytes|'
                'zero_byte_bios)_total"}))', at=t)
            counts.append(int(float(result[0]["value"][1])) if result else 0)
        note(f"processes with per-process series per scrape: {counts}")
        self.assertLessEqual(max(counts), limit, f"processes with per-process series per "
                                                 f"scrape: {counts}")
        seconds = int(end - self.prometheus.started) + 1
        gauge = self.prometheus.query(
            f"max_over_time(diskidle_process_view_processes[{seconds}s])", at=end)
        self.assertLessEqual(float(gauge[0]["value"][1]), limit)
        evictions = self.prometheus.query("diskidle_process_view_evictions_total", at=end)
        note(f"evictions: {evictions[0]['value'][1] if evictions else None}")


# How long before its rename a process's bios may still count under its new
# name: the exporter names a process's counts at each update (every second)
# with the name it has then; 1.5 s more for an update delayed on a busy machine.
RENAME_SLACK_S = 2.5


class RenamingTest(SeriesInvariantsTest):
    """Processes that rename themselves halfway, from a name to one that has
    series already (as a launcher exec()s into a program that also runs
    elsewhere): nothing they counted under the first name may move to the
    second, which Prometheus would see as a jump."""

    def test_processes_renaming_themselves(self):
        self.start(["O", "N"])
        # A process of each name that keeps its name, and four that start as O
        # and become N halfway, three seconds apart.
        specs = [Spec("O", 0, 10, 240), Spec("N", 0, 10, 240)]
        specs += [Spec("O", 3 * i, 25, 150, rename_to="N", count_after=150) for i in range(4)]
        start, end = self.run_workload(specs, timeout=120)
        renamers = [r for r in self.workload.runs if r.renamed_to]
        note("renames at " + ", ".join(f"{r.renamed_at - start:.1f} s" for r in renamers))

        with self.subTest("complete view: increase() per name"):
            self.check_complete_view_with_renames(start, end)
        with self.subTest("complete view: peak rate per name"):
            self.check_peak_rate_with_renames(start, end)
        with self.subTest("per-process view"):
            self.check_per_process_series_of_renamed_processes(end)
        with self.subTest("per-process view within the complete view"):
            self.check_per_process_within_complete(end)
        with self.subTest("no series decreases"):
            self.check_no_series_decreases(end)

    def bounds(self, comm):
        """The fsyncs that may count under `comm`: (at least, at most). The
        last RENAME_SLACK_S of a process's fsyncs before its rename may count
        under either name."""
        least, most = [], []
        for r in self.workload.runs:
            either = ([s for s in r.stamps if s > r.renamed_at - RENAME_SLACK_S]
                      if r.renamed_to else [])
            if r.comm == comm:
                least += r.stamps[:len(r.stamps) - len(either)]
                most += r.stamps
            if r.renamed_to == comm:
                least += r.stamps_after
                most += r.stamps_after + either
        least.sort()
        most.sort()
        return least, most

    def check_complete_view_with_renames(self, start, end):
        window = run_window(start, end)
        total_counted = 0.0
        for comm in self.comms:
            least, most = self.bounds(comm)
            result = self.prometheus.query(
                f'sum(increase({COMPLETE}{{op="flush",comm="{comm}"}}[{window}]))', at=end)
            self.assertTrue(result, f"{comm}: no flush series in Prometheus")
            counted = float(result[0]["value"][1])
            total_counted += counted
            note(f"{comm}: increase() {counted:.1f}, fsyncs under the name "
                 f"{len(self.workload.stamps(comm))} (bounds {len(least)}..{len(most)})")
            self.assertGreaterEqual(counted, 0.98 * len(least),
                                    f"{comm}: increase() {counted:.1f}, at least {len(least)} "
                                    f"fsyncs were done under the name")
            self.assertLessEqual(counted, 1.02 * len(most),
                                 f"{comm}: increase() {counted:.1f}, at most {len(most)} fsyncs "
                                 f"may count under the name")
        truth = sum(len(r.stamps) + len(r.stamps_after) for r in self.workload.runs)
        note(f"both names: increase() {total_counted:.1f}, fsyncs {truth}")
        self.assertLessEqual(abs(total_counted - truth), 0.02 * truth)

    def check_peak_rate_with_renames(self, start, end):
        result = self.prometheus.query_range(
            f'sum by (comm) (rate({COMPLETE}{{op="flush",comm=~"{self.comm_regex}"}}[5s]))',
            start, end, 1)
        peaks = {r["metric"]["comm"]: max(float(v) for _, v in r["values"]) for r in result}
        for comm in self.comms:
            least, most = self.bounds(comm)
            self.assertIn(comm, peaks, f"{comm}: no rate in Prometheus")
            upper = true_peak_rate(most)
            note(f"{comm}: peak rate()[5s] {peaks[comm]:.2f}/s, true peak at most "
                 f"{upper:.2f}/s ({peaks[comm] / upper:.3f}x)")
            self.assertLessEqual(peaks[comm], 1.3 * upper,
                                 f"{comm}: peak of rate()[5s] {peaks[comm]:.1f}/s, true peak "
                                 f"over 5 s at most {upper:.1f}/s: a false spike")
            self.assertGreaterEqual(peaks[comm], 0.5 * true_peak_rate(least))

    def check_per_process_series_of_renamed_processes(self, end):
        """Per process, its series under each name it had: each rises only by
        what the process did around that time (so none starts with what was
        counted under the other name), and together they end at exactly what
        it did."""
        scrapes = self.prometheus.successful_scrape_times(self.prometheus.started, end)
        samples = self.prometheus.raw_samples(
            f'{PER_PROCESS}{{op="flush",comm=~"{self.comm_regex}"}}', self.prometheus.started, end)
        by_pid = {}
        for labels, values in samples.items():
            labels = dict(labels)
            by_pid.setdefault(labels["pid"], {})[labels["comm"]] = values
        for run in self.workload.runs:
            series = by_pid.get(str(run.pid), {})
            stamps = sorted(run.stamps + run.stamps_after)
            names = {run.comm} | ({run.renamed_to} if run.renamed_to else set())
            self.assertEqual(set(series), names, f"pid {run.pid}: series of names {set(series)}")
            for comm, values in series.items():
                self.check_rises_only_by_what_it_did(f"pid {run.pid} {comm}", values, stamps,
                                                     scrapes)
            finals = {comm: values[-1][1] for comm, values in series.items()}
            note(f"pid {run.pid} {run.comm}->{run.renamed_to or '-'}: per-process {finals}, "
                 f"fsyncs {len(run.stamps)} + {len(run.stamps_after)}")
            self.assertEqual(sum(finals.values()), len(stamps), f"pid {run.pid}: {finals}")


class ThreadKeyedTest(SeriesInvariantsTest):
    """The same workload with both views keyed by thread instead of comm (the
    thread label, issue 10): each child's only thread carries its name, so the
    same numbers must come out of series that ride on the thread label."""
    key_label = "thread"
    extra_config = ("    labels: [device, thread, syscall, op]\n"
                    "    process_labels: [device, pid, thread, syscall, op]")

    test_same_name_threads_exiting_and_restarting = \
        DefaultLimitsTest.test_same_name_processes_exiting_and_restarting


del SeriesInvariantsTest  # the base class has no test of its own

if __name__ == "__main__":
    unittest.main()

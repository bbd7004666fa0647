"""What a scraper and a user's browser see: a valid exposition that promtool
accepts without findings, exactly the documented families with their types
(docs/metrics.md), the HTML index, /healthz, and 404 elsewhere.

Three configurations: the default (complete view plus per-process counters),
process_histogram: true (plus a per-process histogram), and max_processes: 0
(no per-process view at all: no diskidle_process_* family, no pid label)."""
import re
import subprocess
import unittest
import urllib.error
import urllib.request

from diskidle_testlib import (BIO, PROCESS_FAMILIES, Exporter, IoGen, LoopFilesystem,
                              parse_metrics, require_privileges, series, wait_for)

# Every family of the default configuration, with its TYPE.
DEFAULT_FAMILIES = {
    "diskidle_bio_size_bytes": "histogram",
    "diskidle_process_bios_total": "counter",
    "diskidle_process_bio_bytes_total": "counter",
    "diskidle_process_zero_byte_bios_total": "counter",
    "diskidle_process_view_processes": "gauge",
    "diskidle_process_view_evictions_total": "counter",
    "diskidle_tracked_processes": "gauge",
    "diskidle_process_early_expiries_total": "counter",
    "diskidle_bpf_events_dropped_total": "counter",
    "diskidle_bpf_map_entries": "gauge",
    "diskidle_bpf_map_capacity": "gauge",
    "diskidle_bpf_program_run_seconds_total": "counter",
    "diskidle_bpf_program_runs_total": "counter",
    "diskidle_disk_info": "gauge",
    "diskidle_disk_reads_completed_total": "counter",
    "diskidle_disk_reads_merged_total": "counter",
    "diskidle_disk_read_bytes_total": "counter",
    "diskidle_disk_read_time_seconds_total": "counter",
    "diskidle_disk_writes_completed_total": "counter",
    "diskidle_disk_writes_merged_total": "counter",
    "diskidle_disk_written_bytes_total": "counter",
    "diskidle_disk_write_time_seconds_total": "counter",
    "diskidle_disk_io_time_seconds_total": "counter",
    "diskidle_disk_io_time_weighted_seconds_total": "counter",
    "diskidle_disk_discards_completed_total": "counter",
    "diskidle_disk_discards_merged_total": "counter",
    "diskidle_disk_discarded_sectors_total": "counter",
    "diskidle_disk_discard_time_seconds_total": "counter",
    "diskidle_disk_flush_requests_total": "counter",
    "diskidle_disk_flush_requests_time_seconds_total": "counter",
    "diskidle_disk_io_now": "gauge",
    "diskidle_disk_utilization_ratio": "gauge",
    "diskidle_exporter_build_info": "gauge",
    "diskidle_scrape_collector_success": "gauge",
    "diskidle_scrape_collector_duration_seconds": "gauge",
    "process_cpu_seconds_total": "counter",
    "process_start_time_seconds": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
}
PROCESS_HISTOGRAM = "diskidle_process_bio_size_bytes"
# The per-process view and its self-metrics: gone with max_processes: 0.
PROCESS_VIEW_FAMILIES = set(PROCESS_FAMILIES) | {"diskidle_process_view_processes",
                                                 "diskidle_process_view_evictions_total",
                                                 PROCESS_HISTOGRAM}
_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$")


def family_types(text):
    """{family: type} from the # TYPE lines; a family typed twice fails."""
    types = {}
    for line in text.splitlines():
        m = _TYPE.match(line)
        if m:
            if m.group(1) in types:
                raise AssertionError(f"family {m.group(1)} has two TYPE lines")
            types[m.group(1)] = m.group(2)
    return types


class ExpositionTest(unittest.TestCase):
    config = ""
    collectors = ("bio", "diskstats", "process")  # each must report success 1

    def expected_families(self):
        return dict(DEFAULT_FAMILIES)

    def setUp(self):
        require_privileges(self)
        self.fs = LoopFilesystem(self, "ext4")
        self.exporter = Exporter(self, self.config)
        self.gen = IoGen(self, "fsync-loop", self.fs.path("f"), 20)
        self.gen.wait_done(self)
        # Utilization appears after two diskstats samples (1 s apart by default).
        wait_for("diskidle_disk_utilization_ratio of our loop device", lambda: series(
            self.exporter.scrape(), "diskidle_disk_utilization_ratio", device=self.fs.name))

    def test_promtool_check_metrics_has_no_findings(self):
        body = self.exporter.scrape_bytes()  # as Prometheus receives it: must be UTF-8
        result = subprocess.run(["promtool", "check", "metrics"], input=body,
                                capture_output=True)
        result.stdout, result.stderr = (result.stdout.decode(errors="backslashreplace"),
                                        result.stderr.decode(errors="backslashreplace"))
        body.decode("utf-8")  # raises on a label value that is not UTF-8
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual((result.stdout + result.stderr).strip(), "",
                         "promtool check metrics reported findings")

    def test_exactly_the_documented_families_are_there(self):
        text = self.exporter.scrape_text()
        got, want = family_types(text), self.expected_families()
        self.assertEqual({name: kind for name, kind in got.items() if want.get(name) != kind}, {},
                         "families not documented for this config, or of another type")
        self.assertEqual(sorted(set(want) - set(got)), [], "documented families missing")
        self.assertNotIn("diskidle_bio_folded_processes_total", text, "folding is gone")
        samples = parse_metrics(text)
        names = {name for name, _, _ in samples}
        # Every family shows samples (our workload's bios among them), not just a TYPE line.
        for family, kind in self.expected_families().items():
            wanted = ({family + "_bucket", family + "_count", family + "_sum"}
                      if kind == "histogram" else {family})
            self.assertEqual(wanted - names, set(), f"{family} has no samples")
        success = {labels["collector"]: v for n, labels, v in samples
                   if n == "diskidle_scrape_collector_success"}
        self.assertEqual(success, {name: 1.0 for name in self.collectors})
        self.assertTrue(series(samples, BIO + "_count", comm=self.gen.comm, device=self.fs.name),
                        "our workload's bios are in the complete view")
        self.check_process_view(samples)

    def check_process_view(self, samples):
        for family in PROCESS_FAMILIES:
            self.assertTrue(series(samples, family, pid=self.gen.pid, device=self.fs.name),
                            f"no {family} series of our workload (pid {self.gen.pid})")

    def test_index_health_and_unknown_paths(self):
        with urllib.request.urlopen(self.exporter.url("/")) as r:
            page = r.read().decode()
            self.assertEqual(r.status, 200)
            self.assertIn('href="/metrics"', page)
            self.assertIn("bio", page)
        with urllib.request.urlopen(self.exporter.url("/healthz")) as r:
            self.assertEqual(r.status, 200)
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(self.exporter.url("/nope"))
        self.assertEqual(caught.exception.code, 404)


class ProcessHistogramExpositionTest(ExpositionTest):
    config = "collectors:\n  bio:\n    process_histogram: true\n"

    def expected_families(self):
        return {**DEFAULT_FAMILIES, PROCESS_HISTOGRAM: "histogram"}

    def check_process_view(self, samples):
        super().check_process_view(samples)
        self.assertTrue(series(samples, PROCESS_HISTOGRAM + "_bucket", pid=self.gen.pid, le="0"))


class DiskLatencyExpositionTest(ExpositionTest):
    config = "collectors:\n  disk_latency:\n    enabled: true\n"
    collectors = ExpositionTest.collectors + ("disk_latency",)

    def expected_families(self):
        return {**DEFAULT_FAMILIES,
                "diskidle_disk_request_duration_seconds": "histogram",
                "diskidle_disk_request_duration_from_allocation_total": "counter",
                "diskidle_disk_request_duration_dropped_total": "counter"}

    def check_process_view(self, samples):
        super().check_process_view(samples)
        # The workload's flushes are on our loop device's histogram.
        self.assertTrue(series(samples, "diskidle_disk_request_duration_seconds_bucket",
                               device=self.fs.name, op="flush", le="+Inf"))


class NoProcessViewExpositionTest(ExpositionTest):
    config = "collectors:\n  bio:\n    max_processes: 0\n"

    def expected_families(self):
        return {name: kind for name, kind in DEFAULT_FAMILIES.items()
                if name not in PROCESS_VIEW_FAMILIES}

    def check_process_view(self, samples):
        with_pid = [(name, labels) for name, labels, _ in samples if "pid" in labels]
        self.assertEqual(with_pid[:5], [], "max_processes: 0 leaves no pid label anywhere")


if __name__ == "__main__":
    unittest.main()

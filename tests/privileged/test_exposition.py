"""What a scraper and a user's browser see: a valid exposition that promtool
accepts without findings, the HTML index, /healthz, and 404 elsewhere."""
import subprocess
import unittest
import urllib.error
import urllib.request

from diskidle_testlib import (Exporter, IoGen, LoopFilesystem, parse_metrics, require_privileges,
                              series, wait_for)


class ExpositionTest(unittest.TestCase):
    def setUp(self):
        require_privileges(self)
        self.fs = LoopFilesystem(self, "ext4")
        self.exporter = Exporter(self)
        gen = IoGen(self, "fsync-loop", self.fs.path("f"), 20)
        gen.wait_done(self)
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

    def test_every_family_the_docs_promise_is_there(self):
        names = {name for name, _, _ in parse_metrics(self.exporter.scrape_text())}
        for family in ["diskidle_bio_size_bytes_bucket", "diskidle_bio_size_bytes_count",
                       "diskidle_bio_size_bytes_sum", "diskidle_disk_reads_completed_total",
                       "diskidle_disk_writes_completed_total", "diskidle_disk_read_bytes_total",
                       "diskidle_disk_written_bytes_total", "diskidle_disk_io_time_seconds_total",
                       "diskidle_disk_io_time_weighted_seconds_total",
                       "diskidle_disk_flush_requests_total",
                       "diskidle_disk_flush_requests_time_seconds_total",
                       "diskidle_disk_discards_completed_total", "diskidle_disk_io_now",
                       "diskidle_disk_info", "diskidle_disk_utilization_ratio",
                       "diskidle_exporter_build_info", "diskidle_scrape_collector_success",
                       "diskidle_scrape_collector_duration_seconds",
                       "diskidle_bpf_events_dropped_total", "diskidle_bpf_map_entries",
                       "diskidle_bpf_map_capacity", "diskidle_tracked_processes",
                       "diskidle_bio_folded_processes_total", "process_cpu_seconds_total",
                       "process_start_time_seconds", "process_resident_memory_bytes",
                       "process_open_fds", "process_max_fds"]:
            self.assertIn(family, names)
        samples = parse_metrics(self.exporter.scrape_text())
        success = {labels["collector"]: v for n, labels, v in samples
                   if n == "diskidle_scrape_collector_success"}
        self.assertEqual(success, {"bio": 1.0, "diskstats": 1.0, "process": 1.0})

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


if __name__ == "__main__":
    unittest.main()

"""A real Prometheus (Debian package `prometheus`) scraping the exporter, for
the privileged tests that check what Prometheus makes of the series.

It listens on 127.0.0.1 on a free port, keeps its TSDB in a temp dir, scrapes
every second, and is stopped at cleanup, where a non-zero exit (or a hang
after SIGTERM) fails the test.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import diskidle_testlib as lib

SCRAPE_INTERVAL_S = 1.0


class Prometheus:
    def __init__(self, test, target_port, job="diskidle", timeout=60):
        if shutil.which("prometheus") is None:
            test.fail("prometheus not found (Debian package prometheus)")
        self.job = job
        self.dir = tempfile.mkdtemp(prefix="diskidle-prometheus-")
        test.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"global:\n  scrape_interval: {SCRAPE_INTERVAL_S:g}s\n"
                    "  scrape_timeout: 1s\n"
                    f"scrape_configs:\n  - job_name: {job}\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{target_port}']\n")
        self.port = lib.free_port()
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.log = open(self.log_path, "w")
        test.addCleanup(self.log.close)
        self.started = time.time()
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.dir}/tsdb",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        test.addCleanup(self.stop_and_check)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                test.fail(f"prometheus exited with {self.proc.returncode}: {self.read_log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                test.fail(f"prometheus not ready after {timeout} s: {self.read_log()}")
            time.sleep(0.2)

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def stop_and_check(self):
        """Cleanup: SIGTERM, and Prometheus must exit 0 within 30 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("prometheus hung after SIGTERM (killed)")
        if self.proc.returncode != 0:
            raise AssertionError(f"prometheus exit status {self.proc.returncode}: "
                                 f"{self.read_log()}")

    def _get(self, path, params):
        q = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{q}", timeout=30) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            raise AssertionError(f"prometheus {path} {params}: {e} {e.read()[:500]!r}") from e
        if body.get("status") != "success":
            raise AssertionError(f"prometheus {path} {params}: {body}")
        return body["data"]["result"]

    def query(self, promql, at=None):
        """Instant query; `at` is a Unix time in seconds (ms precision)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self._get("/api/v1/query", params)

    def query_range(self, promql, start, end, step):
        return self._get("/api/v1/query_range", {"query": promql, "start": f"{start:.3f}",
                                                 "end": f"{end:.3f}", "step": f"{step:g}"})

    def raw_samples(self, selector, start, end):
        """{labels frozenset: [(t, value)]} of every sample scraped in [start, end]
        (a range selector returns the stored samples, not evaluated steps)."""
        range_ms = int(round((end - start) * 1000))
        out = {}
        for r in self.query(f"{selector}[{range_ms}ms]", at=end):
            out[frozenset(r["metric"].items())] = [(float(t), float(v)) for t, v in r["values"]]
        return out

    def scrape_times(self, start, end):
        """Timestamps (s) of this job's scrapes in [start, end], successful or not."""
        samples = self.raw_samples(f'up{{job="{self.job}"}}', start, end)
        return sorted(t for values in samples.values() for t, _ in values)

    def successful_scrape_times(self, start, end):
        """Timestamps (s) of this job's scrapes in [start, end] that succeeded
        (a failed scrape stores `up` 0 and no sample of any series)."""
        samples = self.raw_samples(f'up{{job="{self.job}"}}', start, end)
        return sorted(t for values in samples.values() for t, v in values if v == 1)

    def wait_for_scrape_after(self, when, timeout=30, successful=False):
        """The timestamp of the first scrape that started after `when` (polled);
        with `successful`, of the first that succeeded."""
        times = self.successful_scrape_times if successful else self.scrape_times
        deadline = time.monotonic() + timeout
        while True:
            now = time.time()
            later = [t for t in times(min(when, now) - 5, now) if t > when]
            if later:
                return later[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no scrape after {when:.3f} within {timeout} s: "
                                     f"{self.read_log()}")
            time.sleep(0.3)

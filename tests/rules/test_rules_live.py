#!/usr/bin/env python3
"""The shipped rules in a real Prometheus, across an exporter pod restart.

Two scrape targets share instance="node1:9436" and differ in `pod`, as when
kube-prometheus scrapes a DaemonSet pod that is replaced: pod a is scraped
first, pod b joins, pod a leaves (service discovery drops it). For the rate
window both pods' series are in range; a join over series that still carry
`pod` would fail with "duplicate series for the match group". The targets come from file-based service discovery, as pods come
from Kubernetes discovery: a target change restarts no scrape loop. Asserts,
through the HTTP API of a real Prometheus (Debian package
`prometheus`, 127.0.0.1, a random port, a temporary directory):
  * every rule of every group has health "ok" (no evaluation error) at every
    check (once a second) while the two pods overlap;
  * the overlap is real: two series per disk for a raw counter;
  * DiskBusyWithoutThroughput fires once per disk (never twice for one disk
    and severity), for the fsync disk only, and ProcessFlushStorm once for
    (disk, comm); the culprit's pid comes from the per-process view;
  * every query of the dashboard (variables set to All) evaluates without
    error and returns data during the overlap.

The targets are a tiny HTTP server in this file that serves
testdata/two_pods.txt (counters grow with time). The rule file is the shipped
deploy/prometheus/diskidle-rules.yml with rate windows of 5m/10m cut to
10s/20s and every `for:` cut to 2s, so that this takes ~40 s.

  python3 -m unittest -v test_rules_live        (from tests/rules/)
"""

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import yaml

SOURCE_DIR = os.environ.get(
    "DISKIDLE_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
RULES = os.path.join(SOURCE_DIR, "deploy", "prometheus", "diskidle-rules.yml")
DASHBOARD = os.path.join(SOURCE_DIR, "dashboards", "diskidle.json")
SERIES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata", "two_pods.txt")
INSTANCE = "node1:9436"
PODS = ("diskidle-a", "diskidle-b")
RATE_WINDOW = "10s"       # replaces 5m: 10 samples at the 1s scrape interval
LONG_WINDOW = "20s"       # replaces 10m
FOR = "2s"
OVERLAP_CHECK_SECONDS = 12  # > RATE_WINDOW: until pod a's samples leave the window
TIMEOUT = 45               # for each wait below; the whole test takes ~40 s


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_series():
    """[(series text, kind, number)]: kind "counter" (increase/s) or "gauge"."""
    out = []
    with open(SERIES_FILE, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.rsplit(None, 2)
            if len(fields) == 3 and fields[1] == "gauge":
                out.append((fields[0], "gauge", float(fields[2])))
            else:
                series, slope = line.rsplit(None, 1)
                out.append((series, "counter", float(slope)))
    return out


class Exporters:
    """Serves /pod/<name> for each started, not yet stopped pod."""

    def __init__(self):
        self.series = load_series()
        self.t0 = time.time()
        self.started = {}   # pod -> start time
        self.stopped = set()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                pod = self.path.rsplit("/", 1)[-1]
                if pod not in owner.started or pod in owner.stopped:
                    self.send_error(503)
                    return
                body = owner.render(pod).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # Prometheus may hang up mid-scrape: not the test's concern

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def render(self, pod):
        now = time.time()
        lines = []
        for series, kind, number in self.series:
            if kind == "gauge":
                value = number
            else:
                # Kernel counters continue across pods; the exporter's own restart at 0.
                since = self.t0 if series.startswith("diskidle_disk_") else self.started[pod]
                value = number * (now - since)
            lines.append(f"{series} {value:.6f}")
        return "\n".join(lines) + "\n"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class RulesLivePrometheusTest(unittest.TestCase):
    def setUp(self):
        self.prometheus = shutil.which("prometheus")
        if self.prometheus is None:
            self.fail("prometheus not found: install the Debian package 'prometheus' "
                      "(scripts/install-deps.sh does)")
        self.dir = tempfile.mkdtemp(prefix="diskidle-rules-live-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.exporters = Exporters()
        self.addCleanup(self.exporters.close)
        self.rules = self.rules_copy()
        self.targets = os.path.join(self.dir, "targets.json")
        self.set_pods(PODS[:1])
        self.config = os.path.join(self.dir, "prometheus.yml")
        self.write_config()
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.addCleanup(self.log.close)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [self.prometheus, f"--config.file={self.config}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_prometheus)
        self.wait(lambda: self.ready(), "Prometheus ready")

    def stop_prometheus(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rules_copy(self):
        with open(RULES, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for group in doc["groups"]:
            group["interval"] = "1s"
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = FOR
                expr = rule["expr"].replace("[5m]", f"[{RATE_WINDOW}]").replace("[10m]", f"[{LONG_WINDOW}]")
                self.assertNotRegex(expr, r"\[\d+[mh]\]", "a rate window this test does not shorten")
                rule["expr"] = expr
        path = os.path.join(self.dir, "rules.yml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        return path

    def write_config(self):
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [self.rules],
            "scrape_configs": [{
                "job_name": "diskidle",
                "file_sd_configs": [{"files": [self.targets], "refresh_interval": "1s"}],
            }],
        }
        with open(self.config, "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f)

    def set_pods(self, pods):
        """The discovered targets: one per pod, all with the same instance."""
        for pod in pods:
            self.exporters.started.setdefault(pod, time.time())
        groups = [{"targets": [f"127.0.0.1:{self.exporters.port}"],
                   "labels": {"instance": INSTANCE, "pod": pod, "namespace": "diskidle",
                              "__metrics_path__": f"/pod/{pod}"}} for pod in pods]
        tmp = self.targets + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(groups, f)
        os.replace(tmp, self.targets)  # atomic: discovery never reads half a file

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        self.assertEqual(body.get("status"), "success", body)
        return body["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def ready(self):
        if self.proc.poll() is not None:
            self.fail(f"prometheus exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def log_tail(self):
        self.log.flush()
        self.log.seek(0)
        return "".join(self.log.readlines()[-20:])

    def wait(self, predicate, what, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.5)
        self.fail(f"timed out after {timeout}s waiting for {what}\n{self.diagnostics()}")

    def diagnostics(self):
        lines = []
        for expr in ("up", "ALERTS", "instance_device:diskidle_bio_zero_byte_top_process:rate5m"):
            try:
                lines.append(f"{expr} = {[(r['metric'], r['value'][1]) for r in self.query(expr)]}")
            except Exception as e:  # diagnostics only
                lines.append(f"{expr}: {e}")
        for expr in ("instance_device:diskidle_disk_utilization:ratio_rate5m",
                     f'rate(diskidle_disk_io_time_seconds_total{{device="sda"}}[{RATE_WINDOW}])',
                     'ALERTS{alertname="DiskBusyWithoutThroughput"}'):
            try:
                now = time.time()
                data = self.api("query_range", query=expr, start=f"{now - 40:.3f}", end=f"{now:.3f}", step="1")
                lines += [f"{expr} {r['metric'].get('pod', '')}{r['metric'].get('severity', '')} {r['metric'].get('alertstate', '')}: "
                          + " ".join(f"{float(t) - now:.0f}s={float(v):.2f}" for t, v in r["values"])
                          for r in data["result"]]
            except Exception as e:  # diagnostics only
                lines.append(f"{expr}: {e}")
        lines.append(f"rules with problems: {self.bad_rules()}")
        lines.append(f"--- prometheus log ---\n{self.log_tail()}")
        return "\n".join(lines)

    def rule_states(self):
        return [(g["name"], r["name"], r["health"], r.get("lastError", ""))
                for g in self.api("rules")["groups"] for r in g["rules"]]

    def bad_rules(self):
        return [s for s in self.rule_states() if s[2] != "ok"]

    def dashboard_queries(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            dash = json.load(f)
        values = {"cluster": ".*", "job": "diskidle", "instance": ".+", "device": ".+",
                  "__rate_interval": RATE_WINDOW}
        panels = []
        for p in dash["panels"]:
            panels += [p] + p.get("panels", [])
        out = []
        for p in panels:
            for t in p.get("targets", []):
                expr = re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], t["expr"])
                out.append((f'{p["title"]} {t["refId"]}', expr))
        return out

    def check_dashboard_queries(self):
        for title, expr in self.dashboard_queries():
            try:
                result = self.query(expr)
            except urllib.error.HTTPError as e:
                self.fail(f"dashboard query '{title}' failed: {e.read().decode(errors='replace')}\n{expr}")
            self.assertTrue(result, f"dashboard query '{title}' returned no data\n{expr}")

    def firing(self, alertname):
        return self.query(f'ALERTS{{alertname="{alertname}",alertstate="firing"}}')

    def test_pod_restart_keeps_rules_healthy_and_alerts_single(self):
        with open(RULES, encoding="utf-8") as f:
            shipped = sum(len(g["rules"]) for g in yaml.safe_load(f)["groups"])
        self.assertEqual(len(self.rule_states()), shipped, "Prometheus did not load every rule")

        # One pod: both severities and the per-comm alert fire for the fsync disk.
        self.wait(lambda: len(self.firing("DiskBusyWithoutThroughput")) == 2
                  and self.firing("ProcessFlushStorm"), "the alerts with one pod")

        # The restart: pod b joins, then pod a leaves.
        self.set_pods(PODS)
        self.wait(lambda: self.query(f'up{{pod="{PODS[1]}"}} == 1'), "pod b scraped")
        self.set_pods(PODS[1:])
        self.wait(lambda: not self.query(f'up{{pod="{PODS[0]}"}}'), "pod a dropped")
        restart = time.time()

        # While both pods' samples are in the rate window.
        overlap_seen = False
        checks = 0
        while time.time() - restart < OVERLAP_CHECK_SECONDS:
            per_disk = self.query(
                f'count by (instance, device) (rate(diskidle_disk_io_time_seconds_total[{RATE_WINDOW}]))')
            overlap_seen |= any(r["value"][1] == "2" for r in per_disk)
            self.assertEqual(self.bad_rules(), [], "a rule failed to evaluate during the pod overlap")
            busy = self.firing("DiskBusyWithoutThroughput")
            got = sorted((a["metric"]["instance"], a["metric"]["device"], a["metric"]["severity"]) for a in busy)
            # The warning (>= 30% busy, the disk is 90% busy) fires throughout;
            # the critical (>= 80%) may flicker when a late scrape shortens a
            # 10s rate window on this shared machine, but is never doubled.
            self.assertIn((INSTANCE, "sda", "warning"), got, self.diagnostics())
            self.assertLessEqual(set(got), {(INSTANCE, "sda", "warning"), (INSTANCE, "sda", "critical")},
                                 f"DiskBusyWithoutThroughput for another disk\n{self.diagnostics()}")
            self.assertEqual(len(got), len(set(got)),
                             f"DiskBusyWithoutThroughput fired twice for one disk\n{self.diagnostics()}")
            storm = self.firing("ProcessFlushStorm")
            self.assertEqual([(a["metric"]["device"], a["metric"]["comm"]) for a in storm], [("sda", "java")],
                             f"ProcessFlushStorm must fire once per disk and comm\n{self.diagnostics()}")
            if checks == 2:
                self.check_dashboard_queries()
            checks += 1
            time.sleep(1)
        self.assertTrue(overlap_seen, "the two pods' series never overlapped: this test proved nothing")
        self.assertGreater(checks, 3)

        # The culprit's pid comes from the per-process view, through the recording rule.
        top = self.query('instance_device:diskidle_bio_zero_byte_top_process:rate5m{device="sda"}')
        self.assertEqual([(t["metric"].get("comm"), t["metric"].get("pid"), t["metric"].get("syscall")) for t in top],
                         [("java", "4242", "fsync")])
        # Every rule, alerts included, still evaluates ("unknown" or "err" fail).
        self.assertEqual(self.bad_rules(), [])


if __name__ == "__main__":
    unittest.main()

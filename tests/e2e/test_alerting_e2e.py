#!/usr/bin/env python3
"""Live end to end: the shipped rules, dashboard and Alertmanager example
against the real exporter, a real Prometheus and a real Alertmanager.

Two ext4 loop devices: on one a process named `e2e-fsyncloop` fsync()s an
unchanged file in a loop (the seed story), on the other fio writes sequentially
with big direct I/O (a healthy heavy writer). Asserts:
  * the DiskBusyWithoutThroughput notification reaches our webhook, routed to
    the receiver of its severity, with device=<fsync loop device> and the
    culprit's comm;
  * every dashboard panel query (variables substituted) and variable query
    returns data from that Prometheus;
  * the heavy writer's device never has a DiskBusyWithoutThroughput alert,
    not even pending.

The Prometheus copy of deploy/prometheus/diskidle-rules.yml is the shipped
file with two edits so the test runs in about a minute: every `for:` becomes
FOR_SECONDS and rate windows of 5m/10m become 1m/2m (with a 1s scrape
interval a 1m window holds 60 samples). Thresholds and expressions are
unchanged. The Alertmanager config is the shipped example with its receivers
pointed at the test's webhook and short group timers.

Needs root (BPF, loop devices) and the Debian packages prometheus,
prometheus-alertmanager, fio, e2fsprogs. Run through ctest (-L e2e), or:
  sudo DISKIDLE_EXPORTER=build/exporter/diskidle_exporter \
      python3 -m unittest -v tests/e2e/test_alerting_e2e.py
"""

import http.server
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

import yaml

SOURCE_DIR = os.environ.get(
    "DISKIDLE_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
EXPORTER = os.environ.get("DISKIDLE_EXPORTER", "")
RULES = os.path.join(SOURCE_DIR, "deploy", "prometheus", "diskidle-rules.yml")
ALERTMANAGER_YML = os.path.join(SOURCE_DIR, "deploy", "alertmanager", "alertmanager.yml")
DASHBOARD = os.path.join(SOURCE_DIR, "dashboards", "diskidle.json")

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
CULPRIT_COMM = "e2e-fsyncloop"
FOR_SECONDS = 15
ALERT_TIMEOUT = 150          # seconds for the notification to reach the webhook
RATE_INTERVAL = "20s"        # what Grafana would use for $__rate_interval at 1s scrape

FSYNC_LOOP = r"""
import os, sys
with open("/proc/self/comm", "w") as f:
    f.write(sys.argv[2])
fd = os.open(sys.argv[1], os.O_WRONLY)
print("ready", flush=True)
while True:
    os.fsync(fd)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)


def http_get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"<{e}>"


class WebhookReceiver:
    """Alertmanager webhook receiver: records (path, payload) of every POST."""

    def __init__(self):
        self.notifications = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.cond:
                    receiver.notifications.append((self.path, json.loads(body)))
                    receiver.cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self):
        """(receiver path, alert) for every alert in every notification so far."""
        with self.cond:
            return [(path, a) for path, payload in self.notifications for a in payload["alerts"]]

    def wait_for(self, predicate, timeout):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for path, payload in self.notifications:
                    for alert in payload["alerts"]:
                        if predicate(path, alert):
                            return path, alert
                remaining = deadline - time.time()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class AlertingEndToEndTest(unittest.TestCase):
    """One environment for all tests; tests run in name order (test_1_, ...)."""

    @classmethod
    def require(cls):
        problems = []
        if os.geteuid() != 0:
            problems.append("must run as root (BPF, loop devices)")
        if not EXPORTER or not os.access(EXPORTER, os.X_OK):
            problems.append(f"DISKIDLE_EXPORTER={EXPORTER!r} is not an executable exporter binary "
                            "(run through ctest, or set it)")
        for path, package in ((PROMETHEUS, "prometheus"), (ALERTMANAGER, "prometheus-alertmanager")):
            if not os.access(path, os.X_OK):
                problems.append(f"{path} missing: install the Debian package {package}")
        for tool, package in (("fio", "fio"), ("mkfs.ext4", "e2fsprogs"), ("losetup", "mount")):
            if shutil.which(tool) is None:
                problems.append(f"{tool} missing: install the Debian package {package}")
        if problems:
            raise AssertionError("end-to-end test cannot run: " + "; ".join(problems))

    @classmethod
    def spawn(cls, name, argv, **kwargs):
        log_path = os.path.join(cls.dir, name + ".log")
        log = open(log_path, "w")
        cls.addClassCleanup(log.close)
        proc = subprocess.Popen(argv, stdout=kwargs.pop("stdout", log), stderr=log,
                                start_new_session=True, **kwargs)
        cls.logs[name] = log_path
        cls.addClassCleanup(cls.stop_process, proc)
        return proc

    @staticmethod
    def stop_process(proc):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for stream in (proc.stdout, proc.stdin):
            if stream:
                stream.close()

    @classmethod
    def loop_filesystem(cls, name):
        image = os.path.join(cls.dir, name + ".img")
        with open(image, "wb") as f:
            f.truncate(256 << 20)
        device = run("losetup", "--find", "--show", image).stdout.strip()
        cls.addClassCleanup(subprocess.run, ["losetup", "-d", device], capture_output=True)
        # No lazy init: ext4lazyinit would write in the background and make the
        # "idle" fsync disk look like it transfers data.
        run("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", device)
        mountpoint = os.path.join(cls.dir, name)
        os.mkdir(mountpoint)
        run("mount", "-o", "noatime", device, mountpoint)
        cls.addClassCleanup(subprocess.run, ["umount", "-l", mountpoint], capture_output=True)
        return os.path.basename(device), mountpoint

    @classmethod
    def wait_http(cls, name, proc, url, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{tail(cls.logs[name])}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{name} not ready at {url} after {timeout}s:\n{tail(cls.logs[name])}")

    @classmethod
    def make_rules_copy(cls):
        with open(RULES, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = f"{FOR_SECONDS}s"
                rule["expr"] = rule["expr"].replace("[5m]", "[1m]").replace("[10m]", "[2m]")
        path = os.path.join(cls.dir, "rules.yml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        return path

    @classmethod
    def alertmanager_config(cls):
        with open(ALERTMANAGER_YML, encoding="utf-8") as f:
            config = yaml.safe_load(f)
        for receiver in config["receivers"]:
            if receiver.get("webhook_configs"):
                for hook in receiver["webhook_configs"]:
                    hook["url"] = f"{cls.webhook.url}/{receiver['name']}"
        route = config["route"]
        route.update(group_wait="1s", group_interval="2s", repeat_interval="1m")
        for sub in route.get("routes", []):
            sub.pop("repeat_interval", None)
        path = os.path.join(cls.dir, "alertmanager.yml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        # Remember which receiver each severity routes to in the shipped config.
        cls.receiver_for = {}
        for sub in route.get("routes", []):
            m = re.fullmatch(r'severity="(\w+)"', sub["matchers"][0])
            if m:
                cls.receiver_for[m.group(1)] = sub["receiver"]
        return path

    @classmethod
    def setUpClass(cls):
        cls.require()
        cls.dir = tempfile.mkdtemp(prefix="diskidle-e2e-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)
        cls.logs = {}
        cls.webhook = WebhookReceiver()
        cls.addClassCleanup(cls.webhook.close)

        cls.flush_dev, flush_mnt = cls.loop_filesystem("fsyncdisk")
        cls.writer_dev, writer_mnt = cls.loop_filesystem("writerdisk")
        cls.unchanged = os.path.join(flush_mnt, "unchanged.dat")
        with open(cls.unchanged, "wb") as f:
            f.write(b"d" * 4096)
        run("sync")

        cls.exporter_port = free_port()
        cls.instance = f"127.0.0.1:{cls.exporter_port}"
        cls.exporter = cls.spawn("exporter", [EXPORTER, f"--listen_address={cls.instance}"])
        cls.wait_http("exporter", cls.exporter, f"http://{cls.instance}/healthz")

        am_port = free_port()
        cls.am_url = f"http://127.0.0.1:{am_port}"
        am = cls.spawn("alertmanager", [
            ALERTMANAGER, f"--config.file={cls.alertmanager_config()}",
            f"--storage.path={os.path.join(cls.dir, 'am-data')}",
            f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="])
        cls.wait_http("alertmanager", am, f"{cls.am_url}/-/ready")

        prom_port = free_port()
        cls.prom_url = f"http://127.0.0.1:{prom_port}"
        prom_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [cls.make_rules_copy()],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "diskidle",
                                "static_configs": [{"targets": [cls.instance]}]}],
        }
        prom_config_path = os.path.join(cls.dir, "prometheus.yml")
        with open(prom_config_path, "w") as f:
            yaml.safe_dump(prom_config, f)
        cls.prometheus = cls.spawn("prometheus", [
            PROMETHEUS, f"--config.file={prom_config_path}",
            f"--storage.tsdb.path={os.path.join(cls.dir, 'prom-data')}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--rules.alert.resend-delay=1s"])
        cls.wait_http("prometheus", cls.prometheus, f"{cls.prom_url}/-/ready")
        cls.wait_target_up()

        cls.start = time.time()
        cls.fsync_loop = cls.spawn(
            "fsync-loop", [sys.executable, "-c", FSYNC_LOOP, cls.unchanged, CULPRIT_COMM],
            stdout=subprocess.PIPE, text=True)
        if cls.fsync_loop.stdout.readline().strip() != "ready":
            raise AssertionError(f"fsync loop did not start:\n{tail(cls.logs['fsync-loop'])}")
        cls.writer = cls.spawn("fio", [
            "fio", "--name=healthy-writer", f"--directory={writer_mnt}", "--rw=write",
            "--bs=1M", "--size=160M", "--direct=1", "--ioengine=psync", "--time_based",
            "--runtime=600", "--end_fsync=0"])

    @classmethod
    def wait_target_up(cls, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            result = cls.query_instant(f'up{{job="diskidle",instance="{cls.instance}"}}')
            if result and result[0]["value"][1] == "1":
                return
            time.sleep(0.5)
        raise AssertionError(f"Prometheus never scraped the exporter:\n{tail(cls.logs['prometheus'])}")

    @classmethod
    def api(cls, path, **params):
        url = f"{cls.prom_url}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        body = http_get_json(url)
        if body.get("status") != "success":
            raise AssertionError(f"{url}: {body}")
        return body["data"]

    @classmethod
    def query_instant(cls, expr):
        return cls.api("query", query=expr)["result"]

    def diagnostics(self):
        lines = []
        for expr in (f'instance_device:diskidle_disk_utilization:ratio_rate5m{{device=~"{self.flush_dev}|{self.writer_dev}"}}',
                     f'instance_device:diskidle_disk_written_bytes:rate5m{{device=~"{self.flush_dev}|{self.writer_dev}"}}',
                     f'instance_device:diskidle_disk_write_flush_requests:rate5m{{device=~"{self.flush_dev}|{self.writer_dev}"}}',
                     f'instance_device:diskidle_bio_zero_byte_top_process:rate5m{{device="{self.flush_dev}"}}',
                     f'instance_device_comm_pid_syscall:diskidle_process_zero_byte_bios:rate5m{{device="{self.flush_dev}"}}',
                     'ALERTS'):
            try:
                lines.append(f"{expr} = {[(r['metric'], r['value'][1]) for r in self.query_instant(expr)]}")
            except Exception as e:  # diagnostics only
                lines.append(f"{expr}: {e}")
        lines.append(f"webhook: {self.webhook.alerts()}")
        for name, path in self.logs.items():
            lines.append(f"--- {name} log ---\n{tail(path, 15)}")
        return "\n".join(lines)

    def test_1_fsync_loop_pages_with_device_and_culprit(self):
        got = self.webhook.wait_for(
            lambda path, a: a["status"] == "firing"
            and a["labels"].get("alertname") == "DiskBusyWithoutThroughput"
            and a["labels"].get("device") == self.flush_dev,
            timeout=ALERT_TIMEOUT)
        self.assertIsNotNone(got, "no DiskBusyWithoutThroughput notification for "
                             f"{self.flush_dev} within {ALERT_TIMEOUT}s\n{self.diagnostics()}")
        path, alert = got
        print(f"\nDiskBusyWithoutThroughput reached {path} after {time.time() - self.start:.0f}s: "
              f"{alert['labels']} culprit={alert['annotations'].get('culprit_comm')}/"
              f"{alert['annotations'].get('culprit_pid')}/{alert['annotations'].get('culprit_syscall')}")
        severity = alert["labels"]["severity"]
        self.assertEqual(path, "/" + self.receiver_for[severity],
                         f"severity {severity} routed to the wrong receiver")
        self.assertEqual(alert["labels"]["instance"], self.instance)
        annotations = alert["annotations"]
        self.assertEqual(annotations.get("culprit_comm"), CULPRIT_COMM, annotations)
        self.assertEqual(annotations.get("culprit_pid"), str(self.fsync_loop.pid), annotations)
        self.assertEqual(annotations.get("culprit_syscall"), "fsync", annotations)
        self.assertIn(f"comm={CULPRIT_COMM}", annotations["description"])
        self.assertIn(self.flush_dev, annotations["description"])
        self.assertTrue(annotations["runbook_url"].endswith("/DiskBusyWithoutThroughput.md"))

        # The per-process alert fires for the same culprit (its notification may
        # be inhibited by a critical DiskBusyWithoutThroughput, so ask Prometheus).
        deadline = time.time() + FOR_SECONDS + 30
        storm = []
        while time.time() < deadline and not storm:
            storm = self.query_instant(
                f'ALERTS{{alertname="ProcessFlushStorm",alertstate="firing",'
                f'device="{self.flush_dev}",comm="{CULPRIT_COMM}"}}')
            time.sleep(1)
        self.assertTrue(storm, f"ProcessFlushStorm did not fire\n{self.diagnostics()}")

    def test_2_every_dashboard_query_returns_data(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            dash = json.load(f)
        values = {
            # All clusters: this Prometheus adds no cluster label, and .* also
            # matches series without one.
            "cluster": ".*",
            "job": "diskidle", "instance": self.instance,
            "device": f"{self.flush_dev}|{self.writer_dev}",
            "__rate_interval": RATE_INTERVAL, "__interval": "5s", "__range": "5m",
        }

        def substitute(expr):
            out = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                         lambda m: values.get(m.group(1) or m.group(2), m.group(0)), expr)
            self.assertNotIn("$", out, f"unsubstituted variable in {expr}")
            return out

        # Variables resolve to what this Prometheus has.
        for var in dash["templating"]["list"]:
            if var["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["query"]["query"], re.S)
            data = self.api("series", **{"match[]": substitute(m.group(1)),
                                         "start": str(self.start - 60)})
            got = {s.get(m.group(2)) for s in data}
            # No series has a cluster label here: label_values() finds none.
            want = {"cluster": None, "job": "diskidle", "instance": self.instance,
                    "device": self.flush_dev}[var["name"]]
            with self.subTest(variable=var["name"]):
                self.assertIn(want, got)

        panels = [p for p in dash["panels"] if p["type"] != "row"]
        for row in dash["panels"]:
            panels += [p for p in row.get("panels", [])]
        checked = 0
        now = time.time()
        for panel in panels:
            for target in panel.get("targets", []):
                expr = substitute(target["expr"])
                with self.subTest(panel=panel["title"], ref=target["refId"]):
                    if target.get("instant"):
                        result = self.api("query", query=expr)["result"]
                        values_seen = [r["value"][1] for r in result]
                    else:
                        result = self.api("query_range", query=expr, start=f"{self.start:.3f}",
                                          end=f"{now:.3f}", step="2")["result"]
                        values_seen = [v for r in result for _, v in r["values"]]
                    finite = [v for v in values_seen if math.isfinite(float(v))]
                    self.assertTrue(finite, f"panel '{panel['title']}' query returned no data:\n{expr}")
                checked += 1
        self.assertGreaterEqual(checked, len(panels))

    def test_3_healthy_heavy_writer_does_not_fire(self):
        # Give the writer at least as long as the fsync disk needed to fire,
        # plus the `for`, before judging it.
        self.assertIsNone(self.writer.poll(), f"fio exited early:\n{tail(self.logs['fio'])}")
        min_runtime = 60 + FOR_SECONDS
        if time.time() - self.start < min_runtime:
            time.sleep(min_runtime - (time.time() - self.start))
        written = self.query_instant(
            f'instance_device:diskidle_disk_written_bytes:rate5m{{device="{self.writer_dev}"}}')
        self.assertTrue(written and float(written[0]["value"][1]) > 10 * 1048576,
                        f"the writer is not writing heavily, the check below would prove nothing\n"
                        f"{self.diagnostics()}")
        busy = self.query_instant(
            f'instance_device:diskidle_disk_utilization:ratio_rate5m{{device="{self.writer_dev}"}}')
        self.assertTrue(busy and float(busy[0]["value"][1]) >= 0.3,
                        f"the writer's disk is not busy, the check below would prove nothing\n"
                        f"{self.diagnostics()}")
        window = int(time.time() - self.start) + 10
        ever = self.query_instant(
            f'max_over_time(ALERTS{{alertname="DiskBusyWithoutThroughput",'
            f'device="{self.writer_dev}"}}[{window}s])')
        self.assertEqual(ever, [], "DiskBusyWithoutThroughput was active for the writer's disk")
        self.assertFalse([a for _, a in self.webhook.alerts()
                          if a["labels"].get("device") == self.writer_dev
                          and a["labels"].get("alertname") == "DiskBusyWithoutThroughput"])


if __name__ == "__main__":
    unittest.main()

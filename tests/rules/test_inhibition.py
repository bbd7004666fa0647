#!/usr/bin/env python3
"""The shipped Alertmanager example's inhibition, run for real: a real
Alertmanager (Debian `prometheus-alertmanager`) loads
deploy/alertmanager/alertmanager.yml on 127.0.0.1, alerts are posted through
its v2 API the way Prometheus posts them, and `/api/v2/alerts` must show which
ones are inhibited and by which source.

What the config promises (its comments, docs/alerts.md): the critical
DiskBusyWithoutThroughput on a disk silences the disk warnings
(DiskBusyWithoutThroughput, ProcessFlushStorm) of the same instance and device,
and nothing else: not another device, not another host, not a health alert
(which carries no device label), not another rule set's alert on the same disk.
And another rule set's critical alerts (with or without a device label)
silence none of this exporter's alerts.

  python3 -m unittest -v test_inhibition        (from tests/rules/)
"""

import datetime
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

SOURCE_DIR = os.environ.get(
    "DISKIDLE_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
ALERTMANAGER_YML = os.path.join(SOURCE_DIR, "deploy", "alertmanager", "alertmanager.yml")

# The alerts of deploy/prometheus/diskidle-rules.yml, labelled as the rules label them.
INSTANCE = "node-a:9436"
SOURCE = {"alertname": "DiskBusyWithoutThroughput", "severity": "critical",
          "instance": INSTANCE, "device": "sda", "job": "diskidle"}
SAME_DISK_WARNINGS = [
    {"alertname": "DiskBusyWithoutThroughput", "severity": "warning",
     "instance": INSTANCE, "device": "sda", "job": "diskidle"},
    {"alertname": "ProcessFlushStorm", "severity": "warning", "instance": INSTANCE,
     "device": "sda", "job": "diskidle", "culprit_comm": "postgres"},
]
# Critical alerts of other rule sets (node-exporter / kubernetes mixins) on the
# same instance: one without a device label, one on the same disk. Neither may
# inhibit anything of ours.
FOREIGN_CRITICALS = [
    {"alertname": "KubeNodeNotReady", "severity": "critical", "instance": INSTANCE,
     "job": "kube-state-metrics"},
    {"alertname": "NodeDiskIOSaturation", "severity": "critical", "instance": INSTANCE,
     "device": "sda", "job": "node-exporter"},
]
NOT_INHIBITED = {
    "another device": {"alertname": "ProcessFlushStorm", "severity": "warning",
                       "instance": INSTANCE, "device": "sdb", "job": "diskidle"},
    "another instance": {"alertname": "ProcessFlushStorm", "severity": "warning",
                         "instance": "node-b:9436", "device": "sda", "job": "diskidle"},
    "health alert without device": {"alertname": "DiskidleCollectorFailing",
                                    "severity": "warning", "instance": INSTANCE,
                                    "job": "diskidle", "collector": "bio"},
    "exporter down": {"alertname": "DiskidleExporterDown", "severity": "warning",
                      "instance": INSTANCE, "job": "diskidle"},
    "dropped events": {"alertname": "DiskidleBPFEventsDropped", "severity": "warning",
                       "instance": INSTANCE, "job": "diskidle", "reason": "recursion"},
    "another rule set's warning on the same disk": {
        "alertname": "NodeFilesystemSpaceFillingUp", "severity": "warning",
        "instance": INSTANCE, "device": "sda", "job": "node-exporter"},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


class AlertmanagerInhibitionTest(unittest.TestCase):
    def setUp(self):
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            self.fail("prometheus-alertmanager not found: install the Debian package "
                      "'prometheus-alertmanager' (scripts/install-deps.sh does)")
        self.dir = tempfile.mkdtemp(prefix="diskidle-alertmanager-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.log = open(os.path.join(self.dir, "alertmanager.log"), "w+")
        self.addCleanup(self.log.close)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, f"--config.file={ALERTMANAGER_YML}",
             f"--storage.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=",  # no gossip port: a single, private instance
             "--log.level=debug"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop)
        self.wait_ready()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("alertmanager ignored SIGTERM for 10 s; killed")
            if self.proc.returncode != 0:
                raise AssertionError(f"alertmanager exited with {self.proc.returncode} on "
                                     f"SIGTERM:\n{self.read_log()}")

    def read_log(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.fail(f"alertmanager exited with {self.proc.returncode}:\n{self.read_log()}")
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                self.fail(f"alertmanager not ready after {timeout}s:\n{self.read_log()}")
            time.sleep(0.1)

    def post_alerts(self, label_sets):
        now = time.time()
        body = json.dumps([{"labels": labels, "startsAt": rfc3339(now - 60),
                            "endsAt": rfc3339(now + 3600),
                            "annotations": {"summary": "test"}} for labels in label_sets])
        request = urllib.request.Request(self.url("/api/v2/alerts"), data=body.encode(),
                                         headers={"Content-Type": "application/json"},
                                         method="POST")
        with urllib.request.urlopen(request, timeout=10) as r:
            self.assertEqual(r.status, 200)

    def alerts(self):
        with urllib.request.urlopen(self.url("/api/v2/alerts"), timeout=10) as r:
            return json.loads(r.read())

    def status_by_labels(self, label_sets):
        """{index in label_sets: alert status} for the posted alerts Alertmanager lists."""
        found = {}
        for alert in self.alerts():
            for i, labels in enumerate(label_sets):
                if alert["labels"] == labels:
                    found[i] = alert
        return found

    def test_critical_disk_alert_inhibits_only_warnings_of_the_same_disk(self):
        targets = SAME_DISK_WARNINGS + list(NOT_INHIBITED.values())
        everything = [SOURCE] + targets + FOREIGN_CRITICALS
        self.post_alerts(everything)
        # The inhibitor learns the source alert asynchronously (it subscribes to the
        # alert store); poll until it has, bounded well above what it takes here.
        deadline = time.monotonic() + 30
        while True:
            found = self.status_by_labels(everything)
            if (len(found) == len(everything)
                    and all(found[i + 1]["status"]["inhibitedBy"]
                            for i in range(len(SAME_DISK_WARNINGS)))):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(len(found), len(everything),
                         f"Alertmanager lists {len(found)} of the {len(everything)} posted alerts: "
                         f"{self.alerts()}")
        source = found[0]
        source_fingerprint = source["fingerprint"]
        self.assertEqual(source["status"]["inhibitedBy"], [], "the source is never inhibited")
        self.assertEqual(source["status"]["state"], "active")
        for i, labels in enumerate(SAME_DISK_WARNINGS, start=1):
            with self.subTest(inhibited=labels["alertname"]):
                status = found[i]["status"]
                self.assertEqual(status["inhibitedBy"], [source_fingerprint],
                                 f"{labels} must be inhibited by the critical alert on the "
                                 f"same instance and device")
                self.assertEqual(status["state"], "suppressed")
        for offset, (case, labels) in enumerate(NOT_INHIBITED.items(),
                                                 start=1 + len(SAME_DISK_WARNINGS)):
            with self.subTest(not_inhibited=case):
                status = found[offset]["status"]
                self.assertEqual(status["inhibitedBy"], [], f"{case}: {labels} must stay active")
                self.assertEqual(status["state"], "active", f"{case}: {labels}")
        for offset, labels in enumerate(FOREIGN_CRITICALS, start=1 + len(targets)):
            with self.subTest(foreign=labels["alertname"]):
                self.assertEqual(found[offset]["status"]["state"], "active")

    def test_foreign_critical_alerts_alone_inhibit_nothing(self):
        """Without our critical alert, the other rule sets' critical alerts on the
        same instance (with and without a device) leave every warning active;
        the old severity-only rule muted the device-less health alerts here."""
        targets = SAME_DISK_WARNINGS + list(NOT_INHIBITED.values())
        # A control on another host: our critical alert and the warning it must
        # inhibit, posted after the rest. Once Alertmanager shows the control
        # inhibited, its inhibitor has taken in the whole batch (it reads the
        # alert store in order), so an absent inhibition below is real.
        control_source = dict(SOURCE, instance="node-control:9436")
        control_target = dict(SAME_DISK_WARNINGS[0], instance="node-control:9436")
        everything = targets + FOREIGN_CRITICALS + [control_source, control_target]
        self.post_alerts(everything)
        deadline = time.monotonic() + 30
        while True:
            found = self.status_by_labels(everything)
            if (len(found) == len(everything)
                    and found[len(everything) - 1]["status"]["inhibitedBy"]):
                break
            if time.monotonic() > deadline:
                self.fail(f"the control alert was never inhibited: {self.alerts()}")
            time.sleep(0.2)
        for i, labels in enumerate(targets):
            with self.subTest(alert=labels["alertname"], device=labels.get("device")):
                self.assertEqual(found[i]["status"]["inhibitedBy"], [],
                                 f"{labels} muted by another rule set's critical alert")


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/env python3
"""Offline checks of the shipped Prometheus rules and Alertmanager example.

Runs the real promtool / amtool (Debian packages `prometheus` and
`prometheus-alertmanager`); a missing binary is a failure, not a skip.

  python3 -m unittest -v test_rules              (from tests/rules/)
  python3 -m unittest -v test_rules.PromtoolTest (one class)
"""

import os
import re
import shlex
import shutil
import subprocess
import unittest

import yaml

SOURCE_DIR = os.environ.get(
    "DISKIDLE_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
RULES = os.path.join(SOURCE_DIR, "deploy", "prometheus", "diskidle-rules.yml")
RULE_TESTS = os.path.join(SOURCE_DIR, "deploy", "prometheus", "tests",
                          "diskidle-rules.test.yml")
PROMETHEUS_YML = os.path.join(SOURCE_DIR, "deploy", "prometheus", "prometheus.yml")
ALERTMANAGER_YML = os.path.join(SOURCE_DIR, "deploy", "alertmanager", "alertmanager.yml")
ROUTE_CASES = os.path.join(SOURCE_DIR, "deploy", "alertmanager", "tests", "routes.txt")
RUNBOOK_DIR = os.path.join(SOURCE_DIR, "docs", "runbooks")
ALERTS_DOC = os.path.join(SOURCE_DIR, "docs", "alerts.md")
RUNBOOK_URL_PREFIX = "https://github.com/diskidle/diskidle_exporter/blob/main/docs/runbooks/"


def require_binary(name, package):
    path = shutil.which(name)
    if path is None:
        raise AssertionError(
            f"{name} not found in PATH: install the Debian package '{package}' "
            "(scripts/install-deps.sh does); these checks cannot run without it")
    return path


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def load_rules():
    with open(RULES, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    rules = [r for g in doc["groups"] for r in g["rules"]]
    return [r for r in rules if "alert" in r], [r for r in rules if "record" in r]


def load_route_cases():
    cases = []
    with open(ROUTE_CASES, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = shlex.split(line)
            labels = dict(field.split("=", 1) for field in fields[1:])
            cases.append((lineno, fields[0], fields[1:], labels))
    return cases


class PromtoolTest(unittest.TestCase):
    def setUp(self):
        self.promtool = require_binary("promtool", "prometheus")

    def test_check_rules_is_clean(self):
        rc, out = run([self.promtool, "check", "rules", RULES])
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS", out)
        self.assertNotIn("WARNING", out)

    def test_rule_unit_tests_pass(self):
        rc, out = run([self.promtool, "test", "rules", RULE_TESTS])
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS", out)

    def test_example_prometheus_config_is_valid(self):
        # check config also checks the rule files it references.
        rc, out = run([self.promtool, "check", "config", PROMETHEUS_YML])
        self.assertEqual(rc, 0, out)


class AmtoolTest(unittest.TestCase):
    def setUp(self):
        self.amtool = require_binary("amtool", "prometheus-alertmanager")

    def test_check_config_is_clean(self):
        rc, out = run([self.amtool, "check-config", ALERTMANAGER_YML])
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS", out)

    def test_routes(self):
        cases = load_route_cases()
        self.assertGreater(len(cases), 0)
        for lineno, expected, label_args, _ in cases:
            with self.subTest(line=lineno, labels=" ".join(label_args)):
                rc, out = run([self.amtool, "config", "routes", "test",
                               "--config.file=" + ALERTMANAGER_YML,
                               "--verify.receivers=" + expected] + label_args)
                self.assertEqual(rc, 0, f"{ROUTE_CASES}:{lineno}: expected {expected}, got: {out}")

    def test_every_alert_and_severity_has_a_route_case(self):
        alerts, _ = load_rules()
        covered = {(labels.get("alertname"), labels.get("severity"))
                   for _, _, _, labels in load_route_cases()}
        for rule in alerts:
            pair = (rule["alert"], rule["labels"]["severity"])
            self.assertIn(pair, covered, f"no routing case in {ROUTE_CASES} for {pair}")

    def test_grouping_and_inhibition(self):
        with open(ALERTMANAGER_YML, encoding="utf-8") as f:
            config = yaml.safe_load(f)
        self.assertEqual(set(config["route"]["group_by"]), {"alertname", "instance", "device"})
        inhibit = config["inhibit_rules"]
        self.assertIn({"source_matchers": ['alertname="DiskBusyWithoutThroughput"',
                                           'severity="critical"'],
                       "target_matchers": ['alertname=~"DiskBusyWithoutThroughput|ProcessFlushStorm"',
                                           'severity="warning"'],
                       "equal": ["instance", "device"]}, inhibit)
        # Every inhibition names its alerts on both sides: a label missing on
        # both sides counts as equal, so severity alone would let any foreign
        # critical alert mute device-less warnings (test_inhibition.py runs it).
        for rule in inhibit:
            for side in ("source_matchers", "target_matchers"):
                self.assertTrue(any(m.startswith("alertname") for m in rule[side]),
                                f"inhibit rule {rule}: {side} must match on alertname")


class RulesContentTest(unittest.TestCase):
    """What operators rely on: annotations, runbooks, names, documentation."""

    def test_every_alert_has_severity_annotations_and_runbook(self):
        alerts, _ = load_rules()
        names = {r["alert"] for r in alerts}
        self.assertTrue({"DiskBusyWithoutThroughput", "ProcessFlushStorm", "DiskidleExporterDown",
                         "DiskidleCollectorFailing", "DiskidleBPFEventsDropped"} <= names, names)
        for rule in alerts:
            with self.subTest(alert=rule["alert"], severity=rule["labels"].get("severity")):
                self.assertIn(rule["labels"].get("severity"), {"critical", "warning", "info"})
                ann = rule["annotations"]
                for key in ("summary", "description", "runbook_url"):
                    self.assertTrue(ann.get(key), f"missing annotation {key}")
                self.assertIn("$labels.instance", ann["description"])
                self.assertIn("$value", ann["description"])
                if "device" in rule["expr"] or "instance_device" in rule["expr"]:
                    self.assertIn("$labels.device", ann["description"])
                self.assertEqual(ann["runbook_url"], RUNBOOK_URL_PREFIX + rule["alert"] + ".md")
                runbook = os.path.join(RUNBOOK_DIR, rule["alert"] + ".md")
                self.assertTrue(os.path.isfile(runbook), f"missing runbook {runbook}")

    def test_disk_alerts_name_the_culprit(self):
        alerts, _ = load_rules()
        for rule in alerts:
            if rule["alert"] in ("DiskBusyWithoutThroughput", "ProcessFlushStorm"):
                for key in ("culprit_comm", "culprit_pid", "culprit_syscall"):
                    self.assertIn(key, rule["annotations"], rule["alert"])

    def test_every_runbook_belongs_to_an_alert(self):
        alerts, _ = load_rules()
        names = {r["alert"] for r in alerts}
        for entry in os.listdir(RUNBOOK_DIR):
            if entry.endswith(".md") and entry != "README.md":
                self.assertIn(entry[:-3], names, f"orphan runbook {entry}")

    def test_recording_rules_follow_level_metric_operations(self):
        _, records = load_rules()
        self.assertGreater(len(records), 0)
        for rule in records:
            self.assertRegex(rule["record"], r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")

    def test_every_alert_fires_in_a_unit_test(self):
        with open(RULE_TESTS, encoding="utf-8") as f:
            tests = yaml.safe_load(f)["tests"]
        fired = {(case["alertname"], alert["exp_labels"].get("severity"))
                 for test in tests for case in test.get("alert_rule_test", [])
                 for alert in case.get("exp_alerts") or []}
        alerts, _ = load_rules()
        for rule in alerts:
            pair = (rule["alert"], rule["labels"]["severity"])
            self.assertIn(pair, fired, f"no promtool unit test where {pair} fires")

    def test_rules_read_the_issue_9_series_shape(self):
        # The complete view has no pid label (summing by pid gives one empty
        # series); pids come from the per-process counters; the folded metric
        # is gone.
        alerts, records = load_rules()
        for rule in alerts + records:
            name = rule.get("alert") or rule.get("record")
            expr = rule["expr"]
            with self.subTest(rule=name):
                self.assertNotIn("diskidle_bio_folded_processes_total", expr)
                self.assertNotIn('pid=""', expr)
                for by in re.findall(r"by \(([^)]*)\)\s*\(\s*rate\(diskidle_bio_size_bytes_\w+", expr):
                    self.assertNotIn("pid", by.split(", "), expr)

    def test_every_join_is_on_the_disk_or_host_labels_with_cluster(self):
        # Joins on per-target-free labels only, cluster included, so that a
        # pod restart (or two clusters with the same instance names) never
        # matches two series per group.
        alerts, records = load_rules()
        for rule in alerts + records:
            for on in re.findall(r"\bon \(([^)]*)\)", rule["expr"]):
                labels = on.split(", ")
                with self.subTest(rule=rule.get("alert") or rule.get("record"), on=on):
                    self.assertEqual(labels[:3], ["cluster", "instance", "job"])
                    self.assertFalse({"pod", "namespace", "container", "endpoint", "service"} & set(labels))

    def test_raw_selectors_use_the_job_selector(self):
        alerts, records = load_rules()
        for rule in alerts + records:
            # Raw metric names (recorded names hold ':'), with or without {...}.
            for metric, matchers in re.findall(r"(?<![:\w])(diskidle_[a-z_]+|up)(?![:\w])(\{[^}]*\})?", rule["expr"]):
                with self.subTest(rule=rule.get("alert") or rule.get("record"), metric=metric):
                    self.assertIn('job="diskidle"', matchers)

    def test_alerts_doc_covers_every_rule(self):
        with open(ALERTS_DOC, encoding="utf-8") as f:
            doc = f.read()
        alerts, records = load_rules()
        for name in {r["alert"] for r in alerts} | {r["record"] for r in records}:
            self.assertIn(name, doc, f"{ALERTS_DOC} does not mention {name}")


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/env python3
"""Generates the Kubernetes components that carry the rules and the dashboard:

  deploy/kubernetes/components/prometheus-rule/prometheusrule.yaml
      <- deploy/prometheus/diskidle-rules.yml (a PrometheusRule)
  deploy/kubernetes/components/grafana-dashboard/configmap.yaml
      <- dashboards/diskidle.json (a ConfigMap for Grafana's dashboard sidecar)

The sources are embedded as text, byte for byte (comments included), so the
cluster runs exactly the rules that promtool tests and the dashboard that the
dashboard checks read.

  scripts/generate_kubernetes_components.py           write the files
  scripts/generate_kubernetes_components.py --check   exit 1 if a file is stale
"""
import argparse
import os
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RULES = "deploy/prometheus/diskidle-rules.yml"
DASHBOARD = "dashboards/diskidle.json"
RULE_OUT = "deploy/kubernetes/components/prometheus-rule/prometheusrule.yaml"
DASHBOARD_OUT = "deploy/kubernetes/components/grafana-dashboard/configmap.yaml"
REGENERATE = "scripts/generate_kubernetes_components.py"


def read(relative):
    with open(os.path.join(ROOT, relative), encoding="utf-8") as f:
        return f.read()


def indent(text, spaces):
    pad = " " * spaces
    return "".join(pad + line if line.strip() else "\n" if line.endswith("\n") else line
                   for line in text.splitlines(keepends=True))


def prometheus_rule():
    rules = read(RULES)
    if not rules.endswith("\n"):
        rules += "\n"
    # The rules file's top level is `groups:`, which is exactly the
    # PrometheusRule's spec: indent it under `spec:`.
    return f"""# GENERATED from {RULES} by {REGENERATE}; do not edit.
# The `release` label matches kube-prometheus-stack's default ruleSelector for a
# Helm release named kube-prometheus-stack (see components/servicemonitor).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: diskidle
  namespace: diskidle
  labels:
    app.kubernetes.io/name: diskidle-exporter
    release: kube-prometheus-stack
spec:
{indent(rules, 2)}"""


def dashboard_configmap():
    dashboard = read(DASHBOARD)
    if not dashboard.endswith("\n"):
        dashboard += "\n"
    return f"""# GENERATED from {DASHBOARD} by {REGENERATE}; do not edit.
# Grafana's dashboard sidecar (kube-prometheus-stack: grafana.sidecar.dashboards)
# loads ConfigMaps labelled grafana_dashboard: "1". By default it watches only
# Grafana's own namespace: set grafana.sidecar.dashboards.searchNamespace=ALL
# (or move this ConfigMap there in your overlay).
apiVersion: v1
kind: ConfigMap
metadata:
  name: diskidle-dashboard
  namespace: diskidle
  labels:
    app.kubernetes.io/name: diskidle-exporter
    grafana_dashboard: "1"
data:
  diskidle.json: |
{indent(dashboard, 4)}"""


def outputs():
    rule, dashboard = prometheus_rule(), dashboard_configmap()
    # The embedding must round-trip: what a YAML parser reads back is the source.
    parsed = yaml.safe_load(rule)
    assert parsed["spec"] == yaml.safe_load(read(RULES)), "PrometheusRule spec != rules file"
    assert yaml.safe_load(dashboard)["data"]["diskidle.json"].rstrip("\n") == \
        read(DASHBOARD).rstrip("\n"), "ConfigMap data != dashboard file"
    return {RULE_OUT: rule, DASHBOARD_OUT: dashboard}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = parser.parse_args()
    stale = []
    for relative, text in outputs().items():
        path = os.path.join(ROOT, relative)
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current == text:
            continue
        if args.check:
            stale.append(relative)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {relative}")
    if stale:
        print(f"stale: {', '.join(stale)}; run {REGENERATE} and commit the result",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Generates the Grafana dashboards in this directory.

  python3 dashboards/generate.py          # rewrite the JSON files
  python3 dashboards/generate.py --check  # exit 1 if they are out of date

diskidle.json         provisioning variant: a `datasource` variable, no __inputs.
diskidle-import.json  the same dashboard for Dashboards > Import: adds __inputs /
                      __requires so Grafana asks for the Prometheus data source.

Every query uses $__rate_interval in its range functions; the thresholds drawn
on the "busy without throughput" panels mirror the DiskBusyWithoutThroughput
alert (deploy/prometheus/diskidle-rules.yml, docs/alerts.md).
"""

import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
UID = "diskidle-overview"
DS = {"type": "prometheus", "uid": "${datasource}"}

# Label selectors shared by all queries.
DISK = 'job=~"$job", instance=~"$instance", device=~"$device"'
HOST = 'job=~"$job", instance=~"$instance"'
RI = "$__rate_interval"

BUSY_THRESHOLD = 0.3          # DiskBusyWithoutThroughput (warning)
NEAR_ZERO_BYTES = 1048576     # 1 MiB/s read + written
BYTES_PER_REQUEST = 1024


def target(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend,
         "range": not instant, "instant": instant, "format": fmt}
    if fmt == "heatmap":
        t["interval"] = ""
    return t


class Layout:
    def __init__(self):
        self.panels = []
        self.y = 0
        self.x = 0
        self.row_h = 0
        self.next_id = 1

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def row(self, title):
        self._newline()
        self.panels.append({"type": "row", "id": self._id(), "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def _newline(self):
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["datasource"] = DS
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)
        if self.x >= 24:
            self._newline()


def timeseries(title, description, unit, targets, stack=False, thresholds=None,
               minimum=0, maximum=None):
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
              "spanNulls": False,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    defaults = {"unit": unit, "min": minimum, "custom": custom}
    if maximum is not None:
        defaults["max"] = maximum
    if thresholds:
        custom["thresholdsStyle"] = {"mode": "line+area"}
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
    return {"type": "timeseries", "title": title, "description": description,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "right",
                                   "calcs": ["mean", "max", "lastNotNull"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}},
            "targets": targets}


def build():
    L = Layout()

    # --- 1. Correlation: the three iostat columns on one time axis ------------------
    L.row("Correlation: busy time vs. bytes written vs. write+flush requests")
    L.add(timeseries(
        "Disk utilization (busy time)",
        "Fraction of wall time the disk had at least one request in flight: "
        "rate(diskidle_disk_io_time_seconds_total), the same number as iostat %util. "
        "High utilization alone does not mean the disk is doing useful work; compare "
        "with the two panels below on the same time axis.",
        "percentunit",
        [target(f"clamp_max(rate(diskidle_disk_io_time_seconds_total{{{DISK}}}[{RI}]), 1)",
                "{{instance}} {{device}}")],
        maximum=1,
        thresholds=[{"color": "transparent", "value": None},
                    {"color": "orange", "value": BUSY_THRESHOLD}]), 24, 7)
    L.add(timeseries(
        "Bytes written/s",
        "Bytes written to the disk per second, from /proc/diskstats sectors written "
        "(diskidle_disk_written_bytes_total). A busy disk with this near zero is the "
        "busy-without-throughput pattern.",
        "binBps",
        [target(f"rate(diskidle_disk_written_bytes_total{{{DISK}}}[{RI}])",
                "{{instance}} {{device}}")]), 24, 7)
    L.add(timeseries(
        "Write + flush requests/s",
        "Write requests and cache-flush requests completed per second "
        "(diskidle_disk_writes_completed_total, diskidle_disk_flush_requests_total). "
        "Flushes carry no data, but the disk must finish them before acknowledging "
        "later writes.",
        "iops",
        [target(f"rate(diskidle_disk_writes_completed_total{{{DISK}}}[{RI}])",
                "{{instance}} {{device}} writes", "A"),
         target(f"rate(diskidle_disk_flush_requests_total{{{DISK}}}[{RI}])",
                "{{instance}} {{device}} flushes", "B")]), 24, 7)

    # --- 2. Busy without throughput ---------------------------------------------------
    L.row("Busy without throughput")
    L.add(timeseries(
        "Busy while transferring < 1 MiB/s",
        "Utilization of disks that read plus write less than 1 MiB/s at the same time; "
        "empty when every busy disk is moving data. Above the orange line "
        f"({BUSY_THRESHOLD:.0%}) for 10 minutes, with write/flush requests still "
        "arriving, the DiskBusyWithoutThroughput alert fires (docs/alerts.md).",
        "percentunit",
        [target(f"clamp_max(rate(diskidle_disk_io_time_seconds_total{{{DISK}}}[{RI}]), 1)\n"
                f"and on (instance, job, device)\n"
                f"(\n  rate(diskidle_disk_written_bytes_total{{{DISK}}}[{RI}])\n"
                f"  + on (instance, job, device)\n"
                f"  rate(diskidle_disk_read_bytes_total{{{DISK}}}[{RI}])\n"
                f") < {NEAR_ZERO_BYTES}",
                "{{instance}} {{device}}")],
        maximum=1,
        thresholds=[{"color": "transparent", "value": None},
                    {"color": "orange", "value": BUSY_THRESHOLD}]), 12, 8)
    L.add(timeseries(
        "Bytes per write/flush request",
        "Average bytes carried by one write or flush request (flushes count as zero "
        "bytes), like iostat wareq-sz. Near 0 B means the disk is asked to write but "
        f"given nothing to write; the alert requires < {BYTES_PER_REQUEST} B.",
        "bytes",
        [target(f"rate(diskidle_disk_written_bytes_total{{{DISK}}}[{RI}])\n"
                f"/ on (instance, job, device)\n"
                f"(\n  rate(diskidle_disk_writes_completed_total{{{DISK}}}[{RI}])\n"
                f"  + on (instance, job, device)\n"
                f"  rate(diskidle_disk_flush_requests_total{{{DISK}}}[{RI}])\n"
                f") > 0",
                "{{instance}} {{device}}")],
        thresholds=[{"color": "orange", "value": None},
                    {"color": "transparent", "value": BYTES_PER_REQUEST}]), 12, 8)

    # --- 3. Culprits ------------------------------------------------------------------
    L.row("Culprits: who sends zero-byte bios")
    table = {
        "type": "table",
        "title": "Top processes by zero-byte bios/s",
        "description": "Processes sending zero-byte block I/Os (cache flushes, e.g. from "
                       "fsync() on files with nothing to write back), with the syscall they "
                       "were in and the disk they hit; from the le=\"0\" bucket of "
                       "diskidle_bio_size_bytes. An empty pid is the aggregate of exited or "
                       "folded processes with that comm.",
        "fieldConfig": {
            "defaults": {"unit": "ops", "decimals": 2,
                         "custom": {"align": "auto", "filterable": True}},
            "overrides": [
                {"matcher": {"id": "byName", "options": "pid"},
                 "properties": [{"id": "mappings", "value": [
                     {"type": "special", "options": {"match": "empty", "result": {
                         "text": "(exited/folded)"}}}]}]},
                {"matcher": {"id": "byName", "options": "zero-byte bios/s"},
                 "properties": [{"id": "custom.displayMode", "value": "gradient-gauge"}]}]},
        "options": {"showHeader": True,
                    "sortBy": [{"displayName": "zero-byte bios/s", "desc": True}]},
        "transformations": [{"id": "organize", "options": {
            "excludeByName": {"Time": True},
            "indexByName": {"comm": 0, "pid": 1, "syscall": 2, "device": 3, "instance": 4,
                            "Value": 5},
            "renameByName": {"Value": "zero-byte bios/s"}}}],
        "targets": [target(
            f"topk(25,\n  sum by (instance, device, comm, pid, syscall) (\n"
            f"    rate(diskidle_bio_size_bytes_bucket{{{DISK}, le=\"0\"}}[{RI}])\n  ) > 0\n)",
            "", instant=True, fmt="table")],
    }
    L.add(table, 24, 8)
    L.add(timeseries(
        "Zero-byte bios/s by process",
        "Zero-byte block I/Os per second for the 10 busiest senders, by disk, process "
        "and syscall. A flat line at tens or hundreds per second is a flush loop.",
        "ops",
        [target(f"topk(10,\n  sum by (instance, device, comm, pid, syscall) (\n"
                f"    rate(diskidle_bio_size_bytes_bucket{{{DISK}, le=\"0\"}}[{RI}])\n  )\n)",
                "{{device}} {{comm}} [{{pid}}] {{syscall}}")]), 12, 8)
    L.add(timeseries(
        "Block I/O bytes/s by process",
        "Bytes submitted per second by the 10 biggest processes (all ops), from "
        "diskidle_bio_size_bytes_sum. A process high on the left panel and absent here "
        "flushes without writing.",
        "binBps",
        [target(f"topk(10,\n  sum by (instance, device, comm, pid) (\n"
                f"    rate(diskidle_bio_size_bytes_sum{{{DISK}}}[{RI}])\n  )\n)",
                "{{device}} {{comm}} [{{pid}}]")]), 12, 8)

    # --- 4. Bio size heatmap ----------------------------------------------------------
    L.row("Block I/O sizes")
    L.add({
        "type": "heatmap",
        "title": "Bio size distribution",
        "description": "Block I/Os per second by size bucket (diskidle_bio_size_bytes "
                       "histogram, all selected disks and processes). The bottom bucket "
                       "(le=0) holds zero-byte bios: cache flushes.",
        "fieldConfig": {"defaults": {"unit": "ops", "custom": {
            "scaleDistribution": {"type": "linear"},
            "hideFrom": {"legend": False, "tooltip": False, "viz": False}}},
            "overrides": []},
        "options": {"calculate": False, "cellGap": 1, "color": {
            "mode": "scheme", "scheme": "Oranges", "steps": 64, "exponent": 0.5,
            "fill": "dark-orange", "reverse": False, "scale": "exponential"},
            "yAxis": {"axisPlacement": "left", "unit": "bytes", "reverse": False},
            "rowsFrame": {"layout": "le"}, "cellValues": {"unit": "ops"},
            "tooltip": {"show": True, "yHistogram": True},
            "legend": {"show": True}, "filterValues": {"le": 1e-9}},
        "targets": [target(
            f"sum by (le) (\n  rate(diskidle_bio_size_bytes_bucket{{{DISK}}}[{RI}])\n)",
            "{{le}}", fmt="heatmap")],
    }, 24, 9)

    # --- 5. Breakdown by syscall and op ------------------------------------------------
    L.row("Breakdown by syscall and operation")
    L.add(timeseries(
        "Bios/s by syscall",
        "Block I/Os per second by the syscall the submitting task was in (fsync, "
        "fdatasync, write, ...; 'kernel' = kernel threads such as writeback).",
        "ops",
        [target(f"sum by (syscall) (\n  rate(diskidle_bio_size_bytes_count{{{DISK}}}[{RI}])\n)",
                "{{syscall}}")], stack=True), 12, 8)
    L.add(timeseries(
        "Bios/s by operation",
        "Block I/Os per second by operation: read, write, flush (zero-byte cache flush), "
        "discard, write_zeroes, other.",
        "ops",
        [target(f"sum by (op) (\n  rate(diskidle_bio_size_bytes_count{{{DISK}}}[{RI}])\n)",
                "{{op}}")], stack=True), 12, 8)
    L.add(timeseries(
        "Bytes/s by syscall",
        "Bytes submitted per second by originating syscall.",
        "binBps",
        [target(f"sum by (syscall) (\n  rate(diskidle_bio_size_bytes_sum{{{DISK}}}[{RI}])\n)",
                "{{syscall}}")], stack=True), 12, 8)
    L.add(timeseries(
        "Bytes/s by operation",
        "Bytes submitted per second by operation. Flushes always contribute 0 bytes.",
        "binBps",
        [target(f"sum by (op) (\n  rate(diskidle_bio_size_bytes_sum{{{DISK}}}[{RI}])\n)",
                "{{op}}")], stack=True), 12, 8)

    # --- 6. Exporter health -----------------------------------------------------------
    L.row("Exporter health")
    L.add({
        "type": "stat",
        "title": "Exporter targets up",
        "description": "Whether Prometheus can scrape each selected diskidle_exporter "
                       "(up). DOWN fires DiskidleExporterDown after 5 minutes.",
        "fieldConfig": {"defaults": {
            "unit": "none",
            "mappings": [{"type": "value", "options": {
                "0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}}}],
            "thresholds": {"mode": "absolute", "steps": [
                {"color": "red", "value": None}, {"color": "green", "value": 1}]}},
            "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
                    "orientation": "auto", "justifyMode": "auto"},
        "targets": [target(f"up{{{HOST}}}", "{{instance}}")],
    }, 8, 6)
    L.add(timeseries(
        "Collector success",
        "diskidle_scrape_collector_success per collector (bio, diskstats): 1 = the last "
        "scrape succeeded. 0 for 5 minutes fires DiskidleCollectorFailing.",
        "bool_yes_no",
        [target(f"diskidle_scrape_collector_success{{{HOST}}}",
                "{{instance}} {{collector}}")], maximum=1), 8, 6)
    L.add(timeseries(
        "Collector duration",
        "Time each collector took during the last scrape "
        "(diskidle_scrape_collector_duration_seconds).",
        "s",
        [target(f"diskidle_scrape_collector_duration_seconds{{{HOST}}}",
                "{{instance}} {{collector}}")]), 8, 6)
    L.add(timeseries(
        "BPF events dropped/s",
        "Block I/O events the BPF program could not count, by reason "
        "(diskidle_bpf_events_dropped_total). Non-zero means per-process counts "
        "under-report; recurring drops fire DiskidleBPFEventsDropped.",
        "ops",
        [target(f"sum by (instance, reason) (\n"
                f"  rate(diskidle_bpf_events_dropped_total{{{HOST}}}[{RI}])\n)",
                "{{instance}} {{reason}}")]), 8, 6)
    L.add(timeseries(
        "BPF map usage",
        "Entries in each BPF map as a fraction of its capacity "
        "(diskidle_bpf_map_entries / diskidle_bpf_map_capacity). Near 100% processes "
        "get folded into per-comm aggregates or events are dropped.",
        "percentunit",
        [target(f"diskidle_bpf_map_entries{{{HOST}}}\n/ on (instance, job, map)\n"
                f"diskidle_bpf_map_capacity{{{HOST}}}",
                "{{instance}} {{map}}")], maximum=1,
        thresholds=[{"color": "transparent", "value": None},
                    {"color": "orange", "value": 0.8}]), 8, 6)
    L.add(timeseries(
        "Tracked and folded processes",
        "Processes with their own pid series (diskidle_tracked_processes) and processes "
        "folded per second into their comm's pid=\"\" aggregate "
        "(rate of diskidle_bio_folded_processes_total).",
        "short",
        [target(f"diskidle_tracked_processes{{{HOST}}}", "{{instance}} tracked", "A"),
         target(f"rate(diskidle_bio_folded_processes_total{{{HOST}}}[{RI}])",
                "{{instance}} folded/s ({{reason}})", "B")]), 8, 6)
    L.add({
        "type": "table",
        "title": "Exporter build",
        "description": "Version and build of each selected exporter "
                       "(diskidle_exporter_build_info).",
        "fieldConfig": {"defaults": {"unit": "none", "custom": {"align": "auto"}},
                        "overrides": []},
        "options": {"showHeader": True},
        "transformations": [{"id": "organize", "options": {
            "excludeByName": {"Time": True, "Value": True, "__name__": True}}}],
        "targets": [target(f"diskidle_exporter_build_info{{{HOST}}}", "",
                           instant=True, fmt="table")],
    }, 24, 4)
    return L.panels


def variable(name, label, query, multi, include_all, all_value=None, current=None):
    v = {"type": "query", "name": name, "label": label, "datasource": DS,
         "definition": query, "query": {"query": query, "refId": f"{name}-values"},
         "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all,
         "hide": 0, "regex": "", "options": [],
         "current": current or ({"selected": True, "text": ["All"], "value": ["$__all"]}
                                if include_all else {})}
    if all_value:
        v["allValue"] = all_value
    return v


def dashboard():
    return {
        "id": None,
        "uid": UID,
        "title": "diskidle: busy disks and who flushes them",
        "description": "Disk utilization next to bytes written and write/flush requests, "
                       "and the processes, syscalls and bio sizes behind them "
                       "(diskidle_exporter).",
        "tags": ["diskidle", "disk", "ebpf"],
        "timezone": "",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 38,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [{"type": "link", "title": "Alerts and runbooks", "targetBlank": True,
                   "url": "https://github.com/diskidle/diskidle_exporter/blob/main/docs/alerts.md",
                   "icon": "doc", "tooltip": "", "asDropdown": False, "includeVars": False,
                   "keepTime": False, "tags": []}],
        "templating": {"list": [
            {"type": "datasource", "name": "datasource", "label": "Data source",
             "query": "prometheus", "regex": "", "hide": 0, "refresh": 1,
             "includeAll": False, "multi": False, "options": [], "current": {}},
            variable("job", "Job", "label_values(diskidle_exporter_build_info, job)",
                     False, False,
                     current={"selected": True, "text": "diskidle", "value": "diskidle"}),
            variable("instance", "Instance",
                     'label_values(diskidle_exporter_build_info{job=~"$job"}, instance)',
                     True, True, all_value=".+"),
            variable("device", "Device",
                     'label_values(diskidle_disk_info{job=~"$job", instance=~"$instance"}, device)',
                     True, True, all_value=".+"),
        ]},
        "panels": build(),
    }


def import_variant(dash):
    d = copy.deepcopy(dash)
    ds_var = d["templating"]["list"][0]
    ds_var["current"] = {"selected": True, "text": "${DS_PROMETHEUS}", "value": "${DS_PROMETHEUS}"}
    panel_types = sorted({p["type"] for p in d["panels"] if p["type"] != "row"})
    out = {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus",
                      "description": "Prometheus that scrapes diskidle_exporter",
                      "type": "datasource", "pluginId": "prometheus",
                      "pluginName": "Prometheus"}],
        "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana",
                        "version": "9.1.0"},
                       {"type": "datasource", "id": "prometheus", "name": "Prometheus",
                        "version": "1.0.0"}]
        + [{"type": "panel", "id": t, "name": t, "version": ""} for t in panel_types],
    }
    out.update(d)
    return out


def render(obj):
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def main():
    dash = dashboard()
    files = {"diskidle.json": render(dash), "diskidle-import.json": render(import_variant(dash))}
    check = "--check" in sys.argv[1:]
    stale = []
    for name, text in files.items():
        path = os.path.join(HERE, name)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(name)
            except FileNotFoundError:
                stale.append(name)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("out of date (run python3 dashboards/generate.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

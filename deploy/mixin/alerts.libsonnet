// Alerts. Thresholds and durations come from _config (config.libsonnet);
// docs/alerts.md explains them.
{
  local c = $._config,
  local disk = std.join(', ', c.diskLabels),
  local host = std.join(', ', c.hostLabels),
  local cl = c.clusterLabel,
  // Numbers as PromQL text: jsonnet prints 0.3 as 0.29999999999999999.
  local num(x) = if x == std.floor(x) then '%d' % x else '%g' % x,
  // '5m' -> '5 minutes', for descriptions.
  local words(d) =
    local n = std.substr(d, 0, std.length(d) - 1);
    local unit = { s: 'second', m: 'minute', h: 'hour', d: 'day' }[d[std.length(d) - 1]];
    '%s %s%s' % [n, unit, if n == '1' then '' else 's'],

  // A Go-template expression that builds `metric{<the alert's disk labels>}`.
  // %q quotes each value as a PromQL string (comm may hold `"` or `\`);
  // `index` yields "" when the alert has no cluster label, which matches
  // series without one.
  local diskQuery(metric, extra='', extraArgs='') =
    'printf `%s{%s=%%q,instance=%%q,job=%%q,device=%%q%s}` (index $labels "%s") $labels.instance $labels.job $labels.device%s'
    % [metric, cl, extra, cl, extraArgs],
  local topOnDisk = diskQuery('instance_device:diskidle_bio_zero_byte_top_process:rate5m'),
  local topOfComm = diskQuery('instance_device_comm:diskidle_bio_zero_byte_top_process:rate5m', ',comm=%q', ' $labels.comm'),
  local pidUnknownValue = 'unknown (not among the top processes)',
  local pidUnknown = 'pid ' + pidUnknownValue,
  local pidText = '{{ if .Labels.pid }}pid={{ .Labels.pid }}{{ else }}%s{{ end }}' % pidUnknown,
  local culpritLabel(query, label, unknownValue) =
    '{{ with %s | query }}{{ with . | first | label "%s" }}{{ . }}{{ else }}%s{{ end }}{{ else }}unknown{{ end }}'
    % [query, label, unknownValue],

  local diskBusy(severity, busy) = {
    alert: 'DiskBusyWithoutThroughput',
    expr: |||
      instance_device:diskidle_disk_utilization:ratio_rate5m >= %(busy)s
      and on (%(disk)s)
      (
          instance_device:diskidle_disk_written_bytes:rate5m
        + on (%(disk)s)
          instance_device:diskidle_disk_read_bytes:rate5m
      ) < %(nearZero)s
      and on (%(disk)s)
      instance_device:diskidle_disk_write_flush_requests:rate5m >= %(minRequests)s
      and on (%(disk)s)
      instance_device:diskidle_disk_written_bytes_per_write_flush_request:ratio_rate5m < %(maxBytes)s
    ||| % {
      disk: disk,
      busy: num(busy),
      nearZero: num(c.nearZeroBytesPerSecond),
      minRequests: num(c.minWriteFlushRequestsPerSecond),
      maxBytes: num(c.maxBytesPerRequest),
    },
    'for': c.diskBusyFor,
    labels: { severity: severity },
    // The culprit is looked up at notification time and put in annotations,
    // not labels, so that a culprit that restarts (new pid) does not reset
    // the `for` clock.
    annotations: {
      summary: 'Disk {{ $labels.device }} on {{ $labels.instance }} is busy but writes almost nothing.',
      description: std.join(' ', [
        'Disk {{ $labels.device }} on {{ $labels.instance }} is {{ $value | humanizePercentage }} busy while it writes only',
        '{{ with %s | query }}{{ . | first | value | humanize1024 }}B/s{{ else }}an unknown number of bytes/s{{ end }}'
        % diskQuery('instance_device:diskidle_disk_written_bytes:rate5m'),
        'and keeps receiving',
        '{{ with %s | query }}{{ . | first | value | humanize }}{{ else }}unknown{{ end }}'
        % diskQuery('instance_device:diskidle_disk_write_flush_requests:rate5m'),
        'write/flush requests/s. Top culprit:',
        ('{{ with %s | query }}{{ with . | first }}comm={{ .Labels.comm }} %s syscall={{ .Labels.syscall }}'
         + ' sending {{ .Value | humanize }} zero-byte bios/s{{ end }}'
         + '{{ else }}none found (no zero-byte bios attributed on this disk){{ end }}.') % [topOnDisk, pidText],
      ]),
      culprit_comm: culpritLabel(topOnDisk, 'comm', 'unknown'),
      culprit_pid: culpritLabel(topOnDisk, 'pid', pidUnknownValue),
      culprit_syscall: culpritLabel(topOnDisk, 'syscall', 'unknown'),
      runbook_url: c.runbookURLPattern % 'DiskBusyWithoutThroughput',
    },
  },

  prometheusAlerts+:: {
    groups+: [{
      name: 'diskidle.alerts',
      rules: [
        // A disk that is busy, receives write/flush requests, but transfers
        // (almost) no data: the fsync-on-unchanged-files pattern.
        diskBusy('warning', c.busyWarning),
        // Same condition, disk (nearly) saturated. Inhibits the warning above
        // for the same disk in the Alertmanager example.
        diskBusy('critical', c.busyCritical),
        {
          // One program keeps sending zero-byte (cache flush) bios to one disk.
          alert: 'ProcessFlushStorm',
          expr: 'instance_device_comm:diskidle_bio_zero_byte:rate5m > %s\n' % num(c.flushStormZeroByteBiosPerSecond),
          'for': c.flushStormFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Process {{ $labels.comm }} floods disk {{ $labels.device }} on {{ $labels.instance }} with cache flushes.',
            description: std.join(' ', [
              'Processes named {{ $labels.comm }} send {{ $value | humanize }} zero-byte (cache flush) bios/s',
              'to disk {{ $labels.device }} on {{ $labels.instance }}.',
              ('{{ with %s | query }}{{ with . | first }}Top syscall: {{ .Labels.syscall }} at {{ .Value | humanize }}/s,'
               + ' busiest process: %s.{{ end }}{{ end }}') % [topOfComm, pidText],
              'Each zero-byte bio is a flush request the disk must complete before it acknowledges later writes.',
            ]),
            culprit_comm: '{{ $labels.comm }}',
            culprit_pid: culpritLabel(topOfComm, 'pid', pidUnknownValue),
            culprit_syscall: culpritLabel(topOfComm, 'syscall', 'unknown'),
            runbook_url: c.runbookURLPattern % 'ProcessFlushStorm',
          },
        },

        // --- Exporter health ---------------------------------------------------
        {
          alert: 'DiskidleExporterDown',
          expr: 'up{%s} == 0\n' % c.diskidleSelector,
          'for': c.exporterDownFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'diskidle_exporter on {{ $labels.instance }} cannot be scraped.',
            description: std.join(' ', [
              'Prometheus has failed to scrape job {{ $labels.job }} on {{ $labels.instance }} for %s' % words(c.exporterDownFor),
              '(up = {{ $value }}). Disk and per-process block I/O metrics for this host are missing,',
              'so DiskBusyWithoutThroughput and ProcessFlushStorm cannot fire for it.',
            ]),
            runbook_url: c.runbookURLPattern % 'DiskidleExporterDown',
          },
        },
        {
          // max by: one alert per host and collector, however many targets
          // (pods) share the instance.
          alert: 'DiskidleCollectorFailing',
          expr: 'max by (%s, collector) (diskidle_scrape_collector_success{%s}) == 0\n' % [host, c.diskidleSelector],
          'for': c.collectorFailingFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'diskidle_exporter collector {{ $labels.collector }} fails on {{ $labels.instance }}.',
            description: std.join(' ', [
              'The {{ $labels.collector }} collector of diskidle_exporter on {{ $labels.instance }} has reported',
              'failure (success = {{ $value }}) on every scrape for %s. Its metrics are missing or stale;' % words(c.collectorFailingFor),
              'the exporter log says why.',
            ]),
            runbook_url: c.runbookURLPattern % 'DiskidleCollectorFailing',
          },
        },
        {
          // A single burst keeps increase(...[dropsInterval]) above zero for
          // dropsInterval only, so with a longer `for` this fires only when
          // drops keep recurring.
          alert: 'DiskidleBPFEventsDropped',
          expr: |||
            sum by (%(host)s, reason) (
              increase(diskidle_bpf_events_dropped_total{%(sel)s}[%(window)s])
            ) > 0
          ||| % { host: host, sel: c.diskidleSelector, window: c.dropsInterval },
          'for': c.dropsFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'diskidle_exporter on {{ $labels.instance }} keeps dropping BPF events ({{ $labels.reason }}).',
            description: std.join(' ', [
              'diskidle_exporter on {{ $labels.instance }} dropped {{ $value | humanize }} block I/O events in the',
              'last %s (reason {{ $labels.reason }}), and has kept dropping them for %s.' % [words(c.dropsInterval), words(c.dropsFor)],
              'Per-process counts under-report; a culprit may be missing from alerts and the dashboard.',
            ]),
            runbook_url: c.runbookURLPattern % 'DiskidleBPFEventsDropped',
          },
        },
      ],
    }],
  },
}

// The Grafana dashboard "diskidle: busy disks and who flushes them".
//   diskidle.json         provisioning variant: a `datasource` variable, no __inputs.
//   diskidle-import.json  the same for Dashboards > Import: adds __inputs /
//                         __requires so Grafana asks for the Prometheus data source.
// Every query uses $__rate_interval; every sum keeps only the disk's labels,
// so a pod restart (two targets with one instance) never duplicates a join.
// The thresholds drawn on the "busy without throughput" panels are the
// DiskBusyWithoutThroughput alert's (_config).
{
  local c = $._config,
  local cl = c.clusterLabel,
  local DS = { type: 'prometheus', uid: '${datasource}' },
  local RI = '$__rate_interval',
  local HOST = '%s=~"$cluster", job=~"$job", instance=~"$instance"' % cl,
  local DISK = HOST + ', device=~"$device"',
  local diskBy = '%s, instance, job, device' % cl,
  local rate(metric, matchers=DISK) = 'rate(%s{%s}[%s])' % [metric, matchers, RI],
  local sumRate(metric, by=diskBy, matchers=DISK) = 'sum by (%s) (%s)' % [by, rate(metric, matchers)],

  local target(expr, legend='', ref='A', instant=false, format='time_series') = {
    datasource: DS,
    expr: expr,
    refId: ref,
    legendFormat: legend,
    range: !instant,
    instant: instant,
    format: format,
  } + (if format == 'heatmap' then { interval: '' } else {}),

  local timeseries(title, description, unit, targets, stack=false, thresholds=null, min=0, max=null) = {
    type: 'timeseries',
    title: title,
    description: description,
    fieldConfig: {
      defaults: {
        unit: unit,
        min: min,
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: 10,
          showPoints: 'never',
          spanNulls: false,
          stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
        } + (if thresholds != null then { thresholdsStyle: { mode: 'line+area' } } else {}),
      } + (if max != null then { max: max } else {})
      + (if thresholds != null then { thresholds: { mode: 'absolute', steps: thresholds } } else {}),
      overrides: [],
    },
    options: {
      legend: { displayMode: 'table', placement: 'right', calcs: ['mean', 'max', 'lastNotNull'] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    targets: targets,
  },

  local busyThresholds = [{ color: 'transparent', value: null }, { color: 'orange', value: c.busyWarning }],

  // Places rows and panels left to right, top to bottom on the 24-wide grid.
  local layout(items) =
    local step(s, item) =
      if std.objectHas(item, 'row') then
        local y = if s.x > 0 then s.y + s.rowH else s.y;
        s {
          panels+: [{ type: 'row', id: s.id, title: item.row, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y: y }, panels: [] }],
          id: s.id + 1,
          x: 0,
          y: y + 1,
          rowH: 0,
        }
      else
        local wrap = s.x + item.w > 24;
        local x = if wrap then 0 else s.x;
        local y = if wrap then s.y + s.rowH else s.y;
        local rowH = std.max(if wrap then 0 else s.rowH, item.h);
        local full = x + item.w >= 24;
        s {
          panels+: [item.panel { id: s.id, gridPos: { h: item.h, w: item.w, x: x, y: y }, datasource: DS }],
          id: s.id + 1,
          x: if full then 0 else x + item.w,
          y: if full then y + rowH else y,
          rowH: if full then 0 else rowH,
        };
    std.foldl(step, items, { panels: [], id: 1, x: 0, y: 0, rowH: 0 }).panels,
  local row(title) = { row: title },
  local panel(p, w, h) = { panel: p, w: w, h: h },

  local panels = layout([
    // --- 1. Correlation: the three iostat columns on one time axis ----------
    row('Correlation: busy time vs. bytes written vs. write+flush requests'),
    panel(timeseries(
      'Disk utilization (busy time)',
      'Fraction of wall time the disk had at least one request in flight: '
      + 'rate(diskidle_disk_io_time_seconds_total), the same number as iostat %util. '
      + 'High utilization alone does not mean the disk is doing useful work; compare '
      + 'with the two panels below on the same time axis.',
      'percentunit',
      [target('clamp_max(%s, 1)' % sumRate('diskidle_disk_io_time_seconds_total'), '{{instance}} {{device}}')],
      max=1,
      thresholds=busyThresholds,
    ), 24, 7),
    panel(timeseries(
      'Bytes written/s',
      'Bytes written to the disk per second, from /proc/diskstats sectors written '
      + '(diskidle_disk_written_bytes_total). A busy disk with this near zero is the '
      + 'busy-without-throughput pattern.',
      'binBps',
      [target(sumRate('diskidle_disk_written_bytes_total'), '{{instance}} {{device}}')],
    ), 24, 7),
    panel(timeseries(
      'Write + flush requests/s',
      'Write requests and cache-flush requests completed per second '
      + '(diskidle_disk_writes_completed_total, diskidle_disk_flush_requests_total). '
      + 'Flushes carry no data, but the disk must finish them before acknowledging '
      + 'later writes.',
      'iops',
      [
        target(sumRate('diskidle_disk_writes_completed_total'), '{{instance}} {{device}} writes', 'A'),
        target(sumRate('diskidle_disk_flush_requests_total'), '{{instance}} {{device}} flushes', 'B'),
      ],
    ), 24, 7),

    // --- 2. Busy without throughput ------------------------------------------
    row('Busy without throughput'),
    panel(timeseries(
      'Busy while transferring < 1 MiB/s',
      'Utilization of disks that read plus write less than 1 MiB/s at the same time; '
      + 'empty when every busy disk is moving data. Above the orange line '
      + '(%d%%) for %s, with write/flush requests still ' % [c.busyWarning * 100, c.diskBusyFor]
      + 'arriving, the DiskBusyWithoutThroughput alert fires (docs/alerts.md).',
      'percentunit',
      [target(|||
        clamp_max(%(busy)s, 1)
        and on (%(by)s)
        (
          %(written)s
          + on (%(by)s)
          %(read)s
        ) < %(nearZero)s
      ||| % {
        by: diskBy,
        busy: sumRate('diskidle_disk_io_time_seconds_total'),
        written: sumRate('diskidle_disk_written_bytes_total'),
        read: sumRate('diskidle_disk_read_bytes_total'),
        nearZero: c.nearZeroBytesPerSecond,
      }, '{{instance}} {{device}}')],
      max=1,
      thresholds=busyThresholds,
    ), 8, 8),
    panel(timeseries(
      'Bytes per write/flush request',
      'Average bytes carried by one write or flush request (flushes count as zero '
      + 'bytes), like iostat wareq-sz. Near 0 B means the disk is asked to write but '
      + 'given nothing to write; the alert requires < %d B. Only disks that receive ' % c.maxBytesPerRequest
      + 'requests are drawn (the filter is on the request rate, so 0 B/request shows as 0).',
      'bytes',
      [target(|||
        %(written)s
        / on (%(by)s)
        (
          (
            %(writes)s
            + on (%(by)s)
            %(flushes)s
          ) > 0
        )
      ||| % {
        by: diskBy,
        written: sumRate('diskidle_disk_written_bytes_total'),
        writes: sumRate('diskidle_disk_writes_completed_total'),
        flushes: sumRate('diskidle_disk_flush_requests_total'),
      }, '{{instance}} {{device}}')],
      thresholds=[{ color: 'orange', value: null }, { color: 'transparent', value: c.maxBytesPerRequest }],
    ), 8, 8),
    panel(timeseries(
      'Flush latency',
      'Average time the disk took to complete one cache-flush request, from '
      + '/proc/diskstats (diskidle_disk_flush_requests_time_seconds_total / '
      + 'diskidle_disk_flush_requests_total). Every writer waits for flushes: high '
      + 'flush latency times many flushes/s is the cost of a flush storm.',
      's',
      [target(|||
        %(time)s
        / on (%(by)s)
        (%(count)s > 0)
      ||| % {
        by: diskBy,
        time: sumRate('diskidle_disk_flush_requests_time_seconds_total'),
        count: sumRate('diskidle_disk_flush_requests_total'),
      }, '{{instance}} {{device}}')],
    ), 8, 8),

    // --- 3. Culprits ---------------------------------------------------------
    row('Culprits: who sends zero-byte bios'),
    panel({
      type: 'table',
      title: 'Top processes by zero-byte bios/s',
      description: 'Live processes sending zero-byte block I/Os (cache flushes, e.g. from '
                   + 'fsync() on files with nothing to write back), with the syscall they '
                   + 'were in and the disk they hit; from the per-process view '
                   + '(diskidle_process_zero_byte_bios_total, the top max_processes processes). '
                   + 'Short-lived or exited processes are in the per-program table next to it.',
      fieldConfig: {
        defaults: { unit: 'ops', decimals: 2, custom: { align: 'auto', filterable: true } },
        overrides: [{
          matcher: { id: 'byName', options: 'zero-byte bios/s' },
          properties: [{ id: 'custom.cellOptions', value: { type: 'gauge', mode: 'gradient' } }],
        }],
      },
      options: { showHeader: true, sortBy: [{ displayName: 'zero-byte bios/s', desc: true }] },
      transformations: [{
        id: 'organize',
        options: {
          excludeByName: { Time: true },
          indexByName: { comm: 0, pid: 1, syscall: 2, device: 3, instance: 4, Value: 5 },
          renameByName: { Value: 'zero-byte bios/s' },
        },
      }],
      targets: [target(
        'topk(25,\n  %s > 0\n)' % sumRate('diskidle_process_zero_byte_bios_total', 'instance, device, comm, pid, syscall'),
        '',
        instant=true,
        format='table'
      )],
    }, 12, 8),
    panel({
      type: 'table',
      title: 'Top programs by zero-byte bios/s',
      description: 'Zero-byte block I/Os per second by program name (comm) and syscall, '
                   + 'counting every process, exited and short-lived ones included (a `sync` '
                   + 'cron job is one row); from the le="0" bucket of the complete view '
                   + 'diskidle_bio_size_bytes. ProcessFlushStorm fires on this per comm.',
      fieldConfig: {
        defaults: { unit: 'ops', decimals: 2, custom: { align: 'auto', filterable: true } },
        overrides: [{
          matcher: { id: 'byName', options: 'zero-byte bios/s' },
          properties: [{ id: 'custom.cellOptions', value: { type: 'gauge', mode: 'gradient' } }],
        }],
      },
      options: { showHeader: true, sortBy: [{ displayName: 'zero-byte bios/s', desc: true }] },
      transformations: [{
        id: 'organize',
        options: {
          excludeByName: { Time: true },
          indexByName: { comm: 0, syscall: 1, device: 2, instance: 3, Value: 4 },
          renameByName: { Value: 'zero-byte bios/s' },
        },
      }],
      targets: [target(
        'topk(25,\n  %s > 0\n)' % sumRate('diskidle_bio_size_bytes_bucket', 'instance, device, comm, syscall', DISK + ', le="0"'),
        '',
        instant=true,
        format='table'
      )],
    }, 12, 8),
    panel(timeseries(
      'Zero-byte bios/s by program',
      'Zero-byte block I/Os per second for the 10 busiest program names, by disk and '
      + 'syscall (complete view: every process counted). A flat line at tens or hundreds '
      + 'per second is a flush loop.',
      'ops',
      [target('topk(10,\n  %s\n)' % sumRate('diskidle_bio_size_bytes_bucket', 'instance, device, comm, syscall', DISK + ', le="0"'),
              '{{device}} {{comm}} {{syscall}}')],
    ), 8, 8),
    panel(timeseries(
      'Zero-byte bios/s by process',
      'Zero-byte block I/Os per second for the 10 busiest live processes, by disk, pid '
      + 'and syscall (per-process view, diskidle_process_zero_byte_bios_total).',
      'ops',
      [target('topk(10,\n  %s\n)' % sumRate('diskidle_process_zero_byte_bios_total', 'instance, device, comm, pid, syscall'),
              '{{device}} {{comm}} [{{pid}}] {{syscall}}')],
    ), 8, 8),
    panel(timeseries(
      'Block I/O bytes/s by process',
      'Bytes submitted per second by the 10 biggest live processes (all ops), from '
      + 'diskidle_process_bio_bytes_total. A process high on the left panels and absent '
      + 'here flushes without writing.',
      'binBps',
      [target('topk(10,\n  %s\n)' % sumRate('diskidle_process_bio_bytes_total', 'instance, device, comm, pid'),
              '{{device}} {{comm}} [{{pid}}]')],
    ), 8, 8),

    // --- 4. Bio size heatmap -------------------------------------------------
    row('Block I/O sizes'),
    panel({
      type: 'heatmap',
      title: 'Bio size distribution',
      description: 'Block I/Os per second by size bucket (diskidle_bio_size_bytes '
                   + 'histogram, all selected disks and processes). The bottom bucket '
                   + '(le=0) holds zero-byte bios: cache flushes.',
      fieldConfig: {
        defaults: {
          unit: 'ops',
          custom: { scaleDistribution: { type: 'linear' }, hideFrom: { legend: false, tooltip: false, viz: false } },
        },
        overrides: [],
      },
      options: {
        calculate: false,
        cellGap: 1,
        color: { mode: 'scheme', scheme: 'Oranges', steps: 64, exponent: 0.5, fill: 'dark-orange', reverse: false, scale: 'exponential' },
        yAxis: { axisPlacement: 'left', unit: 'bytes', reverse: false },
        rowsFrame: { layout: 'le' },
        cellValues: { unit: 'ops' },
        tooltip: { show: true, yHistogram: true },
        legend: { show: true },
        filterValues: { le: 1e-9 },
      },
      targets: [target(sumRate('diskidle_bio_size_bytes_bucket', 'le'), '{{le}}', format='heatmap')],
    }, 24, 9),

    // --- 5. Breakdown by syscall and op ---------------------------------------
    row('Breakdown by syscall and operation'),
    panel(timeseries(
      'Bios/s by syscall',
      'Block I/Os per second by the syscall the submitting task was in (fsync, '
      + "fdatasync, write, ...; 'writeback' = page-cache writeback, counted for the "
      + "process that dirtied the pages; 'pagefault' = reads under mmap faults; "
      + "'swap' = swap-out by a process reclaiming memory, or by kswapd; "
      + "'kernel' = kernel threads working for no process, e.g. periodic journal commits).",
      'ops',
      [target(sumRate('diskidle_bio_size_bytes_count', 'syscall'), '{{syscall}}')],
      stack=true,
    ), 12, 8),
    panel(timeseries(
      'Bios/s by operation',
      'Block I/Os per second by operation: read, write, flush (zero-byte cache flush), '
      + 'discard, write_zeroes, other.',
      'ops',
      [target(sumRate('diskidle_bio_size_bytes_count', 'op'), '{{op}}')],
      stack=true,
    ), 12, 8),
    panel(timeseries(
      'Bytes/s by syscall',
      'Bytes submitted per second by originating syscall.',
      'binBps',
      [target(sumRate('diskidle_bio_size_bytes_sum', 'syscall'), '{{syscall}}')],
      stack=true,
    ), 12, 8),
    panel(timeseries(
      'Bytes/s by operation',
      'Bytes submitted per second by operation. Flushes always contribute 0 bytes.',
      'binBps',
      [target(sumRate('diskidle_bio_size_bytes_sum', 'op'), '{{op}}')],
      stack=true,
    ), 12, 8),

    // --- 6. Exporter health ----------------------------------------------------
    row('Exporter health'),
    panel({
      type: 'stat',
      title: 'Exporter targets up',
      description: 'Whether Prometheus can scrape each selected diskidle_exporter '
                   + '(up). DOWN fires DiskidleExporterDown after %s.' % c.exporterDownFor,
      fieldConfig: {
        defaults: {
          unit: 'none',
          mappings: [{ type: 'value', options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } }],
          thresholds: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'green', value: 1 }] },
        },
        overrides: [],
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'background',
        graphMode: 'none',
        textMode: 'value_and_name',
        orientation: 'auto',
        justifyMode: 'auto',
      },
      targets: [target('up{%s}' % HOST, '{{instance}}')],
    }, 8, 6),
    panel(timeseries(
      'Collector success',
      'diskidle_scrape_collector_success per collector (bio, diskstats): 1 = the last '
      + 'scrape succeeded. 0 for %s fires DiskidleCollectorFailing.' % c.collectorFailingFor,
      'bool_yes_no',
      [target('diskidle_scrape_collector_success{%s}' % HOST, '{{instance}} {{collector}}')],
      max=1,
    ), 8, 6),
    panel(timeseries(
      'Collector duration',
      'Time each collector took during the last scrape '
      + '(diskidle_scrape_collector_duration_seconds).',
      's',
      [target('diskidle_scrape_collector_duration_seconds{%s}' % HOST, '{{instance}} {{collector}}')],
    ), 8, 6),
    panel(timeseries(
      'BPF events dropped/s',
      'Block I/O events the BPF program could not count, by reason '
      + '(diskidle_bpf_events_dropped_total). Non-zero means per-process counts '
      + 'under-report; recurring drops fire DiskidleBPFEventsDropped.',
      'ops',
      [target(sumRate('diskidle_bpf_events_dropped_total', 'instance, reason', HOST), '{{instance}} {{reason}}')],
    ), 8, 6),
    panel(timeseries(
      'BPF map usage',
      'Entries in each BPF map as a fraction of its capacity '
      + '(diskidle_bpf_map_entries / diskidle_bpf_map_capacity). Near 100% events '
      + 'are dropped (see BPF events dropped/s).',
      'percentunit',
      [target(|||
        max by (%(by)s) (diskidle_bpf_map_entries{%(host)s})
        / on (%(by)s)
        max by (%(by)s) (diskidle_bpf_map_capacity{%(host)s})
      ||| % { by: '%s, instance, job, map' % cl, host: HOST }, '{{instance}} {{map}}')],
      max=1,
      thresholds=[{ color: 'transparent', value: null }, { color: 'orange', value: 0.8 }],
    ), 8, 6),
    panel(timeseries(
      'Tracked processes and per-process view',
      'Processes the exporter tracks (diskidle_tracked_processes), processes with '
      + 'series in the per-process view (diskidle_process_view_processes, at most '
      + 'max_processes), and slots taken per second from a less active process '
      + '(rate of diskidle_process_view_evictions_total). Steady evictions mean more '
      + 'processes do I/O than max_processes: the per-process view shows the busiest, '
      + 'the per-program numbers stay complete.',
      'short',
      [
        target('diskidle_tracked_processes{%s}' % HOST, '{{instance}} tracked', 'A'),
        target('diskidle_process_view_processes{%s}' % HOST, '{{instance}} in per-process view', 'B'),
        target(sumRate('diskidle_process_view_evictions_total', '%s, instance, job' % cl, HOST),
               '{{instance}} evictions/s', 'C'),
      ],
    ), 8, 6),
    panel({
      type: 'table',
      title: 'Exporter build',
      description: 'Version and build of each selected exporter (diskidle_exporter_build_info).',
      fieldConfig: { defaults: { unit: 'none', custom: { align: 'auto' } }, overrides: [] },
      options: { showHeader: true },
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true, Value: true, __name__: true } } }],
      targets: [target('diskidle_exporter_build_info{%s}' % HOST, '', instant=true, format='table')],
    }, 24, 4),
  ]),

  local variable(name, label, query, multi, includeAll, allValue=null, current=null, hide=0) = {
    type: 'query',
    name: name,
    label: label,
    datasource: DS,
    definition: query,
    query: { query: query, refId: '%s-values' % name },
    refresh: 2,
    sort: 1,
    multi: multi,
    includeAll: includeAll,
    hide: hide,
    regex: '',
    options: [],
    current: if current != null then current
    else if includeAll then { selected: true, text: ['All'], value: ['$__all'] } else {},
  } + (if allValue != null then { allValue: allValue } else {}),

  local dashboard = {
    id: null,
    uid: c.dashboardUid,
    title: c.dashboardTitle,
    description: 'Disk utilization next to bytes written and write/flush requests, '
                 + 'and the processes, syscalls and bio sizes behind them '
                 + '(diskidle_exporter).',
    tags: c.dashboardTags,
    timezone: '',
    editable: true,
    graphTooltip: 1,
    // 38 = Grafana 10.0: table cells use custom.cellOptions (not the older
    // custom.displayMode), heatmaps the options.calculate form.
    schemaVersion: 38,
    version: 1,
    refresh: c.dashboardRefresh,
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    annotations: { list: [] },
    links: [{
      type: 'link',
      title: 'Alerts and runbooks',
      targetBlank: true,
      url: 'https://github.com/diskidle/diskidle_exporter/blob/main/docs/alerts.md',
      icon: 'doc',
      tooltip: '',
      asDropdown: false,
      includeVars: false,
      keepTime: false,
      tags: [],
    }],
    templating: { list: [
      { type: 'datasource', name: 'datasource', label: 'Data source', query: 'prometheus', regex: '', hide: 0, refresh: 1, includeAll: false, multi: false, options: [], current: {} },
      // All = .* so that it also matches series without a cluster label.
      variable('cluster', 'Cluster', 'label_values(diskidle_exporter_build_info, %s)' % cl, false, true,
               allValue='.*', hide=if c.showMultiCluster then 0 else 2),
      variable('job', 'Job', 'label_values(diskidle_exporter_build_info{%s=~"$cluster"}, job)' % cl, false, false,
               current={ selected: true, text: 'diskidle', value: 'diskidle' }),
      variable('instance', 'Instance', 'label_values(diskidle_exporter_build_info{%s=~"$cluster", job=~"$job"}, instance)' % cl,
               true, true, allValue='.+'),
      variable('device', 'Device', 'label_values(diskidle_disk_info{%s}, device)' % HOST, true, true, allValue='.+'),
    ] },
    panels: panels,
  },

  local panelTypes = std.set([p.type for p in panels if p.type != 'row']),
  local importVariant = {
    __inputs: [{
      name: 'DS_PROMETHEUS',
      label: 'Prometheus',
      description: 'Prometheus that scrapes diskidle_exporter',
      type: 'datasource',
      pluginId: 'prometheus',
      pluginName: 'Prometheus',
    }],
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' },
      { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
    ] + [{ type: 'panel', id: t, name: t, version: '' } for t in panelTypes],
  } + dashboard {
    templating: { list: [
      if v.type == 'datasource' then v { current: { selected: true, text: '${DS_PROMETHEUS}', value: '${DS_PROMETHEUS}' } } else v
      for v in dashboard.templating.list
    ] },
  },

  grafanaDashboards+:: {
    'diskidle.json': dashboard,
    'diskidle-import.json': importVariant,
  },
}

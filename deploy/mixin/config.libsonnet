// Everything a user tunes. Override in your own jsonnet, e.g.
//   (import 'diskidle_exporter/deploy/mixin/mixin.libsonnet') + {
//     _config+:: { diskidleSelector: 'job="node-diskidle"', busyWarning: 0.2 },
//   }
// docs/alerts.md explains each threshold.
{
  _config+:: {
    // Selects the exporter's series in every rule and dashboard query.
    diskidleSelector: 'job="diskidle"',
    // The label that tells clusters apart (kept by every aggregation, and the
    // dashboard's `cluster` variable). Harmless when the series have no such
    // label: `sum by (cluster, ...)` then simply has no cluster label.
    clusterLabel: 'cluster',
    // Labels that identify one disk. Every join is `on` these, after the
    // per-target labels (pod, namespace, container, endpoint, service, ...)
    // are summed away, so two targets with the same instance (an exporter pod
    // restart) never make "duplicate series for the match group".
    diskLabels: [self.clusterLabel, 'instance', 'job', 'device'],
    hostLabels: [self.clusterLabel, 'instance', 'job'],

    // Window of every rate() in the rules; needs >= 2 scrapes.
    rateInterval: '5m',
    // Window of the BPF drop alert's increase(); longer than rateInterval so
    // that `for: dropsFor` only fires on recurring drops.
    dropsInterval: '10m',

    // DiskBusyWithoutThroughput.
    busyWarning: 0.3,  // busy fraction (iostat %util) for severity warning
    busyCritical: 0.8,  // ... and for severity critical
    nearZeroBytesPerSecond: 1048576,  // read + written bytes/s that count as "nothing" (1 MiB/s)
    minWriteFlushRequestsPerSecond: 1,  // write+flush requests/s that must still arrive
    maxBytesPerRequest: 1024,  // bytes per write/flush request below which requests carry "nothing"
    diskBusyFor: '10m',

    // ProcessFlushStorm.
    flushStormZeroByteBiosPerSecond: 10,
    flushStormFor: '10m',

    // Exporter health.
    exporterDownFor: '5m',
    collectorFailingFor: '5m',
    dropsFor: '15m',

    // runbook_url of each alert; %s is the alert name.
    runbookURLPattern: 'https://github.com/diskidle/diskidle_exporter/blob/main/docs/runbooks/%s.md',

    // Dashboard.
    dashboardUid: 'diskidle-overview',
    dashboardTitle: 'diskidle: busy disks and who flushes them',
    dashboardTags: ['diskidle', 'disk', 'ebpf'],
    dashboardRefresh: '30s',
    // Show the cluster variable (it always exists; with `false` it is hidden
    // and matches everything).
    showMultiCluster: true,
  },
}

// diskidle_exporter monitoring mixin: prometheusRules (recording rules),
// prometheusAlerts and grafanaDashboards, configured by _config.
// Render with deploy/mixin/generate.sh.
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet')

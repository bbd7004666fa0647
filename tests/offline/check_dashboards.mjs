#!/usr/bin/env node
// Offline checks of the Grafana dashboards in dashboards/*.json.
//
//   node tests/offline/check_dashboards.mjs [dashboard.json ...]
//
// Asserts what a Grafana user relies on: valid JSON, a stable uid, one
// `datasource` variable used by every panel, target and variable query;
// $__rate_interval in every range selector; no counter plotted without rate();
// a unit and a description on every panel; every query parses as PromQL
// (@prometheus-io/lezer-promql, error nodes are failures) and uses only metric
// names the exporter publishes (docs/metrics.md: the complete view
// diskidle_bio_size_bytes has no pid label, pids come from the per-process
// diskidle_process_* counters); every `on (...)` join has both sides summed
// `by` labels it joins on (so per-target labels such as pod never make
// "duplicate series for the match group" after an exporter pod restart); no
// `> 0` filter on a ratio (it hides the 0 the panel exists to show); field
// config that matches schemaVersion. Before checking the real files it runs the
// checks on broken copies and fails unless each breakage is caught.

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = process.env.DISKIDLE_SOURCE_DIR || resolve(HERE, '..', '..');
const DASHBOARD_DIR = join(SOURCE_DIR, 'dashboards');

// Stand-in for $__rate_interval: any other range in a query is a failure.
const RATE_INTERVAL_SENTINEL = '4242s';
const VARIABLE_VALUES = {
  __rate_interval: RATE_INTERVAL_SENTINEL,
  __interval: '15s',
  __range: '1h',
  datasource: 'prometheus',
  cluster: '.*',
  job: 'diskidle',
  instance: 'host1:9436',
  device: 'sda',
};
const DATASOURCE_UID = '${datasource}';
const RATE_FUNCTIONS = new Set(['rate', 'irate', 'increase']);

// The metric contract (docs/metrics.md, issue 9); `up` comes from Prometheus.
const DISK_COUNTERS = [
  'reads_completed', 'reads_merged', 'read_bytes', 'read_time_seconds', 'writes_completed',
  'writes_merged', 'written_bytes', 'write_time_seconds', 'io_time_seconds',
  'io_time_weighted_seconds', 'discards_completed', 'discards_merged', 'discarded_sectors',
  'discard_time_seconds', 'flush_requests', 'flush_requests_time_seconds',
].map((m) => `diskidle_disk_${m}_total`);
// The per-process view: the only series with a pid label.
const PROCESS_COUNTERS = ['diskidle_process_bios_total', 'diskidle_process_bio_bytes_total',
  'diskidle_process_zero_byte_bios_total'];
const KNOWN_METRICS = new Set([
  ...DISK_COUNTERS,
  'diskidle_bio_size_bytes_bucket', 'diskidle_bio_size_bytes_sum', 'diskidle_bio_size_bytes_count',
  'diskidle_disk_io_now', 'diskidle_disk_info', 'diskidle_disk_utilization_ratio',
  'diskidle_exporter_build_info', 'diskidle_scrape_collector_success',
  'diskidle_scrape_collector_duration_seconds', 'diskidle_bpf_events_dropped_total',
  'diskidle_bpf_map_entries', 'diskidle_bpf_map_capacity',
  'diskidle_tracked_processes', 'diskidle_process_view_processes', 'diskidle_process_view_evictions_total',
  ...PROCESS_COUNTERS,
  'diskidle_process_bio_size_bytes_bucket', 'diskidle_process_bio_size_bytes_sum',
  'diskidle_process_bio_size_bytes_count', 'up',
]);
const isCounter = (name) => /(_total|_bucket|_count|_sum)$/.test(name);
const hasDeviceLabel = (name) => name.startsWith('diskidle_disk_') || name.startsWith('diskidle_bio_size')
  || PROCESS_COUNTERS.includes(name) || name.startsWith('diskidle_process_bio_size');
// Labels every query selects on (dashboard variables).
const SELECTOR_LABELS = ['cluster', 'job', 'instance'];
// Labels that tell targets apart without telling disks apart (kube-prometheus).
const PER_TARGET_LABELS = new Set(['pod', 'namespace', 'container', 'endpoint', 'service']);
const COMPARISONS = new Set(['Gtr', 'Lss', 'Gte', 'Lte', 'Eql', 'Neq']);

function substituteVariables(expr) {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced, plain) => {
    const name = braced || plain;
    return Object.hasOwn(VARIABLE_VALUES, name) ? VARIABLE_VALUES[name] : whole;
  });
}

// Returns a list of problems with one PromQL query (empty when fine).
export function checkExpr(rawExpr, { requireJobInstance = true } = {}) {
  const problems = [];
  if (typeof rawExpr !== 'string' || rawExpr.trim() === '') return ['empty expr'];
  const expr = substituteVariables(rawExpr);
  const unknown = expr.match(/\$\{?\w+/g);
  if (unknown) problems.push(`unknown variable(s) ${unknown.join(', ')}`);
  const tree = parser.parse(expr);
  const text = (n) => expr.slice(n.from, n.to);
  tree.iterate({
    enter(ref) {
      const node = ref.node;
      if (node.type.isError) {
        problems.push(`PromQL parse error at offset ${node.from}: ...${expr.slice(Math.max(0, node.from - 20), node.from + 20)}...`);
        return;
      }
      if (node.name === 'BinaryExpr') problems.push(...checkBinary(node, text));
      if (node.name === 'AggregateExpr') {
        const mod = node.getChild('AggregateModifier');
        const grouping = mod ? labelsOf(mod.getChild('GroupingLabels'), text) : [];
        const inner = text(node);
        if (grouping.includes('pid') && /diskidle_bio_size_bytes_/.test(inner)) {
          problems.push(`${inner.slice(0, 60)}...: the complete view diskidle_bio_size_bytes has no pid label (use diskidle_process_*)`);
        }
      }
      if (node.name === 'SubqueryExpr') {
        problems.push(`subquery ${text(node)}: use rate(...[$__rate_interval]) instead`);
      }
      if (node.name === 'MatrixSelector') {
        const dur = node.getChild('DurationExpr') || node.lastChild;
        if (!dur || text(dur) !== RATE_INTERVAL_SENTINEL) {
          problems.push(`range selector ${text(node)} does not use [$__rate_interval]`);
        }
      }
      if (node.name === 'VectorSelector') {
        const ident = node.getChild('Identifier');
        const name = ident ? text(ident) : '';
        if (!KNOWN_METRICS.has(name)) problems.push(`unknown metric '${name}' (not in the metric contract)`);
        const labels = new Set(node.getChildren('LabelMatchers').flatMap((m) => {
          const out = [];
          const cur = m.cursor();
          if (cur.firstChild()) {
            do { const ln = cur.node.getChild('LabelName'); if (ln) out.push(text(ln)); } while (cur.nextSibling());
          }
          return out;
        }));
        if (requireJobInstance) {
          for (const l of SELECTOR_LABELS) {
            if (!labels.has(l)) problems.push(`${name}: no ${l}=~"$${l}" matcher`);
          }
          if (hasDeviceLabel(name) && name !== 'diskidle_disk_info' && !labels.has('device')) {
            problems.push(`${name}: no device=~"$device" matcher`);
          }
        }
        if (isCounter(name)) {
          const matrix = node.parent;
          const fn = matrix && matrix.name === 'MatrixSelector' && matrix.parent && matrix.parent.parent;
          const fnName = fn && fn.name === 'FunctionCall' ? text(fn.getChild('FunctionIdentifier')) : '';
          if (!RATE_FUNCTIONS.has(fnName)) {
            problems.push(`counter ${name} plotted without rate()/increase()`);
          }
        }
      }
    },
  });
  return problems;
}

function labelsOf(groupingLabels, text) {
  return groupingLabels ? groupingLabels.getChildren('LabelName').map(text) : [];
}

// A vector selector under `root` is safe to join `on (onLabels)` when it is
// inside an aggregation `by` labels that are all join (or group_*) labels:
// then no per-target label survives to make two series per match group.
function joinProblems(root, onLabels, text) {
  const problems = [];
  const visit = (n) => {
    if (n.name === 'VectorSelector') {
      let ok = false;
      for (let a = n.parent; a && a.from >= root.from && a.to <= root.to; a = a.parent) {
        if (a.name !== 'AggregateExpr') continue;
        const mod = a.getChild('AggregateModifier');
        if (mod && mod.getChild('By')) {
          const by = labelsOf(mod.getChild('GroupingLabels'), text);
          ok = by.every((l) => onLabels.has(l) && !PER_TARGET_LABELS.has(l));
        }
        break;
      }
      if (!ok) problems.push(`join on (${[...onLabels].join(', ')}): ${text(n)} is not aggregated by join labels free of per-target labels (pod, namespace, ...) first: a pod restart makes duplicate series`);
      return;
    }
    for (let ch = n.firstChild; ch; ch = ch.nextSibling) visit(ch);
  };
  visit(root);
  return problems;
}

function checkBinary(node, text) {
  const problems = [];
  const mod = node.getChild('MatchingModifierClause');
  if (mod && mod.getChild('On')) {
    const groups = mod.getChildren('GroupingLabels');
    const onLabels = new Set([...labelsOf(groups[0], text), ...labelsOf(groups[1], text)]);
    problems.push(...joinProblems(node.firstChild, onLabels, text), ...joinProblems(node.lastChild, onLabels, text));
  }
  // `a / b > 0` drops the points where the ratio is 0; filter b instead.
  const op = node.firstChild && node.firstChild.nextSibling;
  if (op && COMPARISONS.has(op.name) && !node.getChild('BoolModifier')) {
    let left = node.firstChild;
    while (left && left.name === 'ParenExpr') left = left.firstChild;
    const leftOp = left && left.name === 'BinaryExpr' && left.firstChild && left.firstChild.nextSibling;
    if (leftOp && leftOp.name === 'Div') {
      problems.push(`${text(node).slice(0, 50)}...: a comparison filters the ratio (0 becomes "No data"); filter the denominator`);
    }
  }
  return problems;
}

function flattenPanels(panels) {
  const out = [];
  for (const p of panels || []) {
    out.push(p);
    if (p.type === 'row' && Array.isArray(p.panels)) out.push(...flattenPanels(p.panels));
  }
  return out;
}

function exprsOf(panel) {
  return (panel.targets || []).map((t) => t.expr);
}

// Returns a list of problems with one dashboard object.
export function checkDashboard(dash, { importVariant = false } = {}) {
  const problems = [];
  const fail = (msg) => problems.push(msg);

  if (typeof dash.uid !== 'string' || !/^[A-Za-z0-9_-]{1,40}$/.test(dash.uid)) {
    fail(`uid ${JSON.stringify(dash.uid)} must be a fixed string of <= 40 [A-Za-z0-9_-]`);
  }
  if (!dash.title) fail('no title');
  if (importVariant) {
    const inputs = dash.__inputs || [];
    if (!inputs.some((i) => i.type === 'datasource' && i.pluginId === 'prometheus')) {
      fail('import variant has no prometheus datasource in __inputs');
    }
    const declared = new Set(inputs.map((i) => i.name));
    for (const m of JSON.stringify(dash).matchAll(/\$\{(DS_[A-Z0-9_]+)\}/g)) {
      if (!declared.has(m[1])) fail(`\${${m[1]}} is used but not declared in __inputs`);
    }
  } else if (dash.__inputs) {
    fail('provisioning dashboard must not have __inputs (use the datasource variable)');
  }

  // Variables.
  const vars = (dash.templating && dash.templating.list) || [];
  const dsVars = vars.filter((v) => v.type === 'datasource');
  if (dsVars.length !== 1 || dsVars[0].name !== 'datasource' || dsVars[0].query !== 'prometheus') {
    fail('need exactly one variable of type datasource, named "datasource", query "prometheus"');
  }
  for (const name of ['cluster', 'job', 'instance', 'device']) {
    const v = vars.find((x) => x.name === name);
    if (!v) { fail(`missing variable $${name}`); continue; }
    if (v.type !== 'query') fail(`variable $${name} must be a query variable`);
    if (!v.datasource || v.datasource.uid !== DATASOURCE_UID) fail(`variable $${name} does not use $datasource`);
    const q = typeof v.query === 'string' ? v.query : v.query && v.query.query;
    const m = /^label_values\((.*),\s*(\w+)\)$/s.exec(q || '');
    if (!m || m[2] !== name) { fail(`variable $${name}: query ${q} is not label_values(<selector>, ${name})`); continue; }
    for (const p of checkExpr(m[1], { requireJobInstance: false })) fail(`variable $${name}: ${p}`);
  }

  // Panels.
  const panels = flattenPanels(dash.panels);
  const ids = new Set();
  const boxes = [];
  for (const p of panels) {
    const where = `panel ${p.id} "${p.title}"`;
    if (ids.has(p.id)) fail(`${where}: duplicate id`);
    ids.add(p.id);
    const g = p.gridPos;
    if (!g || [g.x, g.y, g.w, g.h].some((n) => !Number.isInteger(n)) || g.x + g.w > 24) {
      fail(`${where}: bad gridPos`);
    } else {
      for (const [other, og] of boxes) {
        if (g.x < og.x + og.w && og.x < g.x + g.w && g.y < og.y + og.h && og.y < g.y + g.h) {
          fail(`${where}: overlaps panel ${other}`);
        }
      }
      boxes.push([p.id, g]);
    }
    if (p.type === 'row') continue;
    if (!p.title) fail(`${where}: no title`);
    if (!p.description || !p.description.trim()) fail(`${where}: no description`);
    const unit = p.fieldConfig && p.fieldConfig.defaults && p.fieldConfig.defaults.unit;
    if (!unit) fail(`${where}: no unit (fieldConfig.defaults.unit)`);
    if (!p.datasource || p.datasource.uid !== DATASOURCE_UID) fail(`${where}: panel datasource is not $datasource`);
    if (!Array.isArray(p.targets) || p.targets.length === 0) fail(`${where}: no targets`);
    for (const t of p.targets || []) {
      if (!t.datasource || t.datasource.uid !== DATASOURCE_UID) fail(`${where} target ${t.refId}: datasource is not $datasource`);
      for (const prob of checkExpr(t.expr)) fail(`${where} target ${t.refId}: ${prob}`);
    }
  }

  // Field config in the form of the dashboard's schemaVersion: Grafana only
  // migrates dashboards older than their schemaVersion, so e.g. a table's
  // pre-38 custom.displayMode in a 38 dashboard is silently ignored.
  if (!Number.isInteger(dash.schemaVersion)) fail('no schemaVersion');
  for (const p of panels) {
    const fc = JSON.stringify(p.fieldConfig || {});
    if (dash.schemaVersion >= 38 && /"(custom\.)?displayMode"/.test(fc) && p.type === 'table') {
      fail(`panel ${p.id} "${p.title}": custom.displayMode is the pre-38 table cell option; use custom.cellOptions with schemaVersion ${dash.schemaVersion}`);
    }
    if (dash.schemaVersion < 38 && /cellOptions/.test(fc)) {
      fail(`panel ${p.id} "${p.title}": custom.cellOptions needs schemaVersion >= 38`);
    }
  }

  // Content the issue asks for.
  const top = dash.panels || [];
  if (!top[0] || top[0].type !== 'row' || !/correlation/i.test(top[0].title)) {
    fail('the first row must be the correlation row');
  } else {
    const firstRow = [];
    for (const p of top.slice(1)) { if (p.type === 'row') break; firstRow.push(...exprsOf(p)); }
    const joined = firstRow.join('\n');
    for (const metric of ['diskidle_disk_io_time_seconds_total', 'diskidle_disk_written_bytes_total',
      'diskidle_disk_writes_completed_total', 'diskidle_disk_flush_requests_total']) {
      if (!joined.includes(metric)) fail(`correlation row does not plot ${metric}`);
    }
  }
  const all = panels.filter((p) => p.type !== 'row');
  const byExpr = (re) => all.filter((p) => exprsOf(p).some((e) => re.test(e)));
  const groupedBy = (e, labels) => /by \(([^)]*)\)/.test(e)
    && labels.every((l) => /by \(([^)]*)\)/.exec(e)[1].split(/,\s*/).includes(l));
  if (!all.some((p) => p.type === 'table' && exprsOf(p).some((e) => e.includes('diskidle_process_zero_byte_bios_total')
      && groupedBy(e, ['comm', 'pid', 'syscall', 'device'])))) {
    fail('no table of top processes (diskidle_process_zero_byte_bios_total) with comm, pid, syscall, device');
  }
  if (!all.some((p) => exprsOf(p).some((e) => /diskidle_bio_size_bytes_bucket\{[^}]*le="0"/.test(e)
      && groupedBy(e, ['comm', 'syscall', 'device'])))) {
    fail('no panel of zero-byte bios/s per comm from the complete view (le="0" bucket by comm, syscall, device)');
  }
  if (!all.some((p) => p.fieldConfig.defaults.unit === 's' && exprsOf(p).some((e) => /diskidle_disk_flush_requests_time_seconds_total[\s\S]*\/[\s\S]*diskidle_disk_flush_requests_total/.test(e)))) {
    fail('no flush latency panel (rate of flush_requests_time_seconds / rate of flush_requests, unit s)');
  }
  if (byExpr(/diskidle_process_view_evictions_total/).length === 0) fail('no panel for diskidle_process_view_evictions_total');
  if (!all.some((p) => p.type === 'heatmap' && p.targets.some((t) => t.format === 'heatmap'
      && /sum by \(le\)/.test(t.expr) && t.expr.includes('diskidle_bio_size_bytes_bucket')))) {
    fail('no bio size heatmap from diskidle_bio_size_bytes_bucket');
  }
  if (byExpr(/by \(syscall\)/).length === 0) fail('no breakdown by syscall');
  if (byExpr(/by \(op\)/).length === 0) fail('no breakdown by op');
  for (const metric of ['up{', 'diskidle_scrape_collector_success', 'diskidle_bpf_events_dropped_total']) {
    if (byExpr(new RegExp(metric.replace('{', '\\{'))).length === 0) fail(`no exporter health panel for ${metric}`);
  }
  return problems;
}

// The import variant must be the provisioning dashboard plus __inputs/__requires.
function checkVariantsInSync(main, variant) {
  const strip = (d) => {
    const c = structuredClone(d);
    delete c.__inputs; delete c.__requires;
    const ds = c.templating.list.find((v) => v.type === 'datasource');
    if (ds) ds.current = {};
    return JSON.stringify(c);
  };
  return strip(main) === strip(variant) ? [] : ['import variant differs from the provisioning dashboard (run deploy/mixin/generate.sh)'];
}

// Each mutation must be caught, or the checks above are toothless.
function selfTest(dash) {
  const firstQueryPanel = (d) => flattenPanels(d.panels).find((p) => p.type !== 'row');
  const mutations = {
    'missing unit': (d) => { delete firstQueryPanel(d).fieldConfig.defaults.unit; },
    'missing description': (d) => { firstQueryPanel(d).description = ''; },
    'fixed rate window': (d) => { const t = firstQueryPanel(d).targets[0]; t.expr = t.expr.replace('$__rate_interval', '5m'); },
    'raw counter': (d) => { firstQueryPanel(d).targets[0].expr = 'diskidle_disk_written_bytes_total{job=~"$job", instance=~"$instance", device=~"$device"}'; },
    'parse error': (d) => { firstQueryPanel(d).targets[0].expr += ' +'; },
    'other datasource': (d) => { firstQueryPanel(d).targets[0].datasource = { type: 'prometheus', uid: 'abc' }; },
    'unknown metric': (d) => { const t = firstQueryPanel(d).targets[0]; t.expr = t.expr.replace('diskidle_disk_io_time_seconds_total', 'diskidle_disk_busy_seconds_total'); },
    'long uid': (d) => { d.uid = 'x'.repeat(41); },
    'second datasource variable': (d) => { d.templating.list.push({ type: 'datasource', name: 'ds2', query: 'prometheus' }); },
    'no cluster matcher': (d) => { const t = firstQueryPanel(d).targets[0]; t.expr = t.expr.replace('cluster=~"$cluster", ', ''); },
    'join without aggregation': (d) => {
      const t = flattenPanels(d.panels).flatMap((p) => p.targets || []).find((x) => /\bon \(/.test(x.expr));
      t.expr = t.expr.replace(/sum by \([^)]*\) \((rate\([^()]*\))\)/, '$1');
    },
    'ratio filtered instead of the denominator': (d) => {
      firstQueryPanel(d).targets[0].expr = 'rate(diskidle_disk_written_bytes_total{cluster=~"$cluster", job=~"$job", instance=~"$instance", device=~"$device"}[$__rate_interval]) / rate(diskidle_disk_writes_completed_total{cluster=~"$cluster", job=~"$job", instance=~"$instance", device=~"$device"}[$__rate_interval]) > 0';
    },
    'pid on the complete view': (d) => {
      firstQueryPanel(d).targets[0].expr = 'sum by (device, pid) (rate(diskidle_bio_size_bytes_count{cluster=~"$cluster", job=~"$job", instance=~"$instance", device=~"$device"}[$__rate_interval]))';
    },
    'removed folded metric': (d) => {
      firstQueryPanel(d).targets[0].expr = 'rate(diskidle_bio_folded_processes_total{cluster=~"$cluster", job=~"$job", instance=~"$instance"}[$__rate_interval])';
    },
    'pre-38 table cell option': (d) => {
      const table = flattenPanels(d.panels).find((p) => p.type === 'table');
      table.fieldConfig.overrides.push({ matcher: { id: 'byName', options: 'x' }, properties: [{ id: 'custom.displayMode', value: 'gradient-gauge' }] });
    },
    'no flush latency panel': (d) => {
      for (const p of flattenPanels(d.panels)) for (const t of p.targets || []) t.expr = t.expr.replace(/flush_requests_time_seconds_total/g, 'write_time_seconds_total');
    },
    'no cluster variable': (d) => { d.templating.list = d.templating.list.filter((v) => v.name !== 'cluster'); },
  };
  const problems = [];
  for (const [name, mutate] of Object.entries(mutations)) {
    const copy = structuredClone(dash);
    mutate(copy);
    if (checkDashboard(copy).length === 0) problems.push(`self-test: mutation "${name}" was not detected`);
  }
  return problems;
}

function main() {
  const files = process.argv.slice(2).length
    ? process.argv.slice(2).map((f) => resolve(f))
    : readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json')).sort().map((f) => join(DASHBOARD_DIR, f));
  let failures = 0;
  const parsed = {};
  if (files.length === 0) { console.error(`no dashboards found in ${DASHBOARD_DIR}`); process.exit(1); }
  for (const file of files) {
    let dash;
    try {
      dash = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      console.error(`FAIL ${file}: not valid JSON: ${e.message}`);
      failures++;
      continue;
    }
    parsed[basename(file)] = dash;
    const problems = checkDashboard(dash, { importVariant: Array.isArray(dash.__inputs) || /-import\.json$/.test(file) });
    const nPanels = flattenPanels(dash.panels).filter((p) => p.type !== 'row').length;
    const nQueries = flattenPanels(dash.panels).reduce((n, p) => n + (p.targets || []).length, 0);
    if (problems.length) {
      failures++;
      console.error(`FAIL ${file}:\n  ${problems.join('\n  ')}`);
    } else {
      console.log(`ok   ${file}: uid=${dash.uid}, ${nPanels} panels, ${nQueries} queries`);
    }
  }
  if (parsed['diskidle.json'] && parsed['diskidle-import.json']) {
    const p = checkVariantsInSync(parsed['diskidle.json'], parsed['diskidle-import.json']);
    if (p.length) { failures++; console.error(`FAIL ${p.join('; ')}`); } else console.log('ok   import variant in sync');
  }
  const first = parsed['diskidle.json'] || Object.values(parsed)[0];
  if (first) {
    const p = selfTest(first);
    if (p.length) { failures++; console.error(`FAIL ${p.join('\n  ')}`); } else console.log('ok   self-test: every injected defect is detected');
  }
  if (failures) { console.error(`${failures} failure(s)`); process.exit(1); }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

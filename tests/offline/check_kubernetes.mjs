#!/usr/bin/env node
// Offline checks of deploy/kubernetes (no cluster needed).
//
//   node tests/offline/check_kubernetes.mjs
//
// Renders each kustomize variant -- the base alone, the base with each
// component, and the base with every component -- with `kubectl kustomize`
// (what `kubectl apply -k` runs; where kubectl is missing, a minimal renderer
// below does resources, images, components' resources and JSON patches),
// validates every object against the Kubernetes / prometheus-operator schemas
// (kubernetes-models) and asserts the properties docs/kubernetes.md promises:
// the base holds no CRD kinds (it applies to a bare cluster), least privilege,
// and components generated from the rules and dashboard files match them.
// Before checking the real manifests it checks broken copies and fails unless
// every breakage is caught.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import {
  PrometheusRule, ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = process.env.DISKIDLE_SOURCE_DIR || resolve(HERE, '..', '..');
const KUSTOMIZE_DIR = join(SOURCE_DIR, 'deploy', 'kubernetes');
const SECCOMP_PROFILE = join(SOURCE_DIR, 'deploy', 'seccomp', 'diskidle-exporter.json');

const MODELS = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'apps/v1/DaemonSet': DaemonSet,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};
// API groups every cluster serves; anything else needs a CRD.
const BUILTIN_API_VERSIONS = new Set(['v1', 'apps/v1', 'networking.k8s.io/v1']);
const BASE_KINDS = ['Namespace', 'ConfigMap', 'DaemonSet', 'Service', 'NetworkPolicy'];
// What each component must add to the base.
const COMPONENT_KINDS = {
  servicemonitor: ['ServiceMonitor'],
  'prometheus-rule': ['PrometheusRule'],
  'grafana-dashboard': ['ConfigMap'],
};
// kube-prometheus-stack's default selectors for a release named so.
const RELEASE_LABEL = ['release', 'kube-prometheus-stack'];
const RULES_FILE = join(SOURCE_DIR, 'deploy', 'prometheus', 'diskidle-rules.yml');
const DASHBOARD_FILE = join(SOURCE_DIR, 'dashboards', 'diskidle.json');
// The documented capabilities (docs/kubernetes.md); anything else is a failure.
const ALLOWED_CAPABILITIES = new Set(['BPF', 'PERFMON']);
const PORT = 9436;
// The dashboard component's ConfigMap (the base has the exporter's config one).
const DASHBOARD_CONFIGMAP = 'diskidle-dashboard';
const dashboardConfigMap = (objects) =>
  objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === DASHBOARD_CONFIGMAP);
// What the namespace/pod/container labels read on the node (docs/kubernetes.md),
// each mounted read-only: hostPath -> where the exporter's config expects it.
const RUNTIME_STATE_MOUNTS = {
  '/sys/fs/cgroup': '/host/sys/fs/cgroup',
  '/run/containerd/io.containerd.runtime.v2.task/k8s.io':
    '/run/containerd/io.containerd.runtime.v2.task/k8s.io',
  '/run/containers/storage/overlay-containers': '/run/containers/storage/overlay-containers',
};

// ---- a minimal kustomize: resources, images, components' JSON patches ------
function loadKustomization(dir) {
  const k = yaml.load(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
  const objects = [];
  for (const file of k.resources || []) {
    for (const doc of yaml.loadAll(readFileSync(join(dir, file), 'utf8'))) {
      if (doc) objects.push(doc);
    }
  }
  for (const image of k.images || []) {
    for (const obj of objects) {
      for (const c of obj.spec?.template?.spec?.containers || []) {
        const [name, tag] = c.image.split(':');
        if (name !== image.name) continue;
        c.image = `${image.newName || name}:${image.newTag || tag}`;
      }
    }
  }
  return objects;
}

function pointer(path) {
  return path.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function applyJsonPatch(obj, ops) {
  for (const op of ops) {
    const keys = pointer(op.path);
    const last = keys.pop();
    let parent = obj;
    for (const key of keys) {
      if (parent[key] === undefined) throw new Error(`patch ${op.op} ${op.path}: missing ${key}`);
      parent = parent[key];
    }
    if (op.op === 'add') {
      if (Array.isArray(parent)) {
        if (last === '-') parent.push(op.value);
        else parent.splice(Number(last), 0, op.value);
      } else {
        parent[last] = op.value;
      }
    } else if (op.op === 'replace') {
      if (parent[last] === undefined) throw new Error(`patch replace ${op.path}: nothing to replace`);
      parent[last] = op.value;
    } else {
      throw new Error(`patch op ${op.op} not supported by this checker`);
    }
  }
}

function applyComponent(objects, componentDir) {
  const k = yaml.load(readFileSync(join(componentDir, 'kustomization.yaml'), 'utf8'));
  if (k.kind !== 'Component') throw new Error(`${componentDir}: kind must be Component`);
  const out = structuredClone(objects);
  for (const file of k.resources || []) {
    for (const doc of yaml.loadAll(readFileSync(join(componentDir, file), 'utf8'))) {
      if (doc) out.push(doc);
    }
  }
  // As kustomize does: a patch whose target is absent (web-config's
  // ServiceMonitor patch without components/servicemonitor) changes nothing.
  for (const patch of k.patches || []) {
    const targets = out.filter(
      (o) => o.kind === patch.target.kind && o.metadata.name === patch.target.name);
    for (const target of targets) applyJsonPatch(target, yaml.load(patch.patch));
  }
  return out;
}

function haveKubectl() {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const KUBECTL = haveKubectl();

// The base with `components` (names under deploy/kubernetes/components), in
// order, as `kubectl apply -k` of an overlay listing them would apply it.
function renderMinimal(components) {
  let objects = loadKustomization(KUSTOMIZE_DIR);
  for (const c of components) objects = applyComponent(objects, join(KUSTOMIZE_DIR, 'components', c));
  return objects;
}

function render(components) {
  if (!KUBECTL) return renderMinimal(components);
  const overlay = mkdtempSync(join(tmpdir(), 'diskidle-kustomize-'));
  try {
    // kustomize refuses absolute paths to bases and components.
    const rel = (p) => relative(overlay, p);
    writeFileSync(join(overlay, 'kustomization.yaml'), yaml.dump({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [rel(KUSTOMIZE_DIR)],
      components: components.map((c) => rel(join(KUSTOMIZE_DIR, 'components', c))),
    }));
    const out = execFileSync('kubectl', ['kustomize', overlay], { encoding: 'utf8' });
    return yaml.loadAll(out).filter((d) => d);
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}

// ---- checks: each returns a list of problems --------------------------------
function validateSchemas(objects, requiredKinds) {
  const problems = [];
  for (const obj of objects) {
    const key = `${obj.apiVersion}/${obj.kind}`;
    const Model = MODELS[key];
    if (!Model) {
      problems.push(`${key} ${obj.metadata?.name}: unexpected kind (no model to validate it)`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(`${key} ${obj.metadata?.name}: schema: ${e.message.split('\n')[0]}`);
    }
  }
  for (const kind of requiredKinds) {
    if (!objects.some((o) => o.kind === kind)) problems.push(`missing ${kind}`);
  }
  return problems;
}

function checkDaemonSet(objects) {
  const problems = [];
  const ds = objects.find((o) => o.kind === 'DaemonSet');
  if (!ds) return ['no DaemonSet'];
  const pod = ds.spec.template.spec;
  if (pod.hostPID !== true) problems.push('hostPID must be true (host pids in labels)');
  if (pod.hostNetwork) problems.push('hostNetwork must not be set');
  if (pod.hostIPC) problems.push('hostIPC must not be set');
  // The exporter never talks to the Kubernetes API: no service account token
  // in the pod (docs/kubernetes.md). Only an explicit false keeps it out; an
  // absent field means the token is mounted.
  if (pod.automountServiceAccountToken !== false) {
    problems.push('automountServiceAccountToken must be false (no API token in the pod)');
  }
  if (pod.nodeSelector?.['kubernetes.io/os'] !== 'linux') {
    problems.push('nodeSelector kubernetes.io/os: linux required (the image and BPF are Linux-only)');
  }
  if (!(pod.tolerations || []).some((t) => t.operator === 'Exists' && !t.key && !t.effect)) {
    problems.push('needs a toleration {operator: Exists} to run on every node');
  }
  const podSeccomp = pod.securityContext?.seccompProfile;
  if (!podSeccomp || !['RuntimeDefault', 'Localhost'].includes(podSeccomp.type)) {
    problems.push('pod seccompProfile must be RuntimeDefault or Localhost');
  }
  const hostPathVolumes = new Set(
    (pod.volumes || []).filter((v) => v.hostPath).map((v) => v.name));
  if (pod.containers.length !== 1) problems.push('expected exactly one container');
  for (const c of pod.containers) {
    const sc = c.securityContext || {};
    const where = `container ${c.name}`;
    if (sc.privileged !== false) problems.push(`${where}: privileged must be false`);
    if (sc.allowPrivilegeEscalation !== false) {
      problems.push(`${where}: allowPrivilegeEscalation must be false`);
    }
    if (sc.readOnlyRootFilesystem !== true) {
      problems.push(`${where}: readOnlyRootFilesystem must be true`);
    }
    const drop = sc.capabilities?.drop || [];
    if (!drop.includes('ALL')) problems.push(`${where}: capabilities.drop must include ALL`);
    for (const cap of sc.capabilities?.add || []) {
      if (!ALLOWED_CAPABILITIES.has(cap.replace(/^CAP_/, ''))) {
        problems.push(`${where}: capability ${cap} is not one of the documented ones`);
      }
    }
    for (const cap of ALLOWED_CAPABILITIES) {
      if (!(sc.capabilities?.add || []).includes(cap)) {
        problems.push(`${where}: capability ${cap} is needed to load BPF`);
      }
    }
    const seccomp = sc.seccompProfile || podSeccomp;
    if (!seccomp || seccomp.type === 'Unconfined') problems.push(`${where}: seccomp must not be Unconfined`);
    if (seccomp?.type === 'Localhost' && seccomp.localhostProfile !== 'diskidle-exporter.json') {
      problems.push(`${where}: Localhost seccomp profile must be the shipped diskidle-exporter.json`);
    }
    for (const m of c.volumeMounts || []) {
      if (m.readOnly !== true) problems.push(`${where}: volume mount ${m.name} must be readOnly`);
      if (hostPathVolumes.has(m.name) && m.mountPropagation && m.mountPropagation !== 'None') {
        problems.push(`${where}: hostPath mount ${m.name} must not propagate mounts`);
      }
    }
    for (const probe of ['readinessProbe', 'livenessProbe']) {
      const p = c[probe];
      if (!p?.httpGet) {
        problems.push(`${where}: ${probe} (httpGet /healthz) missing`);
      } else if (p.httpGet.path !== '/healthz') {
        problems.push(`${where}: ${probe} must use /healthz (the only unauthenticated path)`);
      }
    }
    const req = c.resources?.requests?.memory;
    const lim = c.resources?.limits?.memory;
    if (!req || req !== lim) problems.push(`${where}: memory requests must equal limits`);
    if (!(c.ports || []).some((p) => p.containerPort === PORT)) {
      problems.push(`${where}: must expose port ${PORT}`);
    }
  }
  for (const v of pod.volumes || []) {
    // Secrets (TLS key, bcrypt hashes) readable by root only: mode 0400.
    if (v.secret && v.secret.defaultMode !== 0o400) {
      problems.push(`secret volume ${v.name}: defaultMode must be 0400 (256), got ${v.secret.defaultMode}`);
    }
  }
  for (const v of pod.volumes || []) {
    if (v.hostPath && !(pod.containers[0].volumeMounts || []).some((m) => m.name === v.name)) {
      problems.push(`hostPath volume ${v.name} is not mounted (remove it)`);
    }
  }
  problems.push(...checkPodLabelSources(objects, pod));
  return problems;
}

// The namespace/pod/container labels: the node's cgroup tree and both
// runtimes' state dirs are mounted (read-only, checked above) where the
// exporter's config says, and the config file is mounted where --config.file
// points.
function checkPodLabelSources(objects, pod) {
  const problems = [];
  const c = pod.containers[0];
  const mounts = c.volumeMounts || [];
  for (const [hostPath, mountPath] of Object.entries(RUNTIME_STATE_MOUNTS)) {
    const volume = (pod.volumes || []).find((v) => v.hostPath?.path === hostPath);
    const mount = volume && mounts.find((m) => m.name === volume.name);
    if (!mount) {
      problems.push(`hostPath ${hostPath} must be mounted read-only (pod labels, docs/kubernetes.md)`);
    } else if (mount.mountPath !== mountPath) {
      problems.push(`hostPath ${hostPath} must be mounted at ${mountPath}, got ${mount.mountPath}`);
    }
  }
  const arg = (c.args || []).find((a) => a.startsWith('--config.file='));
  if (!arg) return [...problems, 'the exporter needs --config.file (the pod label set)'];
  const file = arg.slice('--config.file='.length);
  const configVolume = (pod.volumes || []).find((v) => v.configMap);
  const mount = configVolume && mounts.find((m) => m.name === configVolume.name);
  if (!mount || !file.startsWith(`${mount.mountPath}/`)) {
    return [...problems, `--config.file=${file} is not in the mounted config ConfigMap`];
  }
  const cm = objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === configVolume.configMap.name);
  const text = cm?.data?.[file.slice(mount.mountPath.length + 1)];
  if (text === undefined) return [...problems, `ConfigMap holds no ${file}`];
  const config = yaml.load(text);
  const labels = config?.collectors?.bio?.labels || [];
  if (!labels.includes('namespace') || !labels.includes('container') || labels.includes('pod')) {
    problems.push('collectors.bio.labels must have namespace and container and no pod (docs/kubernetes.md)');
  }
  const want = { cgroup2_mount: '/host/sys/fs/cgroup',
    containerd_state_dir: RUNTIME_STATE_MOUNTS['/run/containerd/io.containerd.runtime.v2.task/k8s.io'],
    crio_state_dir: RUNTIME_STATE_MOUNTS['/run/containers/storage/overlay-containers'] };
  for (const [key, value] of Object.entries(want)) {
    if (config?.kubernetes?.[key] !== value) {
      problems.push(`kubernetes.${key} must be ${value} (where the DaemonSet mounts it)`);
    }
  }
  return problems;
}

function checkServiceMonitor(objects) {
  const problems = [];
  const sm = objects.find((o) => o.kind === 'ServiceMonitor');
  const svc = objects.find((o) => o.kind === 'Service');
  if (!sm) return [];
  if (!svc) return ['ServiceMonitor without a Service'];
  if (sm.metadata.labels?.[RELEASE_LABEL[0]] !== RELEASE_LABEL[1]) {
    problems.push(`ServiceMonitor needs the label ${RELEASE_LABEL.join(': ')} (kube-prometheus-stack)`);
  }
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels || {})) {
    if (svc.metadata.labels?.[k] !== v) problems.push(`ServiceMonitor selector ${k}=${v} misses the Service`);
  }
  const portNames = new Set(svc.spec.ports.map((p) => p.name));
  for (const ep of sm.spec.endpoints) {
    if (!portNames.has(ep.port)) problems.push(`ServiceMonitor port ${ep.port} is not a Service port`);
    const nodeToInstance = (ep.relabelings || []).some(
      (r) => (r.sourceLabels || []).includes('__meta_kubernetes_pod_node_name') &&
        r.targetLabel === 'instance' && (r.action || 'replace') === 'replace');
    if (!nodeToInstance) problems.push('ServiceMonitor must relabel the node name to instance');
  }
  if (svc.metadata.name !== 'diskidle' && !sm.spec.jobLabel) {
    problems.push('job label must be "diskidle" (Service name or jobLabel)');
  }
  return problems;
}

function checkNetworkPolicy(objects) {
  const problems = [];
  const np = objects.find((o) => o.kind === 'NetworkPolicy');
  const ds = objects.find((o) => o.kind === 'DaemonSet');
  if (!np || !ds) return ['NetworkPolicy required'];
  const podLabels = ds.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels || {})) {
    if (podLabels[k] !== v) problems.push(`NetworkPolicy selector ${k}=${v} misses the pods`);
  }
  if (!(np.spec.policyTypes || []).includes('Ingress')) problems.push('NetworkPolicy must restrict Ingress');
  for (const rule of np.spec.ingress || []) {
    const ports = rule.ports || [];
    if (ports.length === 0) problems.push('NetworkPolicy ingress rule without ports admits every port');
    for (const p of ports) {
      if (p.port !== PORT && p.port !== 'metrics') problems.push(`NetworkPolicy admits port ${p.port}`);
    }
  }
  // Without Egress in policyTypes the policy leaves egress open; with it, an
  // absent or empty egress list denies every outgoing connection, which is
  // what the manifest intends (the exporter talks to the kernel only).
  if (!(np.spec.policyTypes || []).includes('Egress')) {
    problems.push('NetworkPolicy must restrict Egress (policyTypes lacks Egress)');
  }
  if ((np.spec.egress || []).length > 0) {
    problems.push('NetworkPolicy must deny all egress (egress must be empty): the exporter needs none');
  }
  return problems;
}

function checkSeccompProfile() {
  const problems = [];
  const profile = JSON.parse(readFileSync(SECCOMP_PROFILE, 'utf8'));
  if (profile.defaultAction !== 'SCMP_ACT_ERRNO') problems.push('seccomp: default action must be SCMP_ACT_ERRNO (allow-list)');
  const allowed = new Set();
  for (const rule of profile.syscalls) {
    if (rule.action === 'SCMP_ACT_ALLOW') for (const n of rule.names) allowed.add(n);
  }
  for (const needed of ['bpf', 'perf_event_open', 'execve', 'accept4', 'openat']) {
    if (!allowed.has(needed)) problems.push(`seccomp: ${needed} must be allowed`);
  }
  // What a BPF exporter never needs and an attacker would want.
  for (const forbidden of ['init_module', 'finit_module', 'kexec_load', 'mount', 'umount2',
                           'ptrace', 'process_vm_readv', 'process_vm_writev', 'unshare', 'setns',
                           'keyctl', 'add_key', 'pivot_root', 'chroot', 'reboot', 'swapon',
                           'open_by_handle_at', 'userfaultfd', 'io_uring_setup']) {
    if (allowed.has(forbidden)) problems.push(`seccomp: ${forbidden} must not be allowed`);
  }
  return problems;
}

// A PrometheusRule must carry exactly the rules of deploy/prometheus (it is
// generated from them: scripts/generate_kubernetes_components.py).
function checkPrometheusRule(objects) {
  const rule = objects.find((o) => o.kind === 'PrometheusRule');
  if (!rule) return [];
  const problems = [];
  if (rule.metadata.labels?.[RELEASE_LABEL[0]] !== RELEASE_LABEL[1]) {
    problems.push(`PrometheusRule needs the label ${RELEASE_LABEL.join(': ')} (kube-prometheus-stack)`);
  }
  const rules = yaml.load(readFileSync(RULES_FILE, 'utf8'));
  if (canonical(rule.spec) !== canonical(rules)) {
    problems.push('PrometheusRule spec differs from deploy/prometheus/diskidle-rules.yml: run scripts/generate_kubernetes_components.py');
  }
  return problems;
}

function checkDashboardConfigMap(objects) {
  const cm = dashboardConfigMap(objects);
  if (!cm) return [];
  const problems = [];
  if (cm.metadata.labels?.grafana_dashboard !== '1') {
    problems.push('dashboard ConfigMap needs the label grafana_dashboard: "1" (Grafana sidecar)');
  }
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8'));
  let embedded;
  try {
    embedded = JSON.parse(cm.data?.['diskidle.json'] ?? '');
  } catch (e) {
    return [...problems, `dashboard ConfigMap: diskidle.json is not JSON: ${e.message}`];
  }
  if (canonical(embedded) !== canonical(dashboard)) {
    problems.push('dashboard ConfigMap differs from dashboards/diskidle.json: run scripts/generate_kubernetes_components.py');
  }
  return problems;
}

// Probes reach /healthz over the scheme the exporter serves: with a web config
// (TLS) HTTPS, and the ServiceMonitor scrapes https.
function checkWebConfig(objects) {
  const c = objects.find((o) => o.kind === 'DaemonSet').spec.template.spec.containers[0];
  if (!(c.args || []).some((a) => a.startsWith('--web.config.file='))) return [];
  const problems = [];
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    if (c[probe]?.httpGet?.scheme !== 'HTTPS') problems.push(`web-config: ${probe} must use HTTPS`);
  }
  const sm = objects.find((o) => o.kind === 'ServiceMonitor');
  if (sm && sm.spec.endpoints.some((e) => e.scheme !== 'https')) {
    problems.push('web-config: the ServiceMonitor must scrape https');
  }
  return problems;
}

function checkAll(objects, requiredKinds) {
  return [...validateSchemas(objects, requiredKinds), ...checkDaemonSet(objects),
          ...checkServiceMonitor(objects), ...checkNetworkPolicy(objects),
          ...checkPrometheusRule(objects), ...checkDashboardConfigMap(objects),
          ...checkWebConfig(objects)];
}

// JSON with sorted keys: kustomize reorders keys, which changes no meaning.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function crdKinds(objects) {
  return objects.filter((o) => !BUILTIN_API_VERSIONS.has(o.apiVersion))
    .map((o) => `${o.apiVersion}/${o.kind}`);
}

// ---- self-test: each breakage must be caught --------------------------------
const ds = (objs) => objs.find((o) => o.kind === 'DaemonSet');
const ctr = (objs) => ds(objs).spec.template.spec.containers[0];
const BREAKAGES = {
  'privileged container': (o) => { ctr(o).securityContext.privileged = true; },
  'SYS_ADMIN added': (o) => { ctr(o).securityContext.capabilities.add.push('SYS_ADMIN'); },
  'drop ALL removed': (o) => { ctr(o).securityContext.capabilities.drop = ['NET_RAW']; },
  'hostNetwork': (o) => { ds(o).spec.template.spec.hostNetwork = true; },
  'no hostPID': (o) => { delete ds(o).spec.template.spec.hostPID; },
  'writable root fs': (o) => { ctr(o).securityContext.readOnlyRootFilesystem = false; },
  'writable hostPath mount': (o) => {
    ds(o).spec.template.spec.volumes = [{ name: 'proc', hostPath: { path: '/proc' } }];
    ctr(o).volumeMounts = [{ name: 'proc', mountPath: '/host/proc' }];
  },
  'no readiness probe': (o) => { delete ctr(o).readinessProbe; },
  'liveness on /metrics': (o) => { ctr(o).livenessProbe.httpGet.path = '/metrics'; },
  'memory limit != request': (o) => { ctr(o).resources.limits.memory = '1Gi'; },
  'no toleration': (o) => { ds(o).spec.template.spec.tolerations = []; },
  'seccomp unconfined': (o) => { ctr(o).securityContext.seccompProfile = { type: 'Unconfined' }; },
  // Only the schema validation can catch these two.
  'DaemonSet schema violation': (o) => { ds(o).spec.template.spec.terminationGracePeriodSeconds = 'ten'; },
  'ServiceMonitor schema violation': (o) => {
    o.find((x) => x.kind === 'ServiceMonitor').spec.endpoints[0].interval = 15;
  },
  'no instance relabelling': (o) => {
    o.find((x) => x.kind === 'ServiceMonitor').spec.endpoints[0].relabelings = [];
  },
  'NetworkPolicy admits every port': (o) => {
    o.find((x) => x.kind === 'NetworkPolicy').spec.ingress = [{}];
  },
  'service account token mounted': (o) => {
    delete ds(o).spec.template.spec.automountServiceAccountToken;
  },
  'service account token mounted explicitly': (o) => {
    ds(o).spec.template.spec.automountServiceAccountToken = true;
  },
  'NetworkPolicy without Egress policyType': (o) => {
    const np = o.find((x) => x.kind === 'NetworkPolicy');
    np.spec.policyTypes = np.spec.policyTypes.filter((t) => t !== 'Egress');
  },
  'NetworkPolicy admits all egress': (o) => {
    o.find((x) => x.kind === 'NetworkPolicy').spec.egress = [{}];
  },
  'ServiceMonitor missing': (o) => { o.splice(o.findIndex((x) => x.kind === 'ServiceMonitor'), 1); },
  'no os nodeSelector': (o) => { delete ds(o).spec.template.spec.nodeSelector; },
  'ServiceMonitor without release label': (o) => {
    delete o.find((x) => x.kind === 'ServiceMonitor').metadata.labels.release;
  },
  'PrometheusRule stale (a rule dropped)': (o) => {
    o.find((x) => x.kind === 'PrometheusRule').spec.groups[0].rules.pop();
  },
  'PrometheusRule without release label': (o) => {
    delete o.find((x) => x.kind === 'PrometheusRule').metadata.labels.release;
  },
  'dashboard ConfigMap stale': (o) => {
    const cm = dashboardConfigMap(o);
    const d = JSON.parse(cm.data['diskidle.json']);
    d.panels.pop();
    cm.data['diskidle.json'] = JSON.stringify(d);
  },
  'dashboard ConfigMap unlabelled': (o) => {
    delete dashboardConfigMap(o).metadata.labels.grafana_dashboard;
  },
  'containerd state mounted writable': (o) => {
    ctr(o).volumeMounts.find((m) => m.name === 'containerd-state').readOnly = false;
  },
  'CRI-O state not mounted': (o) => {
    const spec = ds(o).spec.template.spec;
    spec.volumes = spec.volumes.filter((v) => v.name !== 'crio-state');
    ctr(o).volumeMounts = ctr(o).volumeMounts.filter((m) => m.name !== 'crio-state');
  },
  'config not mounted where --config.file points': (o) => {
    ctr(o).volumeMounts.find((m) => m.name === 'config').mountPath = '/etc/elsewhere';
  },
  'PrometheusRule schema violation': (o) => {
    o.find((x) => x.kind === 'PrometheusRule').spec.groups[0].rules[0].expr = ['not', 'a', 'string'];
  },
};
// Breakages of the web-config variant.
const WEB_BREAKAGES = {
  'web-config secret readable by others': (o) => {
    ds(o).spec.template.spec.volumes.find((v) => v.secret).secret.defaultMode = 0o444;
  },
  'web-config probe over HTTP': (o) => { delete ctr(o).readinessProbe.httpGet.scheme; },
  'web-config ServiceMonitor over HTTP': (o) => {
    o.find((x) => x.kind === 'ServiceMonitor').spec.endpoints[0].scheme = 'http';
  },
};

let failures = 0;
function fail(message) {
  console.log(`FAIL ${message}`);
  failures++;
}

const componentsDir = join(KUSTOMIZE_DIR, 'components');
const componentNames = readdirSync(componentsDir).sort();
// Components that add objects come first, so web-config finds the ServiceMonitor
// it patches (the order kustomization.yaml documents).
const ORDER = ['servicemonitor', 'prometheus-rule', 'grafana-dashboard'];
const ordered = [...ORDER.filter((c) => componentNames.includes(c)),
                 ...componentNames.filter((c) => !ORDER.includes(c))];
const requiredFor = (components) =>
  [...BASE_KINDS, ...components.flatMap((c) => COMPONENT_KINDS[c] || [])];

const variants = [];
function addVariant(components) {
  const name = ['deploy/kubernetes', ...components.map((c) => `components/${c}`)].join(' + ');
  try {
    variants.push([name, components, render(components)]);
  } catch (e) {
    fail(`${name}: render failed: ${e.message.split('\n')[0]}`);
  }
}
addVariant([]);
for (const c of ordered) addVariant([c]);
addVariant(['servicemonitor', 'web-config']);
addVariant(ordered.filter((c) => c !== 'seccomp-localhost'));
addVariant(ordered);
console.log(`rendering with ${KUBECTL ? 'kubectl kustomize' : 'the built-in minimal renderer (no kubectl)'}`);

// Where kubectl exists, the fallback renderer must agree with it, so a
// machine without kubectl checks the same objects.
if (KUBECTL) {
  const sortedCanonical = (objs) => objs.map(canonical).sort().join('\n');
  for (const [name, components, objects] of variants) {
    if (sortedCanonical(renderMinimal(components)) !== sortedCanonical(objects)) {
      fail(`${name}: the built-in renderer disagrees with kubectl kustomize (update it)`);
    }
  }
}
for (const c of Object.keys(COMPONENT_KINDS)) {
  if (!componentNames.includes(c)) fail(`components/${c} missing`);
}
const base = variants.find(([, cs]) => cs.length === 0)?.[2] || [];
const crds = crdKinds(base);
if (crds.length > 0) fail(`the base must apply to a bare cluster, but holds CRD kinds: ${crds.join(', ')}`);
if (crdKinds(structuredClone(base).concat([{ apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' }])).length === 0) {
  fail('self-test: a CRD kind in the base was not caught');
}

const everything = variants.find(([, cs]) => cs.length === ordered.length - 1);
const withWeb = variants.find(([, cs]) => cs.join() === 'servicemonitor,web-config');
for (const [set, variant] of [[BREAKAGES, everything], [WEB_BREAKAGES, withWeb]]) {
  if (!variant) continue;
  for (const [name, breakIt] of Object.entries(set)) {
    const broken = structuredClone(variant[2]);
    breakIt(broken);
    if (checkAll(broken, requiredFor(variant[1])).length === 0) {
      fail(`self-test: breakage "${name}" was not caught`);
    }
  }
}

for (const [name, components, objects] of variants) {
  const problems = checkAll(objects, requiredFor(components));
  for (const p of problems) fail(`${name}: ${p}`);
  if (problems.length === 0) {
    console.log(`ok   ${name}: ${objects.map((o) => o.kind).join(', ')}`);
  }
}
const seccompVariant = variants.find(([, cs]) => cs.join() === 'seccomp-localhost');
if (!seccompVariant ||
    ds(seccompVariant[2]).spec.template.spec.containers[0].securityContext.seccompProfile.type !== 'Localhost') {
  fail('components/seccomp-localhost must switch the container to the Localhost profile');
}
for (const p of checkSeccompProfile()) fail(p);
if (failures === 0) console.log('ok   deploy/seccomp/diskidle-exporter.json');

if (failures > 0) {
  console.log(`${failures} failure(s)`);
  process.exit(1);
}
console.log(`all Kubernetes checks passed (${variants.length} variants, ` +
            `${Object.keys(BREAKAGES).length + Object.keys(WEB_BREAKAGES).length} breakages caught)`);

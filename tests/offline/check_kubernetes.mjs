#!/usr/bin/env node
// Offline checks of deploy/kubernetes (no cluster needed).
//
//   node tests/offline/check_kubernetes.mjs
//
// Renders the kustomization the way `kubectl apply -k` would for what it uses
// (resources + images, and each component's JSON patches on top), validates
// every object against the Kubernetes / prometheus-operator schemas
// (kubernetes-models) and asserts the least-privilege properties docs/kubernetes.md
// promises. Before checking the real manifests it checks broken copies and
// fails unless every breakage is caught.

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { Namespace, Service } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = process.env.DISKIDLE_SOURCE_DIR || resolve(HERE, '..', '..');
const KUSTOMIZE_DIR = join(SOURCE_DIR, 'deploy', 'kubernetes');
const SECCOMP_PROFILE = join(SOURCE_DIR, 'deploy', 'seccomp', 'diskidle-exporter.json');

const MODELS = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'apps/v1/DaemonSet': DaemonSet,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};
const REQUIRED_KINDS = ['Namespace', 'DaemonSet', 'Service', 'ServiceMonitor', 'NetworkPolicy'];
// The documented capabilities (docs/kubernetes.md); anything else is a failure.
const ALLOWED_CAPABILITIES = new Set(['BPF', 'PERFMON']);
const PORT = 9436;

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
  for (const patch of k.patches || []) {
    const targets = out.filter(
      (o) => o.kind === patch.target.kind && o.metadata.name === patch.target.name);
    if (targets.length !== 1) throw new Error(`${componentDir}: patch target not found`);
    applyJsonPatch(targets[0], yaml.load(patch.patch));
  }
  return out;
}

// ---- checks: each returns a list of problems --------------------------------
function validateSchemas(objects) {
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
  for (const kind of REQUIRED_KINDS) {
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
    if (v.hostPath && !(pod.containers[0].volumeMounts || []).some((m) => m.name === v.name)) {
      problems.push(`hostPath volume ${v.name} is not mounted (remove it)`);
    }
  }
  return problems;
}

function checkServiceMonitor(objects) {
  const problems = [];
  const sm = objects.find((o) => o.kind === 'ServiceMonitor');
  const svc = objects.find((o) => o.kind === 'Service');
  if (!sm || !svc) return ['ServiceMonitor and Service required'];
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

function checkAll(objects) {
  return [...validateSchemas(objects), ...checkDaemonSet(objects),
          ...checkServiceMonitor(objects), ...checkNetworkPolicy(objects)];
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
};

let failures = 0;
function fail(message) {
  console.log(`FAIL ${message}`);
  failures++;
}

const base = loadKustomization(KUSTOMIZE_DIR);
for (const [name, breakIt] of Object.entries(BREAKAGES)) {
  const broken = structuredClone(base);
  breakIt(broken);
  if (checkAll(broken).length === 0) fail(`self-test: breakage "${name}" was not caught`);
}

const variants = [['deploy/kubernetes', base]];
const componentsDir = join(KUSTOMIZE_DIR, 'components');
if (existsSync(componentsDir)) {
  for (const name of readdirSync(componentsDir).sort()) {
    try {
      variants.push([`deploy/kubernetes + components/${name}`,
                     applyComponent(base, join(componentsDir, name))]);
    } catch (e) {
      fail(`components/${name}: ${e.message}`);
    }
  }
}
for (const [name, objects] of variants) {
  const problems = checkAll(objects);
  for (const p of problems) fail(`${name}: ${p}`);
  if (problems.length === 0) {
    console.log(`ok   ${name}: ${objects.map((o) => o.kind).join(', ')}`);
  }
}
const seccompVariant = variants.find(([n]) => n.endsWith('seccomp-localhost'));
if (!seccompVariant ||
    ds(seccompVariant[1]).spec.template.spec.containers[0].securityContext.seccompProfile.type !== 'Localhost') {
  fail('components/seccomp-localhost must switch the container to the Localhost profile');
}
for (const p of checkSeccompProfile()) fail(p);
if (failures === 0) console.log('ok   deploy/seccomp/diskidle-exporter.json');

if (failures > 0) {
  console.log(`${failures} failure(s)`);
  process.exit(1);
}
console.log(`all Kubernetes checks passed (${Object.keys(BREAKAGES).length} breakages caught)`);

#!/usr/bin/env node
// Offline checks of the Dockerfile and .dockerignore (parsed with dockerfile-ast).
//
//   node tests/offline/check_dockerfile.mjs
//
// Asserts what issue 5 promises about the image: a multi-stage build whose
// build stage compiles without tests, a bookworm-slim runtime stage with no
// compiler or -dev package, OCI labels, a --version smoke run at build time,
// EXPOSE 9436 and an exec-form ENTRYPOINT of the binary (no shell at run
// time). The real build and run are tests/container. Before checking the real
// file it checks broken copies and fails unless every breakage is caught.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser } from 'dockerfile-ast';

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = process.env.DISKIDLE_SOURCE_DIR || resolve(HERE, '..', '..');
const BINARY = '/usr/bin/diskidle_exporter';
const REQUIRED_LABELS = ['org.opencontainers.image.title', 'org.opencontainers.image.description',
                         'org.opencontainers.image.version'];
// Nothing that compiles or carries headers belongs in the runtime image.
const BUILD_ONLY_PACKAGES = /(^|\s)(clang|llvm|gcc|g\+\+|cmake|make|bpftool|[a-z0-9.+-]+-dev)(\s|$)/;

function check(text, dockerignore) {
  const problems = [];
  const df = DockerfileParser.parse(text);
  const instructions = df.getInstructions();
  const froms = df.getFROMs();
  if (froms.length < 2) return ['must be multi-stage (a build stage and a runtime stage)'];

  // Resolve ARG defaults used in FROM (e.g. ${DEBIAN_IMAGE}).
  const args = {};
  for (const ins of instructions) {
    if (ins.getKeyword() !== 'ARG') continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\S+)/.exec(ins.getArgumentsContent() || '');
    if (m) args[m[1]] = m[2];
  }
  const image = (from) => (from.getArgumentsContent() || '').split(/\s+/)[0]
    .replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n) => args[n] ?? '');

  // Split instructions per stage.
  const stages = [];
  for (const ins of instructions) {
    if (ins.getKeyword() === 'FROM') stages.push({ from: ins, body: [] });
    else if (stages.length) stages[stages.length - 1].body.push(ins);
  }
  const build = stages[0];
  const runtime = stages[stages.length - 1];
  if (!/debian:bookworm/.test(image(build.from))) problems.push('build stage must be Debian bookworm');
  // The runtime stage holds the exporter, its shared libraries and CA
  // certificates, nothing else: no distribution base (issue 12, < 60 MB).
  if (image(runtime.from) !== 'scratch') problems.push('runtime stage must be FROM scratch');
  if (!build.from.getBuildStage()) problems.push('build stage needs a name (FROM ... AS build)');

  const runs = (stage) => stage.body.filter((i) => i.getKeyword() === 'RUN')
    .map((i) => i.getArgumentsContent() || '');
  const buildRuns = runs(build).join('\n');
  if (!/-DDISKIDLE_BUILD_TESTS=OFF/.test(buildRuns)) problems.push('build stage must configure -DDISKIDLE_BUILD_TESTS=OFF');
  for (const pkg of ['clang', 'bpftool', 'libbpf-dev', 'prometheus-cpp-dev', 'libcivetweb-dev',
                     'libyaml-cpp-dev', 'libabsl-dev', 'cmake']) {
    if (!new RegExp(`(^|\\s)${pkg.replace(/[+]/g, '\\+')}(\\s|$)`).test(buildRuns)) {
      problems.push(`build stage must install ${pkg}`);
    }
  }

  if (!/\bldd\b[\s\S]*cp -L/.test(buildRuns)) {
    problems.push('build stage must collect the shared libraries the binary loads (ldd, cp -L)');
  }
  if (!/ca-certificates\.crt/.test(buildRuns)) problems.push('the runtime root must get the CA bundle');
  const runtimeRuns = runs(runtime);
  for (const run of runtimeRuns) {
    const install = /apt-get install([\s\S]*?)(&&|$)/.exec(run);
    if (!install) continue;
    const pkgs = install[1].replace(/\\\n/g, ' ');
    const bad = BUILD_ONLY_PACKAGES.exec(pkgs);
    if (bad) problems.push(`runtime stage installs build-only package ${bad[2]}`);
    if (!/--no-install-recommends/.test(pkgs)) problems.push('runtime apt-get install needs --no-install-recommends');
    if (!/rm -rf \/var\/lib\/apt\/lists/.test(run)) problems.push('runtime stage must remove apt lists');
  }
  if (!runtimeRuns.some((r) => r.includes(BINARY) && r.includes('--version'))) {
    problems.push(`runtime stage must smoke-run ${BINARY} --version`);
  }
  const copiesFromBuild = (i) => i.getKeyword() === 'COPY' &&
    i.getFlags().some((f) => f.getName() === 'from' && f.getValue() === build.from.getBuildStage());
  if (!runtime.body.some(copiesFromBuild)) {
    problems.push('runtime stage must COPY --from the build stage');
  }

  const labels = runtime.body.filter((i) => i.getKeyword() === 'LABEL')
    .map((i) => i.getArgumentsContent() || '').join(' ');
  for (const l of REQUIRED_LABELS) if (!labels.includes(`${l}=`)) problems.push(`missing label ${l}`);

  const exposes = runtime.body.filter((i) => i.getKeyword() === 'EXPOSE')
    .map((i) => (i.getArgumentsContent() || '').trim());
  if (!exposes.some((e) => /^9436(\/tcp)?$/.test(e))) problems.push('must EXPOSE 9436');

  const entrypoints = runtime.body.filter((i) => i.getKeyword() === 'ENTRYPOINT');
  if (entrypoints.length !== 1) {
    problems.push('runtime stage needs exactly one ENTRYPOINT');
  } else {
    const json = entrypoints[0].getJSONStrings ? entrypoints[0].getJSONStrings() : [];
    if (json.length === 0) problems.push('ENTRYPOINT must be exec form (JSON), no shell at run time');
    else if (json[0].getJSONValue() !== BINARY) problems.push(`ENTRYPOINT must start ${BINARY}`);
  }
  for (const cmd of runtime.body.filter((i) => i.getKeyword() === 'CMD')) {
    if (!cmd.getJSONStrings || cmd.getJSONStrings().length === 0) problems.push('CMD must be exec form');
  }
  const users = runtime.body.filter((i) => i.getKeyword() === 'USER');
  if (users.length && !/^(0|root)(:(0|root))?$/.test((users.at(-1).getArgumentsContent() || '').trim())) {
    problems.push('BPF needs root in the container (USER 0)');
  }

  const ignore = dockerignore.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (!ignore.includes('*') && !ignore.some((l) => /^\/?build/.test(l))) {
    problems.push('.dockerignore must keep build trees out of the context');
  }
  return problems;
}

const dockerfile = readFileSync(join(SOURCE_DIR, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(SOURCE_DIR, '.dockerignore'), 'utf8');

const BREAKAGES = {
  'single stage': (t) => t.replace(/FROM \$\{DEBIAN_IMAGE\} AS build[\s\S]*?(?=FROM )/, ''),
  'tests built': (t) => t.replace('-DDISKIDLE_BUILD_TESTS=OFF', '-DDISKIDLE_BUILD_TESTS=ON'),
  'runtime from a distribution': (t) => t.replace(/^FROM scratch$/m, 'FROM ${DEBIAN_IMAGE}'),
  'no library collection': (t) => t.replace(/ldd \/out/, 'true /out'),
  'no CA bundle': (t) => t.replace(/ca-certificates\.crt/g, 'nothing'),
  'no smoke run': (t) => t.replace(/RUN \["\/usr\/bin\/diskidle_exporter", "--version"\]\n/, ''),
  'shell-form entrypoint': (t) => t.replace(/ENTRYPOINT \[.*\]/, 'ENTRYPOINT /usr/bin/diskidle_exporter'),
  'no EXPOSE': (t) => t.replace(/EXPOSE 9436\n/, ''),
  'no OCI title': (t) => t.replace('org.opencontainers.image.title=', 'title='),
  'binary not from the build stage': (t) => t.replace('COPY --from=build', 'COPY'),
};

let failures = 0;
for (const [name, breakIt] of Object.entries(BREAKAGES)) {
  const broken = breakIt(dockerfile);
  if (broken === dockerfile) {
    console.log(`FAIL self-test: breakage "${name}" did not apply (update the checker)`);
    failures++;
  } else if (check(broken, dockerignore).length === 0) {
    console.log(`FAIL self-test: breakage "${name}" was not caught`);
    failures++;
  }
}
if (check(dockerfile, '# nothing\n').length === 0) {
  console.log('FAIL self-test: an empty .dockerignore was not caught');
  failures++;
}
for (const p of check(dockerfile, dockerignore)) {
  console.log(`FAIL Dockerfile: ${p}`);
  failures++;
}
if (failures > 0) {
  console.log(`${failures} failure(s)`);
  process.exit(1);
}
console.log(`ok   Dockerfile and .dockerignore (${Object.keys(BREAKAGES).length + 1} breakages caught)`);

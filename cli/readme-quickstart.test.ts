/**
 * The README's Kubernetes quickstart, run as written (issue #20 §3): the ```sh block under "## On Kubernetes" is
 * read from README.md, every `ccmesh` line is run through the real binary in a scratch directory, and every
 * `kubectl` line is checked against what the steps before it produced. What stands in for the cluster: a simulated
 * SEV-SNP platform (its measurement replaces the placeholder, its root is passed as `--simulated-root`), a fake
 * `genpolicy` on PATH, and a local Coordinator process whose simulated HOST_DATA is the policy hash generate put
 * into the manifest's "coordinator" entry — in place of the port-forwarded one, so `ccmesh set` attests it.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { freePorts } from '../lib/net/free-ports.js';
import { startCoordinatorProcess, waitFor } from '../test/cli-process.js';
import { repoRoot } from '../test/fixtures.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const bin = join(repoRoot, 'bin', 'ccmesh');

/** The quickstart's command lines, comments and the trailing `&` removed. */
function quickstartLines(readme: string): string[] {
  const section = readme.indexOf('\n## On Kubernetes\n');
  if (section < 0) throw new Error('README.md has no "## On Kubernetes" section');
  const open = readme.indexOf('```sh\n', section);
  const close = readme.indexOf('\n```', open + 6);
  return readme.slice(open + 6, close).split('\n').map((l) => l.replace(/\s+#.*$/, '').replace(/\s*&$/, '').trim()).filter((l) => l !== '');
}

/** Splits a line into words (the quickstart uses no quotes; `<…>` placeholders are one word). */
function words(line: string): string[] {
  return line.match(/<[^>]*>|\S+/g) ?? [];
}

/** Like genpolicy -y FILE: sets each pod template's agent policy to `package fake_<kind>_<name>` (no initdata). */
const FAKE_GENPOLICY = `#!${process.execPath}
const fs = require('node:fs');
const YAML = require(${JSON.stringify(join(repoRoot, 'node_modules', 'yaml'))});
const f = process.argv[process.argv.indexOf('-y') + 1];
const docs = YAML.parseAllDocuments(fs.readFileSync(f, 'utf8')).map((d) => d.toJS());
for (const o of docs) {
  if (!o || !['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(o.kind)) continue;
  const tpl = o.kind === 'Pod' ? o : o.spec.template;
  tpl.metadata = tpl.metadata || {};
  tpl.metadata.annotations = tpl.metadata.annotations || {};
  delete tpl.metadata.annotations['io.katacontainers.config.hypervisor.cc_init_data'];
  tpl.metadata.annotations['io.katacontainers.config.agent.policy'] = Buffer.from('package fake_' + o.kind + '_' + o.metadata.name + '\\n').toString('base64');
}
fs.writeFileSync(f, docs.map((d) => YAML.stringify(d)).join('---\\n'));
`;

void t.test('the README quickstart runs as written', async (t) => {
  const lines = quickstartLines(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
  t.ok(lines.length >= 6, `the block has its steps: ${lines.join(' | ')}`);
  for (const l of lines) t.match(l, /^(ccmesh|kubectl) /, `"${l}" is a ccmesh or kubectl command`);

  const dir = mkdtempSync(join(tmpdir(), 'firsthour-readme-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fakeBin = join(dir, '.bin');
  mkdirSync(fakeBin);
  writeFileSync(join(fakeBin, 'genpolicy'), FAKE_GENPOLICY);
  chmodSync(join(fakeBin, 'genpolicy'), 0o755);
  const env = { ...process.env, PATH: `${fakeBin}:${dirname(process.execPath)}:/usr/bin:/bin` };
  cpSync(join(repoRoot, 'examples'), join(dir, 'examples'), { recursive: true });
  const measurement = 'c1'.repeat(48);
  const sim = join(dir, '.sim');
  const simInit = spawnSync(process.execPath, [bin, 'attest', 'simulate', 'init', '--out', sim, '--measurement', measurement], { encoding: 'utf8', cwd: dir, env });
  t.equal(simInit.status, 0, simInit.stderr);

  let coordinator: ReturnType<typeof startCoordinatorProcess> | undefined;
  t.teardown(() => coordinator?.stop());
  const ran: string[] = [];
  for (const line of lines) {
    const argv = words(line);
    if (argv[0] === 'kubectl') {
      checkKubectl(t, argv, dir);
      ran.push(line);
      continue;
    }
    let args = argv.slice(1);
    if (args[0] === 'manifest' && args[1] === 'init') {
      // The placeholder is the pod VM image's measurement; the simulated platform's root stands in for AMD's.
      args = args.map((a) => (/^<.*>$/.test(a) ? measurement : a));
      args.push('--simulated-root', join(sim, 'ark.pem'));
    }
    if (args[0] === 'set') {
      // In place of the port-forward: a Coordinator on the simulated platform launched with the policy generate
      // wrote for it (HOST_DATA = the "coordinator" entry's hash), so set's attestation checks that entry.
      const m = JSON.parse(readFileSync(join(dir, 'owner', 'manifest.json'), 'utf8')) as Json;
      const coordinatorPolicy = Object.entries(m.policies as Record<string, Json>).filter(([, e]) => e.role === 'coordinator').map(([h]) => h);
      t.equal(coordinatorPolicy.length, 1, 'the manifest has the Coordinator\'s entry before set');
      const platform = JSON.parse(readFileSync(join(sim, 'platform.json'), 'utf8')) as Json;
      writeFileSync(join(sim, 'platform.json'), JSON.stringify({ ...platform, hostData: coordinatorPolicy[0] }));
      const [user, meshPort, metrics] = (await freePorts(3)) as [number, number, number];
      coordinator = startCoordinatorProcess(['--store', `file:${join(dir, '.store')}`, '--tee', 'simulated', '--sim-dir', sim, '--listen-host', '127.0.0.1', '--user-port', String(user), '--mesh-port', String(meshPort), '--metrics-port', String(metrics), '--log-level', 'warn']);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${metrics}/probe/startup`)).status === 200, 60_000);
      t.equal(args[1], '-c');
      t.equal(args[2], '127.0.0.1:1313', 'set talks to the port-forward');
      args[2] = `127.0.0.1:${user}`;
    }
    // `> FILE`: standard output into FILE, as the shell does.
    const redirect = args.indexOf('>');
    const outFile = redirect >= 0 ? args[redirect + 1] : undefined;
    if (redirect >= 0) args = args.slice(0, redirect);
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir, env, timeout: 180_000 });
    t.equal(r.status, 0, `${line}\n${r.stderr}${r.stdout}`);
    if (outFile !== undefined) writeFileSync(join(dir, outFile), r.stdout);
    ran.push(line);
    if (args[0] === 'generate' && args.includes('ccmesh-install.yaml')) {
      t.match(r.stdout, /StatefulSet ccmesh-system\/coordinator: policy [0-9a-f]{12} id \S+ role coordinator/, 'the Coordinator\'s entry');
      t.match(r.stdout, /Deployment ccmesh-system\/ccmesh-injector: skipped: ccmesh's own control-plane pod/);
    }
    if (args[0] === 'set') t.match(r.stdout, /first manifest/);
  }
  t.same(ran, lines, 'every line was run or checked');
  t.ok(existsSync(join(dir, 'deploy', 'frontend.yaml')), 'deploy/ holds the injected app');
});

/** A kubectl line of the quickstart: only the forms the test knows, each checked against the steps' output. */
function checkKubectl(t: Test, argv: string[], dir: string): void {
  const line = argv.join(' ');
  if (argv[1] === 'apply' && argv[2] === '-f' && argv.length === 4) {
    t.ok(existsSync(join(dir, argv[3]!)), `${line}: ${argv[3]} was written by an earlier step`);
    if (argv[3] === 'ccmesh-install.yaml') {
      const docs = parseAllDocuments(readFileSync(join(dir, argv[3]), 'utf8')).map((d) => d.toJS() as Json);
      const sts = docs.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'coordinator');
      t.ok(sts?.spec.template.metadata.annotations['io.katacontainers.config.agent.policy'], `${line}: the Coordinator carries the policy generate hashed`);
    }
    return;
  }
  if (argv[1] === 'port-forward') {
    t.same(argv.slice(2, 4), ['-n', 'ccmesh-system'], `${line}: the install's namespace`);
    const [kind, name] = argv[4]!.split('/');
    t.equal(kind, 'svc');
    t.equal(argv[5], '1313:1313');
    const docs = parseAllDocuments(readFileSync(join(dir, 'ccmesh-install.yaml'), 'utf8')).map((d) => d.toJS() as Json);
    const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === name && d.metadata.namespace === 'ccmesh-system');
    t.ok(svc, `${line}: install creates Service ccmesh-system/${name}`);
    t.ok((svc?.spec.ports as Json[] | undefined)?.some((p) => p.port === 1313 && p.name === 'user'), `${line}: it serves the user API on 1313`);
    t.equal(svc?.spec.publishNotReadyAddresses, true, `${line}: it reaches the Coordinator before it is ready (before the first set)`);
    return;
  }
  t.fail(`a kubectl line the test does not know: ${line}`);
}

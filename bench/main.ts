/**
 * `npm run bench [-- --quick] [-- --only proxy|attestation|coordinator|replicas] [-- --out DIR]`: runs the benchmarks and
 * writes JSON lines, a Markdown report and the proxy chart (SVG) to bench/out/ (never part of `npm test`).
 */
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_USAGE, parseBenchArgs } from './args.js';
import type { Measurement } from './measure.js';
import { ALL_PEERS } from './peers/all.js';
import { setCcmeshLaunch } from './peers/ccmesh.js';
import { hasTaskset, killAllChildrenSync } from './proxy/processes.js';
import { renderProxyChart } from './proxy/proxy-chart.js';
import { renderProxyJsonLines, renderProxyMarkdown } from './proxy/proxy-report.js';
import { type ProxyBenchData, runProxyBench } from './proxy/run.js';
import { SCENARIOS } from './proxy/scenarios.js';
import { toolVersions } from './proxy/versions.js';
import { renderJsonLines, renderMarkdown, runInfo } from './report.js';
import { runAttestationSuite, runSimulatedIssuanceSuite } from './suites/attestation.js';
import { runCoordinatorSuite } from './suites/coordinator.js';
import { renderRestartMarkdown, type ReplicasResult, runReplicasSuite } from './suites/replicas.js';

const repo = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const argv = process.argv.slice(2);
const { args, problems } = parseBenchArgs(argv, ALL_PEERS.map((p) => p.name), SCENARIOS.map((s) => s.id));
if (args.help || problems.length > 0) {
  for (const p of problems) process.stderr.write(`bench: ${p}\n`);
  process.stderr.write(BENCH_USAGE);
  process.exit(args.help && problems.length === 0 ? 0 : 64);
}
// Sidecars and servers are child processes: kill any survivor on every way out.
process.on('exit', killAllChildrenSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAllChildrenSync();
    process.exit(130);
  });
}

const outDir = args.out ? resolve(args.out) : join(repo, 'bench', 'out');
const quick = args.quick;
const opts = quick ? { warmupMs: 200, roundMs: 500, rounds: 3 } : { warmupMs: 1000, roundMs: 3000, rounds: 5 };
const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const info = { ...runInfo(`npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`), versions: toolVersions() };

const results: Measurement[] = [];
if (args.only.includes('attestation')) {
  log(`attestation suite (${opts.rounds} rounds × ${opts.roundMs} ms)…`);
  results.push(...runAttestationSuite(join(repo, 'testdata', 'attestation'), opts));
  log('simulated TEE (creating a platform: RSA-4096 key generation takes a few seconds)…');
  results.push(...(await runSimulatedIssuanceSuite(opts)));
}
if (args.only.includes('coordinator')) {
  log('coordinator NewMeshCert (evidence prepared outside the timed rounds)…');
  results.push(...(await runCoordinatorSuite(opts, quick ? 1000 : 2000)));
}
let replicas: ReplicasResult | undefined;
if (args.only.includes('replicas')) {
  log('coordinator replicas on a 3-member etcd cluster (replicas are processes; evidence prepared outside the timed rounds)…');
  replicas = await runReplicasSuite(opts, quick ? 600 : 1500, quick ? 3 : 5, log);
  if ('skipped' in replicas) log(`  skipped: ${replicas.skipped}`);
  else results.push(...replicas.rates);
}
for (const m of results) log(`  ${m.scenario}: ${Math.round(m.median)} ops/s`);

let proxy: ProxyBenchData | undefined;
if (args.only.includes('proxy')) {
  // Two or more CPUs: app server and sidecars share CPU 0, the load generator gets CPU 1 (docs/design.md §7).
  const pin = cpus().length >= 2 && hasTaskset();
  const settings = {
    seconds: quick ? 2 : 10,
    warmupSeconds: quick ? 1 : 3,
    repetitions: quick ? 3 : 5,
    ...(pin ? { serverCpus: '0', loadCpus: '1' } : {}),
  };
  const peers = ALL_PEERS.filter((p) => !args.peers || args.peers.includes(p.name));
  const scenarios = SCENARIOS.filter((s) => !args.scenarios || args.scenarios.includes(s.id));
  setCcmeshLaunch(args.launch);
  log(`proxy path: ${peers.map((p) => p.name).join(', ')} × ${scenarios.length} scenarios`);
  proxy = await runProxyBench(peers, scenarios, settings, log);
}

mkdirSync(outDir, { recursive: true });
const restartLine = replicas && !('skipped' in replicas) ? JSON.stringify({ type: 'restart', suite: 'replicas', etcd: replicas.etcd, ...replicas.restart }) + '\n' : '';
writeFileSync(join(outDir, 'results.jsonl'), renderJsonLines(info, results) + restartLine + (proxy ? renderProxyJsonLines(proxy) : ''));
const sections: string[] = [];
if (results.length > 0) sections.push('## Attestation and the Coordinator (one core)\n', renderMarkdown(info, results));
if (replicas) {
  sections.push('## Coordinator replicas on one etcd cluster\n', 'skipped' in replicas ? `Skipped: ${replicas.skipped}.\n` : `etcd: ${replicas.etcd}, 3 members on loopback.\n\n${renderRestartMarkdown(replicas.restart)}`);
}
if (proxy) {
  const pinned = proxy.settings.serverCpus !== undefined;
  const chart = renderProxyChart(proxy, `${info.command} — ${info.date}, commit ${info.commit}, ${info.cpu} (${info.cores} cores)`);
  writeFileSync(join(outDir, 'proxy-chart.svg'), chart);
  sections.push(
    '## Proxy path: client → egress sidecar → mTLS → ingress sidecar → server\n',
    `Command: \`${info.command}\` — ${info.date}, commit ${info.commit}, ${info.cpu} (${info.cores} cores, ${info.memoryGiB} GiB)\n`,
    renderProxyMarkdown(proxy, { versions: info.versions, pinned }),
    '![proxy benchmark chart](proxy-chart.svg)\n',
  );
}
const md = sections.join('\n');
writeFileSync(join(outDir, 'results.md'), md);
process.stdout.write(md);
log(`wrote ${join(outDir, 'results.jsonl')}, results.md${proxy ? ', proxy-chart.svg' : ''}`);

/**
 * `npm run bench [-- --quick] [-- --out DIR]`: runs the benchmark suites and writes JSON lines and a Markdown table
 * to bench/out/ (never part of `npm test`). Proxy scenarios against HAProxy and nginx join here with the proxy.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAttestationSuite, runSimulatedIssuanceSuite } from './suites/attestation.js';
import { runCoordinatorSuite } from './suites/coordinator.js';
import { renderJsonLines, renderMarkdown, runInfo } from './report.js';

const repo = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outIdx = args.indexOf('--out');
const outDir = outIdx >= 0 && args[outIdx + 1] ? resolve(args[outIdx + 1]!) : join(repo, 'bench', 'out');
const opts = quick ? { warmupMs: 300, roundMs: 1000, rounds: 3 } : { warmupMs: 1000, roundMs: 3000, rounds: 5 };

const info = runInfo(`npm run bench${quick ? ' -- --quick' : ''}`);
process.stderr.write(`bench: attestation suite (${opts.rounds} rounds × ${opts.roundMs} ms)…\n`);
const results = runAttestationSuite(join(repo, 'testdata', 'attestation'), opts);
process.stderr.write('bench: simulated TEE (creating a platform: RSA-4096 key generation takes a few seconds)…\n');
results.push(...(await runSimulatedIssuanceSuite(opts)));
process.stderr.write('bench: coordinator NewMeshCert (evidence prepared outside the timed rounds)…\n');
results.push(...(await runCoordinatorSuite(opts, quick ? 1000 : 2000)));
for (const m of results) process.stderr.write(`bench:   ${m.scenario}: ${Math.round(m.median)} ops/s\n`);

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'results.jsonl'), renderJsonLines(info, results));
const md = renderMarkdown(info, results);
writeFileSync(join(outDir, 'results.md'), md);
process.stdout.write(md);

/**
 * The simulated TEE end to end: a platform made on disk, reports issued from it, and the production verifier
 * accepting them only with the simulated ARK as an explicit anchor.
 */
import t from 'tap';
import fc from 'fast-check';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../lib/errors.js';
import { parseSnpReport } from '../snp/report.js';
import { verifySnp } from '../snp/verify.js';
import { initSimulatedPlatform, loadSimulatedPlatform, parsePlatformConfig, SIMULATED_ORGANIZATION } from './platform.js';
import { SimulatedSnpIssuer } from './snp-issuer.js';

const at = new Date();
const tmp = (t: { teardown(fn: () => void): void }): string => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'platform');
};

void t.test('init writes a platform with private keys 0600 and refuses to overwrite it', async (t) => {
  const dir = tmp(t);
  const progress: string[] = [];
  const p = await initSimulatedPlatform(dir, { rsaBits: 2048, progress: (m) => progress.push(m) });
  for (const key of ['ark.key', 'ask.key', 'vcek.key']) t.equal(statSync(join(dir, key)).mode & 0o777, 0o600, key);
  t.equal(statSync(dir).mode & 0o777, 0o700);
  t.ok(progress.length >= 3, 'reports progress during key generation');
  t.match(p.ark.subject, /ARK-Milan/);
  t.match(p.ark.subject, new RegExp(SIMULATED_ORGANIZATION));
  t.equal(p.config.product, 'milan');
  t.equal(p.config.policy, '0000000000030000');
  await t.rejects(initSimulatedPlatform(dir, { rsaBits: 2048 }), /already holds a simulated platform/);
  const again = await loadSimulatedPlatform(dir);
  t.same(again.config, p.config);
});

void t.test('issued reports verify only against the simulated ARK, never the pinned AMD roots', async (t) => {
  const dir = tmp(t);
  const platform = await initSimulatedPlatform(dir, { rsaBits: 2048 });
  const hostData = new Uint8Array(32).fill(0xab);
  const measurement = new Uint8Array(48).fill(0x5c);
  const issuer = new SimulatedSnpIssuer(platform, { hostData, measurement });
  const reportData = new Uint8Array(64).map((_, i) => i);
  const ev = await issuer.issue(reportData);
  t.equal(ev.format, 'snp');
  if (ev.format !== 'snp') return;
  const parsed = parseSnpReport(ev.report);
  t.equal(parsed.version, 3);
  t.same([...parsed.reportData], [...reportData]);
  t.same([...parsed.hostData], [...hostData]);
  t.same([...parsed.measurement], [...measurement]);
  t.ok(ev.certificates.vcek && ev.certificates.ask && ev.certificates.ark);

  const input = { report: ev.report, vek: platform.vcekDer, chain: platform.chainPem, at };
  const good = verifySnp({ ...input, anchors: [platform.ark] });
  t.same(good.reasons, []);
  t.equal(good.ok, true);
  t.equal(good.claims?.product, 'milan');
  t.equal(good.claims?.signer, 'vcek');
  t.equal(good.claims?.host_data, 'ab'.repeat(32));

  const pinned = verifySnp(input);
  t.equal(pinned.ok, false, 'the built-in trust store never contains the simulated ARK');
  t.match(pinned.reasons.join('\n'), /not a pinned trust anchor/);

  await t.rejects(issuer.issue(new Uint8Array(63)), /exactly 64 bytes/);
});

void t.test('flipping any signed byte is rejected', async (t) => {
  const platform = await initSimulatedPlatform(tmp(t), { rsaBits: 2048 });
  const ev = await new SimulatedSnpIssuer(platform).issue(new Uint8Array(64).fill(7));
  if (ev.format !== 'snp') throw new Error('expected SNP evidence');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0x29f }), fc.integer({ min: 1, max: 255 }), (offset, mask) => {
      const bytes = new Uint8Array(ev.report);
      bytes[offset]! ^= mask;
      return !verifySnp({ report: bytes, vek: platform.vcekDer, chain: platform.chainPem, at, anchors: [platform.ark] }).ok;
    }),
    { numRuns: 150 },
  );
  t.pass('no flipped report verified');
});

void t.test('Genoa and Turin platforms issue verifiable v3 reports with their own TCB layout', async (t) => {
  for (const product of ['genoa', 'turin'] as const) {
    const platform = await initSimulatedPlatform(tmp(t), { rsaBits: 2048, product });
    const ev = await new SimulatedSnpIssuer(platform).issue(new Uint8Array(64));
    if (ev.format !== 'snp') throw new Error('expected SNP evidence');
    const r = verifySnp({ report: ev.report, vek: platform.vcekDer, chain: platform.chainPem, at, anchors: [platform.ark] });
    t.same(r.reasons, [], product);
    t.equal(r.claims?.product, product);
    if (product === 'turin') t.equal(r.claims?.reported_tcb.fmc, platform.config.reportedTcb.fmc);
  }
});

void t.test('a damaged platform is refused with the file named', async (t) => {
  const dir = tmp(t);
  await initSimulatedPlatform(dir, { rsaBits: 2048 });
  chmodSync(join(dir, 'vcek.key'), 0o644);
  await t.rejects(loadSimulatedPlatform(dir), /vcek\.key is readable by others/);
  chmodSync(join(dir, 'vcek.key'), 0o600);
  const cfg = JSON.parse(readFileSync(join(dir, 'platform.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'platform.json'), JSON.stringify({ ...cfg, product: 'rome', chipId: 'xyz', extra: 1 }));
  const err = await loadSimulatedPlatform(dir).catch((e: unknown) => e);
  t.ok(err instanceof ConfigError);
  t.same((err as ConfigError).issues.map((i) => i.field).sort(), ['chipId', 'extra', 'product']);
  await t.rejects(loadSimulatedPlatform(join(dir, 'missing')), /cannot read platform\.json.*simulate init/);
  t.throws(() => parsePlatformConfig('{', 'x'), ConfigError);
});

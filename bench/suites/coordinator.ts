/**
 * NewMeshCert throughput: full evidence verification (simulated SNP, same code path as hardware) plus leaf
 * issuance, measured in the Coordinator core and end to end over gRPC on loopback. Evidence is made before the
 * timed rounds (each request needs a fresh single-use nonce), so only the Coordinator's work is timed.
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { toCheckedEvidence } from '../../attestation/issuers/wire-evidence.js';
import { buildManifestDocument } from '../../contract/manifest/document.js';
import { MemoryStore } from '../../coordinator/store/memory-store.js';
import { startCoordinator } from '../../coordinator/unit.js';
import { systemClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { meshCertReportData } from '../../lib/protocol/binding.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { evidenceMessage, type WireEvidence } from '../../lib/protocol/messages.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { signedSetManifestRequest } from '../../lib/protocol/signed-set.js';
import type { Measurement, MeasureOptions } from '../measure.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Runs the Coordinator suite; `perRound` requests are prepared for each timed round. */
export async function runCoordinatorSuite(opts: MeasureOptions, perRound: number): Promise<Measurement[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-bench-coord-'));
  const platform = await initSimulatedPlatform(join(dir, 'platform'));
  const coordinatorDoc = 'coordinator', podDoc = 'pod';
  const owner = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const seedshare = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const hex = (k: KeyObject): string => Buffer.from(k.export({ type: 'spki', format: 'der' })).toString('hex');
  const running = await startCoordinator(
    { host: '127.0.0.1', userPort: 0, meshPort: 0, metricsPort: 0 },
    {
      store: new MemoryStore(),
      issuer: new SimulatedSnpIssuer(platform, { hostData: Buffer.from(sha(coordinatorDoc), 'hex') }),
      clock: systemClock,
      logger: createLogger({ component: 'bench', level: 'error', sink: () => undefined }),
      // One load generator on one address: the per-client bound would measure itself, not issuance.
      nonceSpendLimits: { perClient: { burst: Number.MAX_SAFE_INTEGER, perSecond: Number.MAX_SAFE_INTEGER }, overall: { burst: Number.MAX_SAFE_INTEGER, perSecond: Number.MAX_SAFE_INTEGER }, maxClients: 1 },
    },
  );
  const user = await PinnedClient.connect(`127.0.0.1:${running.userPort}`, UserApi);
  const mesh = await PinnedClient.connect(`127.0.0.1:${running.meshPort}`, MeshApi);
  try {
    const manifest = Buffer.from(JSON.stringify(buildManifestDocument({
      workloadOwnerKeys: [hex(owner.publicKey)], seedshareOwnerKeys: [hex(seedshare.publicKey)], simulatedArkPem: platform.ark.toString(),
      simulatedSnp: { measurements: [platform.config.measurement] },
      policies: [{ policyHash: sha(coordinatorDoc), role: 'coordinator' }, { policyHash: sha(podDoc), sans: ['web'], workloadSecretId: 'web' }],
    })));
    await user.call('SetManifest', await signedSetManifestRequest(user, manifest, [Buffer.from(coordinatorDoc), Buffer.from(podDoc)], owner.privateKey));
    const podIssuer = new SimulatedSnpIssuer(platform, { hostData: Buffer.from(sha(podDoc), 'hex') });
    const prepare = async (n: number) => {
      const out: { evidence: WireEvidence; publicKey: Uint8Array; nonce: Uint8Array }[] = [];
      for (let i = 0; i < n; i++) {
        const spki = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
        const nonce = running.core.nonce();
        out.push({ evidence: toCheckedEvidence(await podIssuer.issue(meshCertReportData(spki, nonce, mesh.spki))), publicKey: spki, nonce });
      }
      return out;
    };
    const timed = async (scenario: string, run: (req: Awaited<ReturnType<typeof prepare>>[number]) => Promise<unknown>): Promise<Measurement> => {
      await Promise.all((await prepare(Math.min(200, perRound))).map(run)); // warm-up
      const rates: number[] = [];
      const cpus: number[] = [];
      for (let r = 0; r < opts.rounds; r++) {
        const batch = await prepare(perRound);
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        // 16 requests in flight, as pods starting together would be.
        let next = 0;
        await Promise.all(Array.from({ length: 16 }, async () => {
          while (next < batch.length) await run(batch[next++]!);
        }));
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        rates.push((batch.length * 1000) / ms);
        cpus.push((cpu.user + cpu.system) / batch.length);
      }
      const sorted = [...rates].sort((a, b) => a - b);
      return {
        suite: 'coordinator', scenario, unit: 'ops/s', median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted.at(-1)!,
        rounds: opts.rounds, cpuMicrosPerOp: [...cpus].sort((a, b) => a - b)[Math.floor(cpus.length / 2)]!, notes: 'target ≥ 500/s (gRPC path)',
      };
    };
    const core = await timed('NewMeshCert in the core (verify + issue)', (req) => running.core.newMeshCert(req));
    const grpc = await timed('NewMeshCert over gRPC/TLS on loopback (client in the same process)', (req) =>
      mesh.call('NewMeshCert', { evidence: evidenceMessage(req.evidence), publicKey: req.publicKey, nonce: req.nonce }));
    return [core, grpc];
  } finally {
    user.close();
    mesh.close();
    await running.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

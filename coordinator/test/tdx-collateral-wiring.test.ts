/**
 * The TDX collateral provider reaches the Coordinator's NewMeshCert check: a running Coordinator (in process, over
 * loopback) asks its provider for the collateral of a pod's TDX quote before judging it, and a provider that has
 * none refuses the quote — it is never judged on signatures alone. (The samples can't bind a Coordinator nonce,
 * so acceptance is shown at the checker level in coordinator/attestation/tdx-evidence.test.ts.)
 */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { quoteFacts } from '../../attestation/tdx/test-support.js';
import { systemClock } from '../../lib/clock.js';
import { CcmeshError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { writeEvidence } from '../../lib/protocol/messages.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { signedSetManifestRequest } from '../../lib/protocol/signed-set.js';
import { b64, WireReader } from '../../lib/protocol/wire.js';
import { readSample } from '../../test/fixtures.js';
import type { TdxCollateralProvider } from '../attestation/tdx-collateral.js';
import { exampleManifest } from '../manifest/example.js';
import { MemoryStore } from '../store/memory-store.js';
import { startCoordinator } from '../unit.js';
import { sha256hex } from './harness.js';

const TRUSTEE = 'tdx/quote-v4-trustee-q4.dat';

void t.test('NewMeshCert with a TDX quote asks the configured collateral provider; no collateral, no certificate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-tdx-wiring-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const platform = await initSimulatedPlatform(join(dir, 'platform'), { rsaBits: 2048 });
  const coordinatorDoc = 'coordinator policy';
  const asked: number[] = [];
  const provider: TdxCollateralProvider = {
    collateralFor: (quote) => {
      asked.push(quote.length);
      return Promise.resolve({ problems: ['no TCB info for FMSPC 50806f000000 in the test provider'] });
    },
  };
  const warnings: string[] = [];
  const running = await startCoordinator(
    { host: '127.0.0.1', userPort: 0, meshPort: 0, metricsPort: 0 },
    {
      store: new MemoryStore(),
      issuer: new SimulatedSnpIssuer(platform, { hostData: Buffer.from(sha256hex(coordinatorDoc), 'hex') }),
      clock: systemClock,
      logger: createLogger({ component: 'coordinator', level: 'warn', sink: (l) => warnings.push(l) }),
      tdxCollateral: provider,
    },
  );
  t.teardown(() => running.close());
  const user = await PinnedClient.connect(`127.0.0.1:${running.userPort}`, UserApi);
  const mesh = await PinnedClient.connect(`127.0.0.1:${running.meshPort}`, MeshApi);
  t.teardown(() => {
    user.close();
    mesh.close();
  });
  // The collateral is looked up before the policy hash matters, so the manifest needs no TD policy (whose document
  // would have to hash to the samples' all-zero MRCONFIGID). allowUnevaluatedTcb: even so, a configured provider
  // without collateral refuses the quote.
  const owner = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const setManifest = exampleManifest({
    workloadOwnerKeys: [Buffer.from(owner.publicKey.export({ type: 'spki', format: 'der' })).toString('hex')],
    seedshareOwnerKeys: [],
    simulatedArkPem: platform.ark.toString(),
    simulatedSnp: { measurements: [platform.config.measurement] },
    tdx: [{ mrTd: [quoteFacts(TRUSTEE).td_report_body['mr_td']], allowDebug: true, allowUnevaluatedTcb: true }],
    policies: [{ policyHash: sha256hex(coordinatorDoc), role: 'coordinator' }],
  });
  await user.call('SetManifest', await signedSetManifestRequest(user, Buffer.from(JSON.stringify(setManifest)), [Buffer.from(coordinatorDoc)], owner.privateKey));
  t.ok(warnings.some((l) => l.includes('allowUnevaluatedTcb') && l.includes('referenceValues.tdx[0]')), 'the weakened alternative is logged as a warning, by path');

  const nonce = new WireReader('n', await mesh.call('GetNonce', {})).bytes('nonce', 32, 32);
  const spki = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
  const quote = readSample(TRUSTEE);
  const err = await mesh.call('NewMeshCert', { evidence: writeEvidence({ format: 'tdx', quote }), publicKey: b64(spki), nonce: b64(nonce) }).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof CcmeshError, 'refused');
  t.match((err as Error).message, /PERMISSION_DENIED: .*TDX collateral: no TCB info for FMSPC 50806f000000/, 'with the provider\'s reason');
  t.same(asked, [quote.length], 'the provider was asked for this quote');
});

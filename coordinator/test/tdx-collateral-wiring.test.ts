/**
 * The TDX collateral provider reaches the Coordinator's NewMeshCert check: a running Coordinator (in process, over
 * loopback) asks its provider for the collateral of a pod's TDX quote before judging it, and a provider that has
 * none refuses the quote — it is never judged on signatures alone. (The samples can't bind a Coordinator nonce,
 * so acceptance is shown at the checker level in contract/attestation/tdx-evidence.test.ts.) With the 2023
 * collateral and the Coordinator core's clock at the samples' time (the core directly: TLS certificates made at that
 * time would be expired for a real-time client), a genuine quote is judged all the way to the REPORTDATA binding,
 * which refuses it: the sample was not made for this Coordinator's nonce and the pod's key.
 */
import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { COLLATERAL_2023, fixedNow, quoteFacts } from '../../test/support/attestation/tdx.js';
import { FixedClock, systemClock } from '../../lib/clock.js';
import { CcmeshError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createRegistry } from '../../lib/metrics.js';
import { setManifestSignedData, signBinding } from '../../lib/protocol/binding.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { evidenceMessage } from '../../lib/protocol/messages.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { signedSetManifestRequest } from '../../lib/protocol/signed-set.js';
import { attestationSample, readSample } from '../../test/fixtures.js';
import { DirectoryTdxCollateral, type TdxCollateralProvider } from '../../contract/attestation/tdx-collateral.js';
import { Coordinator } from '../core/coordinator.js';
import type { Refusal } from '../core/refusal.js';
import { buildManifestDocument } from '../../contract/manifest/document.js';
import { createCoordinatorMetrics } from '../metrics.js';
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
  const setManifest = buildManifestDocument({
    workloadOwnerKeys: [Buffer.from(owner.publicKey.export({ type: 'spki', format: 'der' })).toString('hex')],
    seedshareOwnerKeys: [],
    simulatedArkPem: platform.ark.toString(),
    simulatedSnp: { measurements: [platform.config.measurement] },
    tdx: [{ mrTd: [quoteFacts(TRUSTEE).td_report_body['mr_td']], allowDebug: true, allowUnevaluatedTcb: true }],
    policies: [{ policyHash: sha256hex(coordinatorDoc), role: 'coordinator' }],
  });
  await user.call('SetManifest', await signedSetManifestRequest(user, Buffer.from(JSON.stringify(setManifest)), [Buffer.from(coordinatorDoc)], owner.privateKey));
  t.ok(warnings.some((l) => l.includes('allowUnevaluatedTcb') && l.includes('referenceValues.tdx[0]')), 'the weakened alternative is logged as a warning, by path');

  const nonce = await mesh.nonce();
  const spki = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
  const quote = readSample(TRUSTEE);
  const err = await mesh.call('NewMeshCert', { evidence: evidenceMessage({ format: 'tdx', quote }), publicKey: spki, nonce }).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof CcmeshError, 'refused');
  t.match((err as Error).message, /PERMISSION_DENIED: .*TDX collateral: no TCB info for FMSPC 50806f000000/, 'with the provider\'s reason');
  t.same(asked, [quote.length], 'the provider was asked for this quote');
});

void t.test('NewMeshCert with a genuine TDX quote and its collateral: judged up to the binding, refused for a REPORTDATA made for another request', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-tdx-newmeshcert-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new FixedClock(fixedNow(TRUSTEE));
  const collateralDir = join(dir, 'collateral');
  mkdirSync(collateralDir);
  for (const name of COLLATERAL_2023) copyFileSync(attestationSample(`tdx/collateral/${name}`), join(collateralDir, name));
  const platform = await initSimulatedPlatform(join(dir, 'platform'), { rsaBits: 2048 });
  const coordinatorDoc = Buffer.from('coordinator policy');
  const registry = createRegistry();
  const tlsSpki = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
  const core = new Coordinator({
    store: new MemoryStore(), clock, logger: createLogger({ component: 'coordinator', level: 'error', sink: () => undefined }),
    metrics: createCoordinatorMetrics(registry), issuer: new SimulatedSnpIssuer(platform, { hostData: Buffer.from(sha256hex(coordinatorDoc), 'hex') }),
    tlsSpki, tdxCollateral: await DirectoryTdxCollateral.open(collateralDir, { clock }),
  });
  await core.start();
  // The TD's own MRTD, debug allowed (the sample is a debug TD), its TCB judged with collateral (UpToDate is accepted).
  const owner = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const manifest = Buffer.from(JSON.stringify(buildManifestDocument({
    workloadOwnerKeys: [Buffer.from(owner.publicKey.export({ type: 'spki', format: 'der' })).toString('hex')],
    seedshareOwnerKeys: [],
    tdx: [{ mrTd: [quoteFacts(TRUSTEE).td_report_body['mr_td']], allowDebug: true }],
    policies: [{ policyHash: sha256hex(coordinatorDoc), role: 'coordinator' }],
  })));
  const setNonce = core.nonce();
  await core.setManifest({
    manifest, policies: [coordinatorDoc], nonce: setNonce, ownerKey: Buffer.from(owner.publicKey.export({ type: 'spki', format: 'der' })).toString('hex'),
    signature: signBinding(setManifestSignedData(manifest, [coordinatorDoc], setNonce, tlsSpki), owner.privateKey),
  });

  // A pod's request: its key and a fresh nonce; the quote's REPORTDATA was made for some other request.
  const publicKey = new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }));
  const err = await core.newMeshCert({ evidence: { format: 'tdx', quote: readSample(TRUSTEE) }, publicKey, nonce: core.nonce(), client: 'pod' }).then(() => undefined, (e: unknown) => e as Refusal);
  t.match(err, { code: 7, failure: 'binding', message: /^evidence refused: REPORTDATA does not bind this request/ }, 'PERMISSION_DENIED by the REPORTDATA binding: quote, collateral and TCB were accepted before it');
  const garbled = Buffer.from(readSample(TRUSTEE));
  randomBytes(8).copy(garbled, 700);
  const forged = await core.newMeshCert({ evidence: { format: 'tdx', quote: garbled }, publicKey, nonce: core.nonce() }).then(() => undefined, (e: unknown) => e as Refusal);
  t.match(forged, { code: 7, failure: 'evidence' }, 'control: a quote with garbled bytes is refused earlier, as evidence');
});

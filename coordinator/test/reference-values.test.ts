/**
 * The Coordinator's reference values for SEV-SNP evidence, shown with evidence that is genuine (signed by the
 * simulated platform whose root the manifest trusts) and bound to the request, so the signature and binding checks
 * pass and only the comparison with the manifest can refuse it: a measurement the manifest does not list, a HOST_DATA
 * naming no policy, and a simulated root that would vouch for another root's values.
 */
import t from 'tap';
import { join } from 'node:path';
import { initSimulatedPlatform } from '../../attestation/simulated/platform.js';
import type { PinnedClient } from '../../lib/protocol/client.js';
import type { MeshApiMethods, MeshCertResponse } from '../../lib/protocol/messages.js';
import { Harness, refused } from './harness.js';

const MANIFEST_MEASUREMENT = 'a1'.repeat(48);
const OTHER_MEASUREMENT = 'b2'.repeat(48);
const measurement = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

/** The Coordinator's attestation-failure counters, by reason. */
async function failures(h: Harness): Promise<Record<string, number>> {
  const text = await h.coordinator!.registry.metrics();
  return Object.fromEntries([...text.matchAll(/^ccmesh_coordinator_attestation_failures_total\{reason="(\w+)"[^}]*\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

/** The harness manifest with the simulated root's measurement list replaced and `extraRoots` trusted too. */
function manifestWith(h: Harness, measurements: readonly string[], extraRoots: { name: string; ark: string; measurements: string[] }[] = []): Uint8Array {
  const doc = JSON.parse(Buffer.from(h.manifest()).toString('utf8')) as { referenceValues: { simulated: { snp: Record<string, unknown> }[] } };
  doc.referenceValues.simulated[0]!.snp['measurements'] = [...measurements];
  for (const r of extraRoots) doc.referenceValues.simulated.push({ name: r.name, ark: r.ark, snp: { measurements: r.measurements } } as never);
  return new Uint8Array(Buffer.from(JSON.stringify(doc)));
}

/** NewMeshCert with simulated evidence made as `opts` say (bound to the request unless they say otherwise). */
async function newMeshCert(h: Harness, mesh: PinnedClient<MeshApiMethods>, opts: Parameters<Harness['podRequest']>[1]): Promise<MeshCertResponse> {
  const { request } = await h.podRequest(mesh, opts);
  return mesh.call('NewMeshCert', request);
}

void t.test('genuine, bound evidence with a measurement the manifest does not list is refused by the reference values', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  await user.call('SetManifest', await h.signedSet(user, manifestWith(h, [MANIFEST_MEASUREMENT]), [h.coordinatorDoc, h.podDoc]));
  t.ok(await newMeshCert(h, mesh, { measurement: measurement(MANIFEST_MEASUREMENT) }), 'control: the listed measurement gets a certificate');

  await refused(t, newMeshCert(h, mesh, { measurement: measurement(OTHER_MEASUREMENT) }), 'PERMISSION_DENIED',
    new RegExp(`evidence refused: measurement ${OTHER_MEASUREMENT} is not one of the 1 reference measurement`), 'an unlisted measurement');
  t.same(await failures(h), { reference: 1 }, 'counted as a reference-value failure, not a signature or binding one');

  await refused(t, newMeshCert(h, mesh, { measurement: measurement(MANIFEST_MEASUREMENT), hostDataDoc: new Uint8Array(Buffer.from('a policy nobody set')) }), 'PERMISSION_DENIED',
    /evidence refused: policy hash [0-9a-f]{64} is not in the manifest/, 'the listed measurement, HOST_DATA naming no policy');
  t.same(await failures(h), { reference: 1, policy: 1 }, 'counted as a policy failure');
});

void t.test('a simulated root vouches only for its own reference values, not another root\'s', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  const second = await initSimulatedPlatform(join(h.dir, 'second'), { rsaBits: 2048 });
  // The harness platform's root lists OTHER; the second root lists the measurement the harness platform will report.
  const manifest = manifestWith(h, [OTHER_MEASUREMENT], [{ name: 'second', ark: second.ark.toString(), measurements: [MANIFEST_MEASUREMENT] }]);
  await user.call('SetManifest', await h.signedSet(user, manifest, [h.coordinatorDoc, h.podDoc]));
  t.ok(await newMeshCert(h, mesh, { platform: second, measurement: measurement(MANIFEST_MEASUREMENT) }), 'control: the second platform\'s evidence meets its root\'s values');

  await refused(t, newMeshCert(h, mesh, { measurement: measurement(MANIFEST_MEASUREMENT) }), 'PERMISSION_DENIED',
    new RegExp(`evidence refused: measurement ${MANIFEST_MEASUREMENT} is not one of the 1 reference measurement`), 'the first platform\'s evidence with the second root\'s measurement');
  t.same(await failures(h), { reference: 1 }, 'a reference-value failure');
});

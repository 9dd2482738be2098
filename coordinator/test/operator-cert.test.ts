/**
 * IssueOperatorCert: a workload owner key of the current manifest gets a short-lived operator client certificate;
 * everyone else, a replayed request, a signature over another key and an immutable manifest get nothing. The
 * certificate is an operator identity only: its one SAN is the ccmesh-operator:// URI, it is a TLS client only, it
 * lives at most the configured lifetime, and RenewMeshCert never renews it (so it never becomes a workload leaf).
 */
import t from 'tap';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { signedOperatorCertRequest } from '../../lib/protocol/operator-cert-request.js';
import { isOperatorSanText, MAX_OPERATOR_CERT_LIFETIME_MS } from '../../contract/operator-identity.js';
import { Harness, refused } from './harness.js';

const certs = (pem: string): X509Certificate[] => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

void t.test('a workload owner gets a short-lived operator certificate under the mesh CA', async (t) => {
  const { h, user } = await Harness.started(t);
  const set = await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const op = p256();
  const before = Date.now();
  const res = await user.call('IssueOperatorCert', await signedOperatorCertRequest(user, op.privateKey, h.owner.privateKey));
  const [leaf, ca] = certs(res.certChain);
  t.ok(leaf && ca, 'a chain of operator certificate and mesh CA');
  t.equal(ca!.fingerprint256, certs(set.meshCaBundle)[0]!.fingerprint256, 'issued by the current mesh CA');
  t.ok(leaf!.verify(ca!.publicKey), 'and signed by it');
  t.equal(leaf!.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), op.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), 'for the operator key');
  t.match(res.operatorId, /^ccmesh-operator:\/\/ccmesh\.local\/[0-9a-f]{32}$/, 'operator id names the trust domain and the owner key');
  t.equal(leaf!.subjectAltName, `URI:${res.operatorId}`, 'its only SAN is the operator URI (no DNS, IP or spiffe:// name)');
  t.ok(isOperatorSanText(leaf!.subjectAltName), 'recognised as an operator');
  t.equal(leaf!.keyUsage?.join(','), '1.3.6.1.5.5.7.3.2', 'TLS client only');
  t.ok(Date.parse(leaf!.validTo) <= before + MAX_OPERATOR_CERT_LIFETIME_MS + 1000, 'valid at most one hour');
  t.equal(res.rootCa, set.rootCa, 'the root comes with it (the operator verifies pods against it)');
  t.equal(res.meshOwner, set.meshOwner, 'and the mesh owner');
  const m = await fetch(`http://127.0.0.1:${h.coordinator!.metricsPort}/metrics`).then((r) => r.text());
  t.match(m, /ccmesh_coordinator_operator_certificates_total\{result="issued"[^}]*\} 1/, 'issuance counted');
});

void t.test('refusals: not an owner key, a replayed request, a signature over another key, a seed-share key', async (t) => {
  const { h, user } = await Harness.started(t);
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const op = p256();
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  await refused(t, user.call('IssueOperatorCert', await signedOperatorCertRequest(user, op.privateKey, stranger.privateKey)),
    'PERMISSION_DENIED', /ownerKey is not one of the current manifest's workloadOwnerKeys/, 'a key the manifest does not name');
  await refused(t, user.call('IssueOperatorCert', await signedOperatorCertRequest(user, op.privateKey, h.seedshare.privateKey)),
    'PERMISSION_DENIED', /ownerKey is not one of the current manifest's workloadOwnerKeys/, 'a seed-share owner key is no workload owner key');

  const good = await signedOperatorCertRequest(user, op.privateKey, h.owner.privateKey);
  t.ok(await user.call('IssueOperatorCert', good), 'control: the owner\'s request is served once');
  await refused(t, user.call('IssueOperatorCert', good), 'PERMISSION_DENIED', /unknown or already used nonce/, 'the same request replayed');

  // The owner's signature for key A presented with key B (what a relay that swapped the key would send).
  const forA = await signedOperatorCertRequest(user, op.privateKey, h.owner.privateKey);
  const other = p256();
  const swapped = { ...forA, publicKey: new Uint8Array(other.publicKey.export({ type: 'spki', format: 'der' })) };
  await refused(t, user.call('IssueOperatorCert', swapped), 'PERMISSION_DENIED', /the workload owner signature over the operator key does not verify/, 'a signature over another operator key');
  const m = await fetch(`http://127.0.0.1:${h.coordinator!.metricsPort}/metrics`).then((r) => r.text());
  t.match(m, /ccmesh_coordinator_operator_certificates_total\{result="not_owner"[^}]*\} 2/, 'refusals counted by result');
  t.match(m, /ccmesh_coordinator_operator_certificates_total\{result="bad_signature"[^}]*\} 1/, 'bad signature counted');
});

void t.test('an operator certificate is never renewed into a leaf, and a fresh Coordinator issues none', async (t) => {
  const { h, user, mesh } = await Harness.started(t);
  await refused(t, user.call('IssueOperatorCert', await signedOperatorCertRequest(user, p256().privateKey, h.owner.privateKey)),
    'UNAVAILABLE', /no manifest has been set yet/, 'fresh: nothing to be an operator of');
  await user.call('SetManifest', await h.signedSet(user, h.manifest(), [h.coordinatorDoc, h.podDoc]));
  const op = p256();
  const res = await user.call('IssueOperatorCert', await signedOperatorCertRequest(user, op.privateKey, h.owner.privateKey));
  const { request } = await h.renewRequest(mesh, res.certChain, op.privateKey);
  await refused(t, mesh.call('RenewMeshCert', request), 'PERMISSION_DENIED', /the presented certificate is an operator certificate/, 'RenewMeshCert with an operator certificate');
  t.notOk('workloadSecret' in res, 'the answer carries no workload secret');
});

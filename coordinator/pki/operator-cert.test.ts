/** The operator certificate profile: one operator URI SAN, TLS client only, no policy hash, at most one hour. */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { systemClock } from '../../lib/clock.js';
import { readLeafPolicyHash } from '../../contract/policy-hash-extension.js';
import { MAX_OPERATOR_CERT_LIFETIME_MS } from '../../contract/operator-identity.js';
import { createMeshCa, createRootCa } from './ca.js';
import { issueOperatorCert } from './operator-cert.js';

void t.test('operator certificates', async (t) => {
  const rootKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const meshKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const root = await createRootCa({ key: rootKey, trustDomain: 'ccmesh.local', clock: systemClock });
  const mesh = await createMeshCa({ key: meshKey, generation: 'g1', root: { cert: root.cert, key: rootKey }, trustDomain: 'ccmesh.local', clock: systemClock });
  const meshCa = { cert: mesh.cert, key: meshKey };
  const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const operatorId = 'ccmesh-operator://ccmesh.local/00112233445566778899aabbccddeeff';
  const c = issueOperatorCert({ publicKey, operatorId, lifetimeMs: MAX_OPERATOR_CERT_LIFETIME_MS, meshCa, clock: systemClock });
  t.ok(c.cert.verify(mesh.cert.publicKey), 'signed by the mesh CA');
  t.equal(c.cert.subjectAltName, `URI:${operatorId}`, 'the operator URI is the only SAN');
  t.same(c.cert.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'extKeyUsage clientAuth only');
  t.equal(readLeafPolicyHash(c.cert), undefined, 'no policy hash (RenewMeshCert needs one)');
  t.throws(() => issueOperatorCert({ publicKey, operatorId, lifetimeMs: MAX_OPERATOR_CERT_LIFETIME_MS + 1000, meshCa, clock: systemClock }), /exceeds the maximum of 3600000 ms/, 'more than one hour is refused');
  t.throws(() => issueOperatorCert({ publicKey, operatorId: 'spiffe://ccmesh.local/web', lifetimeMs: 60_000, meshCa, clock: systemClock }), /does not start with ccmesh-operator:\/\//, 'a workload id is no operator id');
});

import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { TestMesh, withSwappedKey } from '../test/pki.js';
import { buildSanAllowList, canonicalIpv6, checkClientIdentity, identityRefusal, sansAllowed, verifyLeaf, type CurrentTrust, type HandshakenSocket } from './identity.js';

void t.test('SAN allow-lists', (t) => {
  const allow = buildSanAllowList(['web.default.svc', '*.ns.svc', 'spiffe://ccmesh.local/batch', '::1', '10.0.0.1'])!;
  const cases: [string, boolean][] = [
    ['DNS:web.default.svc', true],
    ['DNS:WEB.default.svc', true],
    ['DNS:db.default.svc, DNS:web.default.svc', true],
    ['DNS:a.ns.svc', true],
    ['DNS:a.b.ns.svc', false],
    ['DNS:*.ns.svc', false],
    ['URI:spiffe://ccmesh.local/batch', true],
    ['URI:spiffe://ccmesh.local/batch2', false],
    ['IP Address:0:0:0:0:0:0:0:1', true],
    ['IP Address:10.0.0.1', true],
    ['IP Address:10.0.0.2', false],
    ['DNS:"web.default.svc, DNS:x"', false],
    ['URI:"x, DNS:web.default.svc, y"', false],
    ['DNS:10.0.0.1', false],
    ['URI:web.default.svc', false],
    ['IP Address:web.default.svc', false],
    ['DNS:spiffe://ccmesh.local/batch', false],
    ['email:web.default.svc', false],
    ['', false],
  ];
  for (const [text, want] of cases) t.equal(sansAllowed(text, allow), want, text);
  t.equal(buildSanAllowList([]), undefined, 'no allow-list = any mesh identity');
  t.equal(canonicalIpv6('::ffff:10.0.0.1'), '0:0:0:0:0:ffff:a00:1');
  t.equal(canonicalIpv6('2001:DB8::0001'), '2001:db8:0:0:0:0:0:1');
  t.end();
});

/** A handshaken socket as the gate sees it; the fields are what OpenSSL/Node would have reported. */
class FakeHandshakenSocket implements HandshakenSocket {
  /** Node sets the OpenSSL code string here, although @types/node calls it an Error. */
  readonly authorizationError: Error;
  constructor(readonly authorized: boolean, readonly peer: X509Certificate | undefined, code = '') {
    this.authorizationError = code as unknown as Error;
  }
  getPeerX509Certificate(): X509Certificate | undefined {
    return this.peer;
  }
}

void t.test('the identity gate: a peer certificate verified against the current bundle', async (t) => {
  const mesh = await TestMesh.create();
  const oldCa = mesh.meshCas[0]!;
  const web = new X509Certificate((await mesh.leaf(['web.default.svc'])).files.chain);
  await mesh.addMeshCa();
  const current = [mesh.meshCas[0]!.cert];
  const fresh = new X509Certificate((await mesh.leaf(['db.default.svc'])).files.chain);
  const now = Date.now();
  const allowDb = buildSanAllowList(['db.default.svc']);
  const trust = (recheck: boolean, bundle = current, nowMs = now): CurrentTrust => ({ bundle, nowMs, recheck });

  // SECURITY regression (Node reports a resumed TLS 1.3 session without any certificate as authorized).
  t.equal(checkClientIdentity(new FakeHandshakenSocket(true, undefined), undefined, trust(true)), 'no-client-cert', 'authorized, resumed, no peer certificate: refused');
  t.equal(checkClientIdentity(new FakeHandshakenSocket(true, undefined), undefined, trust(false)), 'no-client-cert', 'authorized without a peer certificate is refused even when not resumed');
  t.equal(checkClientIdentity(new FakeHandshakenSocket(true, web), undefined, trust(true)), 'untrusted-cert', 'a resumed session whose leaf came from a mesh CA no longer in the bundle: refused');
  t.equal(checkClientIdentity(new FakeHandshakenSocket(true, web), undefined, trust(true, [oldCa.cert, ...current])), undefined, 'the same leaf while its CA is still in the bundle: admitted');
  t.equal(checkClientIdentity(new FakeHandshakenSocket(true, fresh), undefined, trust(true, current, now + 2 * 3600_000)), 'cert-expired', 'a resumed session whose leaf has expired since: refused');
  t.equal(checkClientIdentity(new FakeHandshakenSocket(true, fresh), allowDb, trust(true)), undefined, 'a resumed session with a current leaf and an allowed SAN: admitted');
  t.equal(checkClientIdentity(new FakeHandshakenSocket(true, web), buildSanAllowList(['web.default.svc']), trust(false)), undefined, 'without recheck, OpenSSL\'s verdict on the chain stands');
  t.equal(checkClientIdentity(new FakeHandshakenSocket(true, fresh), buildSanAllowList(['web.default.svc']), trust(true)), 'san-not-allowed', 'the allow-list applies to resumed sessions');
  t.equal(checkClientIdentity(new FakeHandshakenSocket(false, undefined), undefined, trust(false)), 'no-client-cert', 'unauthorized without a certificate: no-client-cert');
  t.equal(checkClientIdentity(new FakeHandshakenSocket(false, web, 'CERT_HAS_EXPIRED'), undefined, trust(false)), 'cert-expired', 'unauthorized, expired: cert-expired');
  t.equal(checkClientIdentity(new FakeHandshakenSocket(false, web, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), undefined, trust(false)), 'untrusted-cert', 'unauthorized otherwise: untrusted-cert');
});

void t.test('verifyLeaf checks the issuer signature, not just the issuer name', async (t) => {
  const mesh = await TestMesh.create();
  const leaf = new X509Certificate((await mesh.leaf(['web'])).files.chain);
  // Another mesh under the same names: its CA has the same subject, so only the signature tells them apart.
  const twin = await TestMesh.create();
  t.equal(verifyLeaf(leaf, [mesh.meshCas[0]!.cert], Date.now()), undefined, 'issued by the bundle CA');
  t.equal(twin.meshCas[0]!.cert.subject, mesh.meshCas[0]!.cert.subject, 'control: the twin CA has the same subject');
  t.equal(verifyLeaf(leaf, [twin.meshCas[0]!.cert], Date.now()), 'untrusted-cert', 'a CA with the same name but another key: refused');
  // Names and key identifiers of the real CA with another key: issuer checks pass, only the signature fails.
  const forged = withSwappedKey(mesh.meshCas[0]!.cert);
  t.ok(leaf.checkIssued(forged), 'control: by name and key identifier the forged CA issued the leaf');
  t.equal(verifyLeaf(leaf, [forged], Date.now()), 'untrusted-cert', 'a CA whose key did not sign the leaf: refused');
});

void t.test('operator certificates are never workload identities', (t) => {
  const op = 'URI:ccmesh-operator://ccmesh.local/00112233445566778899aabbccddeeff';
  const allowAll = buildSanAllowList(['*.ccmesh.local', 'spiffe://ccmesh.local/x', 'web']);
  t.equal(identityRefusal(op, undefined, false), 'operator-not-allowed', 'a port open to any mesh identity refuses an operator');
  t.equal(identityRefusal(op, allowAll, false), 'operator-not-allowed', 'an allow-list port refuses an operator');
  t.equal(identityRefusal(op, undefined, true), undefined, 'an mtls+operator port admits it');
  t.equal(identityRefusal(op, allowAll, true), undefined, 'its allow-list (for workloads) does not apply to operators');
  t.equal(identityRefusal(`DNS:web, ${op}`, allowAll, false), 'operator-not-allowed', 'an operator URI next to a workload name still makes it an operator');
  t.equal(identityRefusal('DNS:web, URI:spiffe://ccmesh.local/web', allowAll, true), undefined, 'control: a workload on the allow-list of an operator port');
  t.equal(identityRefusal('DNS:db', allowAll, true), 'san-not-allowed', 'and a workload off it is still refused there');
  t.end();
});

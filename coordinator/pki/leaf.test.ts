/**
 * Leaves: profile (SANs, EKU, key usage, policy hash), the root → mesh → leaf chain under Node's X509Certificate and
 * under real TLS (mutual, over loopback), lifetime capping and refusals.
 */
import t from 'tap';
import { once } from 'node:events';
import { generateKeyPairSync, type KeyObject, type X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { x509 } from '../../lib/pki/x509.js';
import { FixedClock, systemClock, type Clock } from '../../lib/clock.js';
import { ErrorCode } from '../../lib/errors.js';
import { createMeshCa, createRootCa, meshCaBundle } from './ca.js';
import { CLOCK_SKEW_MS, type IssuedCertificate } from './issuance.js';
import { CCMESH_POLICY_HASH_OID, DEFAULT_LEAF_LIFETIME_MS, issueLeaf, readLeafPolicyHash } from './leaf.js';
import { deriveSecrets, generateSalt, generateSeed } from './seed.js';
import { spiffeIdFor } from '../../contract/spiffe-id.js';

const trustDomain = 'mesh.example';
const policyHash = 'AB'.repeat(16) + '0123456789abcdef'.repeat(2);
const gen1 = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const gen2 = 'ffeeddccbbaa00112233445566778899ffeeddccbbaa00112233445566778899';

interface Pki {
  root: IssuedCertificate;
  mesh: IssuedCertificate;
  meshKey: KeyObject;
  previous: IssuedCertificate;
}

async function buildPki(clock: Clock, meshLifetimeMs?: number): Promise<Pki> {
  const secrets = deriveSecrets(generateSeed(), generateSalt());
  const root = await createRootCa({ key: secrets.rootCaKey, trustDomain, clock });
  const signer = { cert: root.cert, key: secrets.rootCaKey };
  const previous = await createMeshCa({ key: secrets.meshCaKey(gen1), generation: gen1, root: signer, trustDomain, clock });
  const meshKey = secrets.meshCaKey(gen2);
  const mesh = await createMeshCa({ key: meshKey, generation: gen2, root: signer, trustDomain, clock, ...(meshLifetimeMs ? { lifetimeMs: meshLifetimeMs } : {}) });
  return { root, mesh, meshKey, previous };
}

function leafFor(pki: Pki, publicKey: KeyObject | Uint8Array, clock: Clock, extra: Partial<Parameters<typeof issueLeaf>[0]> = {}): Promise<IssuedCertificate> {
  return issueLeaf({
    publicKey,
    sans: ['web.default.svc', '*.web.default.svc.cluster.local', '127.0.0.1', '::1', 'WEB.example'],
    spiffeId: spiffeIdFor(trustDomain, 'web'),
    policyHash,
    lifetimeMs: DEFAULT_LEAF_LIFETIME_MS,
    meshCa: { cert: pki.mesh.cert, key: pki.meshKey },
    clock,
    ...extra,
  });
}

const peculiar = (c: X509Certificate): x509.X509Certificate => new x509.X509Certificate(c.raw);

void t.test('a leaf carries typed SANs, EKU server+client, critical digitalSignature and the policy hash', async (t) => {
  const T0 = Date.UTC(2026, 2, 1, 12, 0, 0, 500);
  const clock = new FixedClock(T0);
  const pki = await buildPki(clock);
  const pod = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = await leafFor(pki, pod.publicKey.export({ format: 'der', type: 'spki' }), clock);

  t.equal(peculiar(leaf.cert).subject, '', 'empty subject');
  t.equal(leaf.certPem, leaf.cert.toString(), 'our PEM matches Node\'s');
  t.same(leaf.der, new Uint8Array(leaf.cert.raw));
  t.notOk(leaf.cert.ca);
  t.equal(leaf.cert.subjectAltName, 'DNS:web.default.svc, DNS:*.web.default.svc.cluster.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:web.example, URI:spiffe://mesh.example/web');
  t.same(leaf.cert.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'Node lists the EKU OIDs');
  t.equal(readLeafPolicyHash(leaf.cert), policyHash.toLowerCase());

  const p = peculiar(leaf.cert);
  const ku = p.getExtension(x509.KeyUsagesExtension)!;
  t.ok(ku.critical);
  t.equal(ku.usages, x509.KeyUsageFlags.digitalSignature);
  const eku = p.getExtension(x509.ExtendedKeyUsageExtension)!;
  t.same(eku.usages, [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
  const san = p.getExtension(x509.SubjectAlternativeNameExtension)!;
  t.ok(san.critical, 'SAN is critical because the subject is empty (RFC 5280 §4.2.1.6)');
  t.same(san.names.toJSON().map((n) => n.type), ['dns', 'dns', 'ip', 'ip', 'dns', 'url']);
  const bc = p.getExtension(x509.BasicConstraintsExtension)!;
  t.ok(bc.critical && !bc.ca);
  t.equal(p.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, peculiar(pki.mesh.cert).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  const ext = p.getExtension(CCMESH_POLICY_HASH_OID)!;
  t.notOk(ext.critical);
  t.equal(Buffer.from(ext.value).toString('hex'), `0420${policyHash.toLowerCase()}`, 'extnValue is an OCTET STRING of the 32 raw bytes');

  t.equal(p.notBefore.getTime(), Math.floor((T0 - CLOCK_SKEW_MS) / 1000) * 1000);
  t.equal(p.notAfter.getTime(), Math.floor((T0 + DEFAULT_LEAF_LIFETIME_MS) / 1000) * 1000);
  t.equal(p.serialNumber.length, 32);
  t.equal(leaf.cert.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'), pod.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'));
});

void t.test('root → mesh → leaf verifies with X509Certificate, and serial numbers differ', async (t) => {
  const clock = systemClock;
  const pki = await buildPki(clock);
  const pod = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const a = await leafFor(pki, pod.publicKey, clock);
  const b = await leafFor(pki, pod.privateKey, clock);
  t.ok(a.cert.checkIssued(pki.mesh.cert));
  t.ok(a.cert.verify(pki.mesh.cert.publicKey));
  t.notOk(a.cert.verify(pki.previous.cert.publicKey), 'not signed by the previous mesh CA');
  t.notOk(a.cert.verify(pki.root.cert.publicKey));
  t.ok(pki.mesh.cert.checkIssued(pki.root.cert));
  t.not(a.cert.serialNumber, b.cert.serialNumber);
});

async function handshake(opts: { serverLeaf: IssuedCertificate; serverKey: KeyObject; clientLeaf: IssuedCertificate; clientKey: KeyObject; pki: Pki; host: string; servername?: string; clientTrust?: string }) {
  const ca = meshCaBundle(opts.pki.mesh.cert, opts.pki.previous.cert) + opts.pki.root.certPem;
  const server = tls.createServer({
    cert: opts.serverLeaf.certPem + opts.pki.mesh.certPem,
    key: opts.serverKey.export({ format: 'pem', type: 'pkcs8' }),
    ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  });
  const serverSide = new Promise<{ authorized: boolean; peerUri: string | undefined }>((resolve, reject) => {
    server.once('secureConnection', (socket: tls.TLSSocket) => {
      resolve({ authorized: socket.authorized, peerUri: socket.getPeerCertificate().subjectaltname?.split(', ').find((s) => s.startsWith('URI:')) });
      socket.end();
    });
    server.once('tlsClientError', reject);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const client = tls.connect({
      host: opts.host,
      port,
      ...(opts.servername ? { servername: opts.servername } : {}),
      cert: opts.clientLeaf.certPem + opts.pki.mesh.certPem,
      key: opts.clientKey.export({ format: 'pem', type: 'pkcs8' }),
      ca: opts.clientTrust ?? ca,
      // Checked below instead, so a refusal is observable as data rather than a failed connect.
      rejectUnauthorized: false,
    });
    client.on('data', () => undefined);
    await once(client, 'secureConnect');
    const clientAuthorized = client.authorized;
    if (!clientAuthorized) {
      client.destroy();
      await serverSide.catch(() => undefined); // the server sees the reset; only the client's verdict matters here
      return { clientAuthorized, clientError: String(client.authorizationError) };
    }
    const serverResult = await serverSide;
    client.end();
    await once(client, 'close');
    return { clientAuthorized, ...serverResult };
  } finally {
    server.close();
    await once(server, 'close');
  }
}

void t.test('real mutual TLS accepts the chain with the bundle + root as trust, by IP and by DNS SAN', async (t) => {
  const clock = systemClock;
  const pki = await buildPki(clock);
  const serverPod = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const clientPod = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serverLeaf = await leafFor(pki, serverPod.publicKey, clock);
  const clientLeaf = await leafFor(pki, clientPod.publicKey, clock, { sans: [], spiffeId: spiffeIdFor(trustDomain, 'ns/client') });
  const base = { serverLeaf, serverKey: serverPod.privateKey, clientLeaf, clientKey: clientPod.privateKey, pki };

  const byIp = await handshake({ ...base, host: '127.0.0.1' });
  t.same(byIp, { clientAuthorized: true, authorized: true, peerUri: 'URI:spiffe://mesh.example/ns/client' });
  const byWildcard = await handshake({ ...base, host: '127.0.0.1', servername: 'api.web.default.svc.cluster.local' });
  t.ok(byWildcard.clientAuthorized && byWildcard.authorized);
  const wrongName = await handshake({ ...base, host: '127.0.0.1', servername: 'db.default.svc' });
  t.same(wrongName, { clientAuthorized: false, clientError: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  const foreign = await buildPki(clock);
  const untrusted = await handshake({ ...base, host: '127.0.0.1', clientTrust: foreign.root.certPem });
  t.equal(untrusted.clientAuthorized, false, 'a client trusting another root refuses the server');
});

void t.test('a leaf never outlives its mesh CA, and an expired mesh CA issues nothing', async (t) => {
  const T0 = Date.UTC(2026, 5, 1);
  const clock = new FixedClock(T0);
  const pki = await buildPki(clock, 2 * 60 * 60 * 1000);
  const pod = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = await leafFor(pki, pod.publicKey, clock, { lifetimeMs: DEFAULT_LEAF_LIFETIME_MS });
  t.equal(peculiar(leaf.cert).notAfter.getTime(), peculiar(pki.mesh.cert).notAfter.getTime());
  t.equal(peculiar(leaf.cert).notAfter.getTime(), T0 + 2 * 60 * 60 * 1000);
  // notBefore is never earlier than the mesh CA's either.
  t.ok(peculiar(leaf.cert).notBefore.getTime() >= peculiar(pki.mesh.cert).notBefore.getTime());
  clock.advance(2 * 60 * 60 * 1000);
  await t.rejects(leafFor(pki, pod.publicKey, clock), { code: ErrorCode.PKI_CA_EXPIRED });
});

void t.test('bad leaf requests are refused with PKI_INPUT_INVALID naming the problem', async (t) => {
  const clock = systemClock;
  const pki = await buildPki(clock);
  const pod = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const invalid = (message: RegExp) => ({ code: ErrorCode.PKI_INPUT_INVALID, message });
  await t.rejects(leafFor(pki, pod.publicKey, clock, { sans: ['ok.example', 'not a name', 'a..b', '*', 'x.*.y'] }),
    invalid(/"not a name", "a\.\.b", "\*", "x\.\*\.y"/));
  await t.rejects(leafFor(pki, pod.publicKey, clock, { policyHash: 'ab' }), invalid(/64 hex digits/));
  await t.rejects(leafFor(pki, pod.publicKey, clock, { policyHash: 'g'.repeat(64) }), invalid(/64 hex digits/));
  await t.rejects(leafFor(pki, pod.publicKey, clock, { spiffeId: 'https://mesh.example/web' }), invalid(/spiffe:\/\//));
  await t.rejects(leafFor(pki, pod.publicKey, clock, { spiffeId: 'spiffe://mesh.example' }), invalid(/no workload path/));
  await t.rejects(leafFor(pki, pod.publicKey, clock, { lifetimeMs: -1 }), invalid(/lifetime/));
  await t.rejects(leafFor(pki, pod.publicKey, clock, { lifetimeMs: Number.NaN }), invalid(/lifetime/));
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  await t.rejects(leafFor(pki, p384.publicKey, clock), invalid(/P-256.*secp384r1/));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  await t.rejects(leafFor(pki, rsa.publicKey, clock), invalid(/P-256/));
  await t.rejects(leafFor(pki, new Uint8Array([0x30, 0x00]), clock), invalid(/not an SPKI/));
  await t.rejects(
    issueLeaf({ publicKey: pod.publicKey, sans: [], spiffeId: 'spiffe://mesh.example/w', policyHash, lifetimeMs: 1000, meshCa: { cert: pki.mesh.cert, key: pod.privateKey }, clock }),
    invalid(/does not belong to the certificate/),
  );
});

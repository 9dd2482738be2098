/**
 * The Coordinator's TLS identity: a fresh P-256 key and self-signed certificate made at every start, held only in
 * memory. Clients don't trust it through a CA; they trust it because the Coordinator's evidence binds its public
 * key (see lib/protocol/binding.ts). A restart therefore means clients re-attest, which is the point.
 */
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import { x509 } from '../../lib/pki/x509.js';
import type { Clock } from '../../lib/clock.js';

/** Key and certificate for the gRPC servers, plus the SPKI that evidence binds. */
export interface ServerTlsIdentity {
  readonly keyPem: string;
  readonly certPem: string;
  /** DER SubjectPublicKeyInfo of the key. */
  readonly spki: Uint8Array;
  /** SHA-256 fingerprint of the certificate, hex, for logs. */
  readonly fingerprint: string;
}

/** Makes a new TLS identity valid for `lifetimeDays` (default 365) from the clock's now. */
export async function createServerTlsIdentity(clock: Clock, hostnames: readonly string[] = ['localhost'], lifetimeDays = 365): Promise<ServerTlsIdentity> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = clock.nowMs();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: 'CN=ccmesh coordinator',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + lifetimeDays * 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension(hostnames.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h })))],
  });
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8).toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n`;
  const certPem = cert.toString('pem') + '\n';
  const node = new X509Certificate(certPem);
  const spki = new Uint8Array(node.publicKey.export({ type: 'spki', format: 'der' }));
  return { keyPem, certPem, spki, fingerprint: createHash('sha256').update(node.raw).digest('hex') };
}

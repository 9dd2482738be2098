/**
 * The webhook's serving certificate. Self-managed (the default): at startup a fresh ECDSA P-256 CA and a leaf for
 * the Service's DNS names, held only in memory (or in the shared CA Secret, `--ca-secret`); the CA goes into the
 * webhook configuration's caBundle, and the leaf is renewed from the CA before it expires (injector.ts). Supplied:
 * `tls.crt`, `tls.key` and optionally `ca.crt` read from a directory (e.g. a cert-manager Secret volume).
 */
import { createHash, createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { CcmeshError, ErrorCode, describeError } from '../../lib/errors.js';
import type { Clock } from '../../lib/clock.js';
import { x509 } from '../../lib/pki/x509.js';

/** Key, chain and CA that the webhook serves with and that the API server must trust. */
export interface ServingCredentials {
  readonly keyPem: string;
  /** Leaf certificate (and any intermediates), PEM. */
  readonly certPem: string;
  /** CA bundle for the webhook configuration's caBundle, PEM; undefined when not supplied (someone else sets it). */
  readonly caPem: string | undefined;
  /** SHA-256 over key, cert and CA, to notice a change on reload. */
  readonly fingerprint: string;
}

/** DNS names the API server may use to reach `service` in `namespace`. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service];
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Lifetime of a self-managed CA (the in-memory one is rotated at {@link RENEW_FRACTION} of it, with an overlap). */
export const SELF_MANAGED_LIFETIME_MS = 2 * 365 * DAY_MS;

function serial(): string {
  // Positive 16-byte serial: clear the top bit.
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f | 0x01;
  return Buffer.from(b).toString('hex');
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

function pemOf(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').trimEnd()}\n`;
}

/** Fingerprint of a credential set, to detect a change. */
export function fingerprintOf(keyPem: string, certPem: string, caPem: string | undefined): string {
  return createHash('sha256').update(keyPem).update('\0').update(certPem).update('\0').update(caPem ?? '').digest('hex');
}

/** A self-managed serving CA: certificate and private key, PEM. */
export interface SelfManagedCa {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Lifetime of a serving leaf issued by a self-managed CA; renewed at {@link RENEW_FRACTION} of it. */
export const SERVING_LEAF_LIFETIME_MS = 90 * DAY_MS;
/** Share of a certificate's life after which it is replaced (the leaf renewed, the CA rotated). */
export const RENEW_FRACTION = 2 / 3;

/** Backdating of notBefore against clock skew: a minute, or a tenth of a short lifetime (tests). */
function backdateMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.floor(lifetimeMs / 10));
}

/** Makes a CA (`CN=ccmesh injector CA`) valid for `lifetimeMs` (backdated against clock skew). */
export async function createServingCa(clock: Clock, lifetimeMs = SELF_MANAGED_LIFETIME_MS): Promise<SelfManagedCa> {
  const now = clock.nowMs();
  const caKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=ccmesh injector CA',
    notBefore: new Date(now - backdateMs(lifetimeMs)),
    notAfter: new Date(now + lifetimeMs),
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return { certPem: pemOf(ca), keyPem: await pkcs8Pem(caKeys.privateKey) };
}

/**
 * Issues a serving leaf whose SANs are `names` (DNS names; IP literals become IP SANs) from `ca`, valid for
 * `lifetimeMs` but never past the CA. `caPem` is the bundle to publish (default: the CA alone).
 */
export async function issueServingLeaf(ca: SelfManagedCa, names: readonly string[], clock: Clock, lifetimeMs = SERVING_LEAF_LIFETIME_MS, caPem: string = ca.certPem): Promise<ServingCredentials> {
  if (names.length === 0) throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, 'the serving certificate needs at least one name');
  const now = clock.nowMs();
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(ca.keyPem), ALG, false, ['sign']);
  const caPublic = await caCert.publicKey.export(ALG, ['verify']);
  const leafKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names[0]!}`,
    issuer: caCert.subject,
    notBefore: new Date(now - backdateMs(lifetimeMs)),
    notAfter: new Date(Math.min(now + lifetimeMs, caCert.notAfter.getTime())),
    publicKey: leafKeys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: isIP(value) !== 0 ? ('ip' as const) : ('dns' as const), value })), false),
      await x509.AuthorityKeyIdentifierExtension.create(caPublic),
    ],
  });
  const keyPem = await pkcs8Pem(leafKeys.privateKey);
  const certPem = pemOf(leaf);
  return { keyPem, certPem, caPem, fingerprint: fingerprintOf(keyPem, certPem, caPem) };
}

/** notAfter of the certificate (the first in `pem`), in milliseconds since the epoch. */
export function certNotAfterMs(pem: string): number {
  return Date.parse(new X509Certificate(pem).validTo);
}

/** True once the certificate (the first in `pem`) is past {@link RENEW_FRACTION} of its life. */
export function dueForRenewal(pem: string, nowMs: number): boolean {
  const c = new X509Certificate(pem);
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  return nowMs >= from + (to - from) * RENEW_FRACTION;
}

/** A new CA and a serving leaf from it (the in-memory default, and the first replica's shared Secret). */
export async function createSelfManagedCredentials(names: readonly string[], clock: Clock, lifetimeMs = SELF_MANAGED_LIFETIME_MS, leafLifetimeMs = lifetimeMs): Promise<ServingCredentials & { readonly ca: SelfManagedCa }> {
  if (names.length === 0) throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, 'the serving certificate needs at least one name');
  const ca = await createServingCa(clock, lifetimeMs);
  return { ...(await issueServingLeaf(ca, names, clock, leafLifetimeMs)), ca };
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** File names inside `--tls-dir` (the keys of a `kubernetes.io/tls` Secret, plus cert-manager's `ca.crt`). */
export const TLS_DIR_FILES = Object.freeze({ cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt', /** Shared CA Secret only: the CA's key, for leaf renewal. */ caKey: 'ca.key' });

/**
 * Serving credentials from the string data of a Secret (`tls.crt`, `tls.key`, `ca.crt`), checked like a
 * {@link loadTlsDir} directory; `where` names the Secret in errors.
 */
export function credentialsFromSecret(data: Readonly<Record<string, string>>, where: string): ServingCredentials {
  const certPem = data[TLS_DIR_FILES.cert];
  const keyPem = data[TLS_DIR_FILES.key];
  const caPem = data[TLS_DIR_FILES.ca];
  try {
    if (certPem === undefined || keyPem === undefined || caPem === undefined) throw new Error(`needs ${TLS_DIR_FILES.cert}, ${TLS_DIR_FILES.key} and ${TLS_DIR_FILES.ca}`);
    const leaf = new X509Certificate(certPem);
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw new Error(`${TLS_DIR_FILES.key} is not the key of ${TLS_DIR_FILES.cert}`);
    if (!leaf.verify(new X509Certificate(caPem).publicKey)) throw new Error(`${TLS_DIR_FILES.cert} is not signed by ${TLS_DIR_FILES.ca}`);
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `the webhook serving credentials in ${where} are unusable: ${describeError(err)}`, { cause: err });
  }
  return { keyPem, certPem, caPem, fingerprint: fingerprintOf(keyPem, certPem, caPem) };
}

/** Reads and checks the credentials in `dir`: the key must match the leaf; `ca.crt` is optional. */
export async function loadTlsDir(dir: string): Promise<ServingCredentials> {
  const read = async (name: string, optional: boolean): Promise<string | undefined> => {
    try {
      return await readFile(join(dir, name), 'utf8');
    } catch (err) {
      if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CcmeshError(ErrorCode.INPUT_UNREADABLE, `reading the webhook serving credentials: ${join(dir, name)}: ${describeError(err)}`, { cause: err });
    }
  };
  const certPem = (await read(TLS_DIR_FILES.cert, false))!;
  const keyPem = (await read(TLS_DIR_FILES.key, false))!;
  const caPem = await read(TLS_DIR_FILES.ca, true);
  try {
    const leaf = new X509Certificate(certPem);
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw new Error(`${TLS_DIR_FILES.key} is not the key of ${TLS_DIR_FILES.cert}`);
    if (caPem !== undefined) new X509Certificate(caPem);
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `the webhook serving credentials in ${dir} are unusable: ${describeError(err)}`, { cause: err });
  }
  return { keyPem, certPem, caPem: caPem === '' ? undefined : caPem, fingerprint: fingerprintOf(keyPem, certPem, caPem) };
}

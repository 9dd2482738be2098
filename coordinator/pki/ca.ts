/**
 * The Coordinator's two CA levels: a root CA whose key derives from the seed and is stable for the seed's life,
 * and a mesh CA per manifest generation (issued by the root, pathLen 0) that signs leaves. Workloads trust the
 * mesh CA bundle; during a transition it holds the new and the previous mesh CA so old leaves keep verifying.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { x509 } from '../../lib/pki/x509.js';
import type { Clock } from '../../lib/clock.js';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import {
  ECDSA_SHA256, p256Spki, prepareIssuer, randomSerialHex, toIssued, toSigningKey, validityWithin, type IssuedCertificate, type SigningCa,
} from './issuance.js';
import { checkTrustDomain } from '../../contract/spiffe-id.js';

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;
/** Default root CA lifetime: 20 years (the root lives as long as the seed). */
export const DEFAULT_ROOT_CA_LIFETIME_MS = 20 * YEAR_MS;
/** Default mesh CA lifetime: 10 years, capped by the root's. */
export const DEFAULT_MESH_CA_LIFETIME_MS = 10 * YEAR_MS;
/** Common name of the root CA. */
export const ROOT_CA_COMMON_NAME = 'ccmesh root CA';
/** Characters of the generation shown in a mesh CA's common name. */
export const MESH_CA_GENERATION_CHARS = 12;

/** Inputs of {@link createRootCa}. */
export interface RootCaOptions {
  /** P-256 private key, normally `deriveSecrets(seed, salt).rootCaKey`. */
  readonly key: KeyObject;
  readonly trustDomain: string;
  readonly clock: Clock;
  readonly lifetimeMs?: number;
}

/** Inputs of {@link createMeshCa}. */
export interface MeshCaOptions {
  /** P-256 private key, normally `deriveSecrets(seed, salt).meshCaKey(generation)`. */
  readonly key: KeyObject;
  /** Manifest generation (e.g. the transition hash hex); its first 12 characters go into the common name. */
  readonly generation: string;
  readonly root: SigningCa;
  readonly trustDomain: string;
  readonly clock: Clock;
  readonly lifetimeMs?: number;
}

/** A self-signed ECDSA P-256 root CA: `CN=ccmesh root CA, O=<trustDomain>`. */
export async function createRootCa(opts: RootCaOptions): Promise<IssuedCertificate> {
  checkTrustDomain(opts.trustDomain);
  const spki = p256Spki(opts.key, 'root CA key');
  const signingKey = await toSigningKey(opts.key, 'root CA key');
  const name: x509.JsonName = [{ CN: [ROOT_CA_COMMON_NAME] }, { O: [opts.trustDomain] }];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: name,
    issuer: name,
    ...validityWithin(opts.clock, opts.lifetimeMs ?? DEFAULT_ROOT_CA_LIFETIME_MS, undefined, 'creating the root CA'),
    publicKey: spki,
    signingKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(spki),
    ],
  });
  return toIssued(cert);
}

/** A mesh CA for one manifest generation, issued by `root`: CA with pathLen 0, `CN=ccmesh mesh CA <generation[0:12]>`. */
export async function createMeshCa(opts: MeshCaOptions): Promise<IssuedCertificate> {
  checkTrustDomain(opts.trustDomain);
  if (typeof opts.generation !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(opts.generation)) {
    throw new CcmeshError(ErrorCode.PKI_INPUT_INVALID, `mesh CA generation ${JSON.stringify(String(opts.generation).slice(0, 80))} is not 1-128 characters of [A-Za-z0-9._:-]`);
  }
  const spki = p256Spki(opts.key, 'mesh CA key');
  const issuer = await prepareIssuer(opts.root, 'creating the mesh CA: root CA');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: [{ CN: [`ccmesh mesh CA ${opts.generation.slice(0, MESH_CA_GENERATION_CHARS)}`] }, { O: [opts.trustDomain] }],
    issuer: issuer.name,
    ...validityWithin(opts.clock, opts.lifetimeMs ?? DEFAULT_MESH_CA_LIFETIME_MS, opts.root.cert, 'creating the mesh CA'),
    publicKey: spki,
    signingKey: issuer.signingKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(spki),
      issuer.authorityKeyIdentifier,
    ],
  });
  return toIssued(cert);
}

/** The mesh CA bundle handed to workloads: PEM of `current`, then `previous` during a transition. */
export function meshCaBundle(current: X509Certificate, previous?: X509Certificate): string {
  const certs = previous === undefined || previous.fingerprint256 === current.fingerprint256 ? [current] : [current, previous];
  return certs.map((c) => ensureNewline(c.toString())).join('');
}

function ensureNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/**
 * Certificates shaped like AMD's: ARK (self-signed) → ASK / ASVK → VCEK / VLEK, RSASSA-PSS (SHA-384, MGF1-SHA-384,
 * salt 48), AMD's subject names, serial 0 on the VEK and the VCEK extensions (structVersion, productName, the TCB
 * SPLs, hwID / cspID). Used by the simulated TEE and by tests; the verifier treats them exactly like AMD's and
 * trusts them only when their ARK is passed explicitly as an anchor.
 */
import { KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { x509 } from '../../lib/pki/x509.js';
import { productLabel, type SnpProduct } from '../snp/product.js';
import { AMD_OID_ARC, type VekSplName } from '../snp/vek.js';

/** A WebCrypto key pair. */
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** AMD's signature scheme for ARK, ASK/ASVK and VEK certificates. */
export const AMD_RSA_PSS = { name: 'RSA-PSS', hash: 'SHA-384', saltLength: 48 } as const;

const SPL_ARC: Record<VekSplName, string> = {
  blSPL: '3.1', teeSPL: '3.2', snpSPL: '3.3', spl_4: '3.4', spl_5: '3.5', spl_6: '3.6', spl_7: '3.7', ucodeSPL: '3.8', fmcSPL: '3.9',
};

/** DER INTEGER of a small non-negative number. */
export function derInteger(n: number): Uint8Array {
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return new Uint8Array([0x02, bytes.length, ...bytes]);
}

/** DER IA5String (short form only). */
export function derIa5(s: string): Uint8Array {
  if (s.length > 127) throw new RangeError('IA5String longer than 127 bytes');
  return new Uint8Array([0x16, s.length, ...Buffer.from(s, 'latin1')]);
}

/** An AMD-style distinguished name; `organization` lets the simulated TEE mark itself unmistakably. */
export function amdName(cn: string, organization = 'Advanced Micro Devices'): string {
  return `CN=${cn}, O=${organization}, L=Santa Clara, ST=CA, C=US, OU=Engineering`;
}

/** Generates an RSA key pair for RSASSA-PSS/SHA-384 (4096 bits like AMD's; tests may pass fewer for speed). */
export async function generateAmdRsaKeys(modulusLength = 4096): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(
    { name: 'RSA-PSS', modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-384' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
}

/** Generates the P-384 key pair of a VEK. */
export async function generateVekKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** Validity of a generated certificate. */
export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const caExtensions = (): x509.Extension[] => [new x509.BasicConstraintsExtension(true, undefined, true)];

/** A self-signed ARK for `product`. */
export async function createArk(product: SnpProduct, keys: CryptoKeyPair, validity: Validity, organization?: string): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '010000', name: amdName(`ARK-${productLabel(product)}`, organization), ...validity, keys,
    signingAlgorithm: AMD_RSA_PSS, extensions: caExtensions(),
  });
}

/** An ASK (`SEV-<Product>`, signs VCEKs) or ASVK (`SEV-VLEK-<Product>`, signs VLEKs) issued by `ark`. */
export async function createIntermediate(
  product: SnpProduct,
  kind: 'ask' | 'asvk',
  keys: CryptoKeyPair,
  ark: { cert: x509.X509Certificate; keys: CryptoKeyPair },
  validity: Validity,
  organization?: string,
): Promise<x509.X509Certificate> {
  const label = productLabel(product);
  return x509.X509CertificateGenerator.create({
    serialNumber: kind === 'ask' ? '010001' : '010101',
    subject: amdName(kind === 'ask' ? `SEV-${label}` : `SEV-VLEK-${label}`, organization),
    issuer: ark.cert.subject, ...validity,
    publicKey: keys.publicKey, signingKey: ark.keys.privateKey, signingAlgorithm: AMD_RSA_PSS, extensions: caExtensions(),
  });
}

/** What goes into a VEK's AMD extensions. */
export interface VekContents {
  readonly kind: 'vcek' | 'vlek';
  readonly product: SnpProduct;
  /** productName extension; default the product label. `null` leaves it out. */
  readonly productName?: string | null;
  readonly spls?: Partial<Record<VekSplName, number>>;
  readonly hwId?: Uint8Array;
  readonly cspId?: string;
}

/** The AMD extensions of a VEK, in AMD's order. */
export function vekExtensions(c: VekContents): x509.Extension[] {
  const ext = (arc: string, value: Uint8Array): x509.Extension => new x509.Extension(`${AMD_OID_ARC}.${arc}`, false, value);
  const out = [ext('1', derInteger(c.product === 'turin' ? 1 : 0))];
  if (c.productName !== null) out.push(ext('2', derIa5(c.productName ?? productLabel(c.product))));
  for (const [name, value] of Object.entries(c.spls ?? {}) as [VekSplName, number][]) out.push(ext(SPL_ARC[name], derInteger(value)));
  if (c.hwId) out.push(ext('4', c.hwId));
  if (c.cspId !== undefined) out.push(ext('5', derIa5(c.cspId)));
  return out;
}

/** A VCEK or VLEK (serial 0, EC P-384) with AMD's extensions, issued by the ASK / ASVK `issuer`. */
export async function createVek(
  contents: VekContents,
  publicKey: webcrypto.CryptoKey,
  issuer: { cert: x509.X509Certificate; keys: CryptoKeyPair },
  validity: Validity,
  organization?: string,
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: '00',
    subject: amdName(contents.kind === 'vlek' ? 'SEV-VLEK' : 'SEV-VCEK', organization),
    issuer: issuer.cert.subject, ...validity,
    publicKey, signingKey: issuer.keys.privateKey, signingAlgorithm: AMD_RSA_PSS, extensions: vekExtensions(contents),
  });
}

/** Node's view of a generated certificate. */
export function toNodeCertificate(cert: x509.X509Certificate): X509Certificate {
  return new X509Certificate(Buffer.from(cert.rawData));
}

/** A WebCrypto private key as a Node KeyObject (for signing reports). */
export function toKeyObject(key: webcrypto.CryptoKey): KeyObject {
  return KeyObject.from(key);
}

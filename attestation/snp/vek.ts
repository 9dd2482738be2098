/**
 * The VEK — VCEK (chip- and TCB-specific) or VLEK (cloud-provider-specific) — certificate: an EC P-384 key that
 * signs reports, with AMD extensions (OID arc 1.3.6.1.4.1.3704.1, FORMATS.md §4) saying which product and TCB it was
 * issued for. Node's X509Certificate has no extension API, so the extensions are read with the bounds-checked DER
 * reader from tbsCertificate → [3] extensions.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { at, children, DerError, decodeBoolean, decodeOid, decodeSmallUint, decodeString, expectNodeTag, readOne, Tag } from '../../lib/asn1/der.js';
import { describeError } from '../../lib/errors.js';
import { safeKeyDetails } from '../../lib/pki/key-details.js';
import { looksLikePem, readPemBlocks } from '../x509/pem.js';
import { SnpParseError } from './parse-error.js';
import { productFromName, type SnpProduct } from './product.js';

/** The AMD extension arc. */
export const AMD_OID_ARC = '1.3.6.1.4.1.3704.1';

/** Names of the SPL extensions, as AMD's VCEK specification spells them. */
export type VekSplName = 'blSPL' | 'teeSPL' | 'snpSPL' | 'spl_4' | 'spl_5' | 'spl_6' | 'spl_7' | 'ucodeSPL' | 'fmcSPL';

const SPL_OIDS: Record<string, VekSplName> = {
  [`${AMD_OID_ARC}.3.1`]: 'blSPL',
  [`${AMD_OID_ARC}.3.2`]: 'teeSPL',
  [`${AMD_OID_ARC}.3.3`]: 'snpSPL',
  [`${AMD_OID_ARC}.3.4`]: 'spl_4',
  [`${AMD_OID_ARC}.3.5`]: 'spl_5',
  [`${AMD_OID_ARC}.3.6`]: 'spl_6',
  [`${AMD_OID_ARC}.3.7`]: 'spl_7',
  [`${AMD_OID_ARC}.3.8`]: 'ucodeSPL',
  [`${AMD_OID_ARC}.3.9`]: 'fmcSPL',
};
const OID_STRUCT_VERSION = `${AMD_OID_ARC}.1`;
const OID_PRODUCT_NAME = `${AMD_OID_ARC}.2`;
const OID_HWID = `${AMD_OID_ARC}.4`;
const OID_CSPID = `${AMD_OID_ARC}.5`;

/** Upper bound on extensions read from one certificate; AMD's have about a dozen. */
export const MAX_VEK_EXTENSIONS = 64;

/** The AMD extensions of a VEK. Absent extensions are undefined. */
export interface VekExtensions {
  readonly structVersion: number | undefined;
  readonly productName: string | undefined;
  readonly spls: Readonly<Partial<Record<VekSplName, number>>>;
  /** VCEK only: CHIP_ID (64 bytes on Milan/Genoa, 8 on Turin). */
  readonly hwId: Uint8Array | undefined;
  /** VLEK only: the cloud provider the key was issued to. */
  readonly cspId: string | undefined;
  /** Every extension value under the AMD arc, keyed by dotted OID (for diagnostics and tests). */
  readonly raw: ReadonlyMap<string, Uint8Array>;
}

/** A parsed VEK certificate. */
export interface SnpVek {
  readonly cert: X509Certificate;
  readonly der: Uint8Array;
  /** The P-384 public key, extracted once (building a KeyObject per verification is measurable). */
  readonly publicKey: KeyObject;
  readonly extensions: VekExtensions;
  /** The product named by productName, when recognised. */
  readonly product: SnpProduct | undefined;
}

/** Returns the extensions of a DER certificate as (OID, critical, value) triples. Throws DerError. */
export function certificateExtensions(der: Uint8Array): { oid: string; critical: boolean; value: Uint8Array }[] {
  const top = children(readOne(der, Tag.SEQUENCE));
  const tbs = at(top, 0, 'tbsCertificate');
  expectNodeTag(tbs, Tag.SEQUENCE);
  const wrapper = children(tbs).find((n) => n.tag === 0xa3);
  if (!wrapper) return [];
  const list = at(children(wrapper), 0, 'Extensions');
  expectNodeTag(list, Tag.SEQUENCE);
  const exts = children(list);
  if (exts.length > MAX_VEK_EXTENSIONS) throw new DerError(`more than ${MAX_VEK_EXTENSIONS} extensions`);
  return exts.map((ext) => {
    expectNodeTag(ext, Tag.SEQUENCE);
    const parts = children(ext);
    const oid = decodeOid(at(parts, 0, 'extnID'));
    let i = 1;
    let critical = false;
    if (parts[1]?.tag === Tag.BOOLEAN) {
      critical = decodeBoolean(parts[1]);
      i = 2;
    }
    const value = at(parts, i, 'extnValue');
    expectNodeTag(value, Tag.OCTET_STRING);
    if (parts.length !== i + 1) throw new DerError(`extension ${oid} has trailing elements`);
    return { oid, critical, value: value.value };
  });
}

function splValue(value: Uint8Array, name: string): number {
  const n = decodeSmallUint(readOne(value, Tag.INTEGER));
  // Every TCB_VERSION component is one byte; a larger SPL could never match a report.
  if (n > 0xff) throw new DerError(`${name} ${n} does not fit in one byte`);
  return n;
}

/** Parses the AMD extensions of a DER certificate; throws {@link SnpParseError} on malformed DER or duplicates. */
export function parseVekExtensions(der: Uint8Array): VekExtensions {
  try {
    const raw = new Map<string, Uint8Array>();
    const spls: Partial<Record<VekSplName, number>> = {};
    let structVersion: number | undefined;
    let productName: string | undefined;
    let hwId: Uint8Array | undefined;
    let cspId: string | undefined;
    const seen = new Set<string>();
    for (const { oid, value } of certificateExtensions(der)) {
      // RFC 5280 §4.2: a certificate must not include more than one instance of an extension.
      if (seen.has(oid)) throw new DerError(`extension ${oid} appears twice`);
      seen.add(oid);
      if (!oid.startsWith(`${AMD_OID_ARC}.`)) continue;
      raw.set(oid, value);
      const spl = SPL_OIDS[oid];
      if (spl) spls[spl] = splValue(value, spl);
      else if (oid === OID_STRUCT_VERSION) structVersion = decodeSmallUint(readOne(value, Tag.INTEGER));
      else if (oid === OID_PRODUCT_NAME) productName = decodeString(readOne(value, Tag.IA5_STRING));
      else if (oid === OID_HWID) hwId = new Uint8Array(value); // raw bytes: AMD puts no inner DER tag here
      else if (oid === OID_CSPID) cspId = decodeString(readOne(value, Tag.IA5_STRING));
    }
    return { structVersion, productName, spls, hwId, cspId, raw };
  } catch (err) {
    throw new SnpParseError(`VEK certificate extensions: ${describeError(err)}`, { cause: err });
  }
}

/** Parses a VCEK/VLEK from DER or PEM (exactly one certificate); the key must be EC P-384. Throws {@link SnpParseError}. */
export function parseVek(bytes: Uint8Array): SnpVek {
  let der: Uint8Array;
  let cert: X509Certificate;
  try {
    der = bytes;
    if (looksLikePem(bytes)) {
      const blocks = readPemBlocks(Buffer.from(bytes).toString('latin1')).filter((b) => b.label === 'CERTIFICATE');
      if (blocks.length !== 1) throw new Error(`expected exactly one CERTIFICATE block, found ${blocks.length}`);
      der = blocks[0]!.der;
    }
    // Validate the outer DER ourselves first: it bounds what OpenSSL is handed and gives a precise message.
    readOne(der, Tag.SEQUENCE);
    cert = new X509Certificate(Buffer.from(der));
  } catch (err) {
    throw new SnpParseError(`VEK certificate is not readable: ${describeError(err)}`, { cause: err });
  }
  let publicKey: KeyObject;
  try {
    publicKey = cert.publicKey;
  } catch (err) {
    throw new SnpParseError(`VEK certificate public key is not readable: ${describeError(err)}`, { cause: err });
  }
  let details;
  try {
    // SECURITY: not asymmetricKeyDetails: on a malformed EC point (the point at infinity) it aborts the process.
    details = safeKeyDetails(publicKey);
  } catch (err) {
    throw new SnpParseError(`VEK certificate public key is not readable: ${describeError(err)}`, { cause: err });
  }
  if (details.type !== 'ec' || details.namedCurve !== 'secp384r1') {
    throw new SnpParseError(`VEK key must be EC P-384, found ${details.type}${details.type === 'ec' ? ` ${details.namedCurve}` : ''}`);
  }
  const extensions = parseVekExtensions(new Uint8Array(der));
  return {
    cert,
    der: new Uint8Array(der),
    publicKey,
    extensions,
    product: extensions.productName === undefined ? undefined : productFromName(extensions.productName),
  };
}

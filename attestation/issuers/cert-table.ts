/**
 * The SEV-SNP certificate table (FORMATS.md §5.2.1): what the host hands a guest next to an extended report, through
 * the SNP_GET_EXT_REPORT certs buffer or the configfs-tsm `auxblob`. A sequence of 24-byte entries
 * `{GUID[16], u32 offset, u32 length}` ended by an all-zero entry; each entry points at a DER certificate in the same
 * blob.
 *
 * The table comes from the untrusted host, so parsing is bounded (entry count, every offset/length inside the blob,
 * certificates never overlapping the table itself) and every malformation is an {@link SnpParseError}. Nothing here
 * trusts a certificate: the verifier checks the chain; this only finds the bytes.
 */
import { isAllZero, toHex, viewOf } from '../../lib/bytes.js';
import { SnpParseError } from '../snp/parse-error.js';
import type { SnpCertificates } from './evidence.js';

/** Size of one table entry. */
export const CERT_TABLE_ENTRY_SIZE = 24;
/** Most entries accepted before the terminator; real hosts send 3 (VCEK/VLEK, ASK, ARK), a handful at most. */
export const CERT_TABLE_MAX_ENTRIES = 64;

/** GUIDs of the certificates ccmesh uses, in canonical string form (bytes are stored in this string's order). */
export const SNP_CERT_GUIDS = Object.freeze({
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
});

type CertName = keyof typeof SNP_CERT_GUIDS;
const NAME_BY_GUID = new Map<string, CertName>((Object.keys(SNP_CERT_GUIDS) as CertName[]).map((n) => [SNP_CERT_GUIDS[n], n]));
/** Encoding order: leaf first, as hosts lay them out. */
const ENCODE_ORDER: readonly CertName[] = ['vcek', 'vlek', 'ask', 'ark'];
const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** One entry of the table, bounds-checked against the blob it came from. */
export interface CertTableEntry {
  /** Lowercase canonical GUID string. */
  readonly guid: string;
  readonly offset: number;
  readonly length: number;
}

/** A certificate to encode under a GUID ccmesh does not interpret (tests, other host data). */
export interface ExtraCertEntry {
  readonly guid: string;
  readonly data: Uint8Array;
}

/** Canonical string of 16 GUID bytes taken in stored order. */
function guidString(b: Uint8Array): string {
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The 16 stored bytes of a canonical GUID string. */
function guidBytes(guid: string): Uint8Array {
  const g = guid.toLowerCase();
  if (!GUID_RE.test(g)) throw new TypeError(`not a canonical GUID: ${JSON.stringify(guid)}`);
  return new Uint8Array(Buffer.from(g.replaceAll('-', ''), 'hex'));
}

/**
 * Reads every entry up to the terminator, unknown GUIDs included, and checks each one's bounds. An empty blob is an
 * empty table (configfs-tsm gives an empty `auxblob` when the host supplies no certificates).
 */
export function readCertTableEntries(blob: Uint8Array): CertTableEntry[] {
  if (!(blob instanceof Uint8Array)) throw new SnpParseError('SNP certificate table: expected bytes');
  if (blob.length === 0) return [];
  const dv = viewOf(blob);
  const entries: CertTableEntry[] = [];
  for (let i = 0; ; i++) {
    const at = i * CERT_TABLE_ENTRY_SIZE;
    if (at + CERT_TABLE_ENTRY_SIZE > blob.length) {
      throw new SnpParseError(`SNP certificate table: no all-zero terminator within ${blob.length} bytes (entry ${i} at offset ${at} is cut short)`);
    }
    const raw = blob.subarray(at, at + CERT_TABLE_ENTRY_SIZE);
    if (isAllZero(raw)) break;
    if (i === CERT_TABLE_MAX_ENTRIES) {
      throw new SnpParseError(`SNP certificate table: more than ${CERT_TABLE_MAX_ENTRIES} entries before the terminator`);
    }
    const guidRaw = raw.subarray(0, 16);
    // A null GUID with a non-zero offset/length is neither a certificate nor the terminator: a host bug or an attempt
    // to confuse a reader that stops at the first null GUID.
    if (isAllZero(guidRaw)) throw new SnpParseError(`SNP certificate table: entry ${i} has a null GUID but is not the all-zero terminator`);
    entries.push({ guid: guidString(guidRaw), offset: dv.getUint32(at + 16, true), length: dv.getUint32(at + 20, true) });
  }
  const tableEnd = (entries.length + 1) * CERT_TABLE_ENTRY_SIZE;
  entries.forEach((e, i) => {
    // Numbers stay below 2^33, so the sum is exact.
    if (e.offset + e.length > blob.length) {
      throw new SnpParseError(`SNP certificate table: entry ${i} (${e.guid}) spans ${e.offset}+${e.length}, past the ${blob.length}-byte blob`);
    }
    if (e.length > 0 && e.offset < tableEnd) {
      throw new SnpParseError(`SNP certificate table: entry ${i} (${e.guid}) at offset ${e.offset} overlaps the ${tableEnd}-byte table`);
    }
  });
  return entries;
}

/**
 * Parses a certificate table into the certificates ccmesh knows (VCEK, VLEK, ASK/ASVK, ARK). Unknown GUIDs are
 * bounds-checked and then ignored; a known GUID twice or with an empty certificate is refused, since either
 * would leave "which VCEK did the host mean" ambiguous. Returned certificates are copies.
 */
export function parseCertTable(blob: Uint8Array): SnpCertificates {
  const found: Partial<Record<CertName, Uint8Array>> = {};
  for (const e of readCertTableEntries(blob)) {
    const name = NAME_BY_GUID.get(e.guid);
    if (name === undefined) continue;
    if (found[name] !== undefined) throw new SnpParseError(`SNP certificate table: the ${name.toUpperCase()} GUID ${e.guid} appears more than once`);
    if (e.length === 0) throw new SnpParseError(`SNP certificate table: the ${name.toUpperCase()} entry is empty`);
    // A plain copy: blob may be a Buffer, whose slice() would alias the host's buffer.
    found[name] = new Uint8Array(blob.subarray(e.offset, e.offset + e.length));
  }
  return found;
}

/**
 * Encodes a table: entries for the given certificates (VCEK, VLEK, ASK, ARK order, then `extra`), the terminator,
 * then the certificates back to back. For fakes and tests; the inverse of {@link parseCertTable}.
 */
export function encodeCertTable(certs: SnpCertificates, extra: readonly ExtraCertEntry[] = []): Uint8Array {
  const items: ExtraCertEntry[] = [];
  for (const name of ENCODE_ORDER) {
    const data = certs[name];
    if (data !== undefined) items.push({ guid: SNP_CERT_GUIDS[name], data });
  }
  items.push(...extra);
  const tableEnd = (items.length + 1) * CERT_TABLE_ENTRY_SIZE;
  const total = items.reduce((n, it) => n + it.data.length, tableEnd);
  const out = new Uint8Array(total);
  const dv = viewOf(out);
  let offset = tableEnd;
  items.forEach((it, i) => {
    const at = i * CERT_TABLE_ENTRY_SIZE;
    out.set(guidBytes(it.guid), at);
    dv.setUint32(at + 16, offset, true);
    dv.setUint32(at + 20, it.data.length, true);
    out.set(it.data, offset);
    offset += it.data.length;
  });
  return out;
}

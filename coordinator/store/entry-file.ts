/**
 * The file store's on-disk entry format: one header line, then the value bytes.
 *
 *   ccmesh-store/1 <revision> <value length> <sha256 hex of value> <key>\n<value>
 *
 * The checksum and the repeated key make a truncated, edited or misplaced file an error instead of a silently
 * wrong value; atomic replacement (temp + fsync + rename) already rules out torn writes from crashes.
 */
import { createHash } from 'node:crypto';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { StoreEntry } from './store.js';

const MAGIC = 'ccmesh-store/1';
// Magic + 16-digit revision + 7-digit length + 64 hex + 160-byte key + separators fits comfortably.
const MAX_HEADER_BYTES = 512;
const NEWLINE = 0x0a;

/** Serialises an entry for `key` into the file format. */
export function encodeEntryFile(key: string, entry: StoreEntry): Uint8Array {
  const sum = createHash('sha256').update(entry.value).digest('hex');
  const header = Buffer.from(`${MAGIC} ${entry.revision} ${entry.value.byteLength} ${sum} ${key}\n`, 'ascii');
  const out = new Uint8Array(header.byteLength + entry.value.byteLength);
  out.set(header, 0);
  out.set(entry.value, header.byteLength);
  return out;
}

/** Parses and verifies an entry file expected to hold `key`; throws STORE_CORRUPT naming `file` on any mismatch. */
export function parseEntryFile(file: string, key: string, bytes: Uint8Array): StoreEntry {
  const corrupt = (why: string): CcmeshError =>
    new CcmeshError(ErrorCode.STORE_CORRUPT, `store entry file ${file} (key ${key}) is corrupt: ${why}`);
  const nl = bytes.subarray(0, MAX_HEADER_BYTES).indexOf(NEWLINE);
  if (nl < 0) throw corrupt('no header line');
  const fields = Buffer.from(bytes.subarray(0, nl)).toString('latin1').split(' ');
  if (fields.length !== 5) throw corrupt('header does not have 5 fields');
  const [magic, revText, lenText, sum, storedKey] = fields as [string, string, string, string, string];
  if (magic !== MAGIC) throw corrupt(`unknown format ${JSON.stringify(magic.slice(0, 32))}`);
  const revision = parseDecimal(revText);
  if (revision === undefined || revision < 1) throw corrupt(`bad revision ${JSON.stringify(revText.slice(0, 32))}`);
  const length = parseDecimal(lenText);
  if (length === undefined) throw corrupt(`bad length ${JSON.stringify(lenText.slice(0, 32))}`);
  if (storedKey !== key) throw corrupt(`header names key ${JSON.stringify(storedKey.slice(0, 200))}`);
  const value = bytes.subarray(nl + 1);
  if (value.byteLength !== length) throw corrupt(`value is ${value.byteLength} bytes, header says ${length}`);
  if (createHash('sha256').update(value).digest('hex') !== sum) throw corrupt('value checksum mismatch');
  return { value: new Uint8Array(value), revision };
}

// Strict: no sign, no leading zeros, no exponent — one spelling per number, like the encoder writes.
function parseDecimal(s: string): number | undefined {
  if (!/^(?:0|[1-9][0-9]{0,15})$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

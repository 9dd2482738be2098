/**
 * Readers for flag values several commands share: fixed-length hex (`--host-data`, `--coordinator-policy`) and
 * launch measurements (`--snp-measurement`, `--tdx-mrtd`, `--coordinator-measurement`: repeatable, 48 bytes of hex
 * each, returned lowercase and without duplicates in the order given). A malformed value is an issue naming the flag.
 */
import { fromHex } from '../bytes.js';
import type { TokenisedFlags } from './argv.js';
import type { FieldReader } from './fields.js';

/** Length in bytes of an SEV-SNP MEASUREMENT and of a TDX MRTD. */
export const MEASUREMENT_BYTES = 48;

const HEX48 = /^[0-9a-fA-F]{96}$/;

/** The flag `name` as exactly `bytes` bytes of hex; undefined when absent (or malformed, with an issue). */
export function hexFlag(r: FieldReader, name: string, bytes: number): Uint8Array | undefined {
  const v = r.raw(name);
  if (v === undefined) return undefined;
  const b = fromHex(v);
  if (b?.length !== bytes) {
    r.issue(name, v, `${bytes} bytes of hex (${bytes * 2} hex digits)`);
    return undefined;
  }
  return b;
}

/** Every value of the repeatable flag `name`; a malformed value is an issue naming the flag. */
export function measurementFlag(r: FieldReader, tok: TokenisedFlags, name: string): string[] {
  const out: string[] = [];
  for (const v of tok.lists[name] ?? []) {
    if (!HEX48.test(v)) r.issue(name, v, `${MEASUREMENT_BYTES} bytes of hex (${MEASUREMENT_BYTES * 2} hex digits), the launch measurement`);
    else if (!out.includes(v.toLowerCase())) out.push(v.toLowerCase());
  }
  return out;
}

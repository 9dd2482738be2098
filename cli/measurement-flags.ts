/**
 * Launch-measurement flags (`--snp-measurement`, `--tdx-mrtd`, `--coordinator-measurement`): repeatable, 48 bytes
 * of hex each, returned lowercase and without duplicates in the order given.
 */
import type { TokenisedFlags } from '../lib/config/argv.js';
import type { FieldReader } from '../lib/config/fields.js';

/** Length in bytes of an SEV-SNP MEASUREMENT and of a TDX MRTD. */
export const MEASUREMENT_BYTES = 48;

const HEX48 = /^[0-9a-fA-F]{96}$/;

/** Every value of the repeatable flag `name`; a malformed value is an issue naming the flag. */
export function measurementFlag(r: FieldReader, tok: TokenisedFlags, name: string): string[] {
  const out: string[] = [];
  for (const v of tok.lists[name] ?? []) {
    if (!HEX48.test(v)) r.issue(name, v, `${MEASUREMENT_BYTES} bytes of hex (${MEASUREMENT_BYTES * 2} hex digits), the launch measurement`);
    else if (!out.includes(v.toLowerCase())) out.push(v.toLowerCase());
  }
  return out;
}

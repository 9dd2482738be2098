/**
 * TCB_VERSION: the u64 that names the security patch level of every firmware component. Its byte layout depends on
 * the product (FORMATS.md §3), so decoding always takes the product; the raw value stays a bigint so nothing is lost
 * to float rounding.
 */
import type { SnpProduct } from './product.js';

/** The components of one TCB_VERSION. `fmc` exists on Turin and later only. */
export interface SnpTcb {
  readonly bootloader: number;
  readonly tee: number;
  readonly snp: number;
  readonly microcode: number;
  readonly fmc?: number;
}

/** The TCB components that a minimum or a VEK can name, in the order they are reported. */
export type SnpTcbComponent = 'bootloader' | 'tee' | 'snp' | 'microcode' | 'fmc';

function byteOf(raw: bigint, n: number): number {
  return Number((raw >> BigInt(8 * n)) & 0xffn);
}

/** Decodes a TCB_VERSION u64 for `product`. */
export function decodeTcb(raw: bigint, product: SnpProduct): SnpTcb {
  if (product === 'turin') {
    return { fmc: byteOf(raw, 0), bootloader: byteOf(raw, 1), tee: byteOf(raw, 2), snp: byteOf(raw, 3), microcode: byteOf(raw, 7) };
  }
  return { bootloader: byteOf(raw, 0), tee: byteOf(raw, 1), snp: byteOf(raw, 6), microcode: byteOf(raw, 7) };
}

/** The u64 as 16 lowercase hex digits, most significant first (facts.json's `raw_hex`). */
export function u64Hex(raw: bigint): string {
  return raw.toString(16).padStart(16, '0');
}

/** The components of `tcb` that `product` defines, in a fixed order (fmc first on Turin, as in the u64). */
export function tcbComponents(product: SnpProduct): readonly SnpTcbComponent[] {
  return product === 'turin' ? ['fmc', 'bootloader', 'tee', 'snp', 'microcode'] : ['bootloader', 'tee', 'snp', 'microcode'];
}

/** Encodes TCB components as the TCB_VERSION u64 of `product` (the inverse of {@link decodeTcb}). */
export function encodeTcb(tcb: SnpTcb, product: SnpProduct): bigint {
  const at = (v: number | undefined, n: number): bigint => BigInt((v ?? 0) & 0xff) << BigInt(8 * n);
  if (product === 'turin') return at(tcb.fmc, 0) | at(tcb.bootloader, 1) | at(tcb.tee, 2) | at(tcb.snp, 3) | at(tcb.microcode, 7);
  return at(tcb.bootloader, 0) | at(tcb.tee, 1) | at(tcb.snp, 6) | at(tcb.microcode, 7);
}

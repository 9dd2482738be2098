/**
 * AMD EPYC generations that SEV-SNP evidence can come from. The product decides the TCB_VERSION layout (Turin moved
 * every field and added FMC), the CHIP_ID length used by the VCEK and which ARK anchors the chain, so it is
 * identified before anything product-specific is decoded.
 */

/** A supported SEV-SNP product (CPU generation). */
export type SnpProduct = 'milan' | 'genoa' | 'turin';

/** Every supported product, in release order. */
export const SNP_PRODUCTS: readonly SnpProduct[] = ['milan', 'genoa', 'turin'];

const LABELS: Record<SnpProduct, string> = { milan: 'Milan', genoa: 'Genoa', turin: 'Turin' };

/** The product as AMD spells it in certificate names and KDS URLs ("Milan"). */
export function productLabel(product: SnpProduct): string {
  return LABELS[product];
}

/**
 * The product of a v3+ report's CPUID_FAM_ID / CPUID_MOD_ID, or undefined for CPUs this verifier doesn't know.
 * Genoa also covers models 0xA0–0xAF (Siena/Bergamo parts use the Genoa KDS chain), as trustee does.
 */
export function productFromCpuid(family: number, model: number): SnpProduct | undefined {
  if (family === 0x19) {
    if (model === 0x01) return 'milan';
    if (model === 0x11 || (model >= 0xa0 && model <= 0xaf)) return 'genoa';
    return undefined;
  }
  if (family === 0x1a && model >= 0x00 && model <= 0x11) return 'turin';
  return undefined;
}

/** The product named by a VEK productName extension ("Milan-B0", "Genoa", "Turin"); the stepping suffix is ignored. */
export function productFromName(name: string): SnpProduct | undefined {
  const base = name.split('-', 1)[0] ?? '';
  for (const p of SNP_PRODUCTS) if (LABELS[p] === base) return p;
  return undefined;
}

/**
 * The SEV-SNP guest policy (FORMATS.md §2): the u64 the guest owner fixed at launch and the firmware enforces for
 * the guest's life. Decoded into named flags so reference-value checks and operators read "DEBUG", not bit 19.
 */

/** Bit positions of the policy flags. */
export const PolicyBit = {
  SMT: 16,
  RESERVED_MBO: 17,
  MIGRATE_MA: 18,
  DEBUG: 19,
  SINGLE_SOCKET: 20,
  CXL_ALLOW: 21,
  MEM_AES_256_XTS: 22,
  RAPL_DIS: 23,
  CIPHERTEXT_HIDING: 24,
  PAGE_SWAP_DISABLE: 25,
} as const;

/** The name of one policy flag. */
export type PolicyFlag = keyof typeof PolicyBit;

/** Bits 63:26, which the ABI reserves (must be zero). */
export const POLICY_RESERVED_MASK = ~((1n << 26n) - 1n) & 0xffff_ffff_ffff_ffffn;

/** A decoded guest policy. */
export interface SnpPolicy {
  readonly raw: bigint;
  readonly abiMinor: number;
  readonly abiMajor: number;
  /** Flags that are set, in bit order (e.g. ["SMT", "RESERVED_MBO", "DEBUG"]). */
  readonly flags: readonly PolicyFlag[];
  readonly smt: boolean;
  readonly migrateMa: boolean;
  readonly debug: boolean;
  readonly singleSocket: boolean;
  /** Value of bits 63:26; non-zero means the policy uses bits this verifier can't interpret. */
  readonly reservedBits: bigint;
}

/** True when bit `bit` of `raw` is set. */
export function policyHas(raw: bigint, bit: number): boolean {
  return ((raw >> BigInt(bit)) & 1n) === 1n;
}

/** Decodes a guest policy u64. */
export function decodePolicy(raw: bigint): SnpPolicy {
  const flags = (Object.keys(PolicyBit) as PolicyFlag[]).filter((f) => policyHas(raw, PolicyBit[f]));
  return {
    raw,
    abiMinor: Number(raw & 0xffn),
    abiMajor: Number((raw >> 8n) & 0xffn),
    flags,
    smt: policyHas(raw, PolicyBit.SMT),
    migrateMa: policyHas(raw, PolicyBit.MIGRATE_MA),
    debug: policyHas(raw, PolicyBit.DEBUG),
    singleSocket: policyHas(raw, PolicyBit.SINGLE_SOCKET),
    reservedBits: raw & POLICY_RESERVED_MASK,
  };
}

/** Why a policy is malformed (reserved bit 17 clear or bits 63:26 set), or an empty list. */
export function policyDefects(policy: SnpPolicy): string[] {
  const out: string[] = [];
  if (!policyHas(policy.raw, PolicyBit.RESERVED_MBO)) out.push('guest policy has reserved bit 17 clear (the ABI requires it set)');
  if (policy.reservedBits !== 0n) {
    out.push(`guest policy sets reserved bits 63:26 (0x${policy.reservedBits.toString(16)}) whose meaning this verifier does not know`);
  }
  return out;
}

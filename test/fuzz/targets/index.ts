/** Every fuzz target (and the harness's self-test targets, which a fuzz run leaves out). */
import type { FuzzTarget } from '../target.js';
import { ATTESTATION_TARGETS } from './attestation.js';
import { CONTRACT_TARGETS } from './contract.js';
import { PKI_TARGETS } from './pki.js';
import { PROTOCOL_TARGETS } from './protocol.js';
import { PROXY_TARGETS } from './proxy.js';
import { SELFTEST_TARGETS } from './selftest.js';

/** The targets of a fuzz run: one per parser an attacker can reach. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [...ATTESTATION_TARGETS, ...PKI_TARGETS, ...PROTOCOL_TARGETS, ...PROXY_TARGETS, ...CONTRACT_TARGETS];

/** A target or self-test target by name. */
export function targetNamed(name: string): FuzzTarget | undefined {
  return [...FUZZ_TARGETS, ...SELFTEST_TARGETS].find((t) => t.name === name);
}

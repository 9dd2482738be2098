/**
 * Targets that misbehave on purpose, so the harness's own detection is tested (`fuzz.test.ts`): an abort in native
 * code, a hang, a TypeError, unbounded memory. Not part of a fuzz run.
 */
import { createPublicKey } from 'node:crypto';
import type { FuzzTarget } from '../target.js';

/** The point at infinity on P-256 as SPKI DER: reading its details aborts Node 20 (lib/pki/key-details.ts). */
const INFINITY = Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000', 'hex');

export const SELFTEST_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'selftest-clean',
    what: 'accepts everything',
    kind: 'bytes',
    run: () => undefined,
  },
  {
    name: 'selftest-abort',
    what: 'aborts the process the way Node 20 does on a point-at-infinity key, on the first input of 3+ bytes',
    kind: 'bytes',
    run: (b) => {
      if ((b as Uint8Array).length >= 3) return createPublicKey({ key: INFINITY, format: 'der', type: 'spki' }).asymmetricKeyDetails;
      return undefined;
    },
  },
  {
    name: 'selftest-hang',
    what: 'loops forever on an input starting with 0x00',
    kind: 'bytes',
    run: (b) => {
      // eslint-disable-next-line no-empty
      while ((b as Uint8Array)[0] === 0) {}
    },
  },
  {
    name: 'selftest-type-error',
    what: 'throws a TypeError for inputs longer than 8 bytes',
    kind: 'bytes',
    run: (b) => {
      if ((b as Uint8Array).length > 8) (null as unknown as { x: number }).x.toFixed();
    },
  },
  {
    name: 'selftest-memory',
    what: 'allocates without bound',
    kind: 'bytes',
    run: () => {
      const keep: number[][] = [];
      for (;;) keep.push(new Array<number>(1_000_000).fill(1));
    },
  },
];

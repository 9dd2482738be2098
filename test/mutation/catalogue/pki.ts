/** Security mutations of ccmesh's own reading of public keys from outside (`lib/pki/key-details.ts`). */
import type { SecurityMutation } from '../types.js';

const KEY_DETAILS = 'lib/pki/key-details.ts';
const KEY_DETAILS_TEST = 'lib/pki/key-details.test.ts';

export const PKI_MUTATIONS: SecurityMutation[] = [
  {
    id: 'pki-key-point-form',
    defence: 'An EC key must be an uncompressed point of the curve\'s size: the point at infinity (one 0x00 octet) never reaches OpenSSL, whose details getter aborts the process on it.',
    file: KEY_DETAILS,
    find: 'if (point.length !== 1 + 2 * curve.bytes || point[0] !== 0x04) {',
    replace: 'if (false) {',
    tests: [KEY_DETAILS_TEST],
  },
  {
    id: 'pki-key-point-on-curve',
    defence: 'An EC key\'s point must satisfy the curve equation.',
    file: KEY_DETAILS,
    find: "if (lhs !== (rhs + p) % p) throw invalid(`EC ${curve.name} point is not on the curve`);",
    replace: '',
    tests: [KEY_DETAILS_TEST],
  },
  {
    id: 'pki-key-point-field',
    defence: 'An EC key\'s coordinates must be below the field prime (no second encoding of the same point).',
    file: KEY_DETAILS,
    find: 'if (x >= curve.p || y >= curve.p) throw',
    replace: 'if (false) throw',
    tests: [KEY_DETAILS_TEST],
  },
];

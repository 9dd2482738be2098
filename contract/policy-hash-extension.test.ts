/** The policy-hash extension reader on good, absent and hostile input: it reads or reports, it never throws. */
import t from 'tap';
import fc from 'fast-check';
import { webcrypto, X509Certificate } from 'node:crypto';
import { x509 } from '../lib/pki/x509.js';
import {
  buildPolicyHashExtension, CCMESH_POLICY_HASH_OID, decodePolicyHashValue, parsePolicyHash, readLeafPolicyHash, readPolicyHashExtension,
} from './policy-hash-extension.js';
import { DerError } from '../lib/asn1/der.js';
import { ErrorCode } from '../lib/errors.js';

const hash = parsePolicyHash('c0ffee'.repeat(10) + 'abcd');
const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;

/** A self-signed certificate with exactly the given extensions. */
async function certWith(extensions: x509.Extension[]): Promise<Uint8Array> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=test', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, extensions,
    notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2027-01-01T00:00:00Z'),
  });
  return new Uint8Array(cert.rawData);
}

const good = await certWith([new x509.BasicConstraintsExtension(false), buildPolicyHashExtension(hash)]);

void t.test('present, absent, duplicated, wrong-size and mis-typed extensions', async (t) => {
  t.same(readPolicyHashExtension(good), { status: 'present', policyHash: hash });
  t.equal(readLeafPolicyHash(new X509Certificate(good)), hash);
  t.same(readPolicyHashExtension(await certWith([])), { status: 'absent' });
  t.same(readPolicyHashExtension(await certWith([new x509.BasicConstraintsExtension(true)])), { status: 'absent' });
  const dup = await certWith([buildPolicyHashExtension(hash), buildPolicyHashExtension(hash)]);
  t.match(readPolicyHashExtension(dup), { status: 'malformed', reason: /more than once/ });
  const raw = (value: number[]) => certWith([new x509.Extension(CCMESH_POLICY_HASH_OID, false, new Uint8Array(value))]);
  t.match(readPolicyHashExtension(await raw([0x04, 0x1f, ...new Array<number>(31).fill(1)])), { status: 'malformed', reason: /31 bytes/ });
  t.match(readPolicyHashExtension(await raw([0x04, 0x21, ...new Array<number>(33).fill(1)])), { status: 'malformed', reason: /33 bytes/ });
  t.match(readPolicyHashExtension(await raw([0x0c, 0x20, ...new Array<number>(32).fill(0x41)])), { status: 'malformed', reason: /expected tag 0x4/ });
  t.match(readPolicyHashExtension(await raw([0x04, 0x20, ...new Array<number>(32).fill(1), 0x00])), { status: 'malformed', reason: /trailing/ });
  t.match(readPolicyHashExtension(await raw([])), { status: 'malformed' });
  const critical = await certWith([new x509.Extension(CCMESH_POLICY_HASH_OID, true, buildPolicyHashExtension(hash).value)]);
  t.same(readPolicyHashExtension(critical), { status: 'present', policyHash: hash }, 'criticality does not change the reading');
  t.equal(readLeafPolicyHash(new X509Certificate(await raw([0x04, 0x00]))), undefined);
});

void t.test('parsePolicyHash lowercases 64 hex digits and refuses anything else', (t) => {
  t.equal(parsePolicyHash('AB'.repeat(32)), 'ab'.repeat(32));
  for (const bad of ['', 'ab'.repeat(31), 'ab'.repeat(33), 'zz'.repeat(32), ` ${'ab'.repeat(32)}`]) {
    t.throws(() => parsePolicyHash(bad), { code: ErrorCode.PKI_INPUT_INVALID });
  }
  t.equal(decodePolicyHashValue(new Uint8Array([0x04, 0x20, ...Buffer.from(hash, 'hex')])), hash);
  t.end();
});

const neverThrows = (bytes: Uint8Array): boolean => {
  const r = readPolicyHashExtension(bytes);
  return r.status === 'absent' || r.status === 'malformed' || (r.status === 'present' && /^[0-9a-f]{64}$/.test(r.policyHash));
};

void t.test('random bytes, truncations and byte flips of a real certificate never throw', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), neverThrows), { numRuns: 2000 });
  fc.assert(fc.property(fc.nat({ max: good.length }), (n) => neverThrows(good.subarray(0, n))), { numRuns: 500 });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (edits) => {
      const mutated = Uint8Array.from(good);
      for (const [i, v] of edits) mutated[i] = v;
      return neverThrows(mutated);
    }),
    { numRuns: 3000 },
  );
  t.end();
});

void t.test('arbitrary extension values inside a well-formed certificate read or report, and only exact ones read', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 80 }), async (value) => {
      const reading = readPolicyHashExtension(await certWith([new x509.Extension(CCMESH_POLICY_HASH_OID, false, value)]));
      const exact = value.length === 34 && value[0] === 0x04 && value[1] === 0x20;
      return exact ? reading.status === 'present' && reading.policyHash === Buffer.from(value.subarray(2)).toString('hex') : reading.status === 'malformed';
    }),
    { numRuns: 200 },
  );
  t.throws(() => decodePolicyHashValue(new Uint8Array([0x04, 0x84, 0xff, 0xff, 0xff, 0xff])), DerError);
});

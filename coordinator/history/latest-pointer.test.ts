import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { ErrorCode } from '../../lib/errors.js';
import type { TransitionHash } from './hashes.js';
import { encodeLatest, parseLatest, signLatest, verifyLatest } from './latest-pointer.js';

const th = 'a'.repeat(64) as TransitionHash;

void t.test('signatures bind the transition hash, for Ed25519, P-256 and RSA keys', async (t) => {
  const pairs = [
    generateKeyPairSync('ed25519'),
    generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ];
  for (const { privateKey, publicKey } of pairs) {
    const p = { transitionHash: th, signature: signLatest(th, privateKey) };
    t.ok(verifyLatest(parseLatest('latest', encodeLatest(p)), publicKey), `${publicKey.asymmetricKeyType} round-trips`);
    t.notOk(verifyLatest({ ...p, transitionHash: 'b'.repeat(64) as TransitionHash }, publicKey), 'another hash fails');
    t.notOk(verifyLatest({ ...p, signature: new Uint8Array(3) }, publicKey), 'a garbage signature fails');
  }
});

void t.test('malformed pointer records are STORE_CORRUPT', async (t) => {
  const bad = ['', 'null', '[]', '{"transitionHash":"aa","signature":"AA=="}', `{"transitionHash":"${th}"}`, `{"transitionHash":"${th}","signature":"!!"}`,
    `{"transitionHash":"${th}","signature":"AA==","extra":1}`, '\xff'];
  for (const b of bad) t.throws(() => parseLatest('latest', Buffer.from(b, 'latin1')), { code: ErrorCode.STORE_CORRUPT }, JSON.stringify(b));
});

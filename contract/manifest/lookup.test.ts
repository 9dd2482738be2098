/** Lookups the Coordinator makes on its request paths. */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { fromHex } from '../../lib/bytes.js';
import {
  configDigestsFor, coordinatorPolicies, isImmutable, leafLifetimeMs, policyFor, seedshareOwnerKeyFor, simulatedRoots,
  snpAlternatives, tdxAlternatives, workloadOwnerKeyFor,
} from './lookup.js';
import { parseManifestValue } from './parse.js';
import { fullDocument, manifestFixtures, minimalDocument } from '../../test/support/manifest.js';

const f = await manifestFixtures();
const m = parseManifestValue(fullDocument(f));

void t.test('policyFor: exact hash in any case; anything else finds nothing', (t) => {
  t.equal(policyFor(m, f.policyA)?.workloadSecretId, 'apps/v1/Deployment/default/web');
  t.equal(policyFor(m, f.policyA.toUpperCase())?.policyHash, f.policyA);
  t.equal(policyFor(m, 'c'.repeat(64)), undefined);
  t.equal(policyFor(m, '__proto__'), undefined);
  t.equal(policyFor(m, f.policyA.slice(2)), undefined);
  t.end();
});

void t.test('coordinator policies, alternatives, simulated roots, lifetime', (t) => {
  t.same(coordinatorPolicies(m).map((p) => p.policyHash), [f.policyB]);
  t.equal(snpAlternatives(m).length, 1);
  t.equal(tdxAlternatives(m).length, 1);
  t.same(simulatedRoots(m).map((r) => r.name), ['dev']);
  t.equal(leafLifetimeMs(m), 24 * 3_600_000);
  t.end();
});

void t.test('configDigestsFor: the pinned set, or an empty frozen set', (t) => {
  t.same(Object.keys(configDigestsFor(m, f.policyA.toUpperCase())), ['/etc/web']);
  const none = configDigestsFor(m, f.policyB);
  t.same(Object.keys(none), []);
  t.ok(Object.isFrozen(none));
  t.end();
});

void t.test('owner key lookups by KeyObject or SPKI DER; immutability', (t) => {
  const der = fromHex(f.ownerEc)!;
  t.equal(workloadOwnerKeyFor(m, der)?.spkiHex, f.ownerEc);
  t.equal(workloadOwnerKeyFor(m, createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }))?.spkiHex, f.ownerEc);
  t.equal(workloadOwnerKeyFor(m, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey), undefined);
  t.equal(workloadOwnerKeyFor(m, new Uint8Array([1, 2, 3])), undefined);
  t.equal(seedshareOwnerKeyFor(m, fromHex(f.seedRsa)!)?.spkiHex, f.seedRsa);
  t.equal(seedshareOwnerKeyFor(m, der), undefined);
  t.notOk(isImmutable(m));
  t.ok(isImmutable(parseManifestValue(minimalDocument(f))));
  t.end();
});

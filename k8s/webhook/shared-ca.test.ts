/**
 * The shared CA Secret's parts that need no API: parsing refuses an edited-to-garbage Secret naming the key, and the
 * caBundle merge keeps every CA some replica may serve — a newer CA a replica with an old view does not know yet, the
 * one it serves itself — and drops only expired CAs and those older than the view's previous CA, in one canonical
 * order so that replicas agreeing on a view publish identical bytes.
 */
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { FixedClock } from '../../lib/clock.js';
import { createServingCa, createSelfManagedCredentials, TLS_DIR_FILES } from './serving-cert.js';
import { mergeCaBundle, parseSharedCaSecret, SHARED_CA_FILES } from './shared-ca.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const WHERE = 'secret ccmesh-system/ccmesh-injector-ca';

/** Four CAs made a day apart, each valid for 30 days: old → prev → cur → next. */
const [old, prev, cur, next] = await Promise.all([0, 1, 2, 3].map((d) => createServingCa(new FixedClock(T0 + d * DAY), 30 * DAY)));
const secret = (data: Record<string, string>) => ({ data, resourceVersion: '7', metadata: { name: 'ccmesh-injector-ca', resourceVersion: '7' } });
const fp = (pem: string): string => new X509Certificate(pem).fingerprint256;
const fps = (bundle: string): string[] => [...bundle.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => fp(m[0]));

void t.test('parseSharedCaSecret: a usable Secret, and each kind of garbage refused naming the key', async (t) => {
  const leaf = await createSelfManagedCredentials(['ccmesh-injector.ccmesh-system.svc'], new FixedClock(T0), 30 * DAY);
  const good = { [TLS_DIR_FILES.cert]: leaf.certPem, [TLS_DIR_FILES.key]: leaf.keyPem, [TLS_DIR_FILES.ca]: cur!.certPem, [TLS_DIR_FILES.caKey]: cur!.keyPem };
  const v = parseSharedCaSecret(secret({ ...good, [SHARED_CA_FILES.nextCa]: next!.certPem, [SHARED_CA_FILES.nextCaKey]: next!.keyPem, [SHARED_CA_FILES.previousCa]: prev!.certPem }), WHERE);
  t.equal(v?.resourceVersion, '7');
  t.equal(v?.current.certPem, cur!.certPem);
  t.equal(v?.next?.certPem, next!.certPem);
  t.equal(v?.previous, prev!.certPem);
  t.same(v?.metadata, { name: 'ccmesh-injector-ca', resourceVersion: '7' }, 'the metadata, written back on a replace');
  t.equal(parseSharedCaSecret(secret({ ...good, [TLS_DIR_FILES.caKey]: undefined! }), WHERE), undefined, 'no ca.key: a legacy Secret, not rotated');
  const cases: [string, Record<string, string>, RegExp][] = [
    ['ca.crt not a certificate', { ...good, [TLS_DIR_FILES.ca]: 'garbage' }, /ca\.crt is not a certificate/],
    ['ca.crt a leaf, not a CA', { ...good, [TLS_DIR_FILES.ca]: leaf.certPem, [TLS_DIR_FILES.caKey]: leaf.keyPem }, /ca\.crt is not a CA certificate/],
    ['ca.key of another CA', { ...good, [TLS_DIR_FILES.caKey]: next!.keyPem }, /ca\.key is not the key of ca\.crt/],
    ['ca.key not a key', { ...good, [TLS_DIR_FILES.caKey]: 'garbage' }, /ca\.key is not a private key/],
    ['next-ca.crt without its key', { ...good, [SHARED_CA_FILES.nextCa]: next!.certPem }, /next-ca\.crt without next-ca\.key/],
    ['next-ca.key without its certificate', { ...good, [SHARED_CA_FILES.nextCaKey]: next!.keyPem }, /next-ca\.key without next-ca\.crt/],
    ['next-ca.key of another CA', { ...good, [SHARED_CA_FILES.nextCa]: next!.certPem, [SHARED_CA_FILES.nextCaKey]: cur!.keyPem }, /next-ca\.key is not the key of next-ca\.crt/],
    ['previous-ca.crt garbage', { ...good, [SHARED_CA_FILES.previousCa]: 'garbage' }, /previous-ca\.crt:/],
  ];
  for (const [name, data, re] of cases) {
    t.throws(() => parseSharedCaSecret(secret(data), WHERE), { code: 'CCMESH_ERR_INPUT_MALFORMED', message: re }, name);
    t.throws(() => parseSharedCaSecret(secret(data), WHERE), { message: /secret ccmesh-system\/ccmesh-injector-ca/ }, `${name}: names the Secret`);
  }
});

void t.test('mergeCaBundle: a replica with an old view keeps the newer CA another replica published', async (t) => {
  const now = T0 + 4 * DAY;
  // Published by a replica that saw the staged next CA; this replica still sees current + previous only.
  const published = next!.certPem + cur!.certPem + prev!.certPem;
  const merged = mergeCaBundle(published, [cur!.certPem, prev!.certPem], prev!.certPem, now);
  t.same(fps(merged), [fp(next!.certPem), fp(cur!.certPem), fp(prev!.certPem)], 'next kept, newest first');
});

void t.test('mergeCaBundle: retires only CAs older than the view\'s previous one, and expired ones', async (t) => {
  const now = T0 + 4 * DAY;
  const published = old!.certPem + prev!.certPem + cur!.certPem + next!.certPem;
  t.same(fps(mergeCaBundle(published, [next!.certPem, cur!.certPem], cur!.certPem, now)), [fp(next!.certPem), fp(cur!.certPem)], 'promoted view (previous = cur): old and prev leave');
  t.same(fps(mergeCaBundle(published, [next!.certPem, cur!.certPem], undefined, now)), [next, cur, prev, old].map((c) => fp(c!.certPem)), 'no previous CA in the view: nothing retired');
  t.same(fps(mergeCaBundle(published, [cur!.certPem], undefined, T0 + 30.5 * DAY)), [next, cur, prev].map((c) => fp(c!.certPem)), 'old (made on day 0, valid 30 days) has expired');
  t.same(fps(mergeCaBundle(published, [cur!.certPem, old!.certPem], cur!.certPem, now)), [next, cur, old].map((c) => fp(c!.certPem)), 'a CA the replica still serves stays, even older than previous');
});

void t.test('mergeCaBundle: canonical and idempotent; garbage in the published bundle is dropped', async (t) => {
  const now = T0 + 4 * DAY;
  const a = mergeCaBundle(cur!.certPem + next!.certPem, [prev!.certPem], undefined, now);
  const b = mergeCaBundle(`junk\n${next!.certPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n${cur!.certPem}`, [prev!.certPem, cur!.certPem], undefined, now);
  t.equal(a, b, 'same CAs, same bytes, whatever the order and noise published');
  t.equal(mergeCaBundle(a, [prev!.certPem], undefined, now), a, 'merging again changes nothing');
  t.equal(fps(a).length, 3, 'three CAs, one copy each');
  t.notMatch(b, /junk|AAAA/, 'no text that is not a certificate');
});

/**
 * Which offered mesh CA bundles move forward from the one in use (stepBackProblem), and the shape every bundle must
 * have (bundleShapeProblem). The sidecar-level attacks are in proxy/test/trust-refresh.test.ts.
 */
import t from 'tap';
import type { X509Certificate } from 'node:crypto';
import { FixedClock } from '../../lib/clock.js';
import { TestMesh } from '../test/pki.js';
import { bundleShapeProblem, parseCertificates } from './generation.js';
import { stepBackProblem } from './trust-refresh.js';

/** A mesh with three CAs made a minute apart: [ca1, ca2, ca3], oldest first. */
async function threeGenerations(): Promise<X509Certificate[]> {
  const clock = new FixedClock(Date.now() - 3600_000);
  const mesh = await TestMesh.create('ccmesh.local', clock);
  clock.advance(60_000);
  await mesh.addMeshCa();
  clock.advance(60_000);
  await mesh.addMeshCa();
  return parseCertificates(mesh.bundle()).reverse();
}

void t.test('a bundle moves forward: it keeps our newest CA or brings a newer one, and adds nothing older', async (t) => {
  const [ca1, ca2, ca3] = (await threeGenerations()) as [X509Certificate, X509Certificate, X509Certificate];
  const none = new Set<string>();
  t.equal(stepBackProblem([ca2, ca1], [ca1], none), undefined, 'the next generation: new + previous');
  t.equal(stepBackProblem([ca3, ca2], [ca2, ca1], none), undefined, 'the one after: the oldest leaves');
  t.equal(stepBackProblem([ca3, ca2], [ca1], none), undefined, 'two generations missed: both are newer');
  t.equal(stepBackProblem([ca2], [ca2, ca1], none), undefined, 'the previous CA dropped alone');
  t.equal(stepBackProblem([ca1], [ca2, ca1], none), 'it drops the newest mesh CA in use without a newer one (a replayed earlier generation)', 'a replay of the first generation');
  t.match(stepBackProblem([ca3, ca1], [ca3, ca2], none), /^it adds mesh CA .*, older than the newest mesh CA in use$/, 'a dropped CA brought back beside the newest (after a restart: no memory of drops)');
  t.match(stepBackProblem([ca2, ca1], [ca2], none), /older than the newest/, 'a CA the bundle had dropped, by date alone');
  t.match(stepBackProblem([ca3, ca1], [ca3], new Set([ca1.fingerprint256])), /^it brings back mesh CA .*, which an earlier bundle dropped$/, 'a CA this process dropped, whatever its date');
});

void t.test('a bundle holds one or two distinct CAs, and no more is parsed', async (t) => {
  const [ca1, ca2, ca3] = (await threeGenerations()) as [X509Certificate, X509Certificate, X509Certificate];
  const pem = (...cs: X509Certificate[]): string => cs.map((c) => c.toString()).join('');
  t.equal(bundleShapeProblem(pem(ca2, ca1)), undefined);
  t.equal(bundleShapeProblem(pem(ca1)), undefined);
  t.equal(bundleShapeProblem(''), 'the mesh CA bundle holds no certificate');
  t.equal(bundleShapeProblem(pem(ca3, ca2, ca1)), 'the mesh CA bundle holds 3 certificates; it holds the current and at most the previous mesh CA');
  t.equal(bundleShapeProblem(pem(ca1, ca1)), 'the mesh CA bundle lists a certificate twice');
  t.match(bundleShapeProblem('-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n') ?? '', /^the mesh CA bundle holds an unreadable certificate: /);
  // 6 000 copies (what fits in one 4 MiB answer) are refused by counting, before any parse.
  t.equal(bundleShapeProblem(pem(ca1).repeat(6000)), 'the mesh CA bundle holds 6000 certificates; it holds the current and at most the previous mesh CA');
});

/**
 * The end-to-end attacks (test/e2e/mesh.test.ts: real processes in network namespaces) against the checks they
 * exist for. The same checks have fast entries in the other area files; these prove the whole-mesh attack notices
 * too. Slow and privileged: the bench tier runs them.
 */
import type { SecurityMutation } from '../types.js';

const E2E = ['test/e2e/mesh.test.ts'];

export const E2E_MUTATIONS: readonly SecurityMutation[] = [
  {
    id: 'e2e-fake-upstream-other-ca',
    defence: 'A server of the host\'s own CA carrying the upstream\'s SAN gets no application bytes (attack 13).',
    file: 'proxy/outbound/upstream.ts',
    find: '    checkServerIdentity: ctx.check,\n',
    replace: '    checkServerIdentity: ctx.check,\n    rejectUnauthorized: false,\n',
    tests: E2E,
    privileged: true,
    slow: true,
  },
  {
    id: 'e2e-fake-upstream-other-workload',
    defence: 'Another workload\'s genuine mesh leaf cannot answer for the upstream (attack 13).',
    file: 'proxy/outbound/upstream-identity.ts',
    find: 'if (k === kind && matches(v)) return undefined;',
    replace: 'return undefined;',
    tests: E2E,
    privileged: true,
    slow: true,
  },
  {
    id: 'e2e-bundle-injection',
    defence: 'A CA the host adds to the reloaded mesh CA bundle is refused; its leaves reach no app (attack 12).',
    file: 'proxy/credentials/generation.ts',
    find: 'return bundle.find((ca) => !ca.ca || ca.fingerprint256 === root.fingerprint256 || ca.checkIssued(ca) || !(ca.checkIssued(root) && ca.verify(root.publicKey)));',
    replace: 'return undefined;',
    tests: E2E,
    privileged: true,
    slow: true,
  },
  {
    id: 'e2e-fake-coordinator',
    defence: 'A pod whose Coordinator connection the host redirects to its own Coordinator never sends evidence or gets ready (attack 15).',
    file: 'cli/coordinator-session.ts',
    find: '  if (!verdict.ok) {\n    throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_REFUSED, `the Coordinator at ${client.address} failed attestation',
    replace: '  if (false) {\n    throw new CcmeshError(ErrorCode.ATTEST_COORDINATOR_REFUSED, `the Coordinator at ${client.address} failed attestation',
    tests: E2E,
    privileged: true,
    slow: true,
  },
  {
    id: 'e2e-renew-foreign-leaf',
    defence: 'The real Coordinator refuses to renew a leaf of a foreign CA (attack 14).',
    file: 'coordinator/core/coordinator.ts',
    find: "if (!issuedBy) throw refuse.unauthenticated('the presented leaf was not issued by the current or previous mesh CA', 'unauthorized');",
    replace: '',
    tests: E2E,
    privileged: true,
    slow: true,
  },
  {
    id: 'e2e-renew-revoked-policy',
    defence: 'The real Coordinator refuses to renew a leaf whose policy left the manifest (attack 14).',
    file: 'coordinator/core/coordinator.ts',
    find: 'if (!policyHash || !policy) throw refuse.denied(',
    replace: 'if (!policyHash) throw refuse.denied(',
    tests: E2E,
    privileged: true,
    slow: true,
  },
];

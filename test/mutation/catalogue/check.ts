/** Security mutations of `ccmesh check`: what it must not pass unseen, and whom it trusts as the API server. */
import type { SecurityMutation } from '../types.js';

export const CHECK_MUTATIONS: readonly SecurityMutation[] = [
  {
    id: 'check-api-ca-pinned',
    defence: "`ccmesh check` trusts the API server only under the kubeconfig's CA: an impostor server gets no bearer token or request.",
    file: 'cli/commands/k8s/check-kube.ts',
    find: '...(access.caPem !== undefined ? { ca: access.caPem } : {}),',
    replace: 'rejectUnauthorized: false,',
    tests: ['cli/commands/k8s/check.test.ts'],
  },
  {
    id: 'check-cabundle-earliest',
    defence: '`ccmesh check` judges the webhook caBundle by its earliest-expiring certificate, not its first.',
    file: 'cli/commands/k8s/check.ts',
    find: 'const earliest = Math.min(...certs.map((c) => Date.parse(c.validTo)));',
    replace: 'const earliest = Date.parse(certs[0]!.validTo);',
    tests: ['cli/commands/k8s/check.test.ts'],
  },
  {
    id: 'check-serving-cert-expiry',
    defence: '`ccmesh check` fails an injector serving certificate that expires within --min-validity.',
    file: 'cli/commands/k8s/check.ts',
    find: 'emit(until - now > minMs',
    replace: 'emit(true',
    tests: ['cli/commands/k8s/check.test.ts'],
  },
  {
    id: 'check-sidecar-ready',
    defence: '`ccmesh check` counts an injected pod healthy only when its ccmesh-proxy container reports ready, not merely present.',
    file: 'cli/commands/k8s/check.ts',
    find: 'ready: proxy?.ready === true',
    replace: 'ready: proxy !== undefined',
    tests: ['cli/commands/k8s/check.test.ts'],
  },
  {
    id: 'check-leaf-expiry',
    defence: '`ccmesh check` fails a sidecar whose leaf certificate expires within --min-validity.',
    file: 'cli/commands/k8s/check.ts',
    find: 'if (at - now <= minMs) short.push(',
    replace: 'if (false) short.push(',
    tests: ['cli/commands/k8s/check.test.ts'],
  },
  {
    id: 'check-unread-leaf-fails',
    defence: '`ccmesh check` fails a sidecar whose leaf expiry it could not read instead of passing it unseen.',
    file: 'cli/commands/k8s/check.ts',
    find: 'if (unread.length > 0) emit(',
    replace: 'if (false) emit(',
    tests: ['cli/commands/k8s/check.test.ts'],
  },
  {
    id: 'check-failure-exit',
    defence: '`ccmesh check` exits 3 when any check failed, so scripts and CI stop on an unhealthy install.',
    file: 'cli/commands/k8s/check.ts',
    find: 'return failed ? EXIT.rejected : EXIT.ok;',
    replace: 'return EXIT.ok;',
    tests: ['cli/commands/k8s/check.test.ts'],
  },
];

/** Security mutations of injection: what `inject` makes of a pod so that only ccmesh's containers write its volume. */
import type { SecurityMutation } from '../types.js';

export const K8S_MUTATIONS: readonly SecurityMutation[] = [
  {
    id: 'k8s-inject-mesh-volume-read-only',
    defence: 'Every user container\'s mount of the ccmesh volume, at /ccmesh or elsewhere, is read-only (none can rename the TLS directory away).',
    file: 'k8s/inject/inject.ts',
    find: 'for (const m of mountsOf(u, where)) if (m.name === INJECTED.volume) m.readOnly = true;',
    replace: '',
    tests: ['k8s/inject/inject.test.ts'],
  },
  {
    id: 'k8s-inject-mesh-volume-subpath',
    defence: 'A user mount of the ccmesh volume by subPath or subPathExpr (host-backed under Kata) is refused, naming the container and the mount.',
    file: 'k8s/inject/checks.ts',
    find: '      if (sub === undefined) return;\n',
    replace: '      return;\n',
    tests: ['k8s/inject/refuse.test.ts'],
  },
  {
    id: 'k8s-inject-share-process-namespace',
    defence: 'A pod that shares one PID namespace is refused: a container as the sidecar\'s uid would reach the writable volume through /proc/<pid>/root.',
    file: 'k8s/inject/inject.ts',
    find: "if (spec.shareProcessNamespace === true) throw refuse(",
    replace: "if (false) throw refuse(",
    tests: ['k8s/inject/refuse.test.ts'],
  },
  {
    id: 'k8s-inject-volume-root-pinned',
    defence: 'The injected initializer is told to close the ccmesh volume\'s root (--volume-root /ccmesh).',
    file: 'k8s/inject/parts.ts',
    find: "'--volume-root', PATHS.root,",
    replace: '',
    tests: ['k8s/inject/inject.test.ts'],
  },
];

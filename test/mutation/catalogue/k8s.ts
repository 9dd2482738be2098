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
  {
    id: 'k8s-inject-initializer-seccomp',
    defence: 'The injected initializer (root, NET_ADMIN) runs under the runtime\'s default seccomp filter even when the pod sets none.',
    file: 'k8s/inject/parts.ts',
    find: "      capabilities: { add: [...NET_CAPS, 'CHOWN'], drop: ['ALL'] },\n      seccompProfile: { ...SECCOMP },\n",
    replace: "      capabilities: { add: [...NET_CAPS, 'CHOWN'], drop: ['ALL'] },\n",
    tests: ['k8s/inject/pod-security.test.ts'],
  },
  {
    id: 'k8s-inject-proxy-seccomp',
    defence: 'The injected proxy sidecar runs under the runtime\'s default seccomp filter even when the pod sets none.',
    file: 'k8s/inject/parts.ts',
    find: "      capabilities: { add: [...NET_CAPS], drop: ['ALL'] },\n      seccompProfile: { ...SECCOMP },\n",
    replace: "      capabilities: { add: [...NET_CAPS], drop: ['ALL'] },\n",
    tests: ['k8s/inject/pod-security.test.ts'],
  },
  {
    id: 'k8s-annotations-proxy-resource-quantity',
    defence: 'A malformed ccmesh.dev/proxy-{cpu,memory}-{request,limit} annotation (e.g. 128m of memory) is refused naming the annotation, not passed into the pod.',
    file: 'k8s/annotations.ts',
    find: 'if (parseQuantity(text, a.kind) === undefined) issues.push(',
    replace: 'if (false) issues.push(',
    tests: ['k8s/annotations.test.ts'],
  },
  {
    id: 'k8s-inject-proxy-memory-over-limit',
    defence: 'A proxy memory request above its limit (annotation or install limit) is refused naming the annotations, instead of a pod the API server rejects for a container the user never wrote.',
    file: 'k8s/inject/proxy-resources.ts',
    find: "  if (over('memory', requests.memory, limits.memory)) {",
    replace: '  if (false) {',
    tests: ['k8s/inject/proxy-resources.test.ts'],
  },
];

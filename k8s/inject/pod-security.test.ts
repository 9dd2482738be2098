/**
 * Pod Security Standards of an injected pod (docs/kubernetes.md, "Pod Security"): an app pod that meets
 * "restricted" on its own, once injected, fails exactly the controls the mesh needs — NET_ADMIN and NET_RAW (baseline
 * and restricted), the initializer's root and CHOWN (restricted) — and nothing else: seccomp, privilege escalation,
 * dropped capabilities and volume types all still pass. The install's own pods meet "restricted" (the namespace
 * label enforces it), which also shows the checker accepts a compliant pod.
 */
import t from 'tap';
import { checkPodSecurity } from '../../test/support/k8s/pod-security.js';
import { buildInstall } from '../install/build.js';
import { DEFAULT_VALUES } from '../install/values.js';
import { inject, type KubeObject } from './inject.js';

/** An app pod that meets "restricted" by itself; seccomp set per container, so the pod level doesn't cover ours. */
const restrictedApp = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'app', namespace: 'demo' },
  spec: {
    securityContext: { runAsNonRoot: true, runAsUser: 1000 },
    containers: [{
      name: 'app',
      image: 'registry.example/app:1',
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
    }],
  },
});

const specOf = (o: KubeObject): Record<string, unknown> => o.spec as Record<string, unknown>;

void t.test('the app pod alone meets restricted', async (t) => {
  t.same(checkPodSecurity(specOf(restrictedApp()), 'restricted'), []);
});

void t.test('injected: baseline fails only on the two network capabilities of the two ccmesh containers', async (t) => {
  const got = checkPodSecurity(specOf(inject(restrictedApp())), 'baseline');
  t.same(got.map((v) => `${v.control} ${v.field} ${v.detail}`), [
    'Capabilities spec.initContainers[0].securityContext.capabilities.add NET_ADMIN,NET_RAW',
    'Capabilities spec.initContainers[1].securityContext.capabilities.add NET_ADMIN,NET_RAW',
  ]);
});

void t.test('injected: restricted adds the initializer running as root with CHOWN and the sidecar\'s privilege escalation; seccomp and the rest pass', async (t) => {
  const got = checkPodSecurity(specOf(inject(restrictedApp())), 'restricted');
  t.same(got.filter((v) => v.level === 'restricted').map((v) => `${v.control} ${v.field} ${v.detail}`), [
    'Capabilities spec.initContainers[0].securityContext.capabilities.add CHOWN',
    'Running as Non-root spec.initContainers[0].securityContext.runAsNonRoot false',
    'Running as Non-root user spec.initContainers[0].securityContext.runAsUser 0',
    // The sidecar (uid 1337) runs iptables through its file capabilities, which no_new_privs would block.
    'Privilege Escalation spec.initContainers[1].securityContext.allowPrivilegeEscalation true',
  ]);
  t.notOk(got.some((v) => v.control === 'Seccomp'), 'both injected containers carry seccompProfile RuntimeDefault');
});

void t.test('the install pods (Coordinator, injector) meet restricted', async (t) => {
  const objects = buildInstall({ values: DEFAULT_VALUES, namespace: 'ccmesh-system', version: '0.1.0' });
  const pods = objects.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment');
  t.equal(pods.length, 2);
  for (const o of pods) {
    const spec = ((o.spec as Record<string, unknown>).template as Record<string, unknown>).spec as Record<string, unknown>;
    t.same(checkPodSecurity(spec, 'restricted'), [], `${String(o.kind)}`);
  }
});

void t.test('the checker itself: each control it reads can fail', async (t) => {
  const bad = {
    hostNetwork: true,
    securityContext: { seccompProfile: { type: 'Unconfined' } },
    volumes: [{ name: 'h', hostPath: { path: '/' } }],
    containers: [{ name: 'c', securityContext: { privileged: true, procMount: 'Unmasked' }, ports: [{ containerPort: 80, hostPort: 80 }] }],
  };
  t.same(checkPodSecurity(bad, 'baseline').map((v) => v.control), ['Host Namespaces', 'Seccomp', 'HostPath Volumes', 'Privileged Containers', 'Host Ports', '/proc Mount Type']);
  t.same(new Set(checkPodSecurity(bad, 'restricted').filter((v) => v.level === 'restricted').map((v) => v.control)),
    new Set(['Volume Types', 'Capabilities', 'Seccomp', 'Privilege Escalation', 'Running as Non-root']));
});

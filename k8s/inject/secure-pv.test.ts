/**
 * `ccmesh.dev/secure-pv: <blockVolume>:<mountVolume>` through `inject`: a StatefulSet with a Block volumeClaimTemplate
 * and a Pod with an ephemeral Block volume get the privileged secure-pv helper (third init container, native sidecar,
 * the raw device in volumeDevices, the mount volume Bidirectional, a startup probe that waits for the mount), app
 * mounts of the mount volume get HostToContainer, injecting twice changes nothing; malformed values, missing volumes
 * and volumes of the wrong kind are refused naming the annotation and the reason. Pod Security: the helper is the
 * one privileged container.
 */
import t from 'tap';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { checkPodSecurity } from '../../test/support/k8s/pod-security.js';
import { readPodAnnotations } from '../annotations.js';
import { inject, type KubeObject } from './inject.js';

type Obj = Record<string, unknown>;

function statefulSet(annotation = 'data:files'): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db', namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: 'db' } },
      serviceName: 'db',
      template: {
        metadata: { labels: { app: 'db' }, annotations: { 'ccmesh.dev/ingress': 'db#5432', 'ccmesh.dev/secure-pv': annotation } },
        spec: {
          containers: [{ name: 'db', image: 'registry.example/db:1', ports: [{ containerPort: 5432 }], volumeMounts: [{ name: 'files', mountPath: '/var/lib/db' }] }],
          volumes: [{ name: 'files', emptyDir: {} }],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], volumeMode: 'Block', resources: { requests: { storage: '10Gi' } } } }],
    },
  };
}

const tpl = (o: KubeObject): Obj => (o.spec as Obj).template as Obj;
const pod = (o: KubeObject): Obj => tpl(o).spec as Obj;
const inits = (o: KubeObject): Obj[] => pod(o).initContainers as Obj[];

function refusal(o: KubeObject): string {
  try {
    inject(o);
  } catch (e) {
    if (e instanceof CcmeshError && e.code === ErrorCode.K8S_INJECT_REFUSED) return e.message;
    throw e;
  }
  return 'not refused';
}

void t.test('a StatefulSet with a Block claim template gets the helper after the proxy, privileged, with the device and a Bidirectional mount', async (t) => {
  const out = inject(statefulSet());
  t.same(inits(out).map((c) => c.name), ['ccmesh-initializer', 'ccmesh-proxy', 'ccmesh-secure-pv']);
  const h = inits(out)[2]!;
  t.same(h.args, ['secure-pv', '--device', '/dev/ccmesh-pv/data', '--volume', 'data', '--mount-dir', '/ccmesh-pv/files', '--workload-secret', '/ccmesh/secrets/workload-secret']);
  t.equal(h.restartPolicy, 'Always', 'a native sidecar: it unmounts and closes on SIGTERM after the app stopped');
  t.same(h.volumeDevices, [{ name: 'data', devicePath: '/dev/ccmesh-pv/data' }]);
  t.same(h.volumeMounts, [
    { name: 'ccmesh', mountPath: '/ccmesh', readOnly: true },
    { name: 'files', mountPath: '/ccmesh-pv/files', mountPropagation: 'Bidirectional' },
  ]);
  t.equal((h.securityContext as Obj).privileged, true);
  t.same(((h.startupProbe as Obj).exec as Obj).command, ['/usr/local/bin/node', '/opt/ccmesh/bin/ccmesh', 'secure-pv', '--check-mounted', '--volume', 'data', '--mount-dir', '/ccmesh-pv/files'], 'the app starts only once the filesystem is mounted');
  const app = (pod(out).containers as Obj[])[0]!;
  t.same((app.volumeMounts as Obj[])[0], { name: 'files', mountPath: '/var/lib/db', mountPropagation: 'HostToContainer' });
  t.same(inject(out), out, 'injecting again changes nothing');
  const owned = statefulSet();
  pod(owned).securityContext = { runAsUser: 1000, fsGroup: 2000 };
  t.same((inits(inject(owned))[2]!.args as string[]).slice(-2), ['--owner', '1000:2000'], 'the new filesystem goes to the app\'s uid and fsGroup');
});

void t.test('a Pod with an ephemeral Block volume is accepted; the helper is dropped when the annotation is removed', async (t) => {
  const p: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'shop', annotations: { 'ccmesh.dev/secure-pv': 'raw:mnt' } },
    spec: {
      containers: [{ name: 'app', image: 'registry.example/app:1', volumeMounts: [{ name: 'mnt', mountPath: '/data' }] }],
      volumes: [
        { name: 'raw', ephemeral: { volumeClaimTemplate: { spec: { volumeMode: 'Block', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } } },
        { name: 'mnt', emptyDir: {} },
      ],
    },
  };
  const out = inject(p);
  t.equal(((out.spec as Obj).initContainers as Obj[])[2]!.name, 'ccmesh-secure-pv');
  delete ((out.metadata as Obj).annotations as Obj)['ccmesh.dev/secure-pv'];
  const again = inject(out);
  t.same(((again.spec as Obj).initContainers as Obj[]).map((c) => c.name), ['ccmesh-initializer', 'ccmesh-proxy'], 're-injected without the helper');
});

void t.test('malformed annotation values are refused naming the annotation and the expected form', async (t) => {
  for (const bad of ['data', 'data:files:x', 'Data:files', 'data:data', ':files', 'ccmesh:files', 'data:ccmesh-config-x']) {
    const msg = refusal(statefulSet(bad));
    t.match(msg, /refusing to inject StatefulSet shop\/db: invalid ccmesh annotations/, bad);
    t.match(msg, new RegExp(`ccmesh.dev/secure-pv: got ${JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, expected`), `${bad}: names the value`);
  }
  t.throws(() => readPodAnnotations({ metadata: { annotations: { 'ccmesh.dev/secure-pv': 'data:data' } } }, 'Pod x'), /two volumes/);
});

void t.test('volumes that are missing or of the wrong kind are refused', async (t) => {
  const cases: [string, (o: KubeObject) => void, RegExp][] = [
    ['no claim template', (o) => { (o.spec as Obj).volumeClaimTemplates = []; }, /block volume "data" is neither in the pod's volumes nor a volumeClaimTemplate/],
    ['Filesystem claim template', (o) => { (((o.spec as Obj).volumeClaimTemplates as Obj[])[0]!.spec as Obj).volumeMode = 'Filesystem'; }, /block volume "data" is a volumeClaimTemplate with volumeMode "Filesystem"; expected volumeMode "Block"/],
    ['claim template without volumeMode', (o) => { delete (((o.spec as Obj).volumeClaimTemplates as Obj[])[0]!.spec as Obj).volumeMode; }, /volumeMode "Filesystem"; expected volumeMode "Block"/],
    ['block volume is a hostPath', (o) => { (pod(o).volumes as Obj[]).push({ name: 'data', hostPath: { path: '/dev/sdb' } }); }, /block volume "data" is a hostPath volume; expected a persistentVolumeClaim or ephemeral volume/],
    ['mount volume missing', (o) => { pod(o).volumes = []; (pod(o).containers as Obj[])[0]!.volumeMounts = []; }, /mount volume "files" is not in the pod's volumes/],
    ['mount volume is a PVC', (o) => { pod(o).volumes = [{ name: 'files', persistentVolumeClaim: { claimName: 'x' } }]; }, /mount volume "files" is a persistentVolumeClaim volume; expected an emptyDir/],
    ['app uses the raw device', (o) => { (pod(o).containers as Obj[])[0]!.volumeDevices = [{ name: 'data', devicePath: '/dev/xvda' }]; }, /spec\.template\.spec\.containers\[0\]\.volumeDevices\[0\]: container "db" uses the block volume "data"/],
    ['app mounts the mount volume by subPath', (o) => { ((pod(o).containers as Obj[])[0]!.volumeMounts as Obj[])[0]!.subPath = 'x'; }, /mounts the secure-pv mount volume "files" with a subPath/],
    ['app mounts it Bidirectional', (o) => { ((pod(o).containers as Obj[])[0]!.volumeMounts as Obj[])[0]!.mountPropagation = 'Bidirectional'; }, /mountPropagation: container "db" mounts "files" with mountPropagation "Bidirectional"/],
  ];
  for (const [name, edit, want] of cases) {
    const o = statefulSet();
    edit(o);
    t.match(refusal(o), want, name);
  }
});

void t.test('a container named ccmesh-secure-pv in a pod without the annotation is refused (not ours)', async (t) => {
  const o = statefulSet();
  delete (tpl(o).metadata as { annotations: Obj }).annotations['ccmesh.dev/secure-pv'];
  pod(o).initContainers = [{ name: 'ccmesh-secure-pv', image: 'evil' }];
  t.match(refusal(o), /"ccmesh-secure-pv" is one ccmesh injects only for ccmesh.dev\/secure-pv/);
});

void t.test('Pod Security: the helper is the one privileged container (baseline fails on it, stated in docs/kubernetes.md)', async (t) => {
  const got = checkPodSecurity(pod(inject(statefulSet())), 'baseline');
  t.same(got.filter((v) => v.control === 'Privileged Containers').map((v) => v.field), ['spec.initContainers[2].securityContext.privileged']);
});

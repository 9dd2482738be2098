/**
 * Every spec `inject` can't make safe is refused with CCMESH_ERR_K8S_INJECT_REFUSED, and the message names the
 * resource, the field and the reason. Table-driven: each case edits a fresh copy of one valid Deployment.
 */
import t from 'tap';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { inject, type KubeObject } from './inject.js';

type Obj = Record<string, unknown>;

/** A valid Deployment `shop/web` that injects cleanly. */
function base(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' }, annotations: { 'ccmesh.dev/ingress': 'web#8080' } },
        spec: {
          containers: [
            { name: 'web', image: 'registry.example/web:1', ports: [{ containerPort: 8080 }, { name: 'health', containerPort: 8081 }], volumeMounts: [{ name: 'conf', mountPath: '/etc/web' }] },
            { name: 'helper', image: 'registry.example/helper:1', volumeMounts: [{ name: 'conf', mountPath: '/etc/web' }] },
          ],
          volumes: [{ name: 'conf', configMap: { name: 'web-conf' } }],
        },
      },
    },
  };
}

const tpl = (o: KubeObject): Obj => (o.spec as Obj).template as Obj;
const pod = (o: KubeObject): Obj => tpl(o).spec as Obj;
const ann = (o: KubeObject): Obj => (tpl(o).metadata as Obj).annotations as Obj;
const ctr = (o: KubeObject, i: number): Obj => (pod(o).containers as Obj[])[i]!;

interface Case {
  readonly name: string;
  readonly edit: (o: KubeObject) => KubeObject | void;
  /** Substrings the message must contain (the field first). */
  readonly says: readonly string[];
}

const CASES: readonly Case[] = [
  { name: 'hostNetwork', edit: (o) => void (pod(o).hostNetwork = true), says: ['spec.template.spec.hostNetwork', "node's network namespace"] },
  { name: 'a shared process namespace', edit: (o) => void (pod(o).shareProcessNamespace = true), says: ['spec.template.spec.shareProcessNamespace', 'reach its files through /proc'] },
  { name: 'a main container named like the proxy', edit: (o) => void (pod(o).containers as Obj[]).push({ name: 'ccmesh-proxy', image: 'x' }), says: ['spec.template.spec.containers[2].name', 'ccmesh-proxy'] },
  {
    name: 'an init container named like the initializer with another image (not marked injected)',
    edit: (o) => {
      const out = inject(o);
      delete ann(out)['ccmesh.dev/injected'];
      (pod(out).initContainers as Obj[])[0]!.image = 'evil.example/initializer:1';
      return out;
    },
    says: ['spec.template.spec.initContainers[0]', 'ccmesh-initializer', 'differs in image'],
  },
  {
    name: 'an init container named like the proxy with other args (not marked injected)',
    edit: (o) => void (pod(o).initContainers = [{ name: 'ccmesh-proxy', image: 'ghcr.io/ccmesh/ccmesh:1', args: ['proxy', '--ingress', 'web#8080#plain'] }]),
    says: ['spec.template.spec.initContainers[0]', 'ccmesh-proxy', 'args'],
  },
  {
    name: 'our containers, exactly right but out of order, not marked',
    edit: (o) => {
      const out = inject(o);
      delete ann(out)['ccmesh.dev/injected'];
      (pod(out).initContainers as Obj[]).reverse();
      return out;
    },
    says: ['spec.template.spec.initContainers[0]', 'is at position 0'],
  },
  { name: 'a user container running as the proxy uid', edit: (o) => void (ctr(o, 1).securityContext = { runAsUser: 1337 }), says: ['spec.template.spec.containers[1].securityContext.runAsUser', 'uid 1337'] },
  { name: 'the pod running as the proxy uid', edit: (o) => void (pod(o).securityContext = { runAsUser: 1337 }), says: ['spec.template.spec.securityContext.runAsUser', 'uid 1337'] },
  {
    name: 'a user init container running as the proxy uid',
    edit: (o) => void (pod(o).initContainers = [{ name: 'setup', image: 'x', securityContext: { runAsUser: 1337 } }]),
    says: ['spec.template.spec.initContainers[0].securityContext.runAsUser'],
  },
  { name: 'a user port on the inbound mTLS listener', edit: (o) => void (ctr(o, 1).ports = [{ containerPort: 15006 }]), says: ['spec.template.spec.containers[1].ports[0].containerPort', 'inbound mTLS listener'] },
  { name: 'a user port on the outbound listener', edit: (o) => void (ctr(o, 1).ports = [{ containerPort: 15001 }]), says: ['containers[1].ports[0].containerPort', 'outbound listener'] },
  { name: 'a user port on the TLS listener', edit: (o) => void (ctr(o, 1).ports = [{ containerPort: 15007 }]), says: ['containers[1].ports[0].containerPort', 'inbound TLS listener'] },
  {
    name: 'a user port on a moved admin port',
    edit: (o) => {
      ann(o)['ccmesh.dev/admin-port'] = '9901';
      ctr(o, 1).ports = [{ containerPort: 9901 }];
    },
    says: ['containers[1].ports[0].containerPort', 'admin port'],
  },
  { name: 'a ccmesh volume with another definition', edit: (o) => void (pod(o).volumes as Obj[]).push({ name: 'ccmesh', emptyDir: {} }), says: ['spec.template.spec.volumes[1]', 'another definition'] },
  {
    name: 'another volume mounted at /ccmesh',
    edit: (o) => void (ctr(o, 0).volumeMounts as Obj[]).push({ name: 'conf', mountPath: '/ccmesh' }),
    says: ['spec.template.spec.containers[0].volumeMounts[1]', '"conf"', '/ccmesh'],
  },
  {
    name: 'a user mount of ccmesh\'s volume by subPath (host-backed under Kata)',
    edit: (o) => void (ctr(o, 1).volumeMounts as Obj[]).push({ name: 'ccmesh', mountPath: '/run/secret', subPath: 'secrets' }),
    says: ['spec.template.spec.containers[1].volumeMounts[1].subPath', 'container "helper"', 'ccmesh\'s volume "ccmesh"', '"/run/secret"', 'subPath ("secrets")'],
  },
  {
    name: 'a user init container mounting ccmesh\'s volume at /ccmesh by subPathExpr',
    edit: (o) => void (pod(o).initContainers = [{ name: 'setup', image: 'x', volumeMounts: [{ name: 'ccmesh', mountPath: '/ccmesh', subPathExpr: '$(POD_NAME)' }] }]),
    says: ['spec.template.spec.initContainers[0].volumeMounts[0].subPathExpr', 'container "setup"', 'subPathExpr'],
  },
  { name: 'inject: yes', edit: (o) => void (ann(o)['ccmesh.dev/inject'] = 'yes'), says: ['ccmesh.dev/inject', '"yes"'] },
  { name: 'pod-role: worker', edit: (o) => void (ann(o)['ccmesh.dev/pod-role'] = 'worker'), says: ['ccmesh.dev/pod-role', '"worker"'] },
  { name: 'a non-string annotation', edit: (o) => void (ann(o)['ccmesh.dev/admin-port'] = 15090), says: ['ccmesh.dev/admin-port', '15090', 'string'] },
  { name: 'admin port not a number', edit: (o) => void (ann(o)['ccmesh.dev/admin-port'] = 'admin'), says: ['ccmesh.dev/admin-port', '"admin"'] },
  { name: 'admin port on a mesh port', edit: (o) => void (ann(o)['ccmesh.dev/admin-port'] = '15006'), says: ['ccmesh.dev/admin-port', '"15006"', 'inbound mTLS listener'] },
  { name: 'a malformed ingress', edit: (o) => void (ann(o)['ccmesh.dev/ingress'] = 'web#80#fast'), says: ['ccmesh.dev/ingress[0].mode', '"fast"'] },
  { name: 'an ingress port on the admin port', edit: (o) => void (ann(o)['ccmesh.dev/ingress'] = 'web#15020'), says: ['ccmesh.dev/ingress', 'web#15020', 'admin port'] },
  { name: 'an ingress port on a mesh port', edit: (o) => void (ann(o)['ccmesh.dev/ingress'] = 'web#15001'), says: ['ccmesh.dev/ingress', 'web#15001', 'outbound listener'] },
  { name: 'a malformed egress', edit: (o) => void (ann(o)['ccmesh.dev/egress'] = 'db#10.0.0.1:5432#db:5432'), says: ['ccmesh.dev/egress[0].listen', '"10.0.0.1:5432"', 'loopback'] },
  { name: 'an egress listener on a mesh port', edit: (o) => void (ann(o)['ccmesh.dev/egress'] = 'db#127.0.0.5:15006#db:5432'), says: ['ccmesh.dev/egress', 'inbound mTLS listener'] },
  { name: 'a workload-secret-id with a control character', edit: (o) => void (ann(o)['ccmesh.dev/workload-secret-id'] = 'web\nx'), says: ['ccmesh.dev/workload-secret-id', 'control characters'] },
  { name: 'config-volumes not a volume name', edit: (o) => void (ann(o)['ccmesh.dev/config-volumes'] = 'Conf'), says: ['ccmesh.dev/config-volumes', '"Conf"'] },
  { name: 'config-volumes naming ccmesh itself', edit: (o) => void (ann(o)['ccmesh.dev/config-volumes'] = 'ccmesh'), says: ['ccmesh.dev/config-volumes', '"ccmesh"'] },
  { name: 'a config volume that does not exist', edit: (o) => void (ann(o)['ccmesh.dev/config-volumes'] = 'conf,missing'), says: ['spec.template.metadata.annotations["ccmesh.dev/config-volumes"]', '"missing"', 'not in the pod\'s volumes'] },
  {
    name: 'a config volume nobody mounts',
    edit: (o) => {
      (pod(o).volumes as Obj[]).push({ name: 'spare', secret: { secretName: 's' } });
      ann(o)['ccmesh.dev/config-volumes'] = 'spare';
    },
    says: ['ccmesh.dev/config-volumes', '"spare"', 'not mounted'],
  },
  {
    name: 'a config volume mounted at two paths',
    edit: (o) => {
      (ctr(o, 1).volumeMounts as Obj[])[0]!.mountPath = '/config';
      ann(o)['ccmesh.dev/config-volumes'] = 'conf';
    },
    says: ['ccmesh.dev/config-volumes', '"conf"', 'different paths', '/etc/web', '/config'],
  },
  {
    name: 'a config volume mounted with subPath',
    edit: (o) => {
      (ctr(o, 1).volumeMounts as Obj[])[0]!.subPath = 'app.conf';
      ann(o)['ccmesh.dev/config-volumes'] = 'conf';
    },
    says: ['spec.template.spec.containers[1].volumeMounts[0].subPath', '"conf"', 'in-memory copy'],
  },
  {
    name: 'a config volume mounted with subPathExpr',
    edit: (o) => {
      (ctr(o, 0).volumeMounts as Obj[])[0]!.subPathExpr = '$(POD_NAME)';
      ann(o)['ccmesh.dev/config-volumes'] = 'conf';
    },
    says: ['spec.template.spec.containers[0].volumeMounts[0].subPathExpr', '"conf"'],
  },
  {
    name: 'the verified copy mounted with a subPath (a subPath of an emptyDir is host-backed under Kata)',
    edit: (o) => {
      ann(o)['ccmesh.dev/config-volumes'] = 'conf';
      (pod(o).volumes as Obj[]).push({ name: 'ccmesh-config-conf', emptyDir: { medium: 'Memory' } });
      (ctr(o, 1).volumeMounts as Obj[])[0] = { name: 'ccmesh-config-conf', mountPath: '/etc/web', readOnly: true, subPath: 'app.conf' };
    },
    says: ['spec.template.spec.containers[1].volumeMounts[0].subPath', '"conf"'],
  },
  {
    name: 'a volume named like the verified copy with another definition',
    edit: (o) => {
      (pod(o).volumes as Obj[]).push({ name: 'ccmesh-config-conf', hostPath: { path: '/etc/web' } });
      ann(o)['ccmesh.dev/config-volumes'] = 'conf';
    },
    says: ['spec.template.spec.volumes[1]', '"ccmesh-config-conf"', 'verified config copy'],
  },
  {
    name: 'a config volume whose copy volume name would not be a DNS label',
    edit: (o) => {
      const long = `c${'o'.repeat(49)}`;
      (pod(o).volumes as Obj[])[0]!.name = long;
      for (const i of [0, 1]) (ctr(o, i).volumeMounts as Obj[])[0]!.name = long;
      ann(o)['ccmesh.dev/config-volumes'] = long;
    },
    says: ['ccmesh.dev/config-volumes', 'too long', 'at most 49 characters'],
  },
  {
    name: 'a config volume mounted inside the copy root',
    edit: (o) => {
      for (const i of [0, 1]) (ctr(o, i).volumeMounts as Obj[])[0]!.mountPath = '/ccmesh-config/conf';
      ann(o)['ccmesh.dev/config-volumes'] = 'conf';
    },
    says: ['ccmesh.dev/config-volumes', '"conf"', 'inside /ccmesh-config'],
  },
  {
    name: 'a config volume at a path configDigests cannot key',
    edit: (o) => {
      for (const i of [0, 1]) (ctr(o, i).volumeMounts as Obj[])[0]!.mountPath = '/etc/../web';
      ann(o)['ccmesh.dev/config-volumes'] = 'conf';
    },
    says: ['ccmesh.dev/config-volumes', '"/etc/../web"', "can't be pinned"],
  },
  {
    name: 'a grpc probe on a port the ingress requires mTLS on',
    edit: (o) => void (ctr(o, 0).livenessProbe = { grpc: { port: 8080 } }),
    says: ['spec.template.spec.containers[0].livenessProbe.grpc.port', 'port 8080', '"web"', 'exec probe', 'not grpc ones'],
  },
  {
    name: 'an http probe on a port the ingress requires mTLS on, with probe rewriting turned off',
    edit: (o) => {
      ctr(o, 0).livenessProbe = { httpGet: { path: '/', port: 8080 } };
      ann(o)['ccmesh.dev/rewrite-probes'] = 'false';
    },
    says: ['spec.template.spec.containers[0].livenessProbe.httpGet.port', 'port 8080', '"web"', 'exec probe', 'ccmesh.dev/rewrite-probes is "false"'],
  },
  {
    name: 'a bad ccmesh.dev/rewrite-probes value',
    edit: (o) => void (ann(o)['ccmesh.dev/rewrite-probes'] = 'no'),
    says: ['ccmesh.dev/rewrite-probes', '"no"', '"true" or "false"'],
  },
  {
    name: 'a probe on an unknown named port',
    edit: (o) => void (ctr(o, 0).readinessProbe = { tcpSocket: { port: 'metrics' } }),
    says: ['spec.template.spec.containers[0].readinessProbe.tcpSocket.port', '"metrics"'],
  },
  { name: 'a probe on a mesh port', edit: (o) => void (ctr(o, 1).startupProbe = { grpc: { port: 15007 } }), says: ['containers[1].startupProbe.grpc.port', 'inbound TLS listener'] },
  { name: 'no pod template', edit: (o) => void delete (o.spec as Obj).template, says: ['spec.template', 'missing'] },
  { name: 'no containers', edit: (o) => void (pod(o).containers = []), says: ['spec.template.spec.containers', 'no containers'] },
  { name: 'containers not a list', edit: (o) => void (pod(o).containers = { web: {} }), says: ['spec.template.spec.containers', 'not a list'] },
  { name: 'annotations not a map', edit: (o) => void ((tpl(o).metadata as Obj).annotations = 'inject'), says: ['spec.template.metadata.annotations', 'not a map'] },
];

void t.test('the base resource injects cleanly (so each refusal is caused by its edit)', async (t) => {
  t.doesNotThrow(() => inject(base()));
});

for (const c of CASES) {
  void t.test(`refuses ${c.name}`, async (t) => {
    const o = base();
    const target = c.edit(o) ?? o;
    const err = ((): unknown => {
      try {
        inject(target);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(err instanceof CcmeshError, 'throws a CcmeshError');
    if (!(err instanceof CcmeshError)) return;
    t.equal(err.code, ErrorCode.K8S_INJECT_REFUSED);
    t.match(err.message, /^refusing to inject Deployment shop\/web: /, 'names the resource');
    for (const s of c.says) t.ok(err.message.includes(s), `message mentions ${JSON.stringify(s)}: ${err.message}`);
  });
}

void t.test('all malformed annotations are reported at once', async (t) => {
  const o = base();
  Object.assign(ann(o), { 'ccmesh.dev/admin-port': '0', 'ccmesh.dev/egress': 'x', 'ccmesh.dev/config-volumes': 'A' });
  let message = '';
  try {
    inject(o);
  } catch (e) {
    message = e instanceof CcmeshError ? e.message : 'not a CcmeshError';
  }
  for (const k of ['ccmesh.dev/admin-port', 'ccmesh.dev/egress', 'ccmesh.dev/config-volumes']) t.ok(message.includes(k), `mentions ${k}`);
});

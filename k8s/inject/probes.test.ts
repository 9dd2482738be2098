/**
 * Kubelet probes and capture: a startup, liveness or readiness probe (numeric or named port) on a port the sidecar
 * captures is never turned into a capture exclusion, which would open the port to every source in plaintext. httpGet
 * and tcpSocket probes are rewritten through the sidecar's admin port (`/app-health/<container>/<kind>`, the original
 * check pinned as `--app-probe`); grpc probes, and every probe with `ccmesh.dev/rewrite-probes: "false"`, are refused
 * with a message naming the container, the probe kind and the port. Probes on ports declared `plain`, on the admin
 * port, `exec` probes and probes with their own host pass, and change nothing in the injected proxy (the capture plan
 * of such a pod is checked in args.test.ts).
 */
import t from 'tap';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { parseAppProbe, type AppProbe } from '../../lib/mesh-config/app-probe.js';
import { inject, type KubeObject } from './inject.js';

type Obj = Record<string, unknown>;

const KINDS = [
  ['startupProbe', 'startup'],
  ['livenessProbe', 'liveness'],
  ['readinessProbe', 'readiness'],
] as const;
const HANDLERS = ['httpGet', 'tcpSocket', 'grpc'] as const;
type Handler = (typeof HANDLERS)[number];

/** Deployment shop/web: container "web" serves 8080 ("http") and 8081 ("health"); init sidecar "shipper". */
function base(ingress = 'web#8080', probes: { web?: Obj; helper?: Obj; shipper?: Obj } = {}, adminPort?: string, extra: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' }, annotations: { 'ccmesh.dev/ingress': ingress, ...(adminPort !== undefined ? { 'ccmesh.dev/admin-port': adminPort } : {}), ...extra } },
        spec: {
          initContainers: [{ name: 'shipper', image: 'registry.example/shipper:1', restartPolicy: 'Always', ...probes.shipper }],
          containers: [
            { name: 'web', image: 'registry.example/web:1', ports: [{ name: 'http', containerPort: 8080 }, { name: 'health', containerPort: 8081 }], ...probes.web },
            { name: 'helper', image: 'registry.example/helper:1', ...probes.helper },
          ],
        },
      },
    },
  };
}

/** A probe of one handler on `port` (httpGet gets a path, as the API requires). */
function probe(handler: Handler, port: unknown): Obj {
  return { [handler]: handler === 'httpGet' ? { path: '/healthz', port } : { port } };
}

function refusal(o: KubeObject): CcmeshError | undefined {
  try {
    inject(o);
  } catch (e) {
    if (e instanceof CcmeshError) return e;
    throw e;
  }
  return undefined;
}

function proxyArgs(o: KubeObject): string[] {
  const spec = ((o.spec as Obj).template as Obj).spec as Obj;
  return (spec.initContainers as Obj[]).find((c) => c.name === 'ccmesh-proxy')!.args as string[];
}

interface Refused {
  readonly name: string;
  readonly pod: KubeObject;
  /** Substrings the message must contain: the field path first. */
  readonly says: readonly string[];
}

const REFUSED: Refused[] = [];
const NO_REWRITE = { 'ccmesh.dev/rewrite-probes': 'false' };
// Every probe kind × handler × numeric/named port, on 8081: not in the ingress, so it requires mTLS. grpc is refused
// always; httpGet and tcpSocket when the pod turns rewriting off.
for (const [field, kind] of KINDS) {
  for (const handler of HANDLERS) {
    for (const [form, port, shown] of [['numeric', 8081, 'port 8081,'], ['named', 'health', 'port 8081 ("health")']] as const) {
      const off = handler !== 'grpc';
      REFUSED.push({
        name: `a ${kind} ${handler} probe on captured ${form} port ${port}${off ? ' with rewriting off' : ''}`,
        pod: base('web#8080', { web: { [field]: probe(handler, port) } }, undefined, off ? NO_REWRITE : {}),
        says: [`spec.template.spec.containers[0].${field}.${handler}.port`, `container "web" has a ${kind} probe (${handler}) on ${shown}`, 'requires mtls', 'ccmesh.dev/ingress', 'exec probe',
          off ? 'ccmesh.dev/rewrite-probes is "false"' : 'not grpc ones'],
      });
    }
  }
}
REFUSED.push(
  {
    name: 'a probe on a port the ingress lists as mtls',
    pod: base('web#8080#mtls:allow=front.shop.svc', { web: { livenessProbe: probe('grpc', 'http') } }),
    says: ['containers[0].livenessProbe.grpc.port', 'liveness probe (grpc) on port 8080 ("http")', 'requires mtls (ccmesh.dev/ingress entry "web")', '"web#8080#plain"'],
  },
  {
    name: 'a probe on a port the ingress lists as tls',
    pod: base('web#8080#tls', { web: { readinessProbe: probe('tcpSocket', 8080) } }, undefined, NO_REWRITE),
    says: ['containers[0].readinessProbe.tcpSocket.port', 'readiness probe (tcpSocket) on port 8080,', 'requires tls (ccmesh.dev/ingress entry "web")'],
  },
  {
    name: 'an http probe with a path the sidecar can\'t send',
    pod: base('web#8080', { web: { livenessProbe: { httpGet: { path: '/a b', port: 8080 } } } }),
    says: ['containers[0].livenessProbe.httpGet.path', '"/a b"', 'expected an absolute path'],
  },
  {
    name: 'an http probe with an unknown scheme',
    pod: base('web#8080', { web: { livenessProbe: { httpGet: { path: '/', port: 8080, scheme: 'GOPHER' } } } }),
    says: ['containers[0].livenessProbe.httpGet.scheme', '"GOPHER"', '"HTTP" or "HTTPS"'],
  },
  {
    name: 'an http probe with a header that would split the request',
    pod: base('web#8080', { web: { livenessProbe: { httpGet: { path: '/', port: 8080, httpHeaders: [{ name: 'X', value: 'a\r\nHost: evil' }] } } } }),
    says: ['containers[0].livenessProbe.httpGet.httpHeaders', 'values without control characters'],
  },
  {
    name: 'a rewritten probe with a timeout out of range',
    pod: base('web#8080', { web: { readinessProbe: { tcpSocket: { port: 8080 }, timeoutSeconds: 0 } } }),
    says: ['containers[0].readinessProbe.timeoutSeconds', 'is 0', 'from 1 to 60'],
  },
  {
    name: 'a probe on an app-health path of the admin port that ccmesh did not pin',
    pod: base('web#8080', { web: { livenessProbe: { httpGet: { path: '/app-health/web/liveness', port: 15020 } } } }),
    says: ['containers[0].livenessProbe.httpGet.path', '"/app-health/web/liveness"', 'not an app probe the sidecar serves'],
  },
  {
    name: 'a probe of a user sidecar (init container) on a captured port',
    pod: base('web#8080', { shipper: { startupProbe: probe('grpc', 9100) } }),
    says: ['spec.template.spec.initContainers[0].startupProbe.grpc.port', 'container "shipper" has a startup probe (grpc) on port 9100,'],
  },
  {
    name: 'a probe on the default admin port once the admin port has moved',
    pod: base('web#8080', { web: { livenessProbe: probe('grpc', 15020) } }, '9901'),
    says: ['containers[0].livenessProbe.grpc.port', 'liveness probe (grpc) on port 15020,', 'requires mtls'],
  },
  {
    name: 'a named port that is not one of the container\'s ports',
    pod: base('web#8080', { web: { readinessProbe: probe('httpGet', 'metrics') } }),
    says: ['containers[0].readinessProbe.httpGet.port', 'container "web" has a readiness probe (httpGet) on port "metrics"', 'neither a port number nor the name'],
  },
  {
    name: 'a named port declared by another container only (kubelet resolves names per container)',
    pod: base('web#8080##health#8081#plain', { helper: { startupProbe: probe('tcpSocket', 'health') } }),
    says: ['containers[1].startupProbe.tcpSocket.port', 'container "helper" has a startup probe (tcpSocket) on port "health"'],
  },
  {
    name: 'a probe port out of range',
    pod: base('web#8080', { web: { livenessProbe: probe('grpc', 70000) } }),
    says: ['containers[0].livenessProbe.grpc.port', 'liveness probe (grpc) on port 70000'],
  },
  {
    name: 'a probe without a port',
    pod: base('web#8080', { web: { livenessProbe: { httpGet: { path: '/' } } } }),
    says: ['containers[0].livenessProbe.httpGet.port', 'on port null'],
  },
  {
    name: 'a probe on a mesh listener',
    pod: base('web#8080', { helper: { readinessProbe: probe('tcpSocket', 15006) } }),
    says: ['containers[1].readinessProbe.tcpSocket.port', 'readiness probe (tcpSocket) on port 15006, which is the inbound mTLS listener'],
  },
);

for (const c of REFUSED) {
  void t.test(`refuses ${c.name}`, async (t) => {
    const err = refusal(c.pod);
    t.ok(err, 'inject throws');
    if (!err) return;
    t.equal(err.code, ErrorCode.K8S_INJECT_REFUSED);
    t.match(err.message, /^refusing to inject Deployment shop\/web: /, 'names the resource');
    for (const s of c.says) t.ok(err.message.includes(s), `message mentions ${JSON.stringify(s)}: ${err.message}`);
  });
}

interface Accepted {
  readonly name: string;
  readonly ingress: string;
  readonly probes: { web?: Obj; helper?: Obj; shipper?: Obj };
  readonly adminPort?: string;
}

const ACCEPTED: Accepted[] = [];
for (const [field, kind] of KINDS) {
  for (const handler of HANDLERS) {
    for (const [form, port] of [['numeric', 8081], ['named', 'health']] as const) {
      ACCEPTED.push({ name: `a ${kind} ${handler} probe on ${form} port ${port} declared plain`, ingress: 'web#8080##health#8081#plain', probes: { web: { [field]: probe(handler, port) } } });
    }
  }
}
ACCEPTED.push(
  { name: 'a probe on a port marked plain with Contrast\'s "true"', ingress: 'web#8080##health#8081#true', probes: { web: { livenessProbe: probe('httpGet', 'health') } } },
  { name: 'probes on the sidecar admin port', ingress: 'web#8080', probes: { web: { livenessProbe: probe('httpGet', 15020) }, shipper: { startupProbe: probe('tcpSocket', '15020') } } },
  { name: 'a probe on a moved admin port', ingress: 'web#8080', probes: { helper: { readinessProbe: probe('grpc', 9901) } }, adminPort: '9901' },
  { name: 'exec probes', ingress: 'web#8080', probes: { web: { livenessProbe: { exec: { command: ['true'] } } }, shipper: { startupProbe: { exec: { command: ['true'] } } } } },
  { name: 'probes with their own host (they do not reach this pod)', ingress: 'web#8080', probes: { web: { readinessProbe: { httpGet: { host: '192.0.2.1', path: '/', port: 8080 } }, livenessProbe: { tcpSocket: { host: 'status.example', port: 8081 } } } } },
);

for (const c of ACCEPTED) {
  void t.test(`accepts ${c.name}, and the injected proxy is the same as without the probe`, async (t) => {
    const out = inject(base(c.ingress, c.probes, c.adminPort));
    const args = proxyArgs(out);
    t.same(args, proxyArgs(inject(base(c.ingress, {}, c.adminPort))), 'the probe changes nothing in the proxy args');
    t.notOk(args.includes('--exclude-ports'), 'no capture exclusion');
  });
}

/** The pinned app probes of an injected resource, parsed from the proxy's args. */
function pinned(o: KubeObject): (AppProbe | undefined)[] {
  const args = proxyArgs(o);
  return args.flatMap((a, i) => (a === '--app-probe' ? [parseAppProbe(args[i + 1] ?? '')] : []));
}

function container(o: KubeObject, name: string): Obj {
  const spec = ((o.spec as Obj).template as Obj).spec as Obj;
  return [...(spec.initContainers as Obj[]), ...(spec.containers as Obj[])].find((c) => c.name === name)!;
}

// Every kind × httpGet/tcpSocket × numeric/named captured port: rewritten, and the original check pinned.
for (const [field, kind] of KINDS) {
  for (const handler of ['httpGet', 'tcpSocket'] as const) {
    for (const [form, port] of [['numeric', 8081], ['named', 'health']] as const) {
      void t.test(`rewrites a ${kind} ${handler} probe on captured ${form} port ${port} through the admin port`, async (t) => {
        const input = base('web#8080', { web: { [field]: { ...probe(handler, port), periodSeconds: 7 } } });
        const out = inject(input);
        t.same(container(out, 'web')[field], { httpGet: { path: `/app-health/web/${kind}`, port: 15020, scheme: 'HTTP' }, periodSeconds: 7 }, 'the probe asks the sidecar; other fields kept');
        const check = handler === 'httpGet' ? { type: 'http', port: 8081, path: '/healthz', scheme: 'HTTP', headers: [] } : { type: 'tcp', port: 8081 };
        t.same(pinned(out), [{ container: 'web', kind, check, timeoutSeconds: 1 }], 'the original check pinned in the sidecar args');
        t.notOk(proxyArgs(out).includes('--exclude-ports'), 'no capture exclusion');
        t.same(inject(out), out, 'injecting again changes nothing');
        t.same(container(input, 'web')[field], { ...probe(handler, port), periodSeconds: 7 }, 'the input is untouched');
      });
    }
  }
}

void t.test('rewritten probes: every probe of every container, in order; headers, scheme, timeout and a moved admin port', async (t) => {
  const out = inject(base('web#8080', {
    web: { livenessProbe: { httpGet: { path: '/l?x=1', port: 'http', scheme: 'HTTPS', httpHeaders: [{ name: 'Host', value: 'web.local' }] }, timeoutSeconds: 4 }, readinessProbe: probe('tcpSocket', 8081) },
    shipper: { startupProbe: probe('tcpSocket', 9100) },
  }, '9901'));
  t.same(pinned(out).map((p) => p && `${p.container}/${p.kind}`), ['shipper/startup', 'web/liveness', 'web/readiness'], 'container then kind order');
  t.same(pinned(out)[1], { container: 'web', kind: 'liveness', check: { type: 'http', port: 8080, path: '/l?x=1', scheme: 'HTTPS', headers: [{ name: 'Host', value: 'web.local' }] }, timeoutSeconds: 4 });
  t.same(container(out, 'web').livenessProbe, { httpGet: { path: '/app-health/web/liveness', port: 9901, scheme: 'HTTP' }, timeoutSeconds: 4 }, 'the moved admin port, the kubelet timeout kept');
  t.same(container(out, 'shipper').startupProbe, { httpGet: { path: '/app-health/shipper/startup', port: 9901, scheme: 'HTTP' } });
  t.same(inject(out), out, 'idempotent');
});

void t.test('re-injection keeps a pinned probe only for its own container and kind', async (t) => {
  const out = inject(base('web#8080', { web: { livenessProbe: probe('httpGet', 8081) } }));
  // Someone points the readiness probe at the liveness path: not an app probe the sidecar serves for it.
  const edited = structuredClone(out);
  container(edited, 'web').readinessProbe = { httpGet: { path: '/app-health/web/liveness', port: 15020, scheme: 'HTTP' } };
  const err = refusal(edited);
  t.ok(err, 'refused');
  t.match(err?.message ?? '', /readinessProbe\.httpGet\.path: .*"\/app-health\/web\/liveness", which is not an app probe the sidecar serves/);
  // The probe edited back to a real port: the new check is pinned instead of the old one.
  const back = structuredClone(out);
  container(back, 'web').livenessProbe = probe('tcpSocket', 8080);
  t.same(pinned(inject(back)), [{ container: 'web', kind: 'liveness', check: { type: 'tcp', port: 8080 }, timeoutSeconds: 1 }]);
});

/**
 * `ccmesh check` against a small fake Kubernetes API server (node:https, a test CA, the install's own objects from
 * `buildInstall` plus a status) and a real Coordinator process on the simulated TEE. Each check's passing line and
 * each failing line is asserted exactly, with the exit code.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { systemClock } from '../../../lib/clock.js';
import { PORTS } from '../../../lib/mesh-ports.js';
import { freePorts } from '../../../lib/net/free-ports.js';
import { ANNOTATIONS, INJECTED, INSTALL_NAMES } from '../../../k8s/constants.js';
import { buildInstall } from '../../../k8s/install/build.js';
import { DEFAULT_VALUES } from '../../../k8s/install/values.js';
import { createSelfManagedCredentials, type ServingCredentials } from '../../../k8s/webhook/serving-cert.js';
import { LEAF_EXPIRY_METRIC } from '../../../proxy/metrics.js';
import { CCMESH_BIN, startCoordinatorProcess, waitFor } from '../../../test/cli-process.js';
import type { CliIo } from '../../io.js';
import { runCli } from '../../run.js';

const DAY = 86_400_000;
const NS = INSTALL_NAMES.namespace;
const iso = (s: string): string => new Date(Date.parse(s)).toISOString().replace(/\.\d{3}Z$/, 'Z');
const ccmesh = (...args: string[]) => spawnSync(process.execPath, [CCMESH_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });

void t.test('ccmesh check against a fake API server and a real Coordinator', async (t) => {
  interface Pod { ns: string; name: string; ready: boolean; leafExpiryMs: number | undefined }
  /** What the fake API server answers; tests change it. */
  interface World {
    token: string;
    clientFingerprint: string | undefined;
    coordinatorReady: number;
    caBundlePem: string | undefined;
    servingCertPem: string;
    /** The CA and key of a shared self-managed Secret (ca.crt, ca.key); undefined: a Secret without them. */
    sharedCa?: { certPem: string; keyPem: string };
    injectorAvailable: number;
    pods: Pod[];
  }

  const tmp = mkdtempSync(join(tmpdir(), 'check-test-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

  const apiCreds = await createSelfManagedCredentials(['127.0.0.1'], systemClock);
  const clientCreds = await createSelfManagedCredentials(['check-client'], systemClock);
  const webhookCreds = await createSelfManagedCredentials([`${INSTALL_NAMES.injector}.${NS}.svc`], systemClock);
  const install = buildInstall({ values: DEFAULT_VALUES, namespace: NS, version: '0.0.0-test' });
  const find = (kind: string, name: string): Record<string, unknown> => structuredClone(install.find((o) => o.kind === kind && (o.metadata as { name: string }).name === name)!);

  function fresh(): World {
    return {
      token: 'check-token',
      clientFingerprint: new X509Certificate(clientCreds.certPem).fingerprint256,
      coordinatorReady: 1,
      caBundlePem: webhookCreds.caPem,
      servingCertPem: webhookCreds.certPem,
      injectorAvailable: 1,
      pods: [
        { ns: 'app', name: 'web-0', ready: true, leafExpiryMs: Date.now() + 30 * DAY },
        { ns: 'app', name: 'web-1', ready: true, leafExpiryMs: Date.now() + 20 * DAY },
      ],
    };
  }
  let world = fresh();
  const proxied: string[] = [];

  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  function answer(path: string): { status: number; body: unknown; text?: string } {
    const sts = `/apis/apps/v1/namespaces/${NS}/statefulsets/${INSTALL_NAMES.coordinator}`;
    const dep = `/apis/apps/v1/namespaces/${NS}/deployments/${INSTALL_NAMES.injector}`;
    const hook = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${INSTALL_NAMES.webhookConfiguration}`;
    const secret = `/api/v1/namespaces/${NS}/secrets/${DEFAULT_VALUES.injector.caSecret}`;
    if (path === '/api') return { status: 200, body: { kind: 'APIVersions', versions: ['v1'] } };
    if (path === sts) return { status: 200, body: { ...find('StatefulSet', INSTALL_NAMES.coordinator), status: { replicas: 1, readyReplicas: world.coordinatorReady } } };
    if (path === dep) return { status: 200, body: { ...find('Deployment', INSTALL_NAMES.injector), status: { replicas: 1, availableReplicas: world.injectorAvailable } } };
    if (path === hook) {
      const o = find('MutatingWebhookConfiguration', INSTALL_NAMES.webhookConfiguration) as { webhooks: { clientConfig: Record<string, unknown> }[] };
      if (world.caBundlePem !== undefined) o.webhooks[0]!.clientConfig.caBundle = b64(world.caBundlePem);
      return { status: 200, body: o };
    }
    if (path === secret) {
      const shared = world.sharedCa === undefined ? {} : { 'ca.crt': b64(world.sharedCa.certPem), 'ca.key': b64(world.sharedCa.keyPem) };
      return { status: 200, body: { kind: 'Secret', type: 'kubernetes.io/tls', data: { 'tls.crt': b64(world.servingCertPem), 'tls.key': b64(webhookCreds.keyPem), ...shared } } };
    }
    if (path === '/api/v1/pods?limit=500') {
      return {
        status: 200,
        body: {
          kind: 'PodList',
          metadata: {},
          items: [
            // Not injected: ignored.
            { metadata: { namespace: 'kube-system', name: 'coredns-1' }, status: { containerStatuses: [{ name: 'coredns', ready: false }] } },
            ...world.pods.map((p) => ({
              metadata: { namespace: p.ns, name: p.name, annotations: { [ANNOTATIONS.injected]: '0.0.0-test' } },
              // Native sidecar: the proxy's status is among the init containers'.
              status: { containerStatuses: [{ name: 'app', ready: true }], initContainerStatuses: [{ name: INJECTED.initializer, ready: false }, { name: INJECTED.proxy, ready: p.ready }] },
            })),
          ],
        },
      };
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/:]+):(\d+)\/proxy\/metrics$/.exec(path);
    const pod = m ? world.pods.find((p) => p.ns === m[1] && p.name === m[2]) : undefined;
    if (m && pod && Number(m[3]) === PORTS.sidecarAdmin) {
      proxied.push(`${pod.ns}/${pod.name}`);
      if (pod.leafExpiryMs === undefined) return { status: 503, body: { kind: 'Status', message: 'no endpoints' } };
      return { status: 200, body: undefined, text: `# HELP ${LEAF_EXPIRY_METRIC} notAfter\n# TYPE ${LEAF_EXPIRY_METRIC} gauge\n${LEAF_EXPIRY_METRIC} ${Math.floor(pod.leafExpiryMs / 1000)}\n` };
    }
    return { status: 404, body: { kind: 'Status', status: 'Failure', message: `${path} not found`, reason: 'NotFound', code: 404 } };
  }

  const server: Server = createServer({ key: apiCreds.keyPem, cert: apiCreds.certPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    const byCert = world.clientFingerprint !== undefined && peer.fingerprint256 === world.clientFingerprint;
    const byToken = req.headers.authorization === `Bearer ${world.token}`;
    if (req.headers.authorization === 'Bearer limited') {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', status: 'Failure', message: 'forbidden: User "limited" cannot get path "/api"', reason: 'Forbidden', code: 403 }));
      return;
    }
    const reply = byCert || byToken || req.method !== 'GET' ? (req.method === 'GET' ? answer(req.url ?? '') : { status: 405, body: { kind: 'Status', message: 'read-only test server' } }) : { status: 401, body: { kind: 'Status', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 } };
    res.writeHead(reply.status, { 'content-type': reply.text !== undefined ? 'text/plain' : 'application/json' });
    res.end(reply.text ?? JSON.stringify(reply.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const apiUrl = `https://127.0.0.1:${(server.address() as { port: number }).port}`;

  function kubeconfig(name: string, user: Record<string, string>): string {
    const path = join(tmp, name);
    writeFileSync(path, stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
      clusters: [{ name: 'c', cluster: { server: apiUrl, 'certificate-authority-data': b64(apiCreds.caPem!) } }],
      contexts: [{ name: 'test', context: { cluster: 'c', user: 'u' } }],
      users: [{ name: 'u', user }],
    }));
    return path;
  }
  const tokenConfig = kubeconfig('token.yaml', { token: 'check-token' });
  writeFileSync(join(tmp, 'client.crt'), clientCreds.certPem);
  writeFileSync(join(tmp, 'client.key'), clientCreds.keyPem);
  // Files relative to the kubeconfig's directory, as kubectl reads them.
  const certConfig = kubeconfig('cert.yaml', { 'client-certificate': 'client.crt', 'client-key': 'client.key' });

  // A real Coordinator on the simulated TEE, and a workspace to attest it against.
  const coordDoc = 'package coordinator_policy\n';
  const coordHash = createHash('sha256').update(coordDoc).digest('hex');
  const sim = join(tmp, 'sim');
  t.equal(ccmesh('attest', 'simulate', 'init', '--out', sim, '--host-data', coordHash).status, 0);
  const [user, meshPort, metrics, closed] = (await freePorts(4)) as [number, number, number, number];
  const coordinator = startCoordinatorProcess(['--store', `file:${join(tmp, 'store')}`, '--tee', 'simulated', '--sim-dir', sim, '--listen-host', '127.0.0.1', '--user-port', String(user), '--mesh-port', String(meshPort), '--metrics-port', String(metrics), '--log-level', 'warn']);
  t.teardown(() => coordinator.stop());
  const ws = join(tmp, 'workspace');
  const measurement = (JSON.parse(readFileSync(join(sim, 'platform.json'), 'utf8')) as { measurement: string }).measurement;
  t.equal(ccmesh('manifest', 'init', '--dir', ws, '--simulated-root', join(sim, 'ark.pem'), '--snp-measurement', measurement).status, 0);
  const manifest = JSON.parse(readFileSync(join(ws, 'manifest.json'), 'utf8')) as { policies: Record<string, unknown> };
  manifest.policies[coordHash] = { sans: ['coordinator'], workloadSecretId: 'coordinator', role: 'coordinator' };
  writeFileSync(join(ws, 'manifest.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(join(ws, 'policies', 'coordinator.rego'), coordDoc);
  await waitFor(async () => (await request(`http://127.0.0.1:${metrics}/probe/startup`, { reset: true })).statusCode === 200, 60_000).catch((err: unknown) => {
    throw new Error(`the Coordinator did not start: ${coordinator.stderr()}`, { cause: err });
  });

  async function check(...argv: string[]): Promise<{ code: number; lines: string[]; stderr: string }> {
    let out = '';
    let err = '';
    const io: CliIo = { stdout: (s) => (out += s), stderr: (s) => (err += s) };
    const code = await runCli(['check', ...argv], io);
    return { code, lines: out.split('\n').filter((l) => l !== ''), stderr: err };
  }
  const coord = `127.0.0.1:${user}`;
  const base = ['--kubeconfig', tokenConfig, '--coordinator', coord, '--timeout', '3s'];

  /** The lines of a healthy install, given the Coordinator line and the leaf line. */
  function healthy(w: World, manifestLine: string): string[] {
    const ca = new X509Certificate(w.caBundlePem!);
    const leaves = w.pods.map((p) => p.leafExpiryMs!).sort((a, b) => a - b);
    return [
      `✔ Kubernetes API at ${apiUrl} answers (kubeconfig ${tokenConfig}, context test)`,
      `✔ Coordinator StatefulSet ${NS}/${INSTALL_NAMES.coordinator}: 1/1 replica(s) ready`,
      `✔ Coordinator user API at ${coord} answers`,
      manifestLine,
      `✔ webhook configuration ${INSTALL_NAMES.webhookConfiguration} present`,
      `✔ webhook caBundle: 1 certificate(s), earliest expires ${iso(ca.validTo)}`,
      `✔ injector Deployment ${NS}/${INSTALL_NAMES.injector}: 1 available replica(s)`,
      `✔ injector serving certificate (secret ${NS}/${DEFAULT_VALUES.injector.caSecret}) expires ${iso(new X509Certificate(w.servingCertPem).validTo)}`,
      `✔ injected pods: ${w.pods.length}/${w.pods.length} with ${INJECTED.proxy} ready`,
      `✔ sidecar leaf certificates: ${w.pods.length} read, earliest expires ${new Date(Math.floor(leaves[0]! / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')}`,
    ];
  }

  await t.test('a fresh Coordinator holds no manifest: that line fails with how to set one', async (t) => {
    world = fresh();
    const r = await check(...base, '--dir', ws);
    t.equal(r.code, 3, r.stderr);
    t.same(r.lines[3], `✖ Coordinator attested but holds no manifest (state fresh) — set one: "ccmesh set -c ${coord} --dir ${ws}"`);
    t.equal(r.lines.at(-1), 'Some checks failed.');
  });

  await t.test('everything healthy: every line passes, exit 0', async (t) => {
    const set = ccmesh('set', '-c', coord, '--dir', ws);
    t.equal(set.status, 0, set.stderr);
    world = fresh();
    proxied.length = 0;
    const r = await check(...base, '--dir', ws);
    t.equal(r.code, 0, r.lines.join('\n') + r.stderr);
    t.same(r.lines, [...healthy(world, '✔ Coordinator attested and holds a manifest: 1 manifest(s), state ready'), 'All checks passed.']);
    t.same(proxied.sort(), ['app/web-0', 'app/web-1'], 'each sidecar\'s metrics read through the pod proxy');
  });

  await t.test('a client certificate from files named relative to the kubeconfig authenticates', async (t) => {
    world = fresh();
    world.token = 'another-token';
    const r = await check('--kubeconfig', certConfig, '--coordinator', coord, '--timeout', '3s');
    t.equal(r.code, 0, r.lines.join('\n'));
    t.equal(r.lines[0], `✔ Kubernetes API at ${apiUrl} answers (kubeconfig ${certConfig}, context test)`);
    t.equal(r.lines[3], '- Coordinator attested and holds a manifest: skipped (not checked: pass --dir WORKSPACE)', 'without --dir: not checked, not failed');
  });

  await t.test('credentials refused: the API line fails, everything depending on it is skipped', async (t) => {
    world = fresh();
    world.token = 'rotated';
    world.clientFingerprint = undefined;
    const r = await check(...base, '--dir', ws);
    t.equal(r.code, 3);
    t.same(r.lines, [
      `✖ Kubernetes API at ${apiUrl}: unauthorised (HTTP 401) — the API server does not accept the kubeconfig's credentials: renew the token or client certificate`,
      `- Coordinator StatefulSet ${NS}/${INSTALL_NAMES.coordinator}: skipped (the Kubernetes API check failed)`,
      `- Coordinator user API at ${coord}: skipped (no ready Coordinator)`,
      '- Coordinator attested and holds a manifest: skipped (the user API did not answer)',
      `- webhook configuration ${INSTALL_NAMES.webhookConfiguration}: skipped (the Kubernetes API check failed)`,
      '- webhook caBundle: skipped (no webhook configuration)',
      `- injector Deployment ${NS}/${INSTALL_NAMES.injector}: skipped (the Kubernetes API check failed)`,
      '- injected pods: skipped (the Kubernetes API check failed)',
      '- sidecar leaf certificates: skipped (the pods could not be listed)',
      'Some checks failed.',
    ]);
  });

  await t.test('an API server whose certificate the kubeconfig\'s CA did not issue is refused before any credential is sent', async (t) => {
    world = fresh();
    const path = join(tmp, 'wrong-ca.yaml');
    writeFileSync(path, readFileSync(tokenConfig, 'utf8').replace(b64(apiCreds.caPem!), b64(clientCreds.caPem!)));
    let asked = 0;
    const count = (): void => {
      asked++;
    };
    server.on('request', count);
    t.teardown(() => server.off('request', count));
    const r = await check('--kubeconfig', path, '--coordinator', coord, '--timeout', '3s');
    t.equal(r.code, 3);
    t.match(r.lines[0], new RegExp(`^✖ Kubernetes API at ${apiUrl.replace(/\./g, '\\.')}: .*did not answer.* — check the kubeconfig's server address and CA, and that the cluster is up$`));
    t.equal(asked, 0, 'no request reached the server');
  });

  await t.test('$KUBECONFIG (its first file) when --kubeconfig is absent; a forbidden account fails the API line', async (t) => {
    world = fresh();
    const limited = kubeconfig('limited.yaml', { token: 'limited' });
    const before = process.env.KUBECONFIG;
    t.teardown(() => {
      if (before === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = before;
    });
    process.env.KUBECONFIG = `${limited}:${tokenConfig}`;
    const r = await check('--coordinator', coord, '--timeout', '3s');
    t.equal(r.code, 3);
    t.equal(r.lines[0], `✖ Kubernetes API at ${apiUrl}: forbidden (HTTP 403) — the credentials are not allowed to read this: use an account with read access to ccmesh-system and pods`);
    process.env.KUBECONFIG = `${tokenConfig}:${limited}`;
    const ok = await check('--coordinator', coord, '--timeout', '3s');
    t.equal(ok.lines[0], `✔ Kubernetes API at ${apiUrl} answers (kubeconfig ${tokenConfig}, context test)`);
    t.equal(ok.code, 0);
  });

  await t.test('no ready Coordinator replica', async (t) => {
    world = fresh();
    world.coordinatorReady = 0;
    const r = await check(...base, '--dir', ws);
    t.equal(r.code, 3);
    t.equal(r.lines[1], `✖ Coordinator StatefulSet ${NS}/${INSTALL_NAMES.coordinator}: no ready replica (0/1) — see "kubectl -n ${NS} describe statefulset ${INSTALL_NAMES.coordinator}" and its pods' logs; a Coordinator becomes ready once a manifest is set or it is recovered`);
    t.equal(r.lines[2], `- Coordinator user API at ${coord}: skipped (no ready Coordinator)`);
    t.equal(r.lines[4], `✔ webhook configuration ${INSTALL_NAMES.webhookConfiguration} present`, 'independent checks still run');
  });

  await t.test('Coordinator user API unreachable: the hint names the port-forward', async (t) => {
    world = fresh();
    const r = await check('--kubeconfig', tokenConfig, '--coordinator', `127.0.0.1:${closed}`, '--timeout', '3s', '--dir', ws);
    t.equal(r.code, 3);
    t.equal(r.lines[2], `✖ Coordinator user API at 127.0.0.1:${closed} does not answer (ECONNREFUSED) — run "kubectl -n ${NS} port-forward svc/${INSTALL_NAMES.coordinator} ${PORTS.coordinatorUser}:${PORTS.coordinatorUser}" or pass --coordinator HOST:PORT`);
    t.equal(r.lines[3], '- Coordinator attested and holds a manifest: skipped (the user API did not answer)');
  });

  async function shortLived(days: number): Promise<ServingCredentials> {
    return createSelfManagedCredentials([`${INSTALL_NAMES.injector}.${NS}.svc`], systemClock, days * DAY);
  }

  await t.test('a caBundle certificate expiring within --min-validity fails; the earliest of the bundle counts', async (t) => {
    world = fresh();
    const soon = await shortLived(3);
    world.caBundlePem = `${webhookCreds.caPem!}${soon.caPem!}`;
    const until = iso(new X509Certificate(soon.caPem!).validTo);
    const r = await check(...base);
    t.equal(r.code, 3);
    t.equal(r.lines[5], `✖ webhook caBundle: a certificate expires ${until} (in 3.0d, under 7.0d) — rotate the injector's CA (delete its CA Secret and restart "deployment/${INSTALL_NAMES.injector}") or renew injector.tlsSecret`);
    const relaxed = await check(...base, '--min-validity', '2d');
    t.equal(relaxed.lines[5], `✔ webhook caBundle: 2 certificate(s), earliest expires ${until}`);
    t.equal(relaxed.code, 0);
  });

  await t.test('an empty or garbage caBundle, and an expiring serving certificate', async (t) => {
    world = fresh();
    world.caBundlePem = undefined;
    t.equal((await check(...base)).lines[5], '✖ webhook caBundle is empty — the injector sets it when it starts: check that the injector runs and its logs');
    world.caBundlePem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    t.match((await check(...base)).lines[5], /^✖ webhook caBundle does not parse as certificates: .* — restart "deployment\/ccmesh-injector" so it sets the caBundle again$/);
    world = fresh();
    const soon = await shortLived(1);
    world.servingCertPem = soon.certPem;
    const r = await check(...base);
    t.equal(r.code, 3);
    t.equal(r.lines[7], `✖ injector serving certificate (secret ${NS}/${DEFAULT_VALUES.injector.caSecret}) expires ${iso(new X509Certificate(soon.certPem).validTo)} (in 1.0d, under 7.0d) — renew it (a self-managed one: delete the Secret and restart the injector)`);
  });

  await t.test('a shared self-managed CA Secret is judged by its CA: an aged stored leaf is no alarm, an expiring CA is', async (t) => {
    world = fresh();
    // The replicas renew their leaves in memory; the tls.crt stored at the last promotion has aged out.
    world.servingCertPem = (await shortLived(1)).certPem;
    const made = await createSelfManagedCredentials([`${INSTALL_NAMES.injector}.${NS}.svc`], systemClock, 300 * DAY, 1 * DAY);
    world.sharedCa = made.ca;
    const ok = await check(...base);
    t.equal(ok.lines[7], `✔ injector serving CA (secret ${NS}/${DEFAULT_VALUES.injector.caSecret}, self-managed) expires ${iso(new X509Certificate(made.ca.certPem).validTo)}`);
    t.equal(ok.code, 0);
    world.sharedCa = (await createSelfManagedCredentials([`${INSTALL_NAMES.injector}.${NS}.svc`], systemClock, 2 * DAY, 1 * DAY)).ca;
    const bad = await check(...base);
    t.equal(bad.code, 3);
    t.match(bad.lines[7], /^✖ injector serving CA \(secret .*, self-managed\) expires .* \(in 2\.0d, under 7\.0d\) — the injectors rotate it at 2\/3 of its life: .*logs deployment\/ccmesh-injector/);
  });

  await t.test('no available injector replica', async (t) => {
    world = fresh();
    world.injectorAvailable = 0;
    const r = await check(...base);
    t.equal(r.code, 3);
    t.equal(r.lines[6], `✖ injector Deployment ${NS}/${INSTALL_NAMES.injector}: no available replica — see "kubectl -n ${NS} describe deployment ${INSTALL_NAMES.injector}"; it becomes ready once it has set the caBundle`);
  });

  await t.test('a pod whose sidecar is not ready is named; its leaf is not read', async (t) => {
    world = fresh();
    world.pods.push({ ns: 'shop', name: 'cart-7', ready: false, leafExpiryMs: Date.now() + DAY });
    proxied.length = 0;
    const r = await check(...base);
    t.equal(r.code, 3);
    t.equal(r.lines[8], `✖ injected pods: 2/3 with ${INJECTED.proxy} ready; not ready: shop/cart-7 — see "kubectl logs -n NS POD -c ${INJECTED.proxy}"`);
    t.notOk(proxied.includes('shop/cart-7'));
    t.match(r.lines[9], /^✔ sidecar leaf certificates: 2 read/);
  });

  await t.test('a leaf expiring within --min-validity, and a sidecar whose metrics cannot be read', async (t) => {
    world = fresh();
    const at = Date.now() + 2 * DAY;
    world.pods[1]!.leafExpiryMs = at;
    const r = await check(...base);
    t.equal(r.code, 3);
    const shown = new Date(Math.floor(at / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    t.equal(r.lines[9], `✖ sidecar leaf certificates: 1 expire within 7.0d: app/web-1 (${shown}) — leaves renew themselves: check the sidecar's ccmesh_proxy_cert_renewals_total and logs, and that the Coordinator is ready`);
    world = fresh();
    world.pods[0]!.leafExpiryMs = undefined;
    const u = await check(...base);
    t.equal(u.code, 3);
    t.equal(u.lines[9], '✖ sidecar leaf certificates: could not read the metrics of 1 pod(s): app/web-0 — the pod proxy needs "get" on pods/proxy');
  });

  await t.test('bad flags and a bad kubeconfig exit 64 before any request', async (t) => {
    for (const [argv, re] of [
      [['--min-validity', 'soon'], /--min-validity: got "soon"/],
      [['--coordinator', 'nohost'], /--coordinator: got "nohost"/],
      [['--namespace', 'Bad_NS'], /--namespace: got "Bad_NS"/],
      [['--bogus'], /--bogus/],
      [['--kubeconfig', join(tmp, 'missing.yaml')], /--kubeconfig .*missing\.yaml: cannot read/],
    ] as const) {
      const r = await check(...argv);
      t.equal(r.code, 64, argv.join(' '));
      t.match(r.stderr, re);
      t.same(r.lines, []);
    }
    const noServer = join(tmp, 'noserver.yaml');
    writeFileSync(noServer, stringify({ 'current-context': 'x', contexts: [{ name: 'x', context: { cluster: 'c' } }], clusters: [{ name: 'c', cluster: { server: 'http://plain' } }] }));
    const r = await check('--kubeconfig', noServer);
    t.equal(r.code, 64);
    t.match(r.stderr, /clusters\[c\]\.cluster\.server: got "http:\/\/plain", expected an https:\/\/HOST:PORT URL/);
  });
});

/**
 * The shared CA Secret's CA rotated across replicas, in process with lifetimes of seconds: three injectors share the
 * Secret on FakeKubeApi (which answers a PUT at a stale resourceVersion with 409), each with its own clock skewed
 * against the others, while AdmissionReviews keep arriving at all of them over TLS that trusts only the caBundle as
 * the API server last read it (a lagging copy). Over two rotations — with one replica restarted while a rotation is
 * staged and the Secret edited to garbage for a while — no review fails, each rotation makes exactly one new CA, only
 * CAs of the Secret are ever published, and the replicas end on the Secret's CA. Replicas racing to stage one rotation
 * produce one new CA.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import type tap from 'tap';
import { FixedClock, type Clock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { createRegistry } from '../../lib/metrics.js';
import { repoRoot } from '../../test/fixtures.js';
import { FakeKubeApi, webhookConfigurationFixture } from '../../test/support/k8s/fake-kube-api.js';
import { startInjector, type RotationConfig, type RunningInjector } from './injector.js';
import { KubeClient, serviceAccountConfig } from './kube-client.js';
import { createInjectorMetrics, type InjectorMetrics } from './metrics.js';
import { createSelfManagedCredentials, serviceDnsNames } from './serving-cert.js';

const NAME = 'ccmesh-injector';
const NS = 'ccmesh-system';
const SECRET = 'ccmesh-injector-ca';
const SVC = `ccmesh-injector.${NS}.svc`;
const REVIEW = readFileSync(join(repoRoot, 'k8s', 'webhook', 'testdata', 'admission', 'pod-from-replicaset.json'), 'utf8');
/** How far behind the published caBundle the "API server" trusts. */
const API_LAG_MS = 500;
// Whole seconds matter: X.509 validity has a resolution of one second. A CA is staged ~15 s after it was made, ~8 s
// before it expires, and a leaf renewed ~3 s before it expires: room for a loaded machine, whose timers lag by seconds.
const ROTATION: RotationConfig = { caLifetimeMs: 24_000, leafLifetimeMs: 12_000, checkIntervalMs: 150, propagationMs: 2_000 };
/** Each replica's clock against the machine's: skew a few times the API lag (well within the backdating of notBefore). */
const SKEWS_MS = [0, 300, -300];

// The rotation runs in real time (TLS checks validity against the machine's clock): ~45 s for this file.
t.setTimeout(180_000);

/** One AdmissionReview trusting only `ca`: what went wrong, or the leaf it was served (DER). */
function review(port: number, ca: string): Promise<{ error?: string; leaf?: Buffer }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/inject?timeout=10s', method: 'POST', servername: SVC, ca, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const leaf = (res.socket as TLSSocket).getPeerCertificate().raw;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve({ error: `HTTP ${String(res.statusCode)}`, leaf });
        const allowed = (JSON.parse(Buffer.concat(chunks).toString()) as { response?: { allowed?: boolean } }).response?.allowed;
        resolve(allowed === true ? { leaf } : { error: 'not allowed', leaf });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(REVIEW);
  });
}

const certsOf = (pem: string): string[] => [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]).fingerprint256);

interface Cluster {
  readonly api: FakeKubeApi;
  readonly lines: string[];
  /** Each started replica's metrics, by its webhook port. */
  readonly metrics: Map<number, InjectorMetrics>;
  start(skewMs: number): Promise<RunningInjector>;
  bundle(): string;
  secret(): Record<string, string>;
}

async function cluster(t: Pick<typeof tap, 'teardown'>): Promise<Cluster> {
  const api = await FakeKubeApi.start('tok', webhookConfigurationFixture(NAME, ['inject.ccmesh.dev']));
  t.teardown(() => api.close());
  const sa = mkdtempSync(join(tmpdir(), 'ca-rotation-sa-'));
  t.teardown(() => rmSync(sa, { recursive: true, force: true }));
  writeFileSync(join(sa, 'token'), 'tok');
  writeFileSync(join(sa, 'ca.crt'), api.caPem);
  const saConfig = await serviceAccountConfig(api.url, sa);
  const lines: string[] = [];
  const metrics = new Map<number, InjectorMetrics>();
  let started = 0;
  return {
    api,
    lines,
    metrics,
    async start(skewMs) {
      const clock: Clock = { nowMs: () => Date.now() + skewMs };
      const replica = started++;
      const logger = createLogger({ component: 'injector', level: 'info', sink: (l) => lines.push(`replica ${replica}: ${l}`) });
      // Each replica its own client (connection pool), as each pod has.
      const kube = new KubeClient(saConfig);
      t.teardown(() => kube.close());
      const m = createInjectorMetrics(createRegistry());
      const inj = await startInjector({
        server: { host: '127.0.0.1', port: 0, path: '/inject', maxBodyBytes: 1 << 20, requestTimeoutMs: 5_000 },
        inject: {}, service: 'ccmesh-injector', namespace: NS, webhookConfiguration: NAME, reloadIntervalMs: 1_000, tlsDir: undefined,
        caSecret: SECRET, rotation: ROTATION,
      }, { logger, metrics: m, clock, kube, backoff: { initialMs: 10, maxMs: 40 } });
      metrics.set(inj.port, m);
      t.teardown(() => inj.close());
      await inj.ready;
      return inj;
    },
    bundle: () => Buffer.from((api.config!.webhooks as { clientConfig: { caBundle: string } }[])[0]!.clientConfig.caBundle, 'base64').toString(),
    secret: () => {
      const data = (api.secrets.get(`${NS}/${SECRET}`) as { data: Record<string, string> }).data;
      return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    },
  };
}

/** Waits (bounded) until every replica serves a leaf of the Secret's ca.crt and no rotation is staged. */
async function converged(c: Cluster, replicas: readonly RunningInjector[]): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    const s = c.secret();
    if (s['next-ca.crt'] === undefined) {
      const ca = new X509Certificate(s['ca.crt']!);
      const leaves = await Promise.all(replicas.map((r) => review(r.port, c.bundle())));
      if (leaves.every((l) => l.error === undefined && l.leaf !== undefined && new X509Certificate(l.leaf).verify(ca.publicKey))) return true;
    }
    await sleep(200);
  }
  return false;
}

void t.test('three replicas with skewed clocks rotate the shared CA twice while reviews keep arriving; none fails', async (t) => {
  const c = await cluster(t);
  const replicas = await Promise.all(SKEWS_MS.map((s) => c.start(s)));
  // What the API server held when: stamped as each patch is stored, however busy the load loop below is.
  const history: { at: number; bundle: string }[] = [{ at: Date.now(), bundle: c.bundle() }];
  c.api.onConfigPatched = () => history.push({ at: Date.now(), bundle: c.bundle() });
  const published = new Set<string>();
  const stagedCas = new Set<string>();
  const currentCas = new Set<string>();
  const failures: string[] = [];
  let sent = 0;
  let restarted = false;
  let garbage: 'not yet' | 'on' | 'done' = 'not yet';
  const t0 = Date.now();
  const inflight: Promise<void>[] = [];
  const events: Promise<void>[] = [];
  while (Date.now() - t0 < 33_000) {
    const now = Date.now();
    for (const f of certsOf(c.bundle())) published.add(f);
    const s = c.secret();
    if (s['next-ca.crt'] !== undefined) {
      stagedCas.add(new X509Certificate(s['next-ca.crt']).fingerprint256);
      if (!restarted) {
        // A replica restarted while the rotation is staged: out of the Service first, then replaced.
        restarted = true;
        const old = replicas.splice(1, 1)[0]!;
        events.push((async () => {
          await sleep(50);
          await old.close();
          replicas.push(await c.start(SKEWS_MS[1]!));
        })());
      }
    }
    if (s['ca.crt'] !== undefined && !s['ca.crt'].startsWith('garbage')) currentCas.add(new X509Certificate(s['ca.crt']).fingerprint256);
    if (garbage === 'not yet' && now - t0 > 3_000 && s['next-ca.crt'] === undefined) {
      // Someone edits the Secret to garbage, and puts it back two seconds later.
      garbage = 'on';
      const saved = s;
      c.api.editSecret(NS, SECRET, { ...saved, 'ca.crt': 'garbage\n' });
      events.push(sleep(2_000).then(() => {
        c.api.editSecret(NS, SECRET, saved);
        garbage = 'done';
      }));
    }
    const trusted = [...history].reverse().find((h) => h.at <= now - API_LAG_MS)?.bundle ?? history[0]!.bundle;
    const target = replicas[sent % replicas.length]!;
    sent++;
    inflight.push(review(target.port, trusted).then((r) => {
      if (r.error !== undefined) failures.push(`port ${target.port} at ${Date.now() - t0} ms: ${r.error}`);
    }));
    await sleep(40);
  }
  await Promise.all([...inflight, ...events]);
  // A rotation may still be finishing: let it (every replica on the Secret's CA, nothing staged), then take stock.
  const done = await converged(c, replicas);
  currentCas.add(new X509Certificate(c.secret()['ca.crt']!).fingerprint256);
  for (const f of certsOf(c.bundle())) published.add(f);
  t.comment(`${sent} reviews, ${failures.length} failed, ${stagedCas.size} CAs staged, ${currentCas.size} current, ${published.size} published, ${history.length} caBundles`);
  t.ok(sent > 150, `${sent} reviews`);
  t.same(failures.slice(0, 5), [], 'no review failed: never a leaf of a CA the lagging caBundle lacks, never an expired one');
  if (failures.length > 0) t.comment(c.lines.filter((l) => !l.includes('"level":"debug"')).join('\n'));
  t.ok(stagedCas.size >= 2, `${stagedCas.size} rotations staged`);
  t.ok([...stagedCas].every((f) => currentCas.has(f)), 'every staged CA was promoted to ca.crt');
  t.equal(currentCas.size, stagedCas.size + 1, 'each rotation made exactly one new CA');
  t.same([...published].filter((f) => !currentCas.has(f) && !stagedCas.has(f)), [], 'no CA was published that is not the Secret\'s');
  t.ok(history.some((h) => certsOf(h.bundle).length >= 2), 'a caBundle held two CAs at once');
  t.ok(restarted, 'a replica was restarted mid-rotation');
  t.equal(garbage, 'done');
  t.ok(c.lines.some((l) => l.includes('the shared serving CA secret is unusable; keeping the current credentials') && l.includes('ca.crt is not a certificate')), 'the garbage edit was refused and logged, naming the key');
  t.ok(done, 'every replica, the restarted one too, ends on the Secret\'s CA');
});

void t.test('replicas racing to stage one rotation: exactly one new CA, the others adopt it', async (t) => {
  const c = await cluster(t);
  // A Secret whose CA is already past 2/3 of its life: every replica's first check wants to stage a rotation.
  const made = await createSelfManagedCredentials(serviceDnsNames('ccmesh-injector', NS), new FixedClock(Date.now() - 17_000), ROTATION.caLifetimeMs, ROTATION.caLifetimeMs);
  c.api.secrets.set(`${NS}/${SECRET}`, {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: SECRET, namespace: NS, resourceVersion: '100', labels: { team: 'platform' }, annotations: { 'example.com/backup': 'daily' } }, type: 'kubernetes.io/tls',
    data: Object.fromEntries(Object.entries({ 'tls.crt': made.certPem, 'tls.key': made.keyPem, 'ca.crt': made.caPem!, 'ca.key': made.ca.keyPem }).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  });
  // Every replica's startup read, then every replica's first check, sees the same resourceVersion.
  c.api.secretReadGroups.push(SKEWS_MS.length, SKEWS_MS.length);
  const replicas = await Promise.all(SKEWS_MS.map((s) => c.start(s)));
  const staged = new Set<string>();
  for (let i = 0; i < 100 && staged.size === 0; i++) {
    const next = c.secret()['next-ca.crt'];
    if (next !== undefined) staged.add(new X509Certificate(next).fingerprint256);
    await sleep(20);
  }
  t.ok(await converged(c, replicas), 'every replica ends on the new CA');
  const puts = c.api.requests.filter((q) => q.method === 'PUT');
  const stagings = puts.filter((q) => q.status === 200 && (JSON.parse(q.body) as { data: Record<string, string> }).data['next-ca.crt'] !== undefined);
  const lostStagings = puts.filter((q) => q.status === 409 && (JSON.parse(q.body) as { data: Record<string, string> }).data['next-ca.crt'] !== undefined);
  t.comment(`${puts.length} PUTs, ${stagings.length} staged, ${lostStagings.length} stagings lost with 409`);
  t.equal(stagings.length, 1, 'one staging write succeeded');
  t.equal(lostStagings.length, SKEWS_MS.length - 1, 'every other replica raced to stage and got 409 Conflict');
  const finalCa = new X509Certificate(c.secret()['ca.crt']!).fingerprint256;
  t.same([...staged], [finalCa], 'the one staged CA is the one promoted');
  const meta = c.api.secrets.get(`${NS}/${SECRET}`)!.metadata as { labels?: unknown; annotations?: unknown };
  t.same([meta.labels, meta.annotations], [{ team: 'platform' }, { 'example.com/backup': 'daily' }], 'the rotation\'s writes keep the Secret\'s labels and annotations');
  t.same(certsOf(c.bundle()).filter((f) => f !== finalCa && f !== new X509Certificate(made.caPem!).fingerprint256), [], 'the caBundle holds the old and the new CA only');
  for (const r of replicas) {
    const m = c.metrics.get(r.port)!;
    t.equal((await m.servingCaRotations.get()).values[0]?.value, 1, `replica on port ${r.port}: ccmesh_injector_serving_ca_rotations_total counts its one switch`);
    const expiry = (await m.servingCertExpiry.get()).values[0]?.value;
    const served = await review(r.port, c.bundle());
    t.equal(expiry, Math.floor(new Date(new X509Certificate(served.leaf!).validTo).getTime() / 1000), 'the expiry gauge follows the leaf of the new CA');
  }
});

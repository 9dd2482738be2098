/**
 * CredentialStore: the renewal loop and the trust refresh each apply files and write them to the TLS directory; their
 * exclusive sections never interleave, so the directory ends with what was applied last. And the store pins the
 * root CA it started with: no reload, applied answer or `--workers` worker ever uses a generation under another root,
 * and it starts only from a TLS directory that is its own.
 */
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { systemClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { TestMesh, writeTlsDir } from '../test/pki.js';
import { FakeTimers } from '../test/support.js';
import { createProxyMetrics, type ProxyMetrics } from '../metrics.js';
import { CredentialStore, type CredentialStoreRuntime } from './store.js';

const quiet = createLogger({ component: 'test', level: 'error', sink: () => undefined });

function runtime(): CredentialStoreRuntime & { metrics: ProxyMetrics } {
  return { clock: systemClock, timers: new FakeTimers(), logger: quiet, metrics: createProxyMetrics(new Registry()) };
}

/** A new directory (0755) at `path` holding `files`. */
function tlsDirAt(path: string, files: Parameters<typeof writeTlsDir>[0]): string {
  mkdirSync(path, { mode: 0o755 });
  return writeTlsDir(files, path);
}

/** `ccmesh_proxy_credential_refusals_total` as `source/reason → count`. */
async function refusals(m: ProxyMetrics): Promise<Record<string, number>> {
  return Object.fromEntries((await m.credentialRefusals.get()).values.map((v) => [`${v.labels.source}/${v.labels.reason}`, v.value]));
}

void t.test('exclusive sections run one after another, in order, and a failed one does not block the next', async (t) => {
  const mesh = await TestMesh.create();
  const dir = writeTlsDir((await mesh.leaf(['web'])).files);
  const store = await CredentialStore.load(dir, runtime());
  const events: string[] = [];
  let releaseFirst!: () => void;
  const first = store.exclusive(async () => {
    events.push('first: start');
    await new Promise<void>((r) => (releaseFirst = r));
    events.push('first: end');
  });
  const second = store.exclusive(async () => {
    events.push('second: start');
    throw new Error('second fails');
  });
  const third = store.exclusive(async () => {
    events.push('third');
    return 3;
  });
  await new Promise((r) => setImmediate(r));
  t.same(events, ['first: start'], 'the second section waits while the first is inside');
  releaseFirst();
  await first;
  await t.rejects(second, /second fails/, 'a section\'s failure reaches its caller');
  t.equal(await third, 3, 'and the next section still runs');
  t.same(events, ['first: start', 'first: end', 'second: start', 'third']);
});

void t.test('a directory re-read (watch or poll) never reads the sidecar\'s own write half-done', async (t) => {
  const mesh = await TestMesh.create();
  const dir = writeTlsDir((await mesh.leaf(['web'])).files);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rt = runtime();
  const store = await CredentialStore.load(dir, rt);
  store.startWatching({ pollMs: 1000 });
  t.teardown(() => store.close());
  const next = (await mesh.leaf(['web'])).files;
  const reloads = async (): Promise<Record<string, number>> => Object.fromEntries((await rt.metrics.credentialReloads.get()).values.map((v) => [v.labels.result, v.value]));
  t.same(await reloads(), { applied: 1 }, 'the first generation was applied at load');
  // What a renewal does inside its exclusive section: the key lands first, the leaf a moment later.
  await store.exclusive(async () => {
    writeFileSync(join(dir, 'key.pem'), next.key, { mode: 0o600 });
    const poll = (rt.timers as FakeTimers).live().find((x) => x.ms === 1000);
    t.ok(poll, 'the periodic re-read is armed');
    poll!.fn();
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(join(dir, 'chain.pem'), next.chain);
  });
  await store.exclusive(async () => undefined);
  t.same(await reloads(), { applied: 2 }, 'the re-read waited for the write and applied the new pair; nothing was rejected');
  t.same(await refusals(rt.metrics), {}, 'and no refusal was counted');
  t.equal(store.current.leaf.serialNumber, new X509Certificate(next.chain).serialNumber, 'the new leaf is in use');
});

void t.test('a renewal cut by a crash between the key\'s rename and the leaf\'s is completed at the next start', async (t) => {
  const mesh = await TestMesh.create();
  const base = mkdtempSync(join(tmpdir(), 'ccmesh-crash-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const old = (await mesh.leaf(['web'])).files;
  const next = (await mesh.leaf(['web'])).files;
  const other = (await mesh.leaf(['web'])).files;
  const staged = (name: string): string => `.${name}.4242.${'ab12cd34ef56'}.tmp`;

  // Crash after the key's rename: new key, old leaf, the new leaf still staged (and a stray staged leaf of another key).
  const cut = tlsDirAt(join(base, 'cut'), old);
  writeFileSync(join(cut, 'key.pem'), next.key, { mode: 0o600 });
  writeFileSync(join(cut, staged('chain.pem')), next.chain);
  writeFileSync(join(cut, '.chain.pem.4242.000000000000.tmp'), other.chain);
  const store = await CredentialStore.load(cut, runtime());
  t.equal(store.current.leaf.serialNumber, new X509Certificate(next.chain).serialNumber, 'the sidecar starts with the new key and its staged leaf');
  t.same(readdirSync(cut).sort(), ['chain.pem', 'key.pem', 'mesh-ca.pem', 'root-ca.pem'], 'the staged files are gone');

  // A worker (it loads with the primary's pinned root) never touches staged files: they may be the primary's
  // renewal in flight. Here it sees the cut pair as it is, and refuses it, leaving everything in place.
  const inFlight = tlsDirAt(join(base, 'in-flight'), old);
  writeFileSync(join(inFlight, 'key.pem'), next.key, { mode: 0o600 });
  writeFileSync(join(inFlight, staged('chain.pem')), next.chain);
  const root = new X509Certificate(old.rootCa).fingerprint256;
  await t.rejects(CredentialStore.load(inFlight, runtime(), { rootFingerprint: root }), { code: 'CCMESH_ERR_PROXY_CREDENTIALS_INVALID' }, 'a worker reads the files as they are');
  t.same(readdirSync(inFlight).sort(), [staged('chain.pem'), 'chain.pem', 'key.pem', 'mesh-ca.pem', 'root-ca.pem'].sort(), 'and leaves the staged leaf alone');

  // Crash before either rename: the old pair is whole; the staged files are only removed.
  const early = tlsDirAt(join(base, 'early'), old);
  writeFileSync(join(early, staged('key.pem')), next.key, { mode: 0o600 });
  writeFileSync(join(early, staged('chain.pem')), next.chain);
  const store2 = await CredentialStore.load(early, runtime());
  t.equal(store2.current.leaf.serialNumber, new X509Certificate(old.chain).serialNumber, 'the old pair stays in use');
  t.same(readdirSync(early).sort(), ['chain.pem', 'key.pem', 'mesh-ca.pem', 'root-ca.pem'], 'and the staged files are removed');

  // A mismatched pair with no staged leaf that fits is still refused, as before.
  const broken = tlsDirAt(join(base, 'broken'), old);
  writeFileSync(join(broken, 'key.pem'), next.key, { mode: 0o600 });
  writeFileSync(join(broken, staged('chain.pem')), other.chain);
  await t.rejects(CredentialStore.load(broken, runtime()), { code: 'CCMESH_ERR_PROXY_CREDENTIALS_INVALID', message: /the key does not match the leaf certificate/ }, 'a staged leaf of another key is not used');
});

void t.test('the root is pinned: a swapped-in directory or applied files under another root are refused and counted', async (t) => {
  const mesh = await TestMesh.create();
  const attacker = await TestMesh.create();
  const base = mkdtempSync(join(tmpdir(), 'ccmesh-pin-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const dir = tlsDirAt(join(base, 'tls'), (await mesh.leaf(['web'])).files);
  const rt = runtime();
  const store = await CredentialStore.load(dir, rt);
  const first = store.current;
  t.equal(store.pinnedRoot.fingerprint256, mesh.root.cert.fingerprint256, 'the first generation\'s root is pinned');

  // Another container renames the directory away and puts one of its own, all consistent, at its name.
  renameSync(dir, join(base, 'moved'));
  tlsDirAt(dir, (await attacker.leaf(['web'])).files);
  await store.reload();
  t.equal(store.current, first, 'the reload is refused: the generation in use stays');
  t.equal(store.generationNumber, 1, 'nothing was applied');
  t.same(await refusals(rt.metrics), { 'files/root-changed': 1 }, 'counted as a root change of the files');

  // The same files handed in by a renewal or a trust refresh.
  const theirs = (await attacker.leaf(['web'])).files;
  t.match(store.applyFiles(theirs, 'renewal'), { ok: false, reason: /not the root this sidecar started with/ }, 'applied by a renewal: refused');
  t.match(store.applyFiles({ ...theirs, rootCa: mesh.root.certPem }, 'trust-refresh'), { ok: false, reason: /is not a CA issued by the root$/ }, 'with our root but their CA: refused');
  t.equal(store.current, first, 'still the first generation');
  t.same(await refusals(rt.metrics), { 'files/root-changed': 1, 'renewal/root-changed': 1, 'trust-refresh/foreign-ca': 1 }, 'each counted for its source and reason');

  // Control: our own directory back in place, with a new leaf, is applied.
  rmSync(dir, { recursive: true });
  renameSync(join(base, 'moved'), dir);
  writeTlsDir((await mesh.leaf(['web'])).files, dir);
  await store.reload();
  t.equal(store.generationNumber, 2, 'control: a new leaf under the pinned root is applied');
});

void t.test('the store starts only from a TLS directory of its own, and a worker only under its primary\'s root', async (t) => {
  const mesh = await TestMesh.create();
  const files = (await mesh.leaf(['web'])).files;
  const base = mkdtempSync(join(tmpdir(), 'ccmesh-pin-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const open = tlsDirAt(join(base, 'open'), files);
  chmodSync(open, 0o777);
  await t.rejects(CredentialStore.load(open, runtime()), { code: 'CCMESH_ERR_PROXY_CREDENTIALS_INVALID', message: /the TLS directory .*open is writable by group or others \(mode 777\): refusing to load credentials from it/ }, 'a directory anyone may write: refused');
  const elsewhere = tlsDirAt(join(base, 'elsewhere'), files);
  symlinkSync(elsewhere, join(base, 'linked'));
  await t.rejects(CredentialStore.load(join(base, 'linked'), runtime()), { code: 'CCMESH_ERR_PROXY_CREDENTIALS_INVALID', message: /is not a directory \(a link or a file stands at its name\)/ }, 'a link at its name: refused');

  const other = await TestMesh.create();
  const rt = runtime();
  await t.rejects(CredentialStore.load(elsewhere, rt, { rootFingerprint: other.root.cert.fingerprint256 }), { code: 'CCMESH_ERR_PROXY_CREDENTIALS_INVALID', message: /is not the root pinned by the primary/ }, 'a worker finding another root than its primary pinned: refused');
  t.same(await refusals(rt.metrics), { 'files/root-changed': 1 }, 'and counted');
  const ok = await CredentialStore.load(elsewhere, runtime(), { rootFingerprint: mesh.root.cert.fingerprint256 });
  t.equal(ok.pinnedRoot.fingerprint256, mesh.root.cert.fingerprint256, 'control: under the primary\'s root it starts');
});

/**
 * Privileged tier: IPv6 that the pod does not have when the sidecar starts. The real sidecar (`ccmesh proxy`) runs in
 * a "pod" namespace whose veth has IPv6 disabled (`disable_ipv6=1`: no address at all, lo keeps ::1); the app
 * listens on every address (`::`, dual-stack), as most apps do, so anything that gets past the rules reaches it.
 * Proves that
 *   - with `--ipv6 auto` (the default) the IPv6 rules are in place before the pod has any IPv6 address: after
 *     IPv6 is enabled on the interface and an address added, plaintext over IPv6 is captured (refused for lack of
 *     TLS, the app sees nothing) and a mesh client over IPv6 goes through the sidecar;
 *   - with `--ipv6 off` IPv6 is not captured but stays guarded: plaintext over IPv6 never connects, and removing
 *     the IPv6 guard is drift (guard back, /ready 503).
 * Skips with the reason when not root or tools are missing — fails in CI. Namespaces are prefixed `ccm-v6late`;
 * teardown kills the sidecars and deletes the namespaces (which takes every rule and route with them).
 */
import t from 'tap';
import type tap from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADDR, type Agent, NetnsPair, type NetnsPairOptions, privilegedSkipReason } from '../../test/support/iptables/netns-harness.js';
import { TestMesh, writeTlsDir } from './pki.js';

const BIN = fileURLToPath(new URL('../../../bin/ccmesh', import.meta.url));
const CLIENT = fileURLToPath(new URL('./testdata/netns-client.js', import.meta.url));
const WEB = 8080;
const ADMIN = 15020;
/** Excluded from capture (`--exclude-ports`, like a kubelet probe port): shows when IPv6 works end to end. */
const PROBE = 9100;
const INGRESS = `web#${WEB}`;

interface Attempt {
  readonly connected: boolean;
  readonly secure: boolean;
  readonly data: string;
  readonly error?: string;
}

type Tls = { ca: string; cert?: string; key?: string };

const webAccepts = (app: Agent): Record<string, unknown>[] => app.events.filter((e) => e.event === 'accept' && e.port === WEB);

/** One pod: namespaces, the app, the sidecar and the ways to talk to them. */
interface Pod {
  readonly pair: NetnsPair;
  readonly app: Agent;
  readonly logs: string[];
  /** From the client namespace. */
  attempt(host: string, port: number, text: string, tls?: Tls, timeoutMs?: number): Promise<Attempt>;
  /** An HTTP request to the admin port from inside the pod over loopback (the guard lets lo through). */
  local(path: string): Promise<string>;
  /** Connections the app accepted on WEB (the probe port does not count). */
  appAccepts(): number;
}

const reason = await privilegedSkipReason();
if (reason !== undefined && process.env.CI) {
  t.fail(`privileged tests must run in CI but cannot: ${reason}`);
} else if (reason !== undefined) {
  t.comment(`skipping late-IPv6 sidecar namespace test: ${reason}`);
  t.pass('late-IPv6 sidecar namespace test', { skip: reason });
} else {
  const mesh = await TestMesh.create();
  const podLeaf = await mesh.leaf(['web.pod.svc']);
  const clientLeaf = await mesh.leaf(['client.ns.svc']);
  const meshTls: Tls = { ca: mesh.root.certPem, cert: clientLeaf.files.chain, key: clientLeaf.files.key };

  /** Guard (as the initializer does), app on `::`, then the sidecar with `flags`; resolves once it is ready. */
  const startPod = async (t: Pick<typeof tap, 'teardown' | 'equal' | 'match' | 'ok' | 'comment'>, pairOpts: NetnsPairOptions, flags: readonly string[]): Promise<Pod | undefined> => {
    const work = mkdtempSync(join(tmpdir(), 'ccmesh-v6late-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    mkdirSync(join(work, 'tls'));
    const tlsDir = writeTlsDir(podLeaf.files, join(work, 'tls'));
    const readyFile = join(work, 'ready');
    const pair = await NetnsPair.create({ prefix: 'ccm-v6late', ...pairOpts });
    t.teardown(() => pair.destroy());
    const guard = await pair.podExec.run(process.execPath, [BIN, 'iptables', 'guard']);
    t.equal(guard.code, 0, `ccmesh iptables guard in the pod: ${guard.stderr}`);
    const app = pair.agent('pod');
    t.match(await app.request({ op: 'listen', host: '::', port: WEB }), { ok: true }, `app listens on [::]:${WEB} (every address, both families)`);
    t.match(await app.request({ op: 'listen', host: '::', port: PROBE }), { ok: true }, `a probe endpoint on [::]:${PROBE}`);

    const logs: string[] = [];
    const sidecar: ChildProcess = spawn('ip', ['netns', 'exec', pair.pod, process.execPath, BIN, 'proxy', '--ingress', INGRESS, '--tls-dir', tlsDir,
      '--admin-port', String(ADMIN), '--ready-file', readyFile, '--exclude-ports', String(PROBE), '--watchdog-interval', '200ms', '--log-level', 'info', ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
    sidecar.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
    const exited = new Promise<void>((r) => sidecar.once('exit', () => r()));
    t.teardown(async () => {
      if (sidecar.exitCode === null && sidecar.signalCode === null) {
        sidecar.kill('SIGKILL');
        await exited;
      }
    });
    const deadline = Date.now() + 15_000;
    while (!existsSync(readyFile) && sidecar.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!t.ok(existsSync(readyFile), 'the sidecar wrote its ready file')) {
      t.comment(logs.join(''));
      return undefined;
    }
    const attempt = async (host: string, port: number, text: string, tls?: Tls, timeoutMs = 1500): Promise<Attempt> => {
      const r = await pair.clientExec.run(process.execPath, [CLIENT, JSON.stringify({ host, port, text, timeoutMs, ...(tls ? { tls } : {}) })]);
      if (r.code !== 0) throw new Error(`client failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as Attempt;
    };
    const local = async (path: string): Promise<string> => {
      const r = await pair.podExec.run(process.execPath, [CLIENT, JSON.stringify({ host: '127.0.0.1', port: ADMIN, text: `GET ${path} HTTP/1.0\r\n\r\n`, timeoutMs: 1500 })]);
      return (JSON.parse(r.stdout) as Attempt).data;
    };
    return { pair, app, logs, attempt, local, appAccepts: () => webAccepts(app).length };
  };

  /** Polls `fn` until `ok` holds or ~`ms` passed; returns the last value. */
  const poll = async <T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> => {
    const until = Date.now() + ms;
    let v = await fn();
    while (!ok(v) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      v = await fn();
    }
    return v;
  };

  void t.test('--ipv6 auto: IPv6 enabled on the pod interface after start is captured, never open', async (t) => {
    const pod = await startPod(t, { podIpv6: false }, []);
    if (!pod) return;
    const { pair } = pod;
    const inet6 = await pair.podExec.run('cat', ['/proc/net/if_inet6']);
    t.notMatch(inet6.stdout, new RegExp(pair.podIf), 'at start the pod interface has no IPv6 address at all');
    t.match(await pod.attempt(ADDR.pod4, WEB, 'v4', meshTls), { secure: true, data: `${WEB}:v4` }, 'the mesh works over IPv4');

    // The host (or anyone with NET_ADMIN in the pod) turns IPv6 on after the sidecar reported ready.
    t.equal((await pair.podExec.run('sysctl', ['-qw', `net.ipv6.conf.${pair.podIf}.disable_ipv6=0`])).code, 0, 'IPv6 enabled on the pod interface');
    t.equal((await pair.host.run('ip', ['-n', pair.pod, '-6', 'addr', 'add', `${ADDR.pod6}/64`, 'dev', pair.podIf, 'nodad'])).code, 0, `address ${ADDR.pod6} added`);
    // The probe port is never captured, so its answer over IPv6 shows IPv6 now works end to end.
    const probe6 = await poll(() => pod.attempt(ADDR.pod6, PROBE, 'p', undefined, 1000), (a) => a.data === `${PROBE}:p`);
    t.equal(probe6.data, `${PROBE}:p`, 'IPv6 reaches the pod now (an excluded port answers over IPv6)');

    const before = pod.appAccepts();
    const plain = await pod.attempt(ADDR.pod6, WEB, 'GET / HTTP/1.1\r\n\r\n');
    t.notMatch(plain.data, new RegExp(`${WEB}:`), 'plaintext over IPv6 to the app port gets no app bytes');
    t.equal(pod.appAccepts(), before, 'and the app accepted no connection');
    const viaMesh = await pod.attempt(ADDR.pod6, WEB, 'hello6', meshTls);
    t.match(viaMesh, { secure: true, data: `${WEB}:hello6` }, 'a mesh client over IPv6 reaches the app through the sidecar: IPv6 is captured');
    const ev = webAccepts(pod.app)[before];
    t.match(ev, { remoteAddress: /127\.0\.0\.1$/ }, 'the app saw the sidecar (loopback), not the client');
    t.match(await pod.local('/ready'), /^HTTP\/1\.1 200/, 'captured IPv6 is not drift: /ready stays 200');
  });

  void t.test('--ipv6 off: IPv6 is not captured but stays guarded; losing that guard is drift', async (t) => {
    const pod = await startPod(t, {}, ['--ipv6', 'off']);
    if (!pod) return;
    const { pair } = pod;
    t.match(await pod.attempt(ADDR.pod4, WEB, 'v4', meshTls), { secure: true, data: `${WEB}:v4` }, 'the mesh works over IPv4');
    const before = pod.appAccepts();
    t.match(await pod.attempt(ADDR.pod6, WEB, 'GET / HTTP/1.1\r\n\r\n', undefined, 1000), { connected: false, data: '' }, 'plaintext over IPv6 does not even connect');
    t.match(await pod.attempt(ADDR.pod6, WEB, 'x', meshTls, 1000), { connected: false, data: '' }, 'nor does TLS over IPv6 (IPv6 is off, not meshed)');
    t.equal(pod.appAccepts(), before, 'the app saw nothing over IPv6');
    t.match(await pod.local('/ready'), /^HTTP\/1\.1 200/, 'ready');

    t.equal((await pair.podExec.run('ip6tables', ['-w', '5', '-D', 'INPUT', '-j', 'CCMESH_GUARD'])).code, 0, 'someone removes the IPv6 guard');
    const ready = await poll(() => pod.local('/ready'), (r) => r.includes('503'));
    t.match(ready, /^HTTP\/1\.1 503[\s\S]*iptables drift/, '/ready answers 503 (iptables drift)');
    t.match(pod.logs.join(''), /iptables drift; guard re-installed.*v6 filter.*CCMESH_GUARD/, 'the log names the missing IPv6 guard');
    const saved = await pair.podExec.run('ip6tables-save', ['-t', 'filter']);
    t.match(saved.stdout, /^-A INPUT -j CCMESH_GUARD$/m, 'the IPv6 guard is back');
    t.match(await pod.attempt(ADDR.pod6, WEB, 'late', undefined, 1000), { connected: false }, 'plaintext over IPv6 still does not connect');
    t.match(await pod.attempt(ADDR.pod4, WEB, 'late', meshTls, 1000), { connected: false }, 'and the pod is closed over IPv4 too');
    t.equal(pod.appAccepts(), before, 'the app saw nothing');
  });
}

/**
 * Privileged tier: transparent OUTBOUND capture between two pods. Two network namespaces on a veth pair, each with
 * the real sidecar (`ccmesh proxy` with capture): pod B (the harness's "pod" side) serves an app on 127.0.0.1 only
 * behind `--ingress web#8080#mtls:allow=a.pod.svc`; pod A (the "client" side) runs `--egress-capture` for B's /32
 * and /128. A plaintext client in A connects to B_IP:8080 and gets B's app echo: A's rules looped it to A's 15001,
 * A's sidecar opened mTLS to B_IP:8080 with A's leaf, B's rules TPROXY'd that to B's 15006, B's sidecar checked the
 * SAN and forwarded to 127.0.0.1:8080. Both sidecars run as uid 1337 (PROXY_UID) with CAP_NET_ADMIN/CAP_NET_RAW
 * through `setpriv`: the plan exempts the sidecar's own connections from capture by uid only, and the entry refuses
 * `--egress-capture` under any other uid. Skips with the reason when not root or tools are missing — fails in CI.
 * Teardown kills both sidecars and deletes both namespaces.
 */
import t from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessExecutor } from '../../iptables/executor.js';
import { ADDR, type Agent, NetnsPair, privilegedSkipReason } from '../../test/support/iptables/netns-harness.js';
import { PROXY_UID } from '../../lib/pod-layout.js';
import { TestMesh, writeTlsDir } from './pki.js';

const BIN = fileURLToPath(new URL('../../../bin/ccmesh', import.meta.url));
const CLIENT = fileURLToPath(new URL('./testdata/netns-client.js', import.meta.url));
const APP = 8080;
const ADMIN = 15020;
/** Runs a command as PROXY_UID with the two capabilities the sidecar needs (IP_TRANSPARENT, iptables, ip rule). */
const AS_PROXY = ['setpriv', `--reuid=${PROXY_UID}`, `--regid=${PROXY_UID}`, '--clear-groups', '--inh-caps=+net_admin,+net_raw', '--ambient-caps=+net_admin,+net_raw'];

interface Attempt {
  readonly connected: boolean;
  readonly data: string;
  readonly error?: string;
}

async function skipReason(): Promise<string | undefined> {
  const base = await privilegedSkipReason();
  if (base !== undefined) return base;
  const r = await new ProcessExecutor({ timeoutMs: 5000 }).run('setpriv', ['--version']);
  return r.code === 0 ? undefined : `"setpriv --version" failed (${r.code}): ${r.stderr.trim()} (util-linux setpriv runs the sidecar as uid ${PROXY_UID})`;
}

const reason = await skipReason();
if (reason !== undefined && process.env.CI) {
  t.fail(`privileged tests must run in CI but cannot: ${reason}`);
} else if (reason !== undefined) {
  t.comment(`skipping transparent outbound namespace test: ${reason}`);
  t.pass('transparent outbound namespace test', { skip: reason });
} else {
  void t.test('transparent outbound capture: pod A plaintext → A sidecar → mTLS → B sidecar → B app', async (t) => {
    const mesh = await TestMesh.create();
    const leafA = await mesh.leaf(['a.pod.svc']);
    const leafB = await mesh.leaf(['b.pod.svc']);
    const work = mkdtempSync(join(tmpdir(), 'ccmesh-egress-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    const dirs = { a: join(work, 'a'), b: join(work, 'b') };
    for (const [side, leaf] of [['a', leafA], ['b', leafB]] as const) {
      mkdirSync(dirs[side]);
      mkdirSync(join(dirs[side], 'tls'));
      writeTlsDir(leaf.files, join(dirs[side], 'tls'));
    }
    // The sidecars run as PROXY_UID: they read their credentials and write their ready files.
    const chownAll = (dir: string): void => {
      chownSync(dir, PROXY_UID, PROXY_UID);
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) chownAll(join(dir, e.name));
        else chownSync(join(dir, e.name), PROXY_UID, PROXY_UID);
      }
    };
    chownAll(work);

    const pair = await NetnsPair.create();
    t.teardown(() => pair.destroy());
    const ns = { a: pair.client, b: pair.pod };
    const exec = { a: pair.clientExec, b: pair.podExec };
    const attempt = async (side: 'a' | 'b', host: string, port: number, text: string, opts: { asProxy?: boolean; timeoutMs?: number } = {}): Promise<Attempt> => {
      const args = [CLIENT, JSON.stringify({ host, port, text, timeoutMs: opts.timeoutMs ?? 3000 })];
      const r = opts.asProxy ? await exec[side].run(AS_PROXY[0]!, [...AS_PROXY.slice(1), process.execPath, ...args]) : await exec[side].run(process.execPath, args);
      if (r.code !== 0) throw new Error(`client failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as Attempt;
    };
    const metrics = async (side: 'a' | 'b'): Promise<string> => (await attempt(side, '127.0.0.1', ADMIN, 'GET /metrics HTTP/1.0\r\n\r\n')).data;

    // The initializers' guards, then B's app on loopback only: nothing but B's sidecar can reach it.
    for (const side of ['a', 'b'] as const) {
      const g = await exec[side].run(process.execPath, [BIN, 'iptables', 'guard']);
      t.equal(g.code, 0, `guard in pod ${side}: ${g.stderr}`);
    }
    const app: Agent = pair.agent('pod');
    t.match(await app.request({ op: 'listen', host: '127.0.0.1', port: APP }), { ok: true }, `B's app listens on 127.0.0.1:${APP} only`);
    const accepts = (): Record<string, unknown>[] => app.events.filter((e) => e.event === 'accept');

    const sidecars: { child: ChildProcess; exited: Promise<void>; logs: string[] }[] = [];
    t.teardown(async () => {
      for (const s of sidecars) {
        if (s.child.exitCode === null && s.child.signalCode === null) {
          s.child.kill('SIGKILL');
          await s.exited;
        }
      }
    });
    const start = async (side: 'a' | 'b', flags: string[]): Promise<boolean> => {
      const ready = join(dirs[side], 'ready');
      const child = spawn('ip', ['netns', 'exec', ns[side], ...AS_PROXY, process.execPath, BIN, 'proxy', '--tls-dir', join(dirs[side], 'tls'),
        '--admin-port', String(ADMIN), '--ready-file', ready, '--ipv6', 'on', '--log-level', 'info', ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
      const s = { child, exited: new Promise<void>((r) => child.once('exit', () => r())), logs: [] as string[] };
      child.stderr!.on('data', (d: Buffer) => s.logs.push(d.toString()));
      sidecars.push(s);
      const deadline = Date.now() + 15_000;
      while (!existsSync(ready) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!existsSync(ready)) t.comment(`sidecar ${side} logs:\n${s.logs.join('')}`);
      return existsSync(ready);
    };
    if (!t.ok(await start('b', ['--ingress', `web#${APP}#mtls:allow=a.pod.svc`]), 'B sidecar ready (ingress via 15006)')) return;
    if (!t.ok(await start('a', ['--egress-capture', `${ADDR.pod4}/32,${ADDR.pod6}/128`]), 'A sidecar ready (egress capture of B)')) return;
    t.match(sidecars[1]!.logs.join(''), /transparent outbound listener started/, 'A started its 15001 listener');

    const before = accepts().length;
    t.match(await attempt('a', ADDR.pod4, APP, 'hello'), { connected: true, data: `${APP}:hello` }, 'IPv4: plaintext from A reaches B\'s app and gets its echo');
    t.match(await attempt('a', ADDR.pod6, APP, 'hello6'), { connected: true, data: `${APP}:hello6` }, 'IPv6: the same');
    const seen = accepts().slice(before);
    t.equal(seen.length, 2, 'B\'s app accepted exactly those two connections');
    t.ok(seen.every((e) => e.port === APP && e.remoteAddress === '127.0.0.1'), 'from loopback: through B\'s sidecar (the app is bound to 127.0.0.1 only)');

    // Without A's capture the same plaintext gets nowhere: uid 1337 is exempt, and B requires mTLS on 8080.
    const direct = await attempt('a', ADDR.pod4, APP, 'bypass', { asProxy: true, timeoutMs: 1500 });
    t.notMatch(direct.data, new RegExp(`${APP}:`), 'plaintext as uid 1337 (not captured) is refused by B: the capture is what made it work');
    t.equal(accepts().length, before + 2, 'and B\'s app saw nothing of it');

    // Connection results are counted when both legs are closed; poll briefly.
    let mb = '';
    let ma = '';
    for (let i = 0; i < 40; i++) {
      [mb, ma] = [await metrics('b'), await metrics('a')];
      if (/port="8080",peer="a\.pod\.svc",result="ok"[^}]*\} 2/.test(mb) && /port="other",peer="b\.pod\.svc",result="ok"[^}]*\} 2/.test(ma)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.match(mb, /ccmesh_proxy_connections_total\{direction="inbound",port="8080",peer="a\.pod\.svc",result="ok"[^}]*\} 2/, 'B\'s sidecar admitted two mTLS connections from A\'s workload, labelled with the original port 8080');
    t.match(mb, /ccmesh_proxy_tls_handshake_failures_total\{direction="inbound",port="[^"]*",reason="not-tls"[^}]*\} 1/, 'and refused the uncaptured plaintext one');
    t.match(ma, /ccmesh_proxy_connections_total\{direction="outbound",port="other",peer="b\.pod\.svc",result="ok"[^}]*\} 2/, 'A\'s 15001 carried both to B\'s verified workload; 8080 is no route port of A (no ingress, egress entry or --egress-ports): "other"');
    t.notMatch(ma, /ccmesh_proxy_tls_handshake_failures_total\{direction="outbound",[^}]*\} [1-9]/, 'A verified B without a single outbound handshake failure');
  });
}

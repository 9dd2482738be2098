/**
 * `--workers 2` over loopback with the real CLI (cluster.fork re-runs the command, so the sidecars must be their own
 * processes): client → egress sidecar (primary + 2 workers) → mTLS → ingress sidecar (primary + 2 workers) → app.
 * Checks every connection is echoed, /ready is 200 with all workers ready, /metrics on each primary's admin port
 * aggregates the workers (round-robin spreads the connections over both, so the sum proves the aggregation), and
 * SIGTERM takes down the primary and its workers. Capture mode with workers: transparent-netns.test.ts.
 */
import t from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../lib/net/free-ports.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { readAll, TestApp } from './support.js';

const BIN = fileURLToPath(new URL('../../../bin/ccmesh', import.meta.url));
const CONNECTIONS = 20;

async function metricValue(adminPort: number, pattern: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : undefined;
}

void t.test('--workers 2: two-sidecar path served by workers, metrics aggregated on the admin port', async (t) => {
  const mesh = await TestMesh.create();
  const work = mkdtempSync(join(tmpdir(), 'ccmesh-workers-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const tlsA = writeTlsDir((await mesh.leaf(['a.local'])).files, mkdtempSync(join(work, 'a-')));
  const tlsB = writeTlsDir((await mesh.leaf(['b.local'])).files, mkdtempSync(join(work, 'b-')));
  const app = new TestApp('echo');
  const appPort = await app.listen();
  t.teardown(() => app.close());
  const [inPort, outPort, adminA, adminB] = (await freePorts(4)) as [number, number, number, number];

  const children: { child: ChildProcess; exited: Promise<number | null>; logs: string[] }[] = [];
  t.teardown(async () => {
    for (const c of children) {
      if (c.child.exitCode === null && c.child.signalCode === null) {
        c.child.kill('SIGKILL');
        await c.exited;
      }
    }
  });
  const start = async (name: string, admin: number, args: string[]): Promise<(typeof children)[number]> => {
    const ready = join(work, `${name}.ready`);
    const child = spawn(process.execPath, [BIN, 'proxy', '--no-iptables', '--workers', '2', '--admin-port', String(admin), '--admin-host', '127.0.0.1',
      '--ready-file', ready, '--drain', '1s', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const c = { child, exited: new Promise<number | null>((r) => child.once('exit', (code) => r(code))), logs: [] as string[] };
    child.stderr!.on('data', (d: Buffer) => c.logs.push(d.toString()));
    children.push(c);
    const deadline = Date.now() + 15_000;
    while (!existsSync(ready) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(ready)) t.comment(c.logs.join(''));
    return c;
  };
  const b = await start('b', adminB, ['--ingress', `web#${appPort}`, '--inbound-port-map', `${appPort}=${inPort}`, '--listen-host', '127.0.0.1', '--tls-dir', tlsB]);
  const a = await start('a', adminA, ['--egress', `out#127.0.0.1:${outPort}#127.0.0.1:${inPort}#b.local`, '--tls-dir', tlsA]);
  if (!t.ok(existsSync(join(work, 'a.ready')) && existsSync(join(work, 'b.ready')), 'both primaries wrote their ready files')) return;
  for (const c of [a, b]) t.equal(c.logs.join('').split('\n').filter((l) => l.includes('"worker ready"')).length, 2, 'two workers reported ready');
  t.equal((await fetch(`http://127.0.0.1:${adminA}/ready`)).status, 200, '/ready 200 on the primary');

  for (let i = 0; i < CONNECTIONS; i++) {
    const s = connect({ host: '127.0.0.1', port: outPort, allowHalfOpen: true });
    s.end(`hello ${i}`);
    const got = (await readAll(s)).toString();
    if (got !== `hello ${i}`) t.fail(`connection ${i} echoed ${JSON.stringify(got)}`);
  }
  t.pass(`${CONNECTIONS} connections echoed through both sidecars`);

  // Results are counted when both legs closed; poll briefly.
  // Labelled by where each connection goes (the egress remote's port, the ingress entry's app port) and the other side's workload.
  const out = new RegExp(`ccmesh_proxy_connections_total\\{direction="outbound",port="${inPort}",peer="b\\.local",result="ok"[^}]*\\} (\\d+)`);
  const inb = new RegExp(`ccmesh_proxy_connections_total\\{direction="inbound",port="${appPort}",peer="a\\.local",result="ok"[^}]*\\} (\\d+)`);
  let [na, nb] = [0 as number | undefined, 0 as number | undefined];
  for (let i = 0; i < 50 && (na !== CONNECTIONS || nb !== CONNECTIONS); i++) {
    [na, nb] = [await metricValue(adminA, out), await metricValue(adminB, inb)];
    if (na !== CONNECTIONS || nb !== CONNECTIONS) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(na, CONNECTIONS, 'A: outbound connections summed over both workers');
  t.equal(nb, CONNECTIONS, 'B: inbound connections summed over both workers');
  t.equal(await metricValue(adminA, /ccmesh_proxy_ready\{[^}]*\} (\d+)/), 1, 'ready gauge aggregated by minimum (not summed)');
  t.ok((await metricValue(adminA, /ccmesh_proxy_leaf_expiry_timestamp_seconds\{[^}]*\} (\d+)/))! < Date.now() / 1000 + 400 * 86400, 'leaf expiry by minimum, a plausible timestamp');

  const pids = [a, b].flatMap((c) => c.logs.join('').split('\n').filter((l) => l.includes('"worker ready"')).map((l) => (JSON.parse(l) as { pid: number }).pid));
  const t0 = Date.now();
  for (const c of [a, b]) c.child.kill('SIGTERM');
  t.same(await Promise.all([a.exited, b.exited]), [0, 0], 'SIGTERM: both primaries drain and exit 0');
  t.comment(`shutdown took ${Date.now() - t0} ms`);
  const alive = pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  t.same(alive, [], `no worker outlives its primary (${pids.length} workers)`);
});

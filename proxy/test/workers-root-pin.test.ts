/**
 * `--workers 2` with the real CLI: a worker forked after another container swapped the TLS directory (its own root,
 * mesh CA and a leaf with an allowed SAN) must not start from that directory. The primary hands every worker the root
 * it pinned; the replacement of a killed worker finds another root, refuses to start, and the attacker's client
 * is refused on every connection while the surviving worker keeps serving the mesh peer.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../lib/net/free-ports.js';
import type { CredentialFiles } from '../credentials/generation.js';
import { TestMesh, writeTlsDir } from './pki.js';
import { readAll, TestApp } from './support.js';

const BIN = fileURLToPath(new URL('../../../bin/ccmesh', import.meta.url));
const ATTEMPTS = 8;

/** An mTLS client presenting `files`; resolves with the echo ('' when refused). Takes any server (an attacker would). */
function clientOf(port: number, files: CredentialFiles, text: string): Promise<string> {
  const opts: ConnectionOptions & { allowHalfOpen: boolean } = {
    host: '127.0.0.1', port, key: files.key, cert: files.chain, allowHalfOpen: true, rejectUnauthorized: false, checkServerIdentity: () => undefined,
  };
  const s = tlsConnect(opts);
  s.once('secureConnect', () => s.end(text));
  return readAll(s).then((b) => b.toString(), () => '');
}

const until = async (cond: () => boolean, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return cond();
};

void t.test('--workers 2: a worker forked after the TLS directory was swapped starts only under the primary\'s root', async (t) => {
  const mesh = await TestMesh.create();
  const attacker = await TestMesh.create();
  const work = mkdtempSync(join(tmpdir(), 'ccmesh-workers-pin-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const tls = join(work, 'tls');
  mkdirSync(tls, { mode: 0o755 });
  writeTlsDir((await mesh.leaf(['web'])).files, tls);
  const app = new TestApp('echo');
  const appPort = await app.listen();
  t.teardown(() => app.close());
  const [inPort, admin] = (await freePorts(2)) as [number, number];
  const ready = join(work, 'ready');
  const child = spawn(process.execPath, [BIN, 'proxy', '--no-iptables', '--workers', '2', '--admin-port', String(admin), '--admin-host', '127.0.0.1',
    '--ready-file', ready, '--drain', '1s', '--log-level', 'info', '--ingress', `web#${appPort}#mtls:allow=client`, '--inbound-port-map', `${appPort}=${inPort}`,
    '--listen-host', '127.0.0.1', '--tls-dir', tls], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const readyLines = (): { pid: number }[] => log.split('\n').filter((l) => l.includes('"worker ready"')).map((l) => JSON.parse(l) as { pid: number });
  if (!t.ok(await until(() => existsSync(ready) && readyLines().length === 2, 15_000), 'the primary and both workers are ready')) {
    t.comment(log);
    return;
  }
  const peer = (await mesh.leaf(['client'])).files;
  const intruder = (await attacker.leaf(['client'])).files;
  t.equal(await clientOf(inPort, peer, 'control'), 'control', 'control: the mesh peer is served');

  // The attack: the directory renamed away, one of the attacker's at its name; then one worker dies (the host can
  // kill a process, a worker can crash) and the primary forks a replacement.
  renameSync(tls, join(work, 'tls.old'));
  mkdirSync(tls, { mode: 0o755 });
  writeTlsDir((await attacker.leaf(['web'])).files, tls);
  process.kill(readyLines()[0]!.pid, 'SIGKILL');
  const refused = /is not the root pinned by the primary/;
  t.ok(await until(() => refused.test(log) || readyLines().length > 2, 15_000), 'a replacement worker was forked');
  t.match(log, refused, 'the replacement refuses to start from the swapped directory');
  t.equal(readyLines().length, 2, 'no worker started from it');
  const answers = [];
  for (let i = 0; i < ATTEMPTS; i++) answers.push(await clientOf(inPort, intruder, `intruder ${i}`));
  t.same(answers, Array(ATTEMPTS).fill(''), `the attacker's leaf is refused on every connection (${ATTEMPTS})`);
  t.equal(await clientOf(inPort, peer, 'still'), 'still', 'the surviving worker still serves the mesh peer');
  t.equal((await fetch(`http://127.0.0.1:${admin}/ready`)).status, 503, '/ready: 503 while a worker is missing');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: the primary drains and exits 0');
});

// `ccmesh coordinator` flags: the store (file, memory, etcd) and the etcd client TLS files. Every problem names its flag
// and value, all are reported at once, and the command exits 64 for them.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCommandFlags } from '../cli/flags.js';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { TestMesh } from '../proxy/test/pki.js';
import { CCMESH_BIN } from '../test/cli-process.js';
import { COORDINATOR_FLAGS, type CoordinatorConfig, readCoordinatorConfig } from './config.js';

function parse(...argv: string[]): { cfg: CoordinatorConfig; issues: readonly ConfigIssue[] } {
  const { r } = readCommandFlags('coordinator', argv, COORDINATOR_FLAGS);
  const cfg = readCoordinatorConfig(r);
  try {
    r.finish();
    return { cfg, issues: [] };
  } catch (err) {
    if (err instanceof ConfigError) return { cfg, issues: err.issues };
    throw err;
  }
}

const tlsFiles = async (t: { teardown(fn: () => void): void }) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-coord-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pki = await TestMesh.create();
  const client = await pki.leaf(['coordinator']);
  const other = await pki.leaf(['other']);
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), otherKey: join(dir, 'other-key.pem'), junk: join(dir, 'junk.pem') };
  writeFileSync(files.ca, pki.root.certPem);
  writeFileSync(files.cert, client.files.chain);
  writeFileSync(files.key, client.files.key);
  writeFileSync(files.otherKey, other.files.key);
  writeFileSync(files.junk, 'not pem');
  return files;
};

void t.test('etcd endpoints: one scheme, a port each; later ones inherit the first one\'s scheme', async (t) => {
  const ok = parse('--store', 'etcd:https://etcd-0.etcd:2379,etcd-1.etcd:2379,https://[fd00::1]:2379');
  t.same(ok.issues, []);
  t.same(ok.cfg.store, { kind: 'etcd', endpoints: ['https://etcd-0.etcd:2379', 'https://etcd-1.etcd:2379', 'https://[fd00::1]:2379'], plaintext: false, tls: {} });
  const dev = parse('--store', 'etcd:http://127.0.0.1:2379');
  t.same(dev.cfg.store, { kind: 'etcd', endpoints: ['http://127.0.0.1:2379'], plaintext: true, tls: {} }, 'http is accepted (the command warns)');
  for (const bad of ['etcd:', 'etcd:h1:2379', 'etcd:ftp://h1:2379', 'etcd:https://h1', 'etcd:https://h1:0', 'etcd:https://h1:65536', 'etcd:https://h1:2379,http://h2:2379', 'etcd:https://h1:2379/path', 'etcd:https://h1:2379,', 'etcd:https://user@h1:2379']) {
    const { issues } = parse('--store', bad);
    t.match(issues, [{ field: '--store', value: bad, expected: /^etcd:http\(s\):\/\/HOST:PORT/ }], `${bad} is refused, naming --store and the value`);
  }
  t.match(parse('--store', 'sqlite:x').issues, [{ field: '--store', value: 'sqlite:x', expected: /file:DIR, etcd:https:\/\/HOST:PORT/ }], 'the store kinds are listed');
  t.same(parse('--store', 'file:/var/lib/x').cfg.store, { kind: 'file', dir: '/var/lib/x' }, 'the file store is unchanged');
});

void t.test('etcd TLS files: read and checked at parse time', async (t) => {
  const f = await tlsFiles(t);
  const good = parse('--store', 'etcd:https://h:2379', '--etcd-ca', f.ca, '--etcd-cert', f.cert, '--etcd-key', f.key);
  t.same(good.issues, []);
  const tls = good.cfg.store.kind === 'etcd' ? good.cfg.store.tls : {};
  t.ok(tls.ca && tls.cert && tls.key, 'CA, certificate and key are carried as PEM bytes');
  t.same(parse('--store', 'etcd:https://h:2379', '--etcd-ca', f.ca).issues, [], 'a CA alone (no client certificate) is fine');

  const cases: [string[], string, RegExp][] = [
    [['--etcd-cert', f.cert], '--etcd-key', /--etcd-cert and --etcd-key together/],
    [['--etcd-key', f.key], '--etcd-cert', /--etcd-cert and --etcd-key together/],
    [['--etcd-ca', join(f.ca, 'missing')], '--etcd-ca', /a readable PEM file/],
    [['--etcd-ca', f.junk], '--etcd-ca', /a PEM file with one or more certificates/],
    [['--etcd-cert', f.junk, '--etcd-key', f.key], '--etcd-cert', /a PEM file with one or more certificates/],
    [['--etcd-cert', f.cert, '--etcd-key', f.junk], '--etcd-key', /a PEM file with a private key/],
    [['--etcd-cert', f.cert, '--etcd-key', f.otherKey], '--etcd-key', /the private key of the --etcd-cert certificate/],
  ];
  for (const [flags, field, expected] of cases) {
    const { issues } = parse('--store', 'etcd:https://h:2379', ...flags);
    t.match(issues, [{ field, expected }], `${flags.join(' ')}: ${field} is named`);
    t.equal(issues.length, 1, 'one issue');
  }
  for (const store of ['etcd:http://h:2379', 'file:/x', 'memory']) {
    const { issues } = parse('--store', store, '--etcd-ca', f.ca, '--etcd-cert', f.cert, '--etcd-key', f.key);
    t.same(issues.map((i) => [i.field, i.value]), [['--etcd-ca', f.ca], ['--etcd-cert', f.cert], ['--etcd-key', f.key]], `${store}: the TLS flags are refused, each named with its value`);
    t.match(issues[0]?.expected, store.startsWith('etcd') ? /only with https:\/\// : /only with --store etcd:https:\/\//);
  }
});

void t.test('the command exits 64 naming the flag and the value', async (t) => {
  const r = spawnSync(process.execPath, [CCMESH_BIN, 'coordinator', '--store', 'etcd:https://h1:2379,http://h2:2379', '--etcd-key', '/nonexistent/key.pem'], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 64, 'usage error');
  t.match(r.stderr, /--store: got "etcd:https:\/\/h1:2379,http:\/\/h2:2379", expected etcd:http\(s\):\/\/HOST:PORT/, 'names --store and its value');
});

void t.test('--peers: host:port entries (DNS names, IPv4, bracketed IPv6), only with an etcd store', async (t) => {
  const etcd = ['--store', 'etcd:http://127.0.0.1:2379'];
  const ok = parse(...etcd, '--peers', 'ccmesh-coordinator-headless.ccmesh.svc:7777,10.0.0.2:7777,[fd00::2]:7777');
  t.same(ok.issues, []);
  t.same(ok.cfg.peers, ['ccmesh-coordinator-headless.ccmesh.svc:7777', '10.0.0.2:7777', '[fd00::2]:7777']);
  t.same(parse(...etcd).cfg.peers, [], 'none by default');
  for (const bad of ['', 'host', 'host:0', 'host:70000', 'https://host:7777', 'host:7777,', 'host:7777/x']) {
    t.match(parse(...etcd, '--peers', bad).issues, [{ field: '--peers', value: bad, expected: /^HOST:PORT\[,HOST:PORT…\]/ }], `${JSON.stringify(bad)} is refused, naming --peers and the value`);
  }
  t.match(parse('--store', 'memory', '--peers', 'h:7777').issues, [{ field: '--peers', value: 'h:7777', expected: /only with --store etcd:/ }], 'replicas share an etcd store; a file or memory store has no peers');
});
